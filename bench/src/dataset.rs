//! The generated world: which volumes exist, which scope each belongs to, what the backup
//! report says about it and what the inventory holds. Everything is a pure function of the
//! record index, so reports, inventories and expected results agree by construction.

use crate::prng::mix;
use std::collections::BTreeMap;
use tapesync_model::Field;

/// Scopes per customer: scope `s` is customer `C{s/10:03}`, media `M{s%10}`.
const MEDIA_PER_CUSTOMER: u32 = 10;
/// Customer ids are `C` + three digits (ids are at most 4 characters).
pub const MAX_SCOPES: u32 = 1000 * MEDIA_PER_CUSTOMER;
/// Volume ids are `V` + seven digits.
pub const MAX_RECORDS: u64 = 10_000_000;

/// Salt of the "is this volume changed" draw, so it is independent of the shuffle.
const CHANGED_SALT: u64 = 0x0C4A_4E6E_D5EE_D001;

const POOLS: [&str; 4] = [
    "Weekly-Full",
    "Monthly-Full",
    "Daily-Incr",
    "Yearly-Archive",
];
/// The description a changed volume has in the inventory (the report says its pool).
const STALE_POOL: &str = "Old-Pool";

/// One benchmark data set: `records` volumes spread over `scopes` scopes in contiguous blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dataset {
    pub records: u64,
    pub scopes: u32,
}

/// One report line's worth of facts about a volume, as the backup product prints them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub customer: String,
    pub media: String,
    pub volume: String,
    /// Jukebox name (`jb01`) in the library, a vault name offsite.
    pub location: &'static str,
    /// Library slot, `-` offsite.
    pub slot: String,
    pub pool: &'static str,
    pub scratch: &'static str,
    /// `DD/MM/YYYY`.
    pub expiry: String,
    pub mounts: u64,
}

impl Dataset {
    pub fn new(records: u64, scopes: u32) -> Result<Dataset, String> {
        if records == 0 || records > MAX_RECORDS {
            return Err(format!("records must be 1..={MAX_RECORDS}, got {records}"));
        }
        if scopes == 0 || scopes > MAX_SCOPES || u64::from(scopes) > records {
            return Err(format!(
                "scopes must be 1..={MAX_SCOPES} and at most the record count, got {scopes}"
            ));
        }
        Ok(Dataset { records, scopes })
    }

    /// The scope of volume `r`: contiguous blocks, so index order is scope-sorted order.
    pub fn scope_of(&self, r: u64) -> u32 {
        (u128::from(r) * u128::from(self.scopes) / u128::from(self.records)) as u32
    }

    pub fn customers(&self) -> u32 {
        self.scopes.div_ceil(MEDIA_PER_CUSTOMER)
    }

    pub fn row(&self, r: u64) -> Row {
        let (customer, media) = scope_ids(self.scope_of(r));
        let in_library = !r.is_multiple_of(3);
        Row {
            customer,
            media,
            volume: volume_id(r),
            location: if in_library { "jb01" } else { "vault-3" },
            slot: if in_library {
                (r % 500 + 1).to_string()
            } else {
                "-".to_string()
            },
            pool: POOLS[(r % 4) as usize],
            scratch: if r.is_multiple_of(7) { "YES" } else { "NO" },
            expiry: format!(
                "{:02}/{:02}/{}",
                r % 28 + 1,
                (r / 28) % 12 + 1,
                2027 + (r / 336) % 5
            ),
            mounts: r % 2000,
        }
    }

    /// The row of volume `r` in the report of the night before (the report the inventory was
    /// last synced from): a changed volume shows what the inventory holds.
    pub fn row_before(&self, r: u64, changed_percent: u32) -> Row {
        let mut row = self.row(r);
        if is_changed(r, changed_percent) {
            row.pool = STALE_POOL;
            row.mounts += 1;
        }
        row
    }

    /// The fields the inventory holds for volume `r`, in canonical form. A changed volume
    /// holds a stale pool description and mount count, so the sync updates exactly two
    /// fields of it.
    pub fn inventory_fields(&self, r: u64, changed_percent: u32) -> BTreeMap<Field, String> {
        let row = self.row(r);
        let changed = is_changed(r, changed_percent);
        let mut fields = BTreeMap::new();
        let in_library = row.location == "jb01";
        fields.insert(
            Field::Repository,
            if in_library { "LIBR" } else { "OFFS" }.to_string(),
        );
        if in_library {
            fields.insert(Field::Slot, row.slot.clone());
        }
        let description = if changed { STALE_POOL } else { row.pool };
        fields.insert(Field::Description, description.to_string());
        fields.insert(
            Field::Scratch,
            if row.scratch == "YES" {
                "true"
            } else {
                "false"
            }
            .to_string(),
        );
        // DD/MM/YYYY -> YYYY-MM-DD
        let iso = format!(
            "{}-{}-{}",
            &row.expiry[6..10],
            &row.expiry[3..5],
            &row.expiry[0..2]
        );
        fields.insert(Field::ExpiryDate, iso);
        let mounts = if changed { row.mounts + 1 } else { row.mounts };
        fields.insert(Field::UsageCount, mounts.to_string());
        fields
    }

    /// How many volumes a sync of this data set must update.
    pub fn expected_updates(&self, changed_percent: u32) -> u64 {
        (0..self.records)
            .filter(|&r| is_changed(r, changed_percent))
            .count() as u64
    }
}

/// Customer and media ids of scope `s`.
pub fn scope_ids(s: u32) -> (String, String) {
    (
        format!("C{:03}", s / MEDIA_PER_CUSTOMER),
        format!("M{}", s % MEDIA_PER_CUSTOMER),
    )
}

pub fn customer_id(c: u32) -> String {
    format!("C{c:03}")
}

pub fn volume_id(r: u64) -> String {
    format!("V{r:07}")
}

/// Whether volume `r` is one of the `changed_percent` % that differ between report and
/// inventory (a hash draw, so the changed volumes are spread over all scopes).
pub fn is_changed(r: u64, changed_percent: u32) -> bool {
    mix(r ^ CHANGED_SALT) % 1000 < u64::from(changed_percent) * 10
}

#[cfg(test)]
mod tests {
    use super::*;
    use tapesync_model::canonicalise;

    #[test]
    fn scopes_are_contiguous_and_complete() {
        let ds = Dataset::new(1000, 50).unwrap();
        let scopes: Vec<u32> = (0..1000).map(|r| ds.scope_of(r)).collect();
        assert!(scopes.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(scopes[0], 0);
        assert_eq!(scopes[999], 49);
        assert_eq!(ds.customers(), 5);
        assert_eq!(scope_ids(49), ("C004".to_string(), "M9".to_string()));
    }

    #[test]
    fn rejects_impossible_sets() {
        assert!(Dataset::new(0, 1).is_err());
        assert!(Dataset::new(10, 11).is_err());
        assert!(Dataset::new(10, 0).is_err());
    }

    #[test]
    fn inventory_values_are_canonical() {
        let ds = Dataset::new(5000, 10).unwrap();
        for r in [0, 1, 2, 3, 335, 336, 4999] {
            for (field, value) in ds.inventory_fields(r, 10) {
                assert_eq!(canonicalise(field, &value).as_deref(), Ok(value.as_str()));
            }
            let row = ds.row(r);
            assert!(tapesync_model::validate_volume_id(&row.volume).is_ok());
        }
    }

    #[test]
    fn changed_share_is_roughly_the_percentage() {
        let ds = Dataset::new(100_000, 1).unwrap();
        assert_eq!(ds.expected_updates(0), 0);
        let one = ds.expected_updates(1);
        assert!((800..1200).contains(&one), "{one}");
        let ten = ds.expected_updates(10);
        assert!((9_000..11_000).contains(&ten), "{ten}");
        // Changed volumes differ from the report in exactly description and mount count.
        let r = (0..).find(|&r| is_changed(r, 10)).unwrap();
        let fields = ds.inventory_fields(r, 10);
        assert_eq!(fields[&Field::Description], STALE_POOL);
        assert_eq!(
            fields[&Field::UsageCount],
            (ds.row(r).mounts + 1).to_string()
        );
    }
}

//! The values of a record while it is derived, in reusable buffers, and their canonical forms
//! written in place.

use chrono::NaiveDateTime;
use std::borrow::Cow;
use tapesync_model::value::{canonicalise_cow, parse_bool_ascii, validate_volume_id_cow};
use tapesync_model::{Field, FieldKind};

/// The values of one record while it is derived: one reusable buffer per field (indexed by
/// [`Field::index`]) and a bit per field saying whether it has a value. A million records
/// then cost no map and no string allocation per value — the map this replaced was a fifth of
/// a large sync's time.
#[derive(Debug, Clone)]
pub struct Values {
    slots: Vec<String>,
    present: u64,
    /// Parsed dates and times of the record, in field order (scratch for `derive_into`).
    pub(super) times: Vec<(Field, NaiveDateTime)>,
    /// Where a translation writes its result before it replaces the value.
    pub(super) scratch: String,
}

impl Default for Values {
    fn default() -> Self {
        Values {
            slots: vec![String::new(); Field::COUNT],
            present: 0,
            times: Vec::new(),
            scratch: String::new(),
        }
    }
}

impl Values {
    pub(super) fn clear(&mut self) {
        self.present = 0;
        self.times.clear();
    }

    #[inline]
    pub fn get(&self, field: Field) -> Option<&str> {
        let i = field.index();
        (self.present & (1 << i) != 0).then(|| self.slots[i].as_str())
    }

    #[inline]
    pub(super) fn contains(&self, field: Field) -> bool {
        self.present & (1 << field.index()) != 0
    }

    #[inline]
    pub(super) fn get_mut(&mut self, field: Field) -> Option<&mut String> {
        let i = field.index();
        (self.present & (1 << i) != 0).then(|| &mut self.slots[i])
    }

    #[inline]
    pub(super) fn set(&mut self, field: Field, value: &str) {
        let i = field.index();
        let slot = &mut self.slots[i];
        slot.clear();
        slot.push_str(value);
        self.present |= 1 << i;
    }

    /// The slot of `field`, emptied and marked present, to write a value into.
    #[inline]
    pub(super) fn slot(&mut self, field: Field) -> &mut String {
        let i = field.index();
        self.present |= 1 << i;
        let slot = &mut self.slots[i];
        slot.clear();
        slot
    }

    #[inline]
    pub(super) fn unset(&mut self, field: Field) {
        self.present &= !(1 << field.index());
    }

    /// The fields of `mask` (bits by [`Field::index`]) that have a value now, in field order.
    pub(super) fn fields_of(&self, mask: u64) -> impl Iterator<Item = Field> {
        let mut bits = self.present & mask;
        std::iter::from_fn(move || {
            if bits == 0 {
                return None;
            }
            let i = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            Some(Field::ALL[i])
        })
    }

    /// The fields of `mask` with their values, in field order.
    pub(super) fn iter_of(&self, mask: u64) -> impl Iterator<Item = (Field, &str)> + '_ {
        self.fields_of(mask)
            .map(|f| (f, self.slots[f.index()].as_str()))
    }

    /// Unsets every field whose value is empty.
    pub(super) fn unset_empty(&mut self) {
        let mut bits = self.present;
        while bits != 0 {
            let i = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            if self.slots[i].is_empty() {
                self.present &= !(1 << i);
            }
        }
    }

    /// Fields with a value, in field order. (Not `iter_of(u64::MAX)`: going from the bit to
    /// the field and back to its slot cost 2 % of a run's instructions — the spill encodes
    /// every record through this.)
    pub fn iter(&self) -> impl Iterator<Item = (Field, &str)> + '_ {
        let mut bits = self.present;
        std::iter::from_fn(move || {
            if bits == 0 {
                return None;
            }
            let i = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            Some((Field::ALL[i], self.slots[i].as_str()))
        })
    }
}

/// Replaces `slot` by its canonical form for `field`, without allocating when the value is
/// canonical already (nearly always) or its canonical form is short.
pub(super) fn canonical_in_place(field: Field, slot: &mut String) -> Result<(), String> {
    // A yes/no becomes one of two fixed words: written straight into the slot.
    if field.kind() == FieldKind::Bool {
        if let Some(yes) = parse_bool_ascii(slot) {
            slot.clear();
            slot.push_str(if yes { "true" } else { "false" });
            return Ok(());
        }
    }
    let change = match canonicalise_cow(field, slot).map_err(|e| e.to_string())? {
        Cow::Owned(v) => Replacement::Owned(v),
        // The whole slot: canonical already, nearly every value of a report. Nothing to work
        // out or to write back.
        Cow::Borrowed(b) if std::ptr::eq(b, slot.as_str()) => return Ok(()),
        Cow::Borrowed(b) => Replacement::of(slot, b),
    };
    change.put_into(slot);
    Ok(())
}

/// Replaces `slot` by the canonical Volume-ID it holds, as [`canonical_in_place`] does.
pub(super) fn volume_id_in_place(slot: &mut String) -> Result<(), String> {
    let change = match validate_volume_id_cow(slot).map_err(|e| e.to_string())? {
        Cow::Owned(id) => Replacement::Owned(id),
        Cow::Borrowed(id) if std::ptr::eq(id, slot.as_str()) => return Ok(()),
        Cow::Borrowed(id) => Replacement::of(slot, id),
    };
    change.put_into(slot);
    Ok(())
}

/// How to make a slot hold its canonical value, worked out while the value still borrows
/// the slot and applied after.
enum Replacement {
    Owned(String),
    /// The value is this part of the slot (e.g. a number without its leading zeros).
    Part {
        start: usize,
        len: usize,
    },
    /// Another short text (e.g. `true` for `YES`), copied out.
    Short {
        bytes: [u8; 32],
        len: usize,
    },
}

impl Replacement {
    fn of(slot: &str, value: &str) -> Replacement {
        let base = slot.as_ptr() as usize;
        let at = value.as_ptr() as usize;
        if at >= base && at + value.len() <= base + slot.len() {
            return Replacement::Part {
                start: at - base,
                len: value.len(),
            };
        }
        let mut bytes = [0u8; 32];
        match bytes.get_mut(..value.len()) {
            Some(dst) => {
                dst.copy_from_slice(value.as_bytes());
                Replacement::Short {
                    bytes,
                    len: value.len(),
                }
            }
            None => Replacement::Owned(value.to_string()),
        }
    }

    fn put_into(self, slot: &mut String) {
        match self {
            Replacement::Owned(v) => *slot = v,
            Replacement::Part { start, len } => {
                if start != 0 || len != slot.len() {
                    slot.truncate(start + len);
                    slot.drain(..start);
                }
            }
            Replacement::Short { bytes, len } => {
                slot.clear();
                // The bytes were copied from a `str`.
                slot.push_str(std::str::from_utf8(&bytes[..len]).unwrap_or_default());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! The in-place shortcuts must agree with the model's canonical forms.
    use super::*;

    #[test]
    fn canonical_in_place_matches_canonicalise() {
        let cases = [
            (Field::UsageCount, "007"),
            (Field::UsageCount, " 0 "),
            (Field::Scratch, "YES"),
            (Field::Scratch, "no"),
            (Field::Scratch, " Y "),
            (Field::Scratch, "maybe"),
            (Field::Customer, "us01"),
            (Field::Customer, "US01"),
            (Field::Description, "Daily Full"),
            (Field::ExpiryDate, "2027-03-05"),
            (Field::Description, &"é".repeat(40)),
        ];
        for (field, raw) in cases {
            let mut slot = raw.to_string();
            match (
                canonical_in_place(field, &mut slot),
                tapesync_model::canonicalise(field, raw),
            ) {
                (Ok(()), Ok(want)) => assert_eq!(slot, want, "{field} {raw:?}"),
                (Err(got), Err(want)) => assert_eq!(got, want.to_string(), "{field} {raw:?}"),
                other => panic!("{field} {raw:?}: {other:?}"),
            }
        }
        let mut bad = "x".repeat(300);
        assert!(canonical_in_place(Field::Description, &mut bad).is_err());
    }
}

//! The field table: every field a definition can set, with its limit and value kind.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What kind of value a field holds; decides validation and canonical form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    /// Customer/media/repository identifier: upper-case letters and digits.
    Id,
    /// Volume-ID: 2–10 of `A–Z`, `0–9`, `-` (not first), upper case.
    VolumeId,
    /// Free text up to the limit.
    Text,
    /// YES/NO/TRUE/FALSE (also Y/N/1/0), stored as `true`/`false`.
    Bool,
    /// A calendar date parsed with a date format, stored as `YYYY-MM-DD`.
    Date,
    /// A timestamp parsed with a date format, stored as `YYYY-MM-DDTHH:MM:SS`.
    DateTime,
    /// A non-negative whole number, stored in decimal.
    Integer,
}

/// Every field of the definition language.
///
/// `User(n)` are the scratch fields `USER1`…`USER9`: they hold values for comparisons and
/// translations only and are never sent to the inventory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Field {
    Customer,
    Media,
    Volume,
    Repository,
    RepositoryDesc,
    Slot,
    Description,
    DataCluster,
    Container,
    System,
    MoveDate,
    WriteTime,
    Encrypted,
    Scratch,
    ExpiryDate,
    Generation,
    Hidden,
    HomeRepository,
    HomeSlot,
    InitialRepository,
    MountTime,
    MoveLock,
    QualityCheck,
    ReadTime,
    Stage,
    StockId,
    Usage,
    UsageCount,
    /// Where the volume is now (tapesync extension); REPOSITORY is where it should be.
    CurrentRepository,
    /// `USER1`…`USER9` (1-based).
    User(u8),
}

/// [`Field::info`] of every field, by [`Field::index`].
const FIELD_INFO: [FieldInfo; Field::COUNT] = {
    let mut out = [Field::Customer.describe(); Field::COUNT];
    let mut i = 0;
    while i < Field::COUNT {
        out[i] = Field::ALL[i].describe();
        i += 1;
    }
    out
};

/// The two facts the run asks of every value, in tables of their own (a lookup of one small
/// entry rather than a copy of the whole [`FieldInfo`]).
const FIELD_KIND: [FieldKind; Field::COUNT] = {
    let mut out = [FieldKind::Text; Field::COUNT];
    let mut i = 0;
    while i < Field::COUNT {
        out[i] = FIELD_INFO[i].kind;
        i += 1;
    }
    out
};

const FIELD_MAX_LEN: [usize; Field::COUNT] = {
    let mut out = [0; Field::COUNT];
    let mut i = 0;
    while i < Field::COUNT {
        out[i] = FIELD_INFO[i].max_len;
        i += 1;
    }
    out
};

/// Static facts about one field.
#[derive(Debug, Clone, Copy)]
pub struct FieldInfo {
    /// Canonical upper-case name as written in definitions.
    pub name: &'static str,
    /// Other accepted spellings (all compared case-insensitively).
    pub aliases: &'static [&'static str],
    /// Maximum length in characters of the value as sent to the inventory.
    pub max_len: usize,
    pub kind: FieldKind,
    /// True when TapeTrack documents a limit for it; false for the newer, undocumented fields
    /// whose limits tapesync chose (see docs/language.md).
    pub documented: bool,
    /// One line for help output and editor hovers.
    pub doc: &'static str,
}

const USER_NAMES: [&str; 9] = [
    "USER1", "USER2", "USER3", "USER4", "USER5", "USER6", "USER7", "USER8", "USER9",
];

impl Field {
    /// Every field, in catalogue order (keys first).
    pub const ALL: [Field; 38] = [
        Field::Customer,
        Field::Media,
        Field::Volume,
        Field::Repository,
        Field::RepositoryDesc,
        Field::Slot,
        Field::Description,
        Field::DataCluster,
        Field::Container,
        Field::System,
        Field::MoveDate,
        Field::WriteTime,
        Field::Encrypted,
        Field::Scratch,
        Field::ExpiryDate,
        Field::Generation,
        Field::Hidden,
        Field::HomeRepository,
        Field::HomeSlot,
        Field::InitialRepository,
        Field::MountTime,
        Field::MoveLock,
        Field::QualityCheck,
        Field::ReadTime,
        Field::Stage,
        Field::StockId,
        Field::Usage,
        Field::UsageCount,
        Field::CurrentRepository,
        Field::User(1),
        Field::User(2),
        Field::User(3),
        Field::User(4),
        Field::User(5),
        Field::User(6),
        Field::User(7),
        Field::User(8),
        Field::User(9),
    ];

    /// Number of fields (the length of [`Field::ALL`]).
    pub const COUNT: usize = 38;

    /// Position in [`Field::ALL`], which is also the order fields sort in: lets hot loops keep
    /// per-field values in arrays instead of maps.
    pub const fn index(self) -> usize {
        match self {
            Field::Customer => 0,
            Field::Media => 1,
            Field::Volume => 2,
            Field::Repository => 3,
            Field::RepositoryDesc => 4,
            Field::Slot => 5,
            Field::Description => 6,
            Field::DataCluster => 7,
            Field::Container => 8,
            Field::System => 9,
            Field::MoveDate => 10,
            Field::WriteTime => 11,
            Field::Encrypted => 12,
            Field::Scratch => 13,
            Field::ExpiryDate => 14,
            Field::Generation => 15,
            Field::Hidden => 16,
            Field::HomeRepository => 17,
            Field::HomeSlot => 18,
            Field::InitialRepository => 19,
            Field::MountTime => 20,
            Field::MoveLock => 21,
            Field::QualityCheck => 22,
            Field::ReadTime => 23,
            Field::Stage => 24,
            Field::StockId => 25,
            Field::Usage => 26,
            Field::UsageCount => 27,
            Field::CurrentRepository => 28,
            // USER1…USER9; other numbers are never constructed (names are looked up).
            Field::User(n) => {
                28 + if n < 1 {
                    1
                } else if n > 9 {
                    9
                } else {
                    n as usize
                }
            }
        }
    }

    /// Static facts about the field (a table lookup: the run asks for the kind and limit of
    /// every value of every record).
    #[inline]
    pub fn info(self) -> FieldInfo {
        FIELD_INFO[self.index()]
    }

    /// The catalogue entry behind [`Field::info`], evaluated at compile time into
    /// [`FIELD_INFO`].
    const fn describe(self) -> FieldInfo {
        use FieldKind::*;
        let (name, aliases, max_len, kind, documented, doc): (
            &'static str,
            &'static [&'static str],
            usize,
            FieldKind,
            bool,
            &'static str,
        ) = match self {
            Field::Customer => (
                "CUSTOMER",
                &[],
                4,
                Id,
                true,
                "Customer-ID of the volume (scope key)",
            ),
            Field::Media => (
                "MEDIA",
                &[],
                4,
                Id,
                true,
                "Media-ID of the volume (scope key)",
            ),
            Field::Volume => (
                "VOLUME",
                &[],
                10,
                VolumeId,
                true,
                "Volume-ID: 2-10 of A-Z, 0-9 and '-', upper case",
            ),
            Field::Repository => (
                "REPOSITORY",
                &[],
                4,
                Id,
                true,
                "Repository-ID the volume should be in (target location)",
            ),
            Field::RepositoryDesc => (
                "REPOSITORY_DESC",
                &[],
                20,
                Text,
                true,
                "Repository description, resolved to a Repository-ID of the scope",
            ),
            Field::Slot => ("SLOT", &[], 10, Text, true, "Slot within the repository"),
            Field::Description => ("DESCRIPTION", &[], 256, Text, true, "Volume description"),
            Field::DataCluster => (
                "DATACLUSTER",
                &[],
                256,
                Text,
                true,
                "Data cluster the volume belongs to",
            ),
            Field::Container => (
                "CONTAINER",
                &[],
                20,
                Text,
                true,
                "Fully qualified barcode of the container holding the volume",
            ),
            Field::System => (
                "SYSTEM",
                &[],
                10,
                Text,
                true,
                "System the volume belongs to",
            ),
            Field::MoveDate => (
                "MOVEDATE",
                &[],
                64,
                Date,
                true,
                "Next move date; needs SetMoveDateFormat",
            ),
            Field::WriteTime => (
                "WRITETIME",
                &["WRITEDATE"],
                64,
                DateTime,
                true,
                "Time of last write; needs SetWriteTimeFormat",
            ),
            Field::Encrypted => (
                "ENCRYPTED",
                &[],
                10,
                Bool,
                true,
                "Encrypted flag: YES, NO, TRUE or FALSE",
            ),
            Field::Scratch => (
                "SCRATCH",
                &[],
                10,
                Bool,
                true,
                "Scratch state: YES, NO, TRUE or FALSE",
            ),
            Field::ExpiryDate => (
                "EXPIRYDATE",
                &[],
                64,
                Date,
                false,
                "Expiry date of the data on the volume; needs SetDateFormat(EXPIRYDATE, ...)",
            ),
            Field::Generation => ("GENERATION", &[], 10, Integer, false, "Generation number"),
            Field::Hidden => (
                "HIDDEN",
                &[],
                10,
                Bool,
                false,
                "Hidden flag: YES, NO, TRUE or FALSE",
            ),
            Field::HomeRepository => ("HOMEREPOSITORY", &[], 4, Id, false, "Home Repository-ID"),
            Field::HomeSlot => ("HOMESLOT", &[], 10, Text, false, "Home slot"),
            Field::InitialRepository => (
                "INITIALREPOSITORY",
                &["INITIAL_REPOSITORY", "INITIAL REPOSITORY"],
                4,
                Id,
                false,
                "Repository-ID a new volume starts in",
            ),
            Field::MountTime => (
                "MOUNTTIME",
                &["MOUNTIME"],
                64,
                DateTime,
                false,
                "Time of last mount; needs SetDateFormat(MOUNTTIME, ...)",
            ),
            Field::MoveLock => (
                "MOVELOCK",
                &[],
                10,
                Bool,
                false,
                "Move lock flag: YES, NO, TRUE or FALSE",
            ),
            Field::QualityCheck => ("QUALITYCHECK", &[], 10, Text, false, "Quality check state"),
            Field::ReadTime => (
                "READTIME",
                &[],
                64,
                DateTime,
                false,
                "Time of last read; needs SetDateFormat(READTIME, ...)",
            ),
            Field::Stage => ("STAGE", &[], 10, Text, false, "Life-cycle stage"),
            Field::StockId => ("STOCKID", &[], 20, Text, false, "Stock identifier"),
            Field::Usage => (
                "USAGE",
                &[],
                10,
                Integer,
                false,
                "Usage figure (e.g. percent used)",
            ),
            Field::UsageCount => (
                "USAGECOUNT",
                &[],
                10,
                Integer,
                false,
                "Usage count (e.g. mounts)",
            ),
            Field::CurrentRepository => (
                "CURRENT_REPOSITORY",
                &["CURRENTREPOSITORY"],
                4,
                Id,
                false,
                "Repository-ID the volume is in now (tapesync extension); REPOSITORY is its target",
            ),
            Field::User(n) => (
                // (`clamp` is not const.)
                USER_NAMES[if n < 1 {
                    0
                } else if n > 9 {
                    8
                } else {
                    (n - 1) as usize
                }],
                &[],
                256,
                Text,
                true,
                "Scratch field for comparisons and translations; never sent to the inventory",
            ),
        };
        FieldInfo {
            name,
            aliases,
            max_len,
            kind,
            documented,
            doc,
        }
    }

    #[inline]
    pub fn name(self) -> &'static str {
        self.info().name
    }

    #[inline]
    pub fn max_len(self) -> usize {
        FIELD_MAX_LEN[self.index()]
    }

    #[inline]
    pub fn kind(self) -> FieldKind {
        FIELD_KIND[self.index()]
    }

    /// Looks a field up by name or alias, case-insensitively; spaces and underscores inside
    /// names are significant only as written in the table and its aliases.
    pub fn lookup(name: &str) -> Option<Field> {
        let upper = name.trim().to_ascii_uppercase();
        Field::ALL.into_iter().find(|f| {
            let info = f.info();
            info.name == upper || info.aliases.contains(&upper.as_str())
        })
    }

    /// The field whose canonical name is exactly `name` (no alias, no other letter case): how
    /// the wire names fields (`set` of a batch, the columns of a scope table).
    pub fn by_canonical_name(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Why `name` is not a canonical field name, with the one meant when it is an alias or
    /// another letter case of one.
    pub fn not_canonical_message(name: &str) -> String {
        match Field::lookup(name) {
            Some(f) => format!("`{name}` is not how fields are named here; use `{f}`"),
            None => format!("`{name}` is not a field name"),
        }
    }

    /// The scope and identity keys: every record must end with these set.
    pub fn is_key(self) -> bool {
        matches!(self, Field::Customer | Field::Media | Field::Volume)
    }

    /// Whether the field is an attribute stored on a volume in the inventory. Keys, the
    /// description lookup (`REPOSITORY_DESC`, resolved into `REPOSITORY`) and the scratch
    /// `USERn` fields are not.
    pub fn is_stored(self) -> bool {
        !self.is_key() && !matches!(self, Field::RepositoryDesc | Field::User(_))
    }

    /// Whether the field holds a date or time and so needs a date format to be extracted.
    pub fn is_temporal(self) -> bool {
        matches!(self.kind(), FieldKind::Date | FieldKind::DateTime)
    }

    /// Stored attributes in catalogue order.
    pub fn stored() -> impl Iterator<Item = Field> {
        Field::ALL.into_iter().filter(|f| f.is_stored())
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl From<Field> for String {
    fn from(f: Field) -> String {
        f.name().to_string()
    }
}

impl TryFrom<String> for Field {
    type Error = String;
    fn try_from(s: String) -> Result<Field, String> {
        Field::lookup(&s).ok_or_else(|| format!("unknown field `{s}`"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_is_the_position_in_all_and_the_sort_order() {
        assert_eq!(Field::ALL.len(), Field::COUNT);
        for (i, f) in Field::ALL.iter().enumerate() {
            assert_eq!(f.index(), i, "{f}");
        }
        let mut sorted = Field::ALL;
        sorted.sort();
        assert_eq!(sorted, Field::ALL);
    }

    #[test]
    fn every_field_round_trips_by_name() {
        for f in Field::ALL {
            assert_eq!(Field::lookup(f.name()), Some(f), "{f}");
            assert_eq!(Field::lookup(&f.name().to_lowercase()), Some(f), "{f}");
        }
    }

    #[test]
    fn aliases_resolve() {
        assert_eq!(Field::lookup("WriteDate"), Some(Field::WriteTime));
        assert_eq!(Field::lookup("MOUNTIME"), Some(Field::MountTime));
        assert_eq!(Field::lookup("User3"), Some(Field::User(3)));
        assert_eq!(Field::lookup("USER0"), None);
        assert_eq!(Field::lookup("VOLUMES"), None);
    }

    #[test]
    fn serde_uses_names() {
        let json = serde_json_like(Field::RepositoryDesc);
        assert_eq!(json, "REPOSITORY_DESC");
    }

    fn serde_json_like(f: Field) -> String {
        String::from(f)
    }
}

//! The stored volume fields and their columns in `volumes`, the same on every backend.

use tapesync_model::Field;

/// The column of `volumes` holding a stored field; `None` for fields that are not stored.
///
/// The match is exhaustive on purpose: a field added to the model fails to compile here until
/// someone decides where it is stored (and writes the migration step, for both backends, that
/// adds its column).
pub fn column(field: Field) -> Option<&'static str> {
    Some(match field {
        Field::Customer | Field::Media | Field::Volume | Field::RepositoryDesc | Field::User(_) => {
            return None
        }
        Field::Repository => "repository",
        Field::Slot => "slot",
        Field::Description => "description",
        Field::DataCluster => "datacluster",
        Field::Container => "container",
        Field::System => "system",
        Field::MoveDate => "movedate",
        Field::WriteTime => "writetime",
        Field::Encrypted => "encrypted",
        Field::Scratch => "scratch",
        Field::ExpiryDate => "expirydate",
        Field::Generation => "generation",
        Field::Hidden => "hidden",
        Field::HomeRepository => "homerepository",
        Field::HomeSlot => "homeslot",
        Field::InitialRepository => "initialrepository",
        Field::MountTime => "mounttime",
        Field::MoveLock => "movelock",
        Field::QualityCheck => "qualitycheck",
        Field::ReadTime => "readtime",
        Field::Stage => "stage",
        Field::StockId => "stockid",
        Field::Usage => "usage",
        Field::UsageCount => "usagecount",
        Field::CurrentRepository => "current_repository",
    })
}

/// Stored fields in the fixed order every volume query selects them in. A column is named by
/// its position in this order ("column index") throughout the store.
#[derive(Debug, Clone)]
pub(crate) struct Columns {
    pub fields: Vec<Field>,
    /// The column of each of `fields`.
    pub names: Vec<&'static str>,
    /// `repository, slot, …` in the order of `fields`.
    pub list: String,
}

impl Columns {
    pub fn new() -> Columns {
        let fields: Vec<Field> = Field::stored().filter(|f| column(*f).is_some()).collect();
        let names: Vec<&'static str> = fields.iter().filter_map(|f| column(*f)).collect();
        let list = names.join(", ");
        Columns {
            fields,
            names,
            list,
        }
    }

    /// Position of a field among the columns.
    pub fn index(&self, field: Field) -> Option<usize> {
        self.fields.iter().position(|f| *f == field)
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }
}

/// The query of a scope table with `names` as its columns, in Volume-ID order: `scope` is the
/// backend's `WHERE` condition on customer and media (their placeholders differ).
pub fn scope_table_query(names: &[&str], scope: &str) -> String {
    let mut sql = String::from("SELECT volume, version");
    for name in names {
        sql.push_str(", ");
        sql.push_str(name);
    }
    sql.push_str(" FROM volumes WHERE ");
    sql.push_str(scope);
    sql.push_str(" ORDER BY volume");
    sql
}

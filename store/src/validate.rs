//! Checks and canonical forms of everything the store is asked to write, done once for both
//! backends before any SQL runs: identifiers, descriptions, user names, the changes of a
//! batch and the entries of a dump.

use crate::columns::Columns;
use crate::error::{invalid_value, StoreError};
use tapesync_model::{
    canonicalise, check_text, escape_controls, is_control, validate_id, validate_volume_id,
    ApplyBatch, Field, InventoryDump, ScopeKey,
};

/// Longest description of a media type or name of a customer (the volume DESCRIPTION limit).
pub(crate) const NAME_MAX: usize = 256;

/// Longest user name accepted.
pub(crate) const USER_NAME_MAX: usize = 64;

/// Checks an identifier of `field`'s kind and returns its canonical (upper-case) form.
pub(crate) fn id(field: Field, raw: &str) -> Result<String, StoreError> {
    validate_id(field, raw).map_err(|e| invalid_value(None, field, e))
}

pub(crate) fn volume_id(raw: &str) -> Result<String, StoreError> {
    validate_volume_id(raw).map_err(|e| invalid_value(Some(raw), Field::Volume, e))
}

pub(crate) fn scope_ids(scope: &ScopeKey) -> Result<(String, String), StoreError> {
    Ok((
        id(Field::Customer, &scope.customer)?,
        id(Field::Media, &scope.media)?,
    ))
}

pub(crate) fn check_description(field: Field, text: &str, max: usize) -> Result<(), StoreError> {
    check_text(field, text).map_err(|e| invalid_value(None, field, e))?;
    let len = text.chars().count();
    if len > max {
        return Err(StoreError::invalid(
            Some(field),
            format!("description is {len} characters long; at most {max} fit"),
        ));
    }
    Ok(())
}

/// Checks a text the store keeps that is no volume field (a session's definition and source
/// names): no control characters, the same rule as [`check_text`].
pub(crate) fn check_plain(what: &str, text: &str) -> Result<(), StoreError> {
    match text.chars().find(|c| is_control(*c)) {
        Some(c) => Err(StoreError::invalid(
            None,
            format!(
                "{what} `{}` has the control character U+{:04X}; text may not hold terminal or \
                 bidirectional controls",
                escape_controls(text),
                u32::from(c)
            ),
        )),
        None => Ok(()),
    }
}

pub(crate) fn check_user_name(name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name.chars().count() <= USER_NAME_MAX
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::invalid(
            None,
            format!(
                "user name `{name}` is not valid: use 1-{USER_NAME_MAX} of letters, digits, '.', '_', '-', '@'"
            ),
        ))
    }
}

/// A change whose volume id and values passed validation, in canonical form.
#[derive(Debug, Clone)]
pub(crate) struct CheckedChange {
    pub volume: String,
    pub expected_version: Option<u64>,
    /// (column index, field, new value), in column order — the order the audit rows of a
    /// change are written in.
    pub set: Vec<(usize, Field, Option<String>)>,
}

/// Validates and canonicalises every change of a batch before anything is written.
pub(crate) fn check_changes(
    columns: &Columns,
    batch: &ApplyBatch,
) -> Result<Vec<CheckedChange>, StoreError> {
    let mut checked = Vec::with_capacity(batch.changes.len());
    for change in &batch.changes {
        let volume = volume_id(&change.volume)?;
        let mut set = Vec::with_capacity(change.set.len());
        for (field, value) in &change.set {
            let index = stored_column(columns, &volume, *field)?;
            // An empty value is no value: it clears the field.
            let value = match value.as_deref() {
                None | Some("") => None,
                Some(raw) => Some(
                    canonicalise(*field, raw)
                        .map_err(|e| invalid_value(Some(&volume), *field, e))?,
                ),
            };
            set.push((index, *field, value));
        }
        set.sort_by_key(|(index, _, _)| *index);
        checked.push(CheckedChange {
            volume,
            expected_version: change.expected_version,
            set,
        });
    }
    Ok(checked)
}

fn stored_column(columns: &Columns, volume: &str, field: Field) -> Result<usize, StoreError> {
    columns.index(field).ok_or_else(|| StoreError::Invalid {
        volume: Some(volume.to_string()),
        field: Some(field),
        message: "is not a field stored on volumes".to_string(),
    })
}

/// A dump whose identifiers, descriptions and values are checked and canonical.
#[derive(Debug, Clone, Default)]
pub(crate) struct CheckedDump {
    pub customers: Vec<CheckedCustomer>,
    pub volumes: Vec<CheckedVolume>,
}

#[derive(Debug, Clone)]
pub(crate) struct CheckedCustomer {
    pub id: String,
    pub name: String,
    /// (id, description)
    pub media: Vec<(String, String)>,
    /// (id, description)
    pub repositories: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub(crate) struct CheckedVolume {
    pub customer: String,
    pub media: String,
    pub volume: String,
    /// The dump's version, used for a volume the store does not hold yet.
    pub version: Option<u64>,
    /// Every column's value, in column order.
    pub values: Vec<Option<String>>,
}

/// Checks a whole dump; the first invalid entry refuses it.
pub(crate) fn check_dump(
    columns: &Columns,
    dump: &InventoryDump,
) -> Result<CheckedDump, StoreError> {
    let mut customers = Vec::with_capacity(dump.customers.len());
    for customer in &dump.customers {
        let cid = id(Field::Customer, &customer.id)?;
        check_text(Field::Customer, &customer.name)
            .map_err(|e| invalid_value(None, Field::Customer, e))?;
        let mut media = Vec::with_capacity(customer.media.len());
        for m in &customer.media {
            check_text(Field::Media, &m.description)
                .map_err(|e| invalid_value(None, Field::Media, e))?;
            media.push((id(Field::Media, &m.id)?, m.description.clone()));
        }
        let mut repositories = Vec::with_capacity(customer.repositories.len());
        for repository in &customer.repositories {
            let rid = id(Field::Repository, &repository.id)?;
            check_text(Field::RepositoryDesc, &repository.description)
                .map_err(|e| invalid_value(None, Field::RepositoryDesc, e))?;
            let max = Field::RepositoryDesc.max_len();
            if repository.description.chars().count() > max {
                return Err(StoreError::invalid(
                    Some(Field::RepositoryDesc),
                    format!(
                        "description of repository {cid}.{rid} is longer than {max} characters"
                    ),
                ));
            }
            repositories.push((rid, repository.description.clone()));
        }
        customers.push(CheckedCustomer {
            id: cid,
            name: customer.name.clone(),
            media,
            repositories,
        });
    }
    let mut volumes = Vec::with_capacity(dump.volumes.len());
    for dumped in &dump.volumes {
        let customer = id(Field::Customer, &dumped.customer)?;
        let media = id(Field::Media, &dumped.media)?;
        let volume = volume_id(&dumped.volume)?;
        let mut values = vec![None; columns.len()];
        for (field, raw) in &dumped.fields {
            let index = stored_column(columns, &volume, *field)?;
            if raw.is_empty() {
                continue;
            }
            let value =
                canonicalise(*field, raw).map_err(|e| invalid_value(Some(&volume), *field, e))?;
            values[index] = Some(value);
        }
        if dumped.version == Some(0) {
            return Err(StoreError::Invalid {
                volume: Some(volume),
                field: None,
                message: "version 0 does not exist; versions start at 1".into(),
            });
        }
        volumes.push(CheckedVolume {
            customer,
            media,
            volume,
            version: dumped.version,
            values,
        });
    }
    Ok(CheckedDump { customers, volumes })
}

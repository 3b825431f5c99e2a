//! Builds the inventory a benchmark run starts from: a store file loaded through
//! `tapesync_store::Store::import` (the code path behind `tapesync admin import`), with a user
//! that has write rights on every customer for the HTTP runs. Built once per data set and
//! changed-share, then copied fresh for every timed run.

use crate::dataset::{customer_id, scope_ids, Dataset};
use std::path::Path;
use tapesync_model::{CustomerDump, InventoryDump, MediaDump, RepositoryInfo, VolumeDump};
use tapesync_store::{Role, Store};

/// The user the HTTP runs log on as.
pub const BENCH_USER: &str = "bench";
/// Its password (a throw-away store on loopback; not a secret).
pub const BENCH_PASSWORD: &str = "bench-password-not-secret";

/// Volumes per import transaction: keeps the dump in memory small for 1M-volume inventories.
const IMPORT_CHUNK: u64 = 100_000;

#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("store: {0}")]
    Store(#[from] tapesync_store::StoreError),
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
}

/// Customers with their media and the two repositories the definition translates to.
pub fn customers(ds: &Dataset) -> Vec<CustomerDump> {
    let mut out: Vec<CustomerDump> = (0..ds.customers())
        .map(|c| CustomerDump {
            id: customer_id(c),
            name: format!("Benchmark customer {c}"),
            media: Vec::new(),
            repositories: vec![
                RepositoryInfo {
                    id: "LIBR".into(),
                    description: "Library".into(),
                },
                RepositoryInfo {
                    id: "OFFS".into(),
                    description: "Offsite vault".into(),
                },
            ],
        })
        .collect();
    for s in 0..ds.scopes {
        let (customer, media) = scope_ids(s);
        if let Some(c) = out.iter_mut().find(|c| c.id == customer) {
            c.media.push(MediaDump {
                id: media,
                description: "LTO cartridge".into(),
            });
        }
    }
    out
}

/// The volumes `range` of the data set as dump entries.
pub fn volumes(ds: &Dataset, changed_percent: u32, range: std::ops::Range<u64>) -> Vec<VolumeDump> {
    range
        .map(|r| {
            let row = ds.row(r);
            VolumeDump {
                customer: row.customer,
                media: row.media,
                volume: row.volume,
                version: None,
                fields: ds.inventory_fields(r, changed_percent),
            }
        })
        .collect()
}

/// Creates the baseline store at `path` (which must not exist yet).
pub fn build(path: &Path, ds: &Dataset, changed_percent: u32) -> Result<(), InventoryError> {
    let mut store = Store::open(path)?;
    fill(&mut store, ds, changed_percent)?;
    // Dropping the last connection checkpoints the WAL into the main file, so copying the
    // one file copies the whole inventory.
    drop(store);
    Ok(())
}

/// Loads the data set's inventory and the bench user into an empty store (of either backend).
pub fn fill(store: &mut Store, ds: &Dataset, changed_percent: u32) -> Result<(), InventoryError> {
    store.import(&InventoryDump {
        customers: customers(ds),
        volumes: Vec::new(),
    })?;
    let mut start = 0;
    while start < ds.records {
        let end = (start + IMPORT_CHUNK).min(ds.records);
        store.import(&InventoryDump {
            customers: Vec::new(),
            volumes: volumes(ds, changed_percent, start..end),
        })?;
        start = end;
    }
    store.add_user(BENCH_USER, BENCH_PASSWORD, false)?;
    for c in 0..ds.customers() {
        store.grant(BENCH_USER, &customer_id(c), Role::Write)?;
    }
    Ok(())
}

/// Copies a baseline store (and its WAL, should one be left) to `to`.
pub fn copy_store(from: &Path, to: &Path) -> Result<(), InventoryError> {
    for suffix in ["", "-wal", "-shm"] {
        let src = with_suffix(from, suffix);
        let dst = with_suffix(to, suffix);
        if dst.exists() {
            std::fs::remove_file(&dst)
                .map_err(|e| InventoryError::Io(dst.display().to_string(), e))?;
        }
        if src.exists() {
            std::fs::copy(&src, &dst)
                .map_err(|e| InventoryError::Io(src.display().to_string(), e))?;
            // Write the copy out now: otherwise the run's first fsync would pay for flushing
            // the whole freshly copied file, a cost no real store has.
            std::fs::File::open(&dst)
                .and_then(|f| f.sync_all())
                .map_err(|e| InventoryError::Io(dst.display().to_string(), e))?;
        }
    }
    Ok(())
}

/// Removes a store file and its WAL companions.
pub fn remove_store(path: &Path) -> Result<(), InventoryError> {
    for suffix in ["", "-wal", "-shm"] {
        let p = with_suffix(path, suffix);
        if p.exists() {
            std::fs::remove_file(&p).map_err(|e| InventoryError::Io(p.display().to_string(), e))?;
        }
    }
    Ok(())
}

fn with_suffix(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    s.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baseline_holds_every_volume_and_the_user() {
        let dir = std::env::temp_dir().join(format!("tapesync-bench-inv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let base = dir.join("base.db");
        let _ = std::fs::remove_file(&base);
        let ds = Dataset::new(300, 20).unwrap();
        build(&base, &ds, 10).unwrap();
        let copy = dir.join("copy.db");
        copy_store(&base, &copy).unwrap();
        let store = Store::open(&copy).unwrap();
        let dump = store.export().unwrap();
        assert_eq!(dump.volumes.len(), 300);
        assert_eq!(dump.customers.len(), 2);
        assert_eq!(dump.customers[1].media.len(), 10);
        let user = store
            .verify_password(BENCH_USER, BENCH_PASSWORD)
            .unwrap()
            .unwrap();
        assert_eq!(store.role_of(&user, "C001").unwrap(), Some(Role::Write));
        drop(store);
        std::fs::remove_dir_all(dir).unwrap();
    }
}

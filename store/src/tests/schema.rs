//! Migrations and the schema version, on both backends; SQLite's file settings.

use super::*;
use crate::columns::{column, Columns};
use crate::SCHEMA_VERSION;

#[test]
fn both_backends_have_the_same_number_of_steps() {
    assert_eq!(
        crate::sqlite::schema::MIGRATIONS.len(),
        crate::postgres::schema::MIGRATIONS.len()
    );
}

#[test]
fn every_stored_field_has_a_column() {
    on_each(|t| {
        for field in Field::stored() {
            let col = column(field).unwrap_or_else(|| panic!("{field} has no column"));
            // Selecting the column fails if the table lacks it.
            t.store
                .backend
                .test_scalar(&format!("SELECT count({col}) FROM volumes"));
        }
    });
    assert_eq!(Columns::new().len(), Field::stored().count());
}

#[test]
fn migrations_are_idempotent_on_reopen() {
    on_each(|t| {
        assert_eq!(t.store.schema_version().unwrap(), SCHEMA_VERSION);
        t.store.add_customer("US01", "Acme").unwrap();
        let again = t.reopen();
        assert_eq!(again.schema_version().unwrap(), SCHEMA_VERSION);
        assert_eq!(again.list_customers().unwrap().len(), 1);
        assert_eq!(again.location(), Some(&t.location));
    });
}

#[test]
fn a_sqlite_store_is_in_wal_mode_with_full_sync() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inv.db");
    let store = Store::open(&path).unwrap();
    assert_eq!(store.path(), Some(path.as_path()));
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    assert_eq!(store.backend.test_scalar("PRAGMA synchronous"), 2, "FULL");
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inv.db");
    drop(Store::open(&path).unwrap());
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(&format!("PRAGMA user_version = {}", SCHEMA_VERSION + 1))
            .unwrap();
    }
    expect_newer(Store::open(&path));
    if let Some(db) = TestDatabase::create() {
        drop(Store::open_location(&db.location()).unwrap());
        db.execute(&format!(
            "UPDATE tapesync_schema SET version = {}",
            SCHEMA_VERSION + 1
        ));
        expect_newer(Store::open_location(&db.location()));
        expect_newer(Store::open_existing(&db.location()).map(|s| s.unwrap()));
    }
}

fn expect_newer(opened: Result<Store, StoreError>) {
    match opened {
        Err(StoreError::NewerSchema { found, known }) => {
            assert_eq!((found, known), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a newer schema was accepted"),
    }
}

/// A version-1 SQLite store (as the previous release left it) is brought up to date with
/// its data intact.
#[test]
fn an_older_sqlite_store_is_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(crate::sqlite::schema::MIGRATIONS[0])
            .unwrap();
        conn.execute_batch(
            "PRAGMA user_version = 1;
             INSERT INTO customers (id, name) VALUES ('US01', 'Acme');
             INSERT INTO users (name, password_hash, is_admin, failed_logons, created_at)
             VALUES ('alice', 'x', 0, 3, 'then');",
        )
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(store.list_customers().unwrap()[0].name, "Acme");
    assert!(store.user("alice").unwrap().is_some());
}

/// Without `create`, a PostgreSQL schema that holds no store is not made into one (a
/// mistyped URL must not create tables), and a reader is refused the same way.
#[test]
fn opening_an_existing_postgres_store_creates_nothing() {
    let Some(db) = TestDatabase::create() else {
        return;
    };
    assert!(matches!(
        Store::open_existing(&db.location()),
        Err(StoreError::NotFound(_))
    ));
    drop(Store::open_location(&db.location()).unwrap());
    assert!(Store::open_existing(&db.location()).unwrap().is_some());
}

#[test]
fn an_unreachable_database_is_a_clear_transient_error() {
    // Port 1 on loopback: nothing listens there.
    let location = StoreLocation::parse("postgres://u:s3cret@127.0.0.1:1/inv?connect_timeout=2");
    match Store::open_location(&location) {
        Err(e) => {
            assert!(e.is_busy(), "{e}");
            let text = e.to_string();
            // The caller names the store (without its password); the store says what failed.
            assert!(
                text.starts_with("the database is unavailable: cannot connect"),
                "{text}"
            );
            assert!(!text.contains("s3cret"), "{text}");
        }
        Ok(_) => panic!("connected to nothing"),
    }
}

/// A new SQLite store holds password hashes: its file, and the WAL and shared-memory files
/// beside it, are readable by their owner only, whatever the umask.
#[cfg(unix)]
#[test]
fn a_new_sqlite_store_and_its_wal_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inv.db");
    let store = Store::open(&path).unwrap();
    store.add_customer("US01", "Acme").unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let file = dir.path().join(format!("inv.db{suffix}"));
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} has mode {mode:o}", file.display());
    }
}

/// Another program's SQLite database is refused before anything is changed: no tapesync
/// table, no switch to WAL, not one byte written.
#[test]
fn a_foreign_sqlite_database_is_refused_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('hi');")
            .unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    for opened in [
        Store::open(&path),
        Store::open_existing(&StoreLocation::File(path.clone())).map(|s| s.unwrap()),
    ] {
        match opened {
            Err(e @ StoreError::Foreign(_)) => {
                assert!(e.to_string().contains("not a tapesync store"), "{e}")
            }
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("a foreign database was opened as a store"),
        }
    }
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert!(!dir.path().join("other.db-wal").exists());
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "delete");
}

/// A store marks itself (SQLite's application id) and is opened again; a store from before
/// the mark (its tapesync tables, no application id) is still recognised.
#[test]
fn a_store_is_recognised_by_its_mark_or_its_tables() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inv.db");
    drop(Store::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    let id: i64 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .unwrap();
    assert_eq!(id, crate::sqlite::APPLICATION_ID as i64);
    conn.execute_batch("PRAGMA application_id = 0").unwrap();
    drop(conn);
    drop(Store::open(&path).unwrap());
}

/// A PostgreSQL schema with other tables and no tapesync schema marker is refused, and
/// nothing is created in it.
#[test]
fn a_foreign_postgres_schema_is_refused_unchanged() {
    let Some(db) = TestDatabase::create() else {
        return;
    };
    db.execute("CREATE TABLE notes (body TEXT)");
    match Store::open_location(&db.location()) {
        Err(e @ StoreError::Foreign(_)) => {
            assert!(e.to_string().contains("not a tapesync store"), "{e}")
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a foreign schema was made into a store"),
    }
    let mut client = postgres::Client::connect(db.url(), postgres::NoTls).unwrap();
    let tables: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE schemaname = $1",
            &[&db.schema()],
        )
        .unwrap()
        .get(0);
    assert_eq!(tables, 1, "only the foreign table");
}

/// A schema-8 SQLite store with an audit trail is migrated to the chained trail: the history
/// written before is still found, and changes made after follow it.
#[test]
fn a_schema_8_audit_trail_survives_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        for step in &crate::sqlite::schema::MIGRATIONS[..8] {
            conn.execute_batch(step).unwrap();
        }
        conn.execute_batch(&format!(
            "PRAGMA user_version = 8; PRAGMA application_id = {};
             INSERT INTO customers (id, name) VALUES ('US01', 'Acme');
             INSERT INTO media (customer, id) VALUES ('US01', 'LTO');
             INSERT INTO volumes (customer, media, volume, version, created_at, updated_at, slot)
             VALUES ('US01', 'LTO', 'V1', 1, 'then', 'then', '7');
             INSERT INTO audit (actor, at, customer, media, volume, field, old, new)
             VALUES ('old', 'then', 'US01', 'LTO', 'V1', 'SLOT', NULL, '7'),
                    ('old', 'then', 'US01', 'LTO', 'V2', 'SLOT', NULL, '9');",
            crate::sqlite::APPLICATION_ID
        ))
        .unwrap();
    }
    let mut store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    let scope = tapesync_model::ScopeKey {
        customer: "US01".into(),
        media: "LTO".into(),
    };
    let change = tapesync_model::VolumeChange {
        volume: "V1".into(),
        expected_version: Some(1),
        set: [(tapesync_model::Field::Slot, Some("8".to_string()))].into(),
    };
    let batch = tapesync_model::ApplyBatch {
        idempotency_key: "k".into(),
        session: None,
        create_missing: false,
        create: None,
        changes: vec![change],
    };
    store.apply("new", &scope, &batch).unwrap();
    let trail: Vec<(String, Option<String>, Option<String>)> = store
        .volume_history(&scope, "V1")
        .unwrap()
        .into_iter()
        .map(|e| (e.user, e.old, e.new))
        .collect();
    assert_eq!(
        trail,
        [
            ("old".to_string(), None, Some("7".to_string())),
            (
                "new".to_string(),
                Some("7".to_string()),
                Some("8".to_string())
            ),
        ]
    );
}

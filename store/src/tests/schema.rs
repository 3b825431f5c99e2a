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

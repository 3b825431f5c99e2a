//! Reconciliation: expected against found in one repository, recorded and read back, on both
//! backends; bad input records nothing.

use super::*;
use crate::{ReconcileRequest, Reconciliation};

/// A1, A2 at OFFS; A3 in LIBR; A4 of media DLT at OFFS (a second media of US01).
fn inventory(store: &mut Store) {
    store.add_media("US01", "DLT", "DLT tapes").unwrap();
    for (v, r) in [("A1", "OFFS"), ("A2", "OFFS"), ("A3", "LIBR")] {
        let c = change(v, None, &[(Field::Repository, Some(r))]);
        apply_one(store, "night", &format!("b-{v}"), true, c).unwrap();
    }
    let dlt = ScopeKey {
        customer: "US01".into(),
        media: "DLT".into(),
    };
    let c = change("A4", None, &[(Field::Repository, Some("OFFS"))]);
    store
        .apply("night", &dlt, &batch("b-A4", true, vec![c]))
        .unwrap();
}

fn request(repository: &str, barcodes: &[&str]) -> ReconcileRequest {
    ReconcileRequest {
        repository: repository.into(),
        media: None,
        barcodes: barcodes.iter().map(|b| b.to_string()).collect(),
        source: "scan.txt".into(),
    }
}

fn volumes(list: &[crate::ReconciledVolume]) -> Vec<String> {
    list.iter()
        .map(|v| format!("{}/{}", v.media, v.volume))
        .collect()
}

fn surplus(r: &Reconciliation) -> Vec<(String, String)> {
    r.surplus
        .iter()
        .map(|s| (s.volume.clone(), s.whereabouts()))
        .collect()
}

#[test]
fn present_missing_and_surplus_are_recorded_and_shown_again() {
    on_each_seeded(|store| {
        inventory(store);
        let before = count(store, "audit");
        // a1 in lower case and twice: barcodes are canonical and distinct.
        let r = store
            .reconcile(
                "alice",
                "us01",
                &request("offs", &["a1", "A1", "A4", "A3", "ZZ99"]),
            )
            .unwrap();
        assert_eq!(volumes(&r.present), ["LTO/A1", "DLT/A4"]);
        assert_eq!(volumes(&r.missing), ["LTO/A2"]);
        assert_eq!(
            surplus(&r),
            [
                ("A3".to_string(), "inventory: in LIBR".to_string()),
                ("ZZ99".to_string(), "unknown volume".to_string())
            ]
        );
        let c = r.summary.counts;
        assert_eq!(
            (c.expected, c.found, c.present, c.missing, c.surplus),
            (3, 4, 2, 1, 2)
        );
        assert_eq!(
            (r.summary.customer.as_str(), r.summary.repository.as_str()),
            ("US01", "OFFS")
        );
        assert_eq!(r.summary.actor, "alice");
        assert!(r.summary.at.ends_with('Z'), "{}", r.summary.at);
        assert!(!r.summary.is_clean());
        // Nothing about the volumes changed.
        assert_eq!(count(store, "audit"), before);
        assert_eq!(
            store.volume(&scope(), "A3").unwrap().unwrap().version,
            1,
            "a reconciliation changes no volume"
        );

        // Recorded: listed and read back whole.
        let clean = store
            .reconcile("bob", "US01", &request("LIBR", &["A3"]))
            .unwrap();
        assert!(clean.summary.is_clean());
        let list = store.reconciliations("US01").unwrap();
        assert_eq!(
            list.iter().map(|s| s.id).collect::<Vec<_>>(),
            [clean.summary.id, r.summary.id],
            "newest first"
        );
        assert_eq!(list[1], r.summary);
        assert_eq!(store.reconciliation("US01", r.summary.id).unwrap(), r);
    });
}

#[test]
fn one_media_only() {
    on_each_seeded(|store| {
        inventory(store);
        let mut req = request("OFFS", &["A1", "A4"]);
        req.media = Some("lto".into());
        let r = store.reconcile("alice", "US01", &req).unwrap();
        assert_eq!(volumes(&r.present), ["LTO/A1"]);
        assert_eq!(volumes(&r.missing), ["LTO/A2"]);
        // A4 is a DLT volume: not one of the LTO media asked for.
        assert_eq!(
            surplus(&r),
            [("A4".to_string(), "unknown volume".to_string())]
        );
        assert_eq!(r.summary.media.as_deref(), Some("LTO"));
    });
}

#[test]
fn bad_input_records_nothing() {
    on_each_seeded(|store| {
        inventory(store);
        let message = |e: StoreError| e.to_string();
        let e = store
            .reconcile("alice", "US01", &request("NOPE", &["A1"]))
            .unwrap_err();
        assert!(matches!(e, StoreError::Invalid { .. }));
        assert!(message(e).contains("no repository NOPE (its repositories: LIBR, OFFS)"));
        let e = store
            .reconcile("alice", "US01", &request("OFFS", &[]))
            .unwrap_err();
        assert!(message(e).contains("no barcodes"));
        for blank in ["", " A1"] {
            let e = store
                .reconcile("alice", "US01", &request("OFFS", &["A2", blank]))
                .unwrap_err();
            assert!(matches!(e, StoreError::Invalid { .. }), "{e}");
        }
        let e = store
            .reconcile("alice", "US01", &request("OFFS", &["A1", "bad barcode!"]))
            .unwrap_err();
        assert!(matches!(e, StoreError::Invalid { .. }), "{e}");
        let mut req = request("OFFS", &["A1"]);
        req.media = Some("VHS".into());
        let e = store.reconcile("alice", "US01", &req).unwrap_err();
        assert!(message(e).contains("no media VHS"));
        let e = store
            .reconcile("alice", "ZZ01", &request("OFFS", &["A1"]))
            .unwrap_err();
        assert!(matches!(e, StoreError::NotFound(_)));
        assert_eq!(count(store, "reconciliations"), 0);
    });
}

#[test]
fn another_customers_reconciliation_is_not_found() {
    on_each_seeded(|store| {
        inventory(store);
        store.add_customer("EU02", "Other").unwrap();
        let r = store
            .reconcile("alice", "US01", &request("OFFS", &["A1"]))
            .unwrap();
        assert!(matches!(
            store.reconciliation("EU02", r.summary.id),
            Err(StoreError::NotFound(_))
        ));
        assert!(store.reconciliations("EU02").unwrap().is_empty());
        assert!(matches!(
            store.reconciliations("ZZ09"),
            Err(StoreError::NotFound(_))
        ));
    });
}

//! The volume list (`Store::list_volumes`): filters, key paging, totals, and bad input.

use super::*;
use crate::{RepositoryFilter, ScratchFilter, VolumeListQuery, MAX_PAGE};

/// US01: 30 LTO volumes (L000–L029; every third in OFFS, the others in LIBR; even ones
/// scratch, odd ones active, L029 without a scratch state) and 5 DLT volumes without a
/// repository.
fn fill(store: &mut Store) {
    seed(store);
    store.add_media("US01", "DLT", "").unwrap();
    let lto = (0..30u32)
        .map(|i| {
            let repository = if i.is_multiple_of(3) { "OFFS" } else { "LIBR" };
            let scratch = match i {
                29 => None,
                _ if i.is_multiple_of(2) => Some("true"),
                _ => Some("false"),
            };
            change(
                &format!("L{i:03}"),
                None,
                &[
                    (Field::Repository, Some(repository)),
                    (Field::Scratch, scratch),
                ],
            )
        })
        .collect();
    store
        .apply("t", &scope(), &batch("lto", true, lto))
        .unwrap();
    let dlt = (0..5)
        .map(|i| change(&format!("D{i:03}"), None, &[(Field::Slot, Some("S1"))]))
        .collect();
    let dlt_scope = ScopeKey {
        customer: "US01".into(),
        media: "DLT".into(),
    };
    store
        .apply("t", &dlt_scope, &batch("dlt", true, dlt))
        .unwrap();
}

fn ids(store: &Store, query: &VolumeListQuery) -> (u64, Vec<String>, bool) {
    let list = store.list_volumes("us01", query).unwrap();
    let ids = list
        .volumes
        .iter()
        .map(|v| format!("{}/{}", v.media, v.volume.volume))
        .collect();
    (list.total, ids, list.more)
}

#[test]
fn every_filter_narrows_the_list_and_totals_count_every_page() {
    on_each(|t| {
        fill(&mut t.store);
        let store = &t.store;
        let all = ids(store, &VolumeListQuery::default());
        assert_eq!(all.0, 35);
        assert_eq!(all.1.len(), 35);
        // (media, volume) order: DLT before LTO.
        assert_eq!(all.1[0], "DLT/D000");
        assert_eq!(all.1[5], "LTO/L000");
        assert!(!all.2);

        let offs = ids(
            store,
            &VolumeListQuery {
                repository: Some(RepositoryFilter::In("offs".into())),
                ..Default::default()
            },
        );
        assert_eq!(offs.0, 10);
        assert!(offs.1.iter().all(|v| {
            let n: u32 = v[5..].parse().unwrap();
            n.is_multiple_of(3)
        }));
        let unassigned = ids(
            store,
            &VolumeListQuery {
                repository: Some(RepositoryFilter::Unassigned),
                ..Default::default()
            },
        );
        assert_eq!(unassigned.0, 5);
        assert!(unassigned.1.iter().all(|v| v.starts_with("DLT/")));

        let scratch_in_libr = ids(
            store,
            &VolumeListQuery {
                media: Some("lto".into()),
                repository: Some(RepositoryFilter::In("LIBR".into())),
                scratch: Some(ScratchFilter::Scratch),
                ..Default::default()
            },
        );
        // Even, not a multiple of 3, below 30: 2 4 8 10 14 16 20 22 26 28.
        assert_eq!(scratch_in_libr.0, 10);
        let unknown = ids(
            store,
            &VolumeListQuery {
                media: Some("LTO".into()),
                scratch: Some(ScratchFilter::Unknown),
                ..Default::default()
            },
        );
        assert_eq!(unknown.1, ["LTO/L029"]);
        let active = ids(
            store,
            &VolumeListQuery {
                scratch: Some(ScratchFilter::Active),
                ..Default::default()
            },
        );
        assert_eq!(active.0, 14);

        let text = ids(
            store,
            &VolumeListQuery {
                text: Some(" l01 ".into()),
                ..Default::default()
            },
        );
        assert_eq!(text.0, 10);
        assert_eq!(text.1[0], "LTO/L010");
    });
}

#[test]
fn the_pending_move_filter_splits_the_list_in_two() {
    on_each(|t| {
        fill(&mut t.store);
        // L001 and L002 (in LIBR) are bound for OFFS; L003 (in OFFS) for LIBR: three pending
        // moves. The DLT volumes have no repository at all: no move.
        let targets = [("L001", "OFFS"), ("L002", "OFFS"), ("L003", "LIBR")]
            .iter()
            .map(|(v, r)| change(v, Some(1), &[(Field::Repository, Some(*r))]))
            .collect();
        t.store
            .apply("t", &scope(), &batch("targets", false, targets))
            .unwrap();
        let store = &t.store;
        let pending = ids(
            store,
            &VolumeListQuery {
                pending: Some(true),
                ..Default::default()
            },
        );
        assert_eq!(pending.1, ["LTO/L001", "LTO/L002", "LTO/L003"]);
        let settled = ids(
            store,
            &VolumeListQuery {
                pending: Some(false),
                ..Default::default()
            },
        );
        assert_eq!(
            settled.0, 32,
            "every other volume, those without a repository too"
        );
        assert!(settled.1.contains(&"DLT/D000".to_string()));
        assert!(!settled.1.contains(&"LTO/L001".to_string()));
        // With the other filters and paging.
        let page = ids(
            store,
            &VolumeListQuery {
                pending: Some(true),
                repository: Some(RepositoryFilter::In("OFFS".into())),
                limit: Some(1),
                ..Default::default()
            },
        );
        assert_eq!(
            (page.0, page.1, page.2),
            (2, vec!["LTO/L001".to_string()], true)
        );
    });
}

#[test]
fn pages_continue_after_the_last_volume_shown_until_the_list_ends() {
    on_each(|t| {
        fill(&mut t.store);
        let store = &t.store;
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let list = store
                .list_volumes(
                    "US01",
                    &VolumeListQuery {
                        media: Some("LTO".into()),
                        after: after.clone(),
                        limit: Some(7),
                        ..Default::default()
                    },
                )
                .unwrap();
            assert_eq!(list.total, 30, "the total is that of every page");
            assert!(list.volumes.len() <= 7);
            seen.extend(list.volumes.iter().map(|v| v.volume.volume.clone()));
            let last = list.volumes.last().unwrap();
            after = Some((last.media.clone(), last.volume.volume.clone()));
            if !list.more {
                break;
            }
        }
        let expected: Vec<String> = (0..30).map(|i| format!("L{i:03}")).collect();
        assert_eq!(seen, expected);
        // Fields come back with each volume.
        let first = store
            .list_volumes(
                "US01",
                &VolumeListQuery {
                    limit: Some(1),
                    media: Some("LTO".into()),
                    ..Default::default()
                },
            )
            .unwrap();
        let v = &first.volumes[0].volume;
        assert_eq!(v.version, 1);
        assert_eq!(v.fields.get(&Field::Repository).unwrap(), "OFFS");
        assert_eq!(v.fields.get(&Field::Scratch).unwrap(), "true");
        assert!(first.more);
    });
}

#[test]
fn bad_filters_are_refused_with_what_to_do() {
    on_each(|t| {
        fill(&mut t.store);
        let store = &t.store;
        let refused = |query: VolumeListQuery| match store.list_volumes("US01", &query) {
            Err(StoreError::Invalid { message, .. }) => message,
            other => panic!("{query:?}: {other:?}"),
        };
        let m = refused(VolumeListQuery {
            text: Some("50%".into()),
            ..Default::default()
        });
        assert!(m.contains("letters, digits and '-'"), "{m}");
        let m = refused(VolumeListQuery {
            limit: Some(MAX_PAGE + 1),
            ..Default::default()
        });
        assert!(m.contains("1 to 1000"), "{m}");
        refused(VolumeListQuery {
            repository: Some(RepositoryFilter::In("NO WAY".into())),
            ..Default::default()
        });
        assert!(matches!(
            store.list_volumes("NOPE", &VolumeListQuery::default()),
            Err(StoreError::NotFound(_))
        ));
    });
}

#[test]
fn the_list_query_reads_an_index_on_sqlite() {
    // The plan of each filtered page query must search an index, never scan the table.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("inv.db")).unwrap();
    seed(&store);
    let conn = rusqlite::Connection::open(dir.path().join("inv.db")).unwrap();
    for (query, index) in [
        (VolumeListQuery::default(), "volumes_by_key"),
        (
            VolumeListQuery {
                repository: Some(RepositoryFilter::In("LIBR".into())),
                ..Default::default()
            },
            "volumes_by_repository",
        ),
        (
            VolumeListQuery {
                scratch: Some(ScratchFilter::Scratch),
                ..Default::default()
            },
            "volumes_by_scratch",
        ),
        (
            VolumeListQuery {
                pending: Some(true),
                ..Default::default()
            },
            "volumes_moving",
        ),
    ] {
        let query = VolumeListQuery {
            after: Some(("LTO".into(), "A1".into())),
            limit: Some(50),
            ..query
        };
        let statements = crate::browse::statements(
            "US01",
            &query,
            &store.columns.list,
            crate::browse::sqlite_placeholder,
        );
        let sql = statements.page;
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap()
            .query_map(rusqlite::params_from_iter(statements.page_params), |r| {
                r.get::<_, String>(3)
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let plan = plan.join("; ");
        assert!(
            plan.contains(&format!("SEARCH volumes USING INDEX {index}"))
                || plan.contains(&format!("SEARCH volumes USING COVERING INDEX {index}")),
            "{query:?}: {plan}"
        );
        assert!(
            !plan.contains("TEMP B-TREE"),
            "sorts instead of reading in order: {plan}"
        );
    }
}

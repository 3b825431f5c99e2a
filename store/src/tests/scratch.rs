//! Scratch minimums and levels.

use super::*;
use crate::ScratchLevel;

fn level(media: &str, repository: &str, minimum: u64, scratch: u64) -> ScratchLevel {
    ScratchLevel {
        customer: "US01".into(),
        media: media.into(),
        repository: repository.into(),
        minimum,
        scratch,
    }
}

#[test]
fn levels_count_the_scratch_volumes_of_each_place_with_a_minimum() {
    on_each_seeded(|store| {
        store.add_media("US01", "DLT", "").unwrap();
        // LIBR: 3 scratch LTO, 1 active LTO, 1 scratch DLT; OFFS: 1 scratch LTO.
        let changes = [
            ("A1", "LIBR", "yes"),
            ("A2", "LIBR", "yes"),
            ("A3", "LIBR", "true"),
            ("A4", "LIBR", "no"),
            ("A5", "OFFS", "yes"),
        ]
        .iter()
        .map(|(v, r, s)| {
            change(
                v,
                None,
                &[(Field::Repository, Some(r)), (Field::Scratch, Some(s))],
            )
        })
        .collect();
        store
            .apply("t", &scope(), &batch("b1", true, changes))
            .unwrap();
        let dlt = ScopeKey {
            customer: "US01".into(),
            media: "DLT".into(),
        };
        let one = change(
            "D1",
            None,
            &[
                (Field::Repository, Some("LIBR")),
                (Field::Scratch, Some("yes")),
            ],
        );
        store
            .apply("t", &dlt, &batch("b2", true, vec![one]))
            .unwrap();

        assert_eq!(store.scratch_levels(None).unwrap(), []);
        store.set_scratch_minimum("us01", "lto", "libr", 5).unwrap();
        store.set_scratch_minimum("US01", "LTO", "OFFS", 1).unwrap();
        store.set_scratch_minimum("US01", "DLT", "OFFS", 2).unwrap();
        let levels = store.scratch_levels(Some("US01")).unwrap();
        assert_eq!(
            levels,
            [
                level("DLT", "OFFS", 2, 0),
                level("LTO", "LIBR", 5, 3),
                level("LTO", "OFFS", 1, 1),
            ]
        );
        assert_eq!(
            levels
                .iter()
                .map(ScratchLevel::is_short)
                .collect::<Vec<_>>(),
            [true, true, false]
        );
        // Replacing and removing.
        store.set_scratch_minimum("US01", "LTO", "LIBR", 3).unwrap();
        store.remove_scratch_minimum("US01", "DLT", "OFFS").unwrap();
        assert_eq!(
            store.scratch_levels(None).unwrap(),
            [level("LTO", "LIBR", 3, 3), level("LTO", "OFFS", 1, 1)]
        );
        assert!(matches!(
            store.remove_scratch_minimum("US01", "DLT", "OFFS"),
            Err(StoreError::NotFound(_))
        ));
    });
}

#[test]
fn a_minimum_needs_an_existing_customer_media_and_repository() {
    on_each_seeded(|store| {
        for (c, m, r, says) in [
            ("NONE", "LTO", "LIBR", "customer NONE"),
            ("US01", "DLT", "LIBR", "media DLT"),
            ("US01", "LTO", "VAUL", "repository VAUL"),
        ] {
            match store.set_scratch_minimum(c, m, r, 1) {
                Err(StoreError::NotFound(what)) => assert!(what.contains(says), "{what}"),
                other => panic!("{c} {m} {r}: {other:?}"),
            }
        }
        assert!(matches!(
            store.set_scratch_minimum("US01", "L T", "LIBR", 1),
            Err(StoreError::Invalid { .. })
        ));
        assert!(matches!(
            store.set_scratch_minimum("US01", "LTO", "LIBR", u64::MAX),
            Err(StoreError::Invalid { .. })
        ));
        assert_eq!(store.scratch_levels(None).unwrap(), []);
    });
}

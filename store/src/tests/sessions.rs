//! Sync sessions: recorded, finished, listed per customer.

use super::*;
use tapesync_model::{SessionOutcome, SessionStart, SyncStatistics};

#[test]
fn sessions_are_recorded_and_listed_per_customer() {
    on_each_seeded(|store| {
        store.add_customer("EU02", "").unwrap();
        store.add_media("EU02", "LTO", "").unwrap();
        let start = SessionStart {
            definition_hash: "ab".repeat(32),
            definition_name: "nbu.ttidef".into(),
            source_name: "report.csv".into(),
        };
        let s1 = store.begin_session("alice", &start).unwrap();
        let s2 = store.begin_session("bob", &start).unwrap();
        let mut b = batch("k1", true, vec![change("V1", None, &[])]);
        b.session = Some(s1);
        store.apply("alice", &scope(), &b).unwrap();
        let mut b = batch("k2", true, vec![change("V1", None, &[])]);
        b.session = Some(s2);
        store
            .apply(
                "bob",
                &ScopeKey {
                    customer: "EU02".into(),
                    media: "LTO".into(),
                },
                &b,
            )
            .unwrap();
        let stats = SyncStatistics {
            records_read: 10,
            volumes_added: 1,
            ..SyncStatistics::default()
        };
        store
            .finish_session(s1, SessionOutcome::Completed, &stats)
            .unwrap();
        let all = store.list_sessions(None, 10).unwrap();
        assert_eq!(all.iter().map(|s| s.id).collect::<Vec<_>>(), [s2, s1]);
        assert_eq!(all[0].outcome, SessionOutcome::Running);
        assert_eq!(all[1].statistics.as_ref(), Some(&stats));
        assert!(all[1].finished_at.is_some());
        let us = store
            .list_sessions(Some(&["US01".to_string()]), 10)
            .unwrap();
        assert_eq!(us.len(), 1);
        assert_eq!(us[0].user, "alice");
        assert_eq!(store.list_sessions(None, 1).unwrap().len(), 1);
        assert!(store.list_sessions(Some(&[]), 10).unwrap().is_empty());
        // A session that only looked at EU02 shows up for EU02 once it says so.
        let s3 = store.begin_session("carol", &start).unwrap();
        let eu = ScopeKey {
            customer: "eu02".into(),
            media: "lto".into(),
        };
        store.touch_session_scope(s3, &eu).unwrap();
        store.touch_session_scope(s3, &eu).unwrap();
        let eu_sessions = store
            .list_sessions(Some(&["EU02".to_string()]), 10)
            .unwrap();
        assert_eq!(
            eu_sessions.iter().map(|s| s.id).collect::<Vec<_>>(),
            [s3, s2]
        );
        assert!(matches!(
            store.touch_session_scope(999, &eu),
            Err(StoreError::NotFound(_))
        ));
        assert_eq!(
            store.session_scopes(s1).unwrap(),
            [("US01".to_string(), "LTO".to_string())]
        );
        let history = store.volume_history(&scope(), "V1").unwrap();
        assert_eq!(
            history.len(),
            1,
            "creation is audited even without field values"
        );
        assert_eq!(history[0].session, Some(s1));
        assert_eq!(history[0].field, Field::Volume);
        assert!(matches!(
            store.finish_session(999, SessionOutcome::Failed, &stats),
            Err(StoreError::NotFound(_))
        ));
        let mut b = batch("k3", true, vec![change("V2", None, &[])]);
        b.session = Some(999);
        assert!(matches!(
            store.apply("a", &scope(), &b),
            Err(StoreError::Invalid { .. })
        ));
    });
}

/// Control characters reach the store through the API as well as through the CLI: the same
/// model check refuses them in volume fields, names, descriptions and session records, and
/// nothing is written.
#[test]
fn control_characters_are_refused_before_anything_is_written() {
    on_each_seeded(|store| {
        let bad = [
            "a\0b",
            "\x1b]0;owned\x07",
            "line\rover",
            "abc\u{202e}gnp.exe",
        ];
        for text in bad {
            let b = batch(
                "k-ctl",
                true,
                vec![change("V1", None, &[(Field::Description, Some(text))])],
            );
            let err = store.apply("alice", &scope(), &b).unwrap_err();
            assert!(matches!(err, StoreError::Invalid { .. }), "{err}");
            assert!(!err.to_string().chars().any(tapesync_model::is_control));
            let start = SessionStart {
                definition_hash: "ab".repeat(32),
                definition_name: "nbu.ttidef".into(),
                source_name: text.into(),
            };
            assert!(matches!(
                store.begin_session("alice", &start),
                Err(StoreError::Invalid { .. })
            ));
            assert!(matches!(
                store.add_customer("EU02", text),
                Err(StoreError::Invalid { .. })
            ));
            assert!(matches!(
                store.add_repository("US01", "VLT", text),
                Err(StoreError::Invalid { .. })
            ));
        }
        assert_eq!(store.list_sessions(None, 10).unwrap().len(), 0);
        assert_eq!(store.volume(&scope(), "V1").unwrap(), None);
    });
}

fn start(source: &str) -> SessionStart {
    SessionStart {
        definition_hash: "ab".repeat(32),
        definition_name: "nbu.ttidef".into(),
        source_name: source.into(),
    }
}

/// A finished session is never changed again: a second `finish` is a conflict and leaves its
/// outcome, time and statistics as they were.
#[test]
fn a_finished_session_is_not_finished_again() {
    on_each_seeded(|store| {
        let id = store.begin_session("alice", &start("r.csv")).unwrap();
        let stats = SyncStatistics {
            records_read: 3,
            ..SyncStatistics::default()
        };
        store
            .finish_session(id, SessionOutcome::Completed, &stats)
            .unwrap();
        let before = store.session(id).unwrap().unwrap();
        let again = store.finish_session(id, SessionOutcome::Failed, &SyncStatistics::default());
        match again {
            Err(StoreError::Conflict(message)) => {
                assert!(message.contains("already finished"), "{message}")
            }
            other => panic!("expected a conflict, got {other:?}"),
        }
        assert_eq!(store.session(id).unwrap().unwrap(), before);
        assert!(matches!(
            store.finish_session(9999, SessionOutcome::Completed, &stats),
            Err(StoreError::NotFound(_))
        ));
    });
}

/// A killed run's session does not stay `running` forever: the same client (user, definition
/// and source) beginning again marks it abandoned, and so does a session start of anyone once
/// it has been idle longer than the documented time. A run that was only slow may still finish
/// its abandoned session.
#[test]
fn stale_sessions_are_marked_abandoned() {
    on_each_seeded(|store| {
        let killed = store.begin_session("alice", &start("r.csv")).unwrap();
        let other_source = store.begin_session("alice", &start("other.csv")).unwrap();
        let again = store.begin_session("alice", &start("r.csv")).unwrap();
        let outcome = |store: &Store, id| store.session(id).unwrap().unwrap().outcome;
        assert_eq!(outcome(store, killed), SessionOutcome::Abandoned);
        assert!(store
            .session(killed)
            .unwrap()
            .unwrap()
            .finished_at
            .is_some());
        assert_eq!(outcome(store, other_source), SessionOutcome::Running);
        assert_eq!(outcome(store, again), SessionOutcome::Running);

        // Idle for longer than ABANDON_AFTER: anyone's next session start marks it.
        store.backend.test_execute(&format!(
            "UPDATE sync_sessions SET last_active_at = '2000-01-01T00:00:00.000Z' WHERE id = {other_source}"
        ));
        let bob = store.begin_session("bob", &start("b.csv")).unwrap();
        assert_eq!(outcome(store, other_source), SessionOutcome::Abandoned);
        assert_eq!(outcome(store, again), SessionOutcome::Running);
        assert_eq!(outcome(store, bob), SessionOutcome::Running);

        // A batch keeps a session active (its activity time moves on).
        store.backend.test_execute(&format!(
            "UPDATE sync_sessions SET last_active_at = '2000-01-01T00:00:00.000Z' WHERE id = {again}"
        ));
        let mut b = batch("k-act", true, vec![change("V1", None, &[])]);
        b.session = Some(again);
        store.apply("alice", &scope(), &b).unwrap();
        store.begin_session("carol", &start("c.csv")).unwrap();
        assert_eq!(outcome(store, again), SessionOutcome::Running);

        store
            .finish_session(
                killed,
                SessionOutcome::Completed,
                &SyncStatistics::default(),
            )
            .unwrap();
        assert_eq!(outcome(store, killed), SessionOutcome::Completed);
    });
}

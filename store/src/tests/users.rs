//! Users, passwords, grants, tokens, and the logon throttle kept in the store.

use super::*;
use crate::{Admission, Role, ThrottlePolicy};
use std::time::Duration;

#[test]
fn users_passwords_grants_and_roles() {
    on_each_seeded(|store| {
        let alice = store.add_user("alice", "s3cret!", false).unwrap();
        assert!(matches!(
            store.add_user("alice", "x", false),
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            store.add_user("bad name", "x", false),
            Err(StoreError::Invalid { .. })
        ));
        assert!(matches!(
            store.add_user("carol", "", false),
            Err(StoreError::Invalid { .. })
        ));
        assert_eq!(
            store.verify_password("alice", "s3cret!").unwrap(),
            Some(alice.clone())
        );
        assert_eq!(store.verify_password("alice", "wrong").unwrap(), None);
        assert_eq!(store.verify_password("nobody", "s3cret!").unwrap(), None);
        let argon2 = "SELECT count(*) FROM users WHERE name = 'alice' \
                  AND password_hash LIKE '$argon2id$%' AND password_hash NOT LIKE '%s3cret!%'";
        assert_eq!(store.backend.test_scalar(argon2), 1);
        store.set_password("alice", "n3w").unwrap();
        assert_eq!(store.verify_password("alice", "s3cret!").unwrap(), None);
        assert!(store.verify_password("alice", "n3w").unwrap().is_some());
        assert!(matches!(
            store.set_password("nobody", "x"),
            Err(StoreError::NotFound(_))
        ));

        assert_eq!(store.role_of(&alice, "US01").unwrap(), None);
        store.grant("alice", "us01", Role::Read).unwrap();
        assert_eq!(store.role_of(&alice, "US01").unwrap(), Some(Role::Read));
        store.grant("alice", "US01", Role::Write).unwrap();
        assert_eq!(store.role_of(&alice, "US01").unwrap(), Some(Role::Write));
        assert_eq!(store.role_of(&alice, "EU02").unwrap(), None);
        assert!(Role::Read < Role::Write && Role::Write < Role::Admin);
        assert!(matches!(
            store.grant("nobody", "US01", Role::Read),
            Err(StoreError::NotFound(_))
        ));
        assert_eq!(
            store.grants(&alice).unwrap(),
            [("US01".to_string(), Role::Write)]
        );
        assert!(store.revoke("alice", "US01").unwrap());
        assert!(!store.revoke("alice", "US01").unwrap());
        assert_eq!(store.role_of(&alice, "US01").unwrap(), None);

        let admin = store.add_user("root", "pw", true).unwrap();
        assert_eq!(store.role_of(&admin, "ANY1").unwrap(), Some(Role::Admin));
        let names: Vec<String> = store
            .list_users()
            .unwrap()
            .into_iter()
            .map(|u| u.user.name)
            .collect();
        assert_eq!(names, ["alice", "root"]);
        assert_eq!("WRITE".parse::<Role>().unwrap(), Role::Write);
        assert!("owner".parse::<Role>().is_err());
    });
}

#[test]
fn ensure_admin_only_on_first_start() {
    on_each(|t| {
        let store = &t.store;
        let generated = store
            .ensure_admin(None)
            .unwrap()
            .expect("a generated password");
        assert_eq!(generated.len(), 20);
        let admin = store.verify_password("admin", &generated).unwrap().unwrap();
        assert!(admin.is_admin);
        assert_eq!(store.ensure_admin(Some("other")).unwrap(), None);
        assert!(store.verify_password("admin", "other").unwrap().is_none());
    });
    on_each(|t| {
        let given = &t.store;
        assert_eq!(given.ensure_admin(Some("chosen")).unwrap(), None);
        assert!(given.verify_password("admin", "chosen").unwrap().is_some());
    });
}

#[test]
fn tokens_expire_and_are_stored_hashed() {
    on_each(|t| {
        let store = &t.store;
        let user = store.add_user("bob", "pw", false).unwrap();
        let token = store.create_token(&user, 3600).unwrap();
        assert_eq!(token.len(), 64);
        assert_eq!(store.user_for_token(&token).unwrap(), Some(user.clone()));
        assert_eq!(store.user_for_token("not-a-token").unwrap(), None);
        let plain = format!("SELECT count(*) FROM tokens WHERE hash = '{token}'");
        assert_eq!(
            store.backend.test_scalar(&plain),
            0,
            "only a hash is stored"
        );

        let expired = store.create_token(&user, 0).unwrap();
        assert_eq!(store.user_for_token(&expired).unwrap(), None);
        assert_eq!(store.delete_expired_tokens().unwrap(), 1);
        assert!(store.revoke_token(&token).unwrap());
        assert_eq!(store.user_for_token(&token).unwrap(), None);
    });
}

fn policy() -> ThrottlePolicy {
    ThrottlePolicy {
        free_failures: 3,
        free_failures_per_address: 10,
        base_delay: Duration::from_secs(60),
        max_delay: Duration::from_secs(600),
        forget_after: Duration::from_secs(3600),
    }
}

fn ip(text: &str) -> Option<std::net::IpAddr> {
    Some(text.parse().unwrap())
}

/// Counts a failed attempt (begin, wrong password, finish); whether it was admitted.
fn fail(store: &Store, user: &str, address: &str) -> bool {
    match store.begin_logon(user, ip(address), &policy()).unwrap() {
        Admission::Admitted(attempt) => {
            store.finish_logon(&attempt, false, &policy()).unwrap();
            true
        }
        Admission::Refused { retry_after } => {
            assert!(retry_after > Duration::ZERO && retry_after <= Duration::from_secs(60));
            false
        }
    }
}

#[test]
fn a_throttled_address_does_not_lock_the_user_out_elsewhere() {
    on_each(|t| {
        let store = &t.store;
        store.add_user("alice", "right", false).unwrap();
        let tries: Vec<bool> = (0..5).map(|_| fail(store, "alice", "10.0.0.1")).collect();
        assert_eq!(tries, [true, true, true, false, false]);
        assert!(store.logon_lock("alice", ip("10.0.0.1")).unwrap().is_some());
        // The same user from another address logs on with the right password.
        assert_eq!(store.logon_lock("alice", ip("10.0.0.2")).unwrap(), None);
        let Admission::Admitted(attempt) = store
            .begin_logon("alice", ip("10.0.0.2"), &policy())
            .unwrap()
        else {
            panic!("alice is locked out everywhere");
        };
        assert!(store.verify_password("alice", "right").unwrap().is_some());
        store.finish_logon(&attempt, true, &policy()).unwrap();
        // The locked pair stays locked; a success elsewhere does not clear it.
        assert!(store.logon_lock("alice", ip("10.0.0.1")).unwrap().is_some());
        // The counters live in the store: another connection sees the lock.
        assert!(t
            .reopen()
            .logon_lock("alice", ip("10.0.0.1"))
            .unwrap()
            .is_some());
    });
}

#[test]
fn one_address_guessing_many_names_is_throttled_too() {
    on_each(|t| {
        let store = &t.store;
        let admitted = (0..12)
            .filter(|i| fail(store, &format!("user{i}"), "10.0.0.9"))
            .count();
        assert_eq!(admitted, 10, "the per-address allowance");
        assert!(fail(store, "user0", "10.0.0.10"));
    });
}

/// Attempts are counted before the password is checked, atomically in the store: of many
/// parallel attempts (each on a connection of its own, as on several server nodes) only the
/// free ones get to check a password.
#[test]
fn parallel_guesses_get_only_the_free_attempts() {
    on_each(|t| {
        let location = t.location.clone();
        let threads: Vec<_> = (0..12)
            .map(|_| {
                let location = location.clone();
                std::thread::spawn(move || {
                    let store = Store::open_location(&location).unwrap();
                    matches!(
                        store
                            .begin_logon("carol", ip("10.1.1.1"), &policy())
                            .unwrap(),
                        Admission::Admitted(_)
                    )
                })
            })
            .collect();
        let admitted = threads
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|a| *a)
            .count();
        assert_eq!(admitted, 3);
    });
}

/// A logon of a name that is no user reads and hashes exactly like one with a wrong password:
/// the same one read (a decoy hash of the same argon2 parameters for the unknown name) and
/// the same throttle writes — and neither writes anything else.
#[test]
fn unknown_users_and_wrong_passwords_cost_the_same() {
    on_each(|t| {
        let store = &t.store;
        store.add_user("alice", "right", false).unwrap();
        let known = store.credentials("alice").unwrap();
        let unknown = store.credentials("nobody").unwrap();
        let params = |phc: &str| phc.rsplitn(3, '$').nth(2).unwrap().to_string();
        assert_eq!(params(&known.hash), params(&unknown.hash));
        assert!(known.verify("wrong").unwrap().is_none());
        assert!(unknown.verify("right").unwrap().is_none());
        let users_before = store.backend.test_scalar("SELECT count(*) FROM users");
        assert!(fail(store, "alice", "10.2.0.1"));
        assert!(fail(store, "nobody", "10.2.0.2"));
        let rows = |address: &str| {
            store.backend.test_scalar(&format!(
                "SELECT count(*) * 100 + sum(failures) FROM logon_throttle WHERE key LIKE '%{address}%'"
            ))
        };
        assert_eq!(rows("10.2.0.1"), rows("10.2.0.2"));
        assert_eq!(rows("10.2.0.1"), 202);
        assert_eq!(
            store.backend.test_scalar("SELECT count(*) FROM users"),
            users_before
        );
    });
}

/// A changed password, a disabled user and `revoke_tokens` end the user's tokens at once,
/// for every connection (every server node); a disabled user cannot log on until enabled; a
/// deleted user is gone with grants and tokens, and the last administrator cannot be deleted.
#[test]
fn password_change_disable_delete_and_revoke_end_tokens() {
    on_each(|t| {
        let other = t.reopen();
        let store = &t.store;
        let alice = store.add_user("alice", "pw1", false).unwrap();
        store.grant("alice", "US01", Role::Write).unwrap();
        let live = |token: &str| other.user_for_token(token).unwrap().is_some();

        let token = store.create_token(&alice, 3600).unwrap();
        assert!(live(&token));
        store.set_password("alice", "pw2").unwrap();
        assert!(!live(&token), "a password change ends the tokens");

        let token = store.create_token(&alice, 3600).unwrap();
        let second = store.create_token(&alice, 3600).unwrap();
        assert_eq!(store.revoke_tokens("alice").unwrap(), 2);
        assert!(!live(&token) && !live(&second));
        assert!(matches!(
            store.revoke_tokens("nobody"),
            Err(StoreError::NotFound(_))
        ));

        let token = store.create_token(&alice, 3600).unwrap();
        store.set_disabled("alice", true).unwrap();
        assert!(!live(&token), "disabling ends the tokens");
        assert_eq!(store.verify_password("alice", "pw2").unwrap(), None);
        let listed = store.list_users().unwrap();
        assert!(listed.iter().any(|u| u.user.name == "alice" && u.disabled));
        store.set_disabled("alice", false).unwrap();
        assert!(store.verify_password("alice", "pw2").unwrap().is_some());
        assert!(matches!(
            store.set_disabled("nobody", true),
            Err(StoreError::NotFound(_))
        ));

        let token = store.create_token(&alice, 3600).unwrap();
        store.delete_user("alice").unwrap();
        assert!(!live(&token));
        assert!(store.user("alice").unwrap().is_none());
        assert_eq!(
            store
                .backend
                .test_scalar("SELECT count(*) FROM grants WHERE customer = 'US01'"),
            0
        );
        assert!(matches!(
            store.delete_user("alice"),
            Err(StoreError::NotFound(_))
        ));

        store.add_user("root", "pw", true).unwrap();
        assert!(matches!(
            store.delete_user("root"),
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            store.set_disabled("root", true),
            Err(StoreError::Conflict(_))
        ));
        store.add_user("root2", "pw", true).unwrap();
        store.delete_user("root").unwrap();
    });
}

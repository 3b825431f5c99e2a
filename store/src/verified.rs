//! Passwords a server verified recently, remembered in its memory only, so that the same
//! user logging on again with the same password does not pay a second argon2 hash.
//!
//! A nightly sync logs on once per run, and a provider runs many syncs of one service user
//! within minutes; argon2 (deliberately slow) was most of the server's CPU for a sync that
//! found nothing to change (docs/benchmarks.md, "Round 6a"). The reasoning, and what an
//! operator gives up, is in docs/server.md, "Remembered logons".
//!
//! What is kept, per user name: a BLAKE2b MAC, under a random key made when the cache is
//! created and never written anywhere, of the name, the stored argon2 PHC string the password
//! was verified against and the password; and when it was verified. Neither the password nor
//! anything that works without the key is kept. A later logon is a hit only when the MAC of
//! what it offers, with the PHC string read from the store *now*, equals the kept one within
//! the lifetime: a changed password (new salt, new PHC string), a disabled or deleted user
//! (credentials read as an unknown user's) or a user made again under the same name miss, on
//! every server node at once, because the store is read on every logon. A wrong password
//! misses and takes the full argon2 path as before; only a verification that succeeded is
//! remembered, so an unknown user never has an entry and costs what a wrong password costs.

use crate::passwords::Credentials;
use crate::User;
use argon2::password_hash::rand_core::{OsRng, RngCore};
use blake2::digest::{FixedOutput, KeyInit, Mac, Update};
use blake2::Blake2bMac512;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Users remembered at most; the oldest entry makes room beyond that. Users are few (service
/// accounts and operators); this only bounds memory if names churn.
const MAX_ENTRIES: usize = 4096;

/// The MAC kept per user.
type Tag = [u8; 64];

struct Entry {
    tag: Tag,
    verified_at: Instant,
}

/// Passwords verified within the last `lifetime` (see the module comment). A lifetime of
/// zero remembers nothing: every logon hashes.
pub struct VerifiedPasswords {
    key: [u8; 32],
    lifetime: Duration,
    entries: Mutex<HashMap<String, Entry>>,
}

impl std::fmt::Debug for VerifiedPasswords {
    /// Never the key or the tags.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedPasswords")
            .field("lifetime", &self.lifetime)
            .field("entries", &self.lock().len())
            .finish_non_exhaustive()
    }
}

impl VerifiedPasswords {
    pub fn new(lifetime: Duration) -> VerifiedPasswords {
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        VerifiedPasswords {
            key,
            lifetime,
            entries: Mutex::default(),
        }
    }

    /// Whether anything is remembered at all.
    pub fn enabled(&self) -> bool {
        !self.lifetime.is_zero()
    }

    /// The user of `credentials`, if `password` was verified against exactly these
    /// credentials (the same PHC string) within the lifetime. `None` means: check it with
    /// [`Credentials::verify`].
    pub fn recall(&self, name: &str, credentials: &Credentials, password: &str) -> Option<User> {
        self.recall_at(name, credentials, password, Instant::now())
    }

    /// Remembers that `password` verified against `credentials` (call it only after
    /// [`Credentials::verify`] answered the user).
    pub fn remember(&self, name: &str, credentials: &Credentials, password: &str) {
        self.remember_at(name, credentials, password, Instant::now());
    }

    /// How many users are remembered (expired entries included until they are replaced).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn recall_at(
        &self,
        name: &str,
        credentials: &Credentials,
        password: &str,
        now: Instant,
    ) -> Option<User> {
        if !self.enabled() {
            return None;
        }
        // The same work whatever the name: the MAC is computed and compared for an unknown
        // user, a user without an entry and one with an entry alike, so that the time of a
        // wrong password's logon does not tell whether the user logged on recently.
        let mac = self.mac(name, &credentials.hash, password);
        let mut entries = self.lock();
        let lifetime = self.lifetime;
        let fresh = |e: &Entry| now.saturating_duration_since(e.verified_at) < lifetime;
        if entries.get(name).is_some_and(|e| !fresh(e)) {
            entries.remove(name);
        }
        const NO_ENTRY: Tag = [0; 64];
        let tag = entries.get(name).map_or(&NO_ENTRY, |e| &e.tag);
        // `verify_slice` compares in constant time.
        let matches = mac.verify_slice(tag).is_ok();
        // No user (unknown, disabled): never remembered, so never a match either.
        credentials.user.as_ref().filter(|_| matches).cloned()
    }

    fn remember_at(&self, name: &str, credentials: &Credentials, password: &str, now: Instant) {
        if !self.enabled() || credentials.user.is_none() {
            return;
        }
        let tag: Tag = self
            .mac(name, &credentials.hash, password)
            .finalize_fixed()
            .into();
        let mut entries = self.lock();
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(name) {
            let lifetime = self.lifetime;
            entries.retain(|_, e| now.saturating_duration_since(e.verified_at) < lifetime);
            if entries.len() >= MAX_ENTRIES {
                let oldest = entries
                    .iter()
                    .min_by_key(|(_, e)| e.verified_at)
                    .map(|(n, _)| n.clone());
                if let Some(oldest) = oldest {
                    entries.remove(&oldest);
                }
            }
        }
        entries.insert(
            name.to_string(),
            Entry {
                tag,
                verified_at: now,
            },
        );
    }

    /// The MAC of one (name, PHC string, password): each part with its length before it, so
    /// that no two different triples give the same input.
    fn mac(&self, name: &str, phc: &str, password: &str) -> Blake2bMac512 {
        let mut mac = <Blake2bMac512 as KeyInit>::new_from_slice(&self.key)
            .expect("a 32-byte key is within BLAKE2b's 64");
        for part in [name, phc, password] {
            Update::update(&mut mac, &(part.len() as u64).to_le_bytes());
            Update::update(&mut mac, part.as_bytes());
        }
        mac
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;

    /// A SQLite store of its own (the cache is the same whatever the backend).
    fn temp_store() -> (crate::tests::TestStore, Store) {
        let test = crate::tests::stores().swap_remove(0);
        let store = test.reopen();
        (test, store)
    }

    const HOUR: Duration = Duration::from_secs(3600);

    fn cache() -> VerifiedPasswords {
        VerifiedPasswords::new(HOUR)
    }

    #[test]
    fn a_verified_password_is_recalled_for_the_same_credentials() {
        let (_dir, store) = temp_store();
        let carol = store.add_user("carol", "carol-pw", false).unwrap();
        let cache = cache();
        let credentials = store.credentials("carol").unwrap();
        assert_eq!(cache.recall("carol", &credentials, "carol-pw"), None);
        assert_eq!(credentials.verify("carol-pw").unwrap(), Some(carol.clone()));
        cache.remember("carol", &credentials, "carol-pw");
        // A fresh read of the same credentials, as the next logon makes.
        let again = store.credentials("carol").unwrap();
        assert_eq!(cache.recall("carol", &again, "carol-pw"), Some(carol));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn a_wrong_password_is_never_recalled() {
        let (_dir, store) = temp_store();
        store.add_user("carol", "carol-pw", false).unwrap();
        let cache = cache();
        let credentials = store.credentials("carol").unwrap();
        cache.remember("carol", &credentials, "carol-pw");
        for wrong in ["carol-pW", "carol-pw ", "", "carol-p"] {
            assert_eq!(
                cache.recall("carol", &credentials, wrong),
                None,
                "{wrong:?}"
            );
        }
        // Nor another user's name with the right password of this one.
        assert_eq!(cache.recall("dave", &credentials, "carol-pw"), None);
        // A wrong password does not evict the right one's entry: guessing cannot make the
        // owner's next logon slower, nor faster for the guesser.
        assert!(cache.recall("carol", &credentials, "carol-pw").is_some());
    }

    #[test]
    fn a_changed_password_misses_even_if_it_is_the_same_one_again() {
        let (_dir, store) = temp_store();
        store.add_user("carol", "carol-pw", false).unwrap();
        let cache = cache();
        cache.remember("carol", &store.credentials("carol").unwrap(), "carol-pw");
        store.set_password("carol", "new-pw").unwrap();
        let changed = store.credentials("carol").unwrap();
        assert_eq!(cache.recall("carol", &changed, "carol-pw"), None);
        assert_eq!(cache.recall("carol", &changed, "new-pw"), None);
        // Set back to the old password: a new salt, so still a miss until verified again.
        store.set_password("carol", "carol-pw").unwrap();
        let back = store.credentials("carol").unwrap();
        assert_eq!(cache.recall("carol", &back, "carol-pw"), None);
    }

    #[test]
    fn a_disabled_or_deleted_user_misses() {
        let (_dir, store) = temp_store();
        store.add_user("carol", "carol-pw", false).unwrap();
        store.add_user("dave", "dave-pw", false).unwrap();
        let cache = cache();
        cache.remember("carol", &store.credentials("carol").unwrap(), "carol-pw");
        cache.remember("dave", &store.credentials("dave").unwrap(), "dave-pw");
        store.set_disabled("carol", true).unwrap();
        store.delete_user("dave").unwrap();
        let disabled = store.credentials("carol").unwrap();
        let deleted = store.credentials("dave").unwrap();
        assert_eq!(cache.recall("carol", &disabled, "carol-pw"), None);
        assert_eq!(cache.recall("dave", &deleted, "dave-pw"), None);
        // Enabled again: same PHC string, so the entry would match; the user read now is
        // the one answered (a user made again under a deleted name has a new salt).
        store.set_disabled("carol", false).unwrap();
        let enabled = store.credentials("carol").unwrap();
        assert!(cache.recall("carol", &enabled, "carol-pw").is_some());
        let dave = store.add_user("dave", "dave-pw", true).unwrap();
        let made_again = store.credentials("dave").unwrap();
        assert_eq!(cache.recall("dave", &made_again, "dave-pw"), None);
        cache.remember("dave", &made_again, "dave-pw");
        assert_eq!(cache.recall("dave", &made_again, "dave-pw"), Some(dave));
    }

    #[test]
    fn an_unknown_user_is_never_remembered() {
        let (_dir, store) = temp_store();
        let cache = cache();
        let unknown = store.credentials("nobody").unwrap();
        cache.remember("nobody", &unknown, "guess");
        assert!(cache.is_empty());
        assert_eq!(cache.recall("nobody", &unknown, "guess"), None);
    }

    #[test]
    fn entries_expire_after_the_lifetime() {
        let (_dir, store) = temp_store();
        store.add_user("carol", "carol-pw", false).unwrap();
        let cache = cache();
        let credentials = store.credentials("carol").unwrap();
        let then = Instant::now();
        cache.remember_at("carol", &credentials, "carol-pw", then);
        let halfway = then + HOUR / 2;
        assert!(cache
            .recall_at("carol", &credentials, "carol-pw", halfway)
            .is_some());
        // A recall does not extend the lifetime: it runs from the argon2 check.
        let just_before = then + HOUR - Duration::from_millis(1);
        assert!(cache
            .recall_at("carol", &credentials, "carol-pw", just_before)
            .is_some());
        assert_eq!(
            cache.recall_at("carol", &credentials, "carol-pw", then + HOUR),
            None
        );
        // The expired entry is gone, not only skipped.
        assert!(cache.is_empty());
    }

    #[test]
    fn a_zero_lifetime_remembers_nothing() {
        let (_dir, store) = temp_store();
        store.add_user("carol", "carol-pw", false).unwrap();
        let cache = VerifiedPasswords::new(Duration::ZERO);
        assert!(!cache.enabled());
        let credentials = store.credentials("carol").unwrap();
        cache.remember("carol", &credentials, "carol-pw");
        assert!(cache.is_empty());
        assert_eq!(cache.recall("carol", &credentials, "carol-pw"), None);
    }

    #[test]
    fn two_caches_do_not_share_a_key() {
        let (_dir, store) = temp_store();
        store.add_user("carol", "carol-pw", false).unwrap();
        let credentials = store.credentials("carol").unwrap();
        let (a, b) = (cache(), cache());
        let tag = |c: &VerifiedPasswords| -> Tag {
            c.mac("carol", &credentials.hash, "carol-pw")
                .finalize_fixed()
                .into()
        };
        assert_ne!(tag(&a), tag(&b));
    }

    #[test]
    fn memory_is_bounded_and_the_oldest_entry_makes_room() {
        let (_dir, store) = temp_store();
        store.add_user("carol", "carol-pw", false).unwrap();
        let credentials = store.credentials("carol").unwrap();
        let cache = cache();
        let start = Instant::now();
        // Every entry under one real user's credentials but its own name: the bound is
        // what is tested, not the store.
        for i in 0..MAX_ENTRIES + 10 {
            let at = start + Duration::from_millis(i as u64);
            cache.remember_at(&format!("user{i}"), &credentials, "carol-pw", at);
        }
        assert_eq!(cache.len(), MAX_ENTRIES);
        let late = start + Duration::from_millis(MAX_ENTRIES as u64 + 20);
        assert_eq!(
            cache.recall_at("user0", &credentials, "carol-pw", late),
            None
        );
        let newest = format!("user{}", MAX_ENTRIES + 9);
        assert!(cache
            .recall_at(&newest, &credentials, "carol-pw", late)
            .is_some());
    }
}

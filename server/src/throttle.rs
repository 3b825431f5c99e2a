//! Throttling of failed logons, per user name and per client address.
//!
//! A few failures are free (typos). After that every further failure locks the key for a
//! window that doubles each time, up to a cap. While a key is locked, logons for it are answered
//! with 429 and `Retry-After` WITHOUT checking the password, so a locked account cannot be
//! probed. Counting per user stops a distributed guesser of one account; counting per address
//! stops one client guessing many accounts. A success clears the user's count only: an attacker
//! who owns one account must not be able to reset the counter of the address it guesses from.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct ThrottlePolicy {
    /// Failures allowed before the first lock.
    pub free_failures: u32,
    /// Length of the first lock; each further failure doubles it.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// A key with no failure for this long is forgotten.
    pub forget_after: Duration,
}

impl Default for ThrottlePolicy {
    fn default() -> ThrottlePolicy {
        ThrottlePolicy {
            free_failures: 5,
            base_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(15 * 60),
            forget_after: Duration::from_secs(60 * 60),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    User(String),
    Address(IpAddr),
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    locked_until: Option<Instant>,
}

/// Bounds the table so that a flood of made-up user names cannot exhaust memory.
const MAX_KEYS: usize = 100_000;
/// User names longer than this are cut for the key (nobody has one; the store refuses them).
const MAX_NAME_KEY: usize = 128;

pub struct Throttle {
    policy: ThrottlePolicy,
    table: Mutex<HashMap<Key, Failures>>,
}

impl Throttle {
    pub fn new(policy: ThrottlePolicy) -> Throttle {
        Throttle {
            policy,
            table: Mutex::new(HashMap::new()),
        }
    }

    fn keys(user: &str, address: Option<IpAddr>) -> Vec<Key> {
        let name: String = user.chars().take(MAX_NAME_KEY).collect();
        let mut keys = vec![Key::User(name)];
        if let Some(a) = address {
            keys.push(Key::Address(a));
        }
        keys
    }

    /// `Some(wait)` when a logon for this user or from this address must be refused now.
    pub fn check(&self, user: &str, address: Option<IpAddr>, now: Instant) -> Option<Duration> {
        let table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        Throttle::keys(user, address)
            .iter()
            .filter_map(|k| table.get(k)?.locked_until)
            .filter(|until| *until > now)
            .map(|until| until - now)
            .max()
    }

    pub fn record_failure(&self, user: &str, address: Option<IpAddr>, now: Instant) {
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        if table.len() >= MAX_KEYS {
            let forget = self.policy.forget_after;
            table.retain(|_, f| now.saturating_duration_since(f.last) < forget);
        }
        for key in Throttle::keys(user, address) {
            let entry = table.entry(key).or_insert(Failures {
                count: 0,
                last: now,
                locked_until: None,
            });
            if now.saturating_duration_since(entry.last) >= self.policy.forget_after {
                entry.count = 0;
            }
            entry.count = entry.count.saturating_add(1);
            entry.last = now;
            if entry.count > self.policy.free_failures {
                let doublings = (entry.count - self.policy.free_failures - 1).min(30);
                let delay = self
                    .policy
                    .base_delay
                    .saturating_mul(1u32 << doublings)
                    .min(self.policy.max_delay);
                entry.locked_until = Some(now + delay);
            }
        }
    }

    pub fn record_success(&self, user: &str) {
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        let name: String = user.chars().take(MAX_NAME_KEY).collect();
        table.remove(&Key::User(name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> ThrottlePolicy {
        ThrottlePolicy {
            free_failures: 2,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(8),
            forget_after: Duration::from_secs(100),
        }
    }

    #[test]
    fn locks_after_free_failures_and_doubles_up_to_the_cap() {
        let t = Throttle::new(policy());
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let now = Instant::now();
        t.record_failure("alice", Some(ip), now);
        t.record_failure("alice", Some(ip), now);
        assert_eq!(t.check("alice", Some(ip), now), None);
        t.record_failure("alice", Some(ip), now);
        assert_eq!(t.check("alice", None, now), Some(Duration::from_secs(1)));
        t.record_failure("alice", Some(ip), now);
        assert_eq!(t.check("alice", None, now), Some(Duration::from_secs(2)));
        for _ in 0..10 {
            t.record_failure("alice", Some(ip), now);
        }
        assert_eq!(t.check("alice", None, now), Some(Duration::from_secs(8)));
        // The lock runs out.
        assert_eq!(t.check("alice", None, now + Duration::from_secs(9)), None);
    }

    #[test]
    fn address_lock_covers_other_users_and_success_keeps_it() {
        let t = Throttle::new(policy());
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let now = Instant::now();
        for name in ["a", "b", "c"] {
            t.record_failure(name, Some(ip), now);
        }
        assert!(t.check("d", Some(ip), now).is_some());
        assert!(t.check("d", None, now).is_none());
        t.record_success("d");
        assert!(t.check("d", Some(ip), now).is_some());
    }

    #[test]
    fn success_clears_the_user_count() {
        let t = Throttle::new(policy());
        let now = Instant::now();
        t.record_failure("bob", None, now);
        t.record_failure("bob", None, now);
        t.record_success("bob");
        t.record_failure("bob", None, now);
        assert_eq!(t.check("bob", None, now), None);
    }

    #[test]
    fn old_failures_are_forgotten() {
        let t = Throttle::new(policy());
        let now = Instant::now();
        t.record_failure("eve", None, now);
        t.record_failure("eve", None, now);
        let later = now + Duration::from_secs(200);
        t.record_failure("eve", None, later);
        assert_eq!(t.check("eve", None, later), None);
    }
}

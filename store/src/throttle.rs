//! Throttling of logons, kept in the store so that every server node on one database sees the
//! same counts.
//!
//! Two counters are kept, each a row of `logon_throttle`:
//! - per **(user name, client address)**: a few failures are free (typos); the failure that
//!   uses up the free ones locks this pair for a delay that doubles with each further
//!   failure, up to a cap. Only this pair is locked: the same user from another address still
//!   logs on, so knowing a user name is not enough to keep its owner out.
//! - per **client address**, over every user name, with a larger allowance: one client trying
//!   many names (password spraying) is slowed down too.
//!
//! An attempt is **counted before its password is checked**, in one transaction, so that many
//! parallel guesses cannot all pass the check before the first failure is recorded. When the
//! password turns out right the attempt is taken back: the pair's count is cleared and the
//! address's count goes down by the one attempt (a success never clears the address's count:
//! an attacker owning one account must not be able to reset the counter it guesses under).
//! While a key is locked, logons are answered "try again in N seconds" without looking at the
//! password at all.

use std::net::IpAddr;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Attempts of one user from one address allowed before the first lock.
    pub free_failures: u32,
    /// Attempts from one address, over all user names, allowed before it is locked.
    pub free_failures_per_address: u32,
    /// Length of the first lock; each further failure doubles it.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// A key with no attempt for this long starts counting afresh (and may be deleted).
    pub forget_after: Duration,
}

impl Default for ThrottlePolicy {
    fn default() -> ThrottlePolicy {
        ThrottlePolicy {
            free_failures: 5,
            free_failures_per_address: 30,
            base_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(15 * 60),
            forget_after: Duration::from_secs(60 * 60),
        }
    }
}

/// One throttle counter as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ThrottleState {
    pub failures: u32,
    /// Unix milliseconds; no lock when in the past.
    pub locked_until: i64,
    /// Unix milliseconds of the last counted attempt.
    pub last_at: i64,
}

/// User names longer than this are cut for the key (nobody has one; the store refuses them).
const MAX_NAME_KEY: usize = 128;

/// What a logon attempt is counted under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogonAttempt {
    /// `user|<address>|<name>`, then `address|<address>`.
    pub(crate) keys: [String; 2],
}

impl LogonAttempt {
    pub(crate) fn new(user: &str, address: Option<IpAddr>) -> LogonAttempt {
        let name: String = user.chars().take(MAX_NAME_KEY).collect();
        // Without a known address (an in-process caller) every attempt shares one.
        let address = address.map_or_else(|| "unknown".to_string(), |a| a.to_string());
        LogonAttempt {
            keys: [
                format!("user|{address}|{name}"),
                format!("address|{address}"),
            ],
        }
    }
}

/// Whether an attempt may check its password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Counted; check the password, then call `Store::finish_logon` with the result.
    Admitted(LogonAttempt),
    /// Locked: answer "try again" after this long, without checking the password.
    Refused { retry_after: Duration },
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The lock after `failures` counted attempts with `free` of them free: none before, then
/// `base`, doubling per further attempt, at most `max`.
fn lock_for(policy: &ThrottlePolicy, failures: u32, free: u32) -> Option<Duration> {
    if failures < free.max(1) {
        return None;
    }
    let doublings = (failures - free.max(1)).min(30);
    Some(
        policy
            .base_delay
            .saturating_mul(1u32 << doublings)
            .min(policy.max_delay),
    )
}

/// Counts an attempt against `states` (the stored counters of the attempt's keys, in order),
/// or refuses it if a key is locked. Returns the answer and, if admitted, the new counters.
pub(crate) fn count_attempt(
    policy: &ThrottlePolicy,
    states: &[Option<ThrottleState>],
    now: i64,
) -> (Option<Duration>, Option<Vec<ThrottleState>>) {
    let locked = states
        .iter()
        .flatten()
        .map(|s| s.locked_until - now)
        .filter(|wait| *wait > 0)
        .max();
    if let Some(wait) = locked {
        return (
            Some(Duration::from_millis(u64::try_from(wait).unwrap_or(0))),
            None,
        );
    }
    let forget = millis(policy.forget_after);
    let counted = states
        .iter()
        .enumerate()
        .map(|(i, state)| {
            let previous = state
                .filter(|s| now.saturating_sub(s.last_at) < forget)
                .map_or(0, |s| s.failures);
            let failures = previous.saturating_add(1);
            let free = if i == 0 {
                policy.free_failures
            } else {
                policy.free_failures_per_address
            };
            let locked_until =
                lock_for(policy, failures, free).map_or(0, |lock| now.saturating_add(millis(lock)));
            ThrottleState {
                failures,
                locked_until,
                last_at: now,
            }
        })
        .collect();
    (None, Some(counted))
}

/// Takes back a counted attempt whose password was right: the (user, address) counter is
/// cleared, the address's counter goes down by one. Returns the new counters (`None`: delete).
pub(crate) fn take_back(states: &[Option<ThrottleState>]) -> Vec<Option<ThrottleState>> {
    states
        .iter()
        .enumerate()
        .map(|(i, state)| {
            let state = (*state)?;
            if i == 0 || state.failures <= 1 {
                return None;
            }
            Some(ThrottleState {
                failures: state.failures - 1,
                ..state
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> ThrottlePolicy {
        ThrottlePolicy {
            free_failures: 2,
            free_failures_per_address: 4,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(8),
            forget_after: Duration::from_secs(100),
        }
    }

    /// Counts `n` attempts at `now` against a fresh pair of keys; returns the counters.
    fn attempts(n: u32, now: i64) -> Vec<Option<ThrottleState>> {
        let mut states = vec![None, None];
        for _ in 0..n {
            let (refused, counted) = count_attempt(&policy(), &states, now);
            assert_eq!(refused, None);
            states = counted.unwrap().into_iter().map(Some).collect();
        }
        states
    }

    #[test]
    fn the_attempt_that_uses_up_the_free_ones_locks_and_locks_double() {
        let states = attempts(1, 0);
        assert_eq!(states[0].unwrap().locked_until, 0);
        let states = attempts(2, 0);
        assert_eq!(states[0].unwrap().locked_until, 1000);
        // Locked: refused with the remaining wait, and not counted.
        let (refused, counted) = count_attempt(&policy(), &states, 400);
        assert_eq!(refused, Some(Duration::from_millis(600)));
        assert!(counted.is_none());
        // After the lock, the next attempt locks for twice as long, up to the cap.
        let (_, counted) = count_attempt(&policy(), &states, 1000);
        let third = counted.unwrap();
        assert_eq!(third[0].locked_until, 1000 + 2000);
        let mut states: Vec<_> = third.into_iter().map(Some).collect();
        let mut now = 3000;
        for _ in 0..10 {
            let (_, counted) = count_attempt(&policy(), &states, now);
            states = counted.unwrap().into_iter().map(Some).collect();
            now = states[0]
                .unwrap()
                .locked_until
                .max(states[1].unwrap().locked_until);
        }
        let last = states[0].unwrap();
        assert_eq!(last.locked_until - last.last_at, 8000);
    }

    #[test]
    fn the_address_counter_allows_more_and_success_takes_one_back() {
        let counter = |failures| {
            Some(ThrottleState {
                failures,
                locked_until: 0,
                last_at: 0,
            })
        };
        // Three attempts of three names from one address: the address is not locked yet.
        let (refused, counted) = count_attempt(&policy(), &[None, counter(2)], 0);
        assert_eq!(refused, None);
        let counted = counted.unwrap();
        assert_eq!((counted[1].failures, counted[1].locked_until), (3, 0));
        // The fourth locks it (its allowance is 4).
        let (_, fourth) = count_attempt(&policy(), &[None, Some(counted[1])], 0);
        assert_eq!(fourth.unwrap()[1].locked_until, 1000);
        // A right password clears the pair and takes one attempt off the address.
        let back = take_back(&[counter(1), counter(3)]);
        assert_eq!(back[0], None);
        assert_eq!(back[1].unwrap().failures, 2);
        assert_eq!(take_back(&[None, counter(1)])[1], None);
    }

    #[test]
    fn old_attempts_are_forgotten() {
        let states = attempts(2, 0);
        let (refused, counted) = count_attempt(&policy(), &states, 200_000);
        assert_eq!(refused, None);
        assert_eq!(counted.unwrap()[0].failures, 1);
    }

    #[test]
    fn keys_separate_users_and_addresses() {
        let a = LogonAttempt::new("alice", Some("10.0.0.1".parse().unwrap()));
        let b = LogonAttempt::new("alice", Some("10.0.0.2".parse().unwrap()));
        let c = LogonAttempt::new("bob", Some("10.0.0.1".parse().unwrap()));
        assert_ne!(a.keys[0], b.keys[0]);
        assert_ne!(a.keys[0], c.keys[0]);
        assert_eq!(a.keys[1], c.keys[1]);
        assert_ne!(a.keys[1], b.keys[1]);
    }
}

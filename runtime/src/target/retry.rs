//! Retrying what the target could not do for now ([`TargetError::Unavailable`]): downloads,
//! session records and apply batches (a batch is repeated with its idempotency key, so it is
//! never applied twice).

use super::TargetError;
use std::time::Duration;

/// How transient target failures are retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all (1 = no retry).
    pub attempts: u32,
    /// Delay before the first retry; doubled for each further one.
    pub first_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 6,
            first_delay: Duration::from_millis(200),
        }
    }
}

/// The wait for one back-off step of `delay`: a random point in its upper half ("equal
/// jitter"). Without it, clients refused together (a server restart, a busy store) would all
/// come back together, at every step, and be refused together again.
pub fn jittered(delay: Duration) -> Duration {
    spread(delay, fastrand::f64())
}

/// [`jittered`] with the random number (0 ≤ `random` < 1) given.
fn spread(delay: Duration, random: f64) -> Duration {
    let half = delay / 2;
    half + half.mul_f64(random.clamp(0.0, 1.0))
}

/// Runs `op` until it succeeds, fails with something other than
/// [`TargetError::Unavailable`], or the attempts are used up.
pub fn with_retry<T>(
    policy: &RetryPolicy,
    mut op: impl FnMut() -> Result<T, TargetError>,
) -> Result<T, TargetError> {
    let mut delay = policy.first_delay;
    let mut attempt = 1;
    loop {
        match op() {
            Err(TargetError::Unavailable(_)) if attempt < policy.attempts.max(1) => {
                std::thread::sleep(jittered(delay));
                delay = delay.saturating_mul(2).min(Duration::from_secs(30));
                attempt += 1;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_are_spread_over_the_upper_half_of_the_delay() {
        let delay = Duration::from_millis(800);
        assert_eq!(spread(delay, 0.0), Duration::from_millis(400));
        assert_eq!(spread(delay, 0.5), Duration::from_millis(600));
        assert!(spread(delay, 0.999_999) <= delay);
        let waits: std::collections::BTreeSet<Duration> =
            (0..64).map(|_| jittered(delay)).collect();
        assert!(
            waits.iter().all(|w| *w >= delay / 2 && *w <= delay),
            "{waits:?}"
        );
        // 64 draws of a uniform spread over 400 ms are not all one value.
        assert!(waits.len() > 1, "no jitter: {waits:?}");
    }

    #[test]
    fn retry_only_unavailable() {
        let policy = RetryPolicy {
            attempts: 3,
            first_delay: Duration::from_millis(1),
        };
        let mut calls = 0;
        let r: Result<(), _> = with_retry(&policy, || {
            calls += 1;
            Err(TargetError::Unavailable("down".into()))
        });
        assert!(r.is_err());
        assert_eq!(calls, 3);
        let mut calls = 0;
        let r = with_retry(&policy, || {
            calls += 1;
            if calls < 2 {
                Err(TargetError::Unavailable("blip".into()))
            } else {
                Ok(calls)
            }
        });
        assert_eq!(r.unwrap(), 2);
        let mut calls = 0;
        let r: Result<(), _> = with_retry(&policy, || {
            calls += 1;
            Err(TargetError::Refused("bad".into()))
        });
        assert!(r.is_err());
        assert_eq!(calls, 1);
    }
}

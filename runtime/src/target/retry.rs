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
                std::thread::sleep(delay);
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

//! Login throttling: a token bucket per account (email) and one per client address. Each
//! attempt spends from both; an empty bucket answers 429 with `Retry-After`.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::config::Config;
use crate::error::AppError;

pub struct LoginThrottle {
    by_account: DefaultKeyedRateLimiter<String>,
    by_addr: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

impl std::fmt::Debug for LoginThrottle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginThrottle").finish_non_exhaustive()
    }
}

impl LoginThrottle {
    pub fn new(config: &Config) -> LoginThrottle {
        let quota = |burst: u32| {
            Quota::with_period(config.login_refill)
                .expect("refill period is positive")
                .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN))
        };
        LoginThrottle {
            by_account: DefaultKeyedRateLimiter::keyed(quota(config.login_burst_account)),
            by_addr: DefaultKeyedRateLimiter::keyed(quota(config.login_burst_addr)),
            clock: DefaultClock::default(),
        }
    }

    /// Spends one attempt for this account and address, or says how long to wait.
    pub fn check(&self, email: &str, addr: &str) -> Result<(), AppError> {
        let now = self.clock.now();
        let wait = |e: governor::NotUntil<_>| AppError::TooManyRequests(e.wait_time_from(now));
        self.by_addr.check_key(&addr.to_string()).map_err(wait)?;
        self.by_account.check_key(&email.to_lowercase()).map_err(wait)?;
        Ok(())
    }

    /// Forgets buckets that are full again, so memory stays bounded by recent attempts.
    pub fn prune(&self) {
        self.by_account.retain_recent();
        self.by_addr.retain_recent();
    }

    /// Runs [`prune`](Self::prune) every minute for the life of the process.
    pub fn spawn_pruner(self: std::sync::Arc<Self>) {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                self.prune();
            }
        });
    }
}

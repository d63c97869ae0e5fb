//! Messages per second for one WebSocket: a sustained rate with a burst of ten
//! times that rate, as the contract sets for `RATE_WS_MSGS_PER_SEC`.

use std::{fmt, num::NonZeroU32};

use governor::{
    clock::{Clock, DefaultClock},
    middleware::NoOpMiddleware,
    state::{InMemoryState, NotKeyed},
    Quota, RateLimiter,
};

/// How many seconds' worth of messages a socket may send at once.
const BURST_FACTOR: NonZeroU32 = NonZeroU32::MIN.saturating_add(9);

/// Sustained messages per second for one socket, with a burst of ten times the
/// rate. Create one per socket; `Send + Sync`, methods take `&self`.
pub struct MessageLimiter<C: Clock = DefaultClock> {
    limiter: RateLimiter<NotKeyed, InMemoryState, C, NoOpMiddleware<C::Instant>>,
    quota: Quota,
}

impl MessageLimiter {
    /// A limiter for `limit` messages per second (burst `10 × limit`); `None`
    /// when `limit` is 0, which turns the limit off.
    pub fn per_second(limit: u32) -> Option<Self> {
        Self::per_second_with_clock(limit, DefaultClock::default())
    }
}

impl<C: Clock> MessageLimiter<C> {
    /// [`MessageLimiter::per_second`] reading time from `clock` (tests use
    /// [`governor::clock::FakeRelativeClock`]).
    pub fn per_second_with_clock(limit: u32, clock: C) -> Option<Self> {
        let rate = NonZeroU32::new(limit)?;
        let quota = Quota::per_second(rate).allow_burst(rate.saturating_mul(BURST_FACTOR));
        Some(Self {
            limiter: RateLimiter::direct_with_clock(quota, clock),
            quota,
        })
    }

    /// Whether one more message may be taken now (it is counted if so). A clock
    /// read and an atomic update: cheap enough for every frame.
    pub fn allow(&self) -> bool {
        self.limiter.check().is_ok()
    }
}

impl<C: Clock> fmt::Debug for MessageLimiter<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageLimiter")
            .field("quota", &self.quota)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use governor::clock::FakeRelativeClock;

    use super::*;

    fn limiter(limit: u32) -> (MessageLimiter<FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        let limiter = MessageLimiter::per_second_with_clock(limit, clock.clone())
            .expect("a non-zero limit is on");
        (limiter, clock)
    }

    #[test]
    fn a_zero_limit_is_off() {
        assert!(MessageLimiter::per_second(0).is_none());
        assert!(MessageLimiter::per_second(200).is_some());
    }

    #[test]
    fn allows_a_burst_of_ten_times_the_rate_then_refuses() {
        let (limiter, _) = limiter(200);
        for message in 0..2_000 {
            assert!(limiter.allow(), "message {message} is within the burst");
        }
        assert!(!limiter.allow());
        assert!(!limiter.allow());
    }

    #[test]
    fn the_sustained_rate_refills_the_allowance() {
        let (limiter, clock) = limiter(200);
        while limiter.allow() {}
        clock.advance(Duration::from_millis(5));
        assert!(limiter.allow(), "one message per 5 ms at 200/s");
        assert!(!limiter.allow());
        clock.advance(Duration::from_secs(10));
        for _ in 0..2_000 {
            assert!(limiter.allow());
        }
        assert!(
            !limiter.allow(),
            "the burst does not grow past 10× the rate"
        );
    }

    #[test]
    fn the_real_clock_allows_the_first_message() {
        let limiter = MessageLimiter::per_second(200).expect("on");
        assert!(limiter.allow());
    }

    #[test]
    fn a_huge_limit_does_not_overflow() {
        let (limiter, _) = limiter(u32::MAX);
        assert!(limiter.allow());
    }
}

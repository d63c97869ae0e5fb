//! Attempts per minute for each client IP (login and register, WebSocket
//! upgrades), kept in a table of bounded size.
//!
//! The table holds one GCRA state (eight bytes) per IP that made an attempt
//! recently. It can never hold more than `max_keys` entries: a new IP is
//! admitted only while there is room, so a flood of distinct addresses costs at
//! most `max_keys` entries however long it lasts. [`KeyedLimiter::evict_idle`]
//! drops the entries of clients whose allowance is whole again, which a
//! background task calls every few seconds.

use std::{
    fmt,
    net::IpAddr,
    num::NonZeroU32,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use governor::{
    clock::{Clock, DefaultClock, Reference},
    middleware::NoOpMiddleware,
    nanos::Nanos,
    state::{
        keyed::{DashMapStateStore, ShrinkableKeyedStateStore},
        InMemoryState, NotKeyed, StateStore,
    },
    Quota, RateLimiter,
};

use super::whole_seconds;

/// How often [`KeyedLimiter::check`] may sweep a full table itself: a flood of
/// new addresses then costs one sweep a second, not one per request.
const INLINE_SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// Per-client-IP attempts per minute (login and register; WebSocket upgrades).
///
/// A client may make `limit` attempts at once, then one more every
/// `60 s / limit`. The limiter is `Send + Sync` and every method takes `&self`:
/// share one per limited action between all requests.
///
/// When the table is full, a new IP is refused rather than stored, with a
/// retry-after of one replenish interval (`60 s / limit`, at least 1 s); the
/// IPs already in the table keep their allowance. This errs on the side of
/// refusing: admitting new IPs without remembering them would let an attacker
/// who filled the table make unlimited attempts from fresh addresses.
pub struct KeyedLimiter<C: Clock = DefaultClock> {
    /// The GCRA over [`Table`], which shares `table`.
    limiter: RateLimiter<IpAddr, Table, C, NoOpMiddleware<C::Instant>>,
    /// One state per IP; entries are added only by [`KeyedLimiter::admit`].
    table: Arc<DashMapStateStore<IpAddr>>,
    /// The most entries `table` may hold (at least 1).
    max_keys: usize,
    /// Serialises the admission of new IPs, so that `max_keys` is a hard bound;
    /// holds when a full table was last swept by `check`.
    admission: Mutex<Option<C::Instant>>,
    /// The configured quota, for the retry-after of a full table and for `Debug`.
    quota: Quota,
}

impl KeyedLimiter {
    /// A limiter allowing `limit` attempts per minute per IP, tracking at most
    /// `max_keys` IPs at once (0 is taken as 1); `None` when `limit` is 0, which
    /// turns the limit off.
    pub fn per_minute(limit: u32, max_keys: usize) -> Option<Self> {
        Self::per_minute_with_clock(limit, max_keys, DefaultClock::default())
    }
}

impl<C: Clock> KeyedLimiter<C> {
    /// [`KeyedLimiter::per_minute`] reading time from `clock` (tests use
    /// [`governor::clock::FakeRelativeClock`]).
    pub fn per_minute_with_clock(limit: u32, max_keys: usize, clock: C) -> Option<Self> {
        let quota = Quota::per_minute(NonZeroU32::new(limit)?);
        let table = Arc::new(DashMapStateStore::default());
        Some(Self {
            limiter: RateLimiter::new(quota, Table(Arc::clone(&table)), clock),
            table,
            max_keys: max_keys.max(1),
            admission: Mutex::new(None),
            quota,
        })
    }

    /// `Ok` when `ip` may make one more attempt now (the attempt is counted),
    /// or `Err(retry_after)` when it is over its limit or is new while the table
    /// is full. `retry_after` is whole seconds, at least one, ready for a
    /// `Retry-After` header.
    ///
    /// An IPv4-mapped IPv6 address counts as its IPv4 address. Costs two hash
    /// lookups, a clock read and an atomic update for a known IP; admitting a
    /// new IP also takes a lock shared by all new IPs.
    pub fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        let ip = ip.to_canonical();
        if !self.table.contains_key(&ip) {
            self.admit(ip)?;
        }
        self.limiter.check_key(&ip).map_err(|not_until| {
            whole_seconds(not_until.wait_time_from(self.limiter.clock().now()))
        })
    }

    /// Number of IPs held.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether no IP is held.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Drops the IPs whose allowance is whole again (they would be admitted as
    /// new with the same outcome), and gives memory back after a spike. Costs
    /// one pass over the table; call it every few seconds.
    pub fn evict_idle(&self) {
        let before = self.table.len();
        self.limiter.retain_recent();
        if self.table.len() <= before / 2 {
            self.limiter.shrink_to_fit();
        }
    }

    /// Adds `ip` to the table when there is room, sweeping a full table first
    /// if it was not swept in the last [`INLINE_SWEEP_INTERVAL`].
    fn admit(&self, ip: IpAddr) -> Result<(), Duration> {
        // Nothing under this lock panics; a poisoned lock holds a valid value.
        let mut last_sweep = self
            .admission
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if self.table.contains_key(&ip) {
            return Ok(()); // admitted meanwhile by a concurrent call
        }
        if self.table.len() >= self.max_keys {
            let now = self.limiter.clock().now();
            let due = last_sweep
                .is_none_or(|at| Duration::from(now.duration_since(at)) >= INLINE_SWEEP_INTERVAL);
            if due {
                self.limiter.retain_recent();
                *last_sweep = Some(now);
            }
            if self.table.len() >= self.max_keys {
                return Err(whole_seconds(self.quota.replenish_interval()));
            }
        }
        self.table.insert(ip, InMemoryState::default());
        Ok(())
    }
}

impl<C: Clock> fmt::Debug for KeyedLimiter<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedLimiter")
            .field("quota", &self.quota)
            .field("keys", &self.table.len())
            .field("max_keys", &self.max_keys)
            .finish_non_exhaustive()
    }
}

/// The rate limiter's view of the shared table: it updates the IPs present and
/// never adds one, so that only [`KeyedLimiter::admit`] decides what is stored.
struct Table(Arc<DashMapStateStore<IpAddr>>);

impl StateStore for Table {
    type Key = IpAddr;

    fn measure_and_replace<T, F, E>(&self, key: &IpAddr, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        match self.0.get(key) {
            Some(state) => StateStore::measure_and_replace(&*state, &NotKeyed::NonKey, f),
            // A sweep removed the IP between its admission and this call, which
            // it does only to an IP whose allowance is whole: judge the attempt
            // as the first of a fresh client, and forget it.
            None => f(None).map(|(outcome, _)| outcome),
        }
    }
}

impl ShrinkableKeyedStateStore<IpAddr> for Table {
    fn retain_recent(&self, drop_below: Nanos) {
        ShrinkableKeyedStateStore::retain_recent(&*self.0, drop_below);
    }

    fn shrink_to_fit(&self) {
        self.0.shrink_to_fit();
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use governor::clock::FakeRelativeClock;

    use super::*;

    fn v4(n: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(n))
    }

    fn limiter(
        limit: u32,
        max_keys: usize,
    ) -> (KeyedLimiter<FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        let limiter = KeyedLimiter::per_minute_with_clock(limit, max_keys, clock.clone())
            .expect("a non-zero limit is on");
        (limiter, clock)
    }

    #[test]
    fn a_zero_limit_is_off() {
        assert!(KeyedLimiter::per_minute(0, 10).is_none());
        assert!(KeyedLimiter::per_minute(1, 10).is_some());
    }

    #[test]
    fn allows_the_limit_then_refuses_with_a_retry_after() {
        let (limiter, _) = limiter(10, 100);
        let ip = v4(1);
        for attempt in 0..10 {
            assert_eq!(limiter.check(ip), Ok(()), "attempt {attempt}");
        }
        let retry_after = limiter.check(ip).expect_err("the 11th attempt is refused");
        assert!(retry_after >= Duration::from_secs(1));
        assert_eq!(retry_after.subsec_nanos(), 0, "whole seconds");
        assert_eq!(
            retry_after,
            Duration::from_secs(6),
            "one replenish interval"
        );
    }

    #[test]
    fn the_real_clock_refuses_with_at_least_one_second() {
        let limiter = KeyedLimiter::per_minute(1, 100).expect("on");
        let ip = v4(1);
        assert!(limiter.check(ip).is_ok());
        let retry_after = limiter.check(ip).expect_err("over the limit");
        assert!(retry_after >= Duration::from_secs(1));
        assert_eq!(retry_after.subsec_nanos(), 0);
    }

    #[test]
    fn an_ip_is_allowed_again_after_its_interval() {
        let (limiter, clock) = limiter(2, 100);
        let ip = v4(1);
        assert!(limiter.check(ip).is_ok());
        assert!(limiter.check(ip).is_ok());
        assert_eq!(limiter.check(ip), Err(Duration::from_secs(30)));
        clock.advance(Duration::from_secs(30));
        assert!(limiter.check(ip).is_ok());
        assert!(limiter.check(ip).is_err());
    }

    #[test]
    fn different_ips_are_independent() {
        let (limiter, _) = limiter(1, 100);
        assert!(limiter.check(v4(1)).is_ok());
        assert!(limiter.check(v4(1)).is_err());
        assert!(limiter.check(v4(2)).is_ok());
        assert!(limiter.check("2001:db8::1".parse().expect("ip")).is_ok());
        assert!(limiter.check("2001:db8::2".parse().expect("ip")).is_ok());
        assert!(limiter.check(v4(2)).is_err());
    }

    #[test]
    fn a_v4_mapped_address_counts_as_its_v4_address() {
        let (limiter, _) = limiter(1, 100);
        assert!(limiter.check(IpAddr::V4(Ipv4Addr::new(1, 2, 3, 4))).is_ok());
        let mapped = IpAddr::V6(Ipv4Addr::new(1, 2, 3, 4).to_ipv6_mapped());
        assert!(limiter.check(mapped).is_err());
        assert_eq!(limiter.len(), 1);
    }

    #[test]
    fn a_flood_of_new_ips_never_grows_the_table_past_max_keys() {
        let (limiter, _) = limiter(2, 10_000);
        for n in 0..100_000 {
            let outcome = limiter.check(v4(n));
            if n < 10_000 {
                assert_eq!(outcome, Ok(()), "ip {n} fits");
            } else {
                let retry_after = outcome.expect_err("the table is full");
                assert!(retry_after >= Duration::from_secs(1));
            }
            assert!(limiter.len() <= 10_000);
        }
        assert_eq!(limiter.len(), 10_000);
        // The IPs admitted before the flood keep their own allowance.
        assert_eq!(limiter.check(v4(0)), Ok(()));
        assert_eq!(limiter.check(v4(0)), Err(Duration::from_secs(30)));
        assert_eq!(limiter.check(v4(9_999)), Ok(()));
    }

    #[test]
    fn a_full_table_admits_new_ips_once_old_ones_are_idle() {
        let (limiter, clock) = limiter(2, 3);
        for n in 0..3 {
            assert!(limiter.check(v4(n)).is_ok());
        }
        assert!(limiter.check(v4(3)).is_err());
        clock.advance(Duration::from_secs(120));
        assert_eq!(limiter.check(v4(3)), Ok(()), "check swept the idle IPs");
        assert_eq!(limiter.len(), 1);
    }

    #[test]
    fn concurrent_new_ips_never_exceed_max_keys() {
        let limiter = KeyedLimiter::per_minute(5, 1_000).expect("on");
        std::thread::scope(|scope| {
            for thread in 0..4u32 {
                let limiter = &limiter;
                scope.spawn(move || {
                    for n in 0..5_000 {
                        let _ = limiter.check(v4(thread << 16 | n));
                        assert!(limiter.len() <= 1_000);
                    }
                });
            }
        });
        assert_eq!(limiter.len(), 1_000);
    }

    #[test]
    fn evict_idle_drops_only_ips_whose_allowance_is_whole() {
        let (limiter, clock) = limiter(2, 100);
        let busy = IpAddr::V6(Ipv6Addr::LOCALHOST);
        assert!(limiter.check(v4(1)).is_ok());
        assert!(limiter.check(v4(2)).is_ok());
        assert_eq!(limiter.len(), 2);
        limiter.evict_idle();
        assert_eq!(limiter.len(), 2, "a minute has not passed");

        clock.advance(Duration::from_secs(90));
        assert!(limiter.check(busy).is_ok());
        assert!(limiter.check(busy).is_ok());
        limiter.evict_idle();
        assert_eq!(limiter.len(), 1, "the two idle IPs are gone");
        assert!(limiter.check(busy).is_err(), "the busy one kept its state");

        clock.advance(Duration::from_secs(120));
        limiter.evict_idle();
        assert!(limiter.is_empty());
    }

    #[test]
    fn no_max_keys_is_taken_as_one() {
        let (limiter, _) = limiter(1, 0);
        assert!(limiter.check(v4(1)).is_ok());
        assert!(limiter.check(v4(2)).is_err());
        assert_eq!(limiter.len(), 1);
    }

    #[test]
    fn debug_shows_the_quota_and_size() {
        let (limiter, _) = limiter(1, 7);
        let shown = format!("{limiter:?}");
        assert!(shown.contains("max_keys: 7"), "{shown}");
    }
}

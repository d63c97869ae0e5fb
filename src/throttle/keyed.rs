//! Attempts per minute for each client IP (login and register, WebSocket
//! upgrades) or each user (member additions), kept in a table of bounded size.
//!
//! The table holds one GCRA state (eight bytes) per key that made an attempt
//! recently. It can never hold more than `max_keys` entries: a new IP is
//! admitted only while there is room, so a flood of distinct addresses costs at
//! most `max_keys` entries however long it lasts. [`KeyedLimiter::evict_idle`]
//! drops the entries of clients whose allowance is whole again, which a
//! background task calls every few seconds.

use std::{
    fmt,
    hash::Hash,
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

use super::{client_ip::rate_limit_key, whole_seconds};

/// What a [`KeyedLimiter`] counts attempts by.
pub trait LimitKey: Clone + Eq + Hash {
    /// The key this value's attempts count against; values one client can
    /// switch between freely share one.
    fn limit_key(&self) -> Self;
}

impl LimitKey for IpAddr {
    /// The address's network as [`rate_limit_key`] gives it (an IPv6 /64).
    fn limit_key(&self) -> Self {
        rate_limit_key(*self)
    }
}

impl LimitKey for uuid::Uuid {
    /// A user id counts as itself.
    fn limit_key(&self) -> Self {
        *self
    }
}

/// How often [`KeyedLimiter::check`] may sweep a full table itself: a flood of
/// new addresses then costs one sweep a second, not one per request.
const INLINE_SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// Attempts per minute per key: per client IP (login and register; WebSocket
/// upgrades) or per user id (member additions).
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
pub struct KeyedLimiter<K: LimitKey = IpAddr, C: Clock = DefaultClock> {
    /// The GCRA over [`Table`], which shares `table`.
    limiter: RateLimiter<K, Table<K>, C, NoOpMiddleware<C::Instant>>,
    /// One state per key; entries are added only by [`KeyedLimiter::admit`].
    table: Arc<DashMapStateStore<K>>,
    /// The most entries `table` may hold (at least 1).
    max_keys: usize,
    /// Serialises the admission of new IPs, so that `max_keys` is a hard bound;
    /// holds when a full table was last swept by `check`.
    admission: Mutex<Option<C::Instant>>,
    /// The configured quota, for the retry-after of a full table and for `Debug`.
    quota: Quota,
}

impl<K: LimitKey> KeyedLimiter<K> {
    /// A limiter allowing `limit` attempts per minute per key, tracking at most
    /// `max_keys` keys at once (0 is taken as 1); `None` when `limit` is 0, which
    /// turns the limit off.
    pub fn per_minute(limit: u32, max_keys: usize) -> Option<Self> {
        Self::per_minute_with_clock(limit, max_keys, DefaultClock::default())
    }
}

impl<K: LimitKey, C: Clock> KeyedLimiter<K, C> {
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

    /// `Ok` when `key` may make one more attempt now (the attempt is counted),
    /// or `Err(retry_after)` when it is over its limit or is new while the table
    /// is full. `retry_after` is whole seconds, at least one, ready for a
    /// `Retry-After` header.
    ///
    /// Attempts count against [`LimitKey::limit_key`]: an IPv4-mapped IPv6
    /// address counts as its IPv4 address, an IPv6 address as its /64. Costs
    /// two hash lookups, a clock read and an atomic update for a known key;
    /// admitting a new key also takes a lock shared by all new keys.
    pub fn check(&self, key: K) -> Result<(), Duration> {
        let key = key.limit_key();
        if !self.table.contains_key(&key) {
            self.admit(key.clone())?;
        }
        self.limiter.check_key(&key).map_err(|not_until| {
            whole_seconds(not_until.wait_time_from(self.limiter.clock().now()))
        })
    }

    /// Number of keys held.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Drops the keys whose allowance is whole again (they would be admitted as
    /// new with the same outcome), and gives memory back after a spike. Costs
    /// one pass over the table; call it every few seconds.
    pub fn evict_idle(&self) {
        let before = self.table.len();
        self.limiter.retain_recent();
        if self.table.len() <= before / 2 {
            self.limiter.shrink_to_fit();
        }
    }

    /// Adds `key` to the table when there is room, sweeping a full table first
    /// if it was not swept in the last [`INLINE_SWEEP_INTERVAL`].
    fn admit(&self, key: K) -> Result<(), Duration> {
        // Nothing under this lock panics; a poisoned lock holds a valid value.
        let mut last_sweep = self
            .admission
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if self.table.contains_key(&key) {
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
        self.table.insert(key, InMemoryState::default());
        Ok(())
    }
}

impl<K: LimitKey, C: Clock> fmt::Debug for KeyedLimiter<K, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedLimiter")
            .field("quota", &self.quota)
            .field("keys", &self.table.len())
            .field("max_keys", &self.max_keys)
            .finish_non_exhaustive()
    }
}

/// The rate limiter's view of the shared table: it updates the keys present and
/// never adds one, so that only [`KeyedLimiter::admit`] decides what is stored.
struct Table<K: LimitKey>(Arc<DashMapStateStore<K>>);

impl<K: LimitKey> StateStore for Table<K> {
    type Key = K;

    fn measure_and_replace<T, F, E>(&self, key: &K, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        match self.0.get(key) {
            Some(state) => StateStore::measure_and_replace(&*state, &NotKeyed::NonKey, f),
            // A sweep removed the key between its admission and this call, which
            // it does only to a key whose allowance is whole: judge the attempt
            // as the first of a fresh client, and forget it.
            None => f(None).map(|(outcome, _)| outcome),
        }
    }
}

impl<K: LimitKey> ShrinkableKeyedStateStore<K> for Table<K> {
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
    ) -> (KeyedLimiter<IpAddr, FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        let limiter = KeyedLimiter::per_minute_with_clock(limit, max_keys, clock.clone())
            .expect("a non-zero limit is on");
        (limiter, clock)
    }

    #[test]
    fn a_zero_limit_is_off() {
        assert!(KeyedLimiter::<IpAddr>::per_minute(0, 10).is_none());
        assert!(KeyedLimiter::<IpAddr>::per_minute(1, 10).is_some());
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
        assert!(limiter
            .check("2001:db8:0:1::1".parse().expect("ip"))
            .is_ok());
        assert!(limiter
            .check("2001:db8:0:2::1".parse().expect("ip"))
            .is_ok());
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
    fn ipv6_addresses_of_one_64_share_an_allowance() {
        let (limiter, _) = limiter(2, 100);
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        assert!(limiter.check(ip("2001:db8:1:2::1")).is_ok());
        assert!(limiter
            .check(ip("2001:db8:1:2:ffff:ffff:ffff:fffe"))
            .is_ok());
        assert!(
            limiter.check(ip("2001:db8:1:2:dead:beef::7")).is_err(),
            "a third address of the same /64 is over the limit"
        );
        assert!(limiter.check(ip("2001:db8:1:3::1")).is_ok(), "the next /64");
        assert_eq!(limiter.len(), 2);
    }

    #[test]
    fn user_ids_are_limited_each_on_their_own() {
        let clock = FakeRelativeClock::default();
        let limiter =
            KeyedLimiter::<uuid::Uuid, _>::per_minute_with_clock(1, 100, clock).expect("on");
        let (ada, bob) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        assert!(limiter.check(ada).is_ok());
        assert_eq!(limiter.check(ada), Err(Duration::from_secs(60)));
        assert!(limiter.check(bob).is_ok());
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

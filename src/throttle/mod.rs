//! Abuse limits: how many login attempts and WebSocket upgrades one client IP
//! (one /64 for IPv6) may make per minute, how many member additions one user
//! may make per minute, how many messages one socket may send per second, and
//! which IP a request counts against when the server sits behind proxies.
//!
//! The rate algorithm is GCRA, from the [`governor`] crate: a limit of `n` per
//! period lets a fresh client make `n` calls at once, then one more every
//! `period / n`. Every limiter here takes `&self`, is `Send + Sync`, and is
//! meant to be shared (inside the `App`) by all requests and sockets.
//!
//! The module owns no HTTP responses: callers turn a refusal into the contract's
//! `429` with `Retry-After` (see [`KeyedLimiter::check`]) or a `1008` close (see
//! [`MessageLimiter::allow`]).

mod client_ip;
mod keyed;
mod messages;

use std::time::Duration;

pub use client_ip::{client_ip, InvalidTrustedProxy, TrustedProxies};
pub use keyed::KeyedLimiter;
pub use messages::MessageLimiter;

/// Rounds a wait up to whole seconds, at least one, as a `Retry-After` header
/// carries them (RFC 9110 §10.2.3): a client told `0` would retry at once.
fn whole_seconds(wait: Duration) -> Duration {
    let secs = wait
        .as_secs()
        .saturating_add(u64::from(wait.subsec_nanos() > 0));
    Duration::from_secs(secs.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_round_up_to_whole_seconds_of_at_least_one() {
        assert_eq!(whole_seconds(Duration::ZERO), Duration::from_secs(1));
        assert_eq!(
            whole_seconds(Duration::from_millis(1)),
            Duration::from_secs(1)
        );
        assert_eq!(
            whole_seconds(Duration::from_secs(1)),
            Duration::from_secs(1)
        );
        assert_eq!(
            whole_seconds(Duration::from_millis(5_001)),
            Duration::from_secs(6)
        );
        assert_eq!(
            whole_seconds(Duration::MAX),
            Duration::from_secs(u64::MAX),
            "saturates instead of overflowing"
        );
    }

    #[test]
    fn limiters_can_be_shared_between_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<KeyedLimiter>();
        shared::<MessageLimiter>();
        shared::<TrustedProxies>();
    }
}

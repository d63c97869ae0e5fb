//! One saver per shared board: a lease in Redis,
//! `SET {prefix}:lease:{board} {instance} NX PX <ttl>`, that its holder renews
//! and deletes when the board stops being shared here. Only boards another
//! instance holds too need one: a board held here alone is saved here and
//! costs Redis nothing.
//!
//! The board core asks [`SaveLeases::may_save`] (through the relay) before
//! each save; it never waits for Redis. What it answers comes from the last
//! exchange with Redis, and ages out: a lease held elsewhere that has not been
//! confirmed within the ttl (Redis unreachable) no longer stops a save, so an
//! instance cut off Redis saves as before, and the compare-and-swap merge keeps
//! two savers from overwriting each other.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use redis::aio::MultiplexedConnection;
use tokio::{sync::watch, time::Instant};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{channels::Channels, envelope::InstanceId, link::Connection, sharing::Sharing};

/// Renews the lease if it is still ours.
const RENEW: &str = "if redis.call('get', KEYS[1]) == ARGV[1] then \
    return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end";
/// Deletes the lease if it is still ours.
const RELEASE: &str = "if redis.call('get', KEYS[1]) == ARGV[1] then \
    return redis.call('del', KEYS[1]) else return 0 end";
/// How long one round of lease commands may take.
const TIMEOUT: Duration = Duration::from_secs(2);

/// How the leases are timed.
#[derive(Debug, Clone, Copy)]
pub struct LeaseTiming {
    /// How long a lease lasts unless renewed.
    pub ttl: Duration,
    /// How often leases are renewed and sought.
    pub renew: Duration,
}

impl LeaseTiming {
    /// Renewed every summary period, lasting four periods (at least 2 s, so a
    /// busy moment does not pass the lease around).
    pub fn for_sync_interval(sync_interval: Duration) -> Self {
        Self {
            ttl: (sync_interval * 4).max(Duration::from_secs(2)),
            renew: sync_interval,
        }
    }
}

/// Who holds a shared board's lease, as Redis last said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Holder {
    /// This instance, surely until then.
    Us { until: Instant },
    /// Another instance, as of a check that counts until then.
    Other { until: Instant },
}

/// This instance's view of the save leases of its shared boards.
#[derive(Debug)]
pub struct SaveLeases {
    holders: Mutex<HashMap<Uuid, Holder>>,
    instance: InstanceId,
    timing: LeaseTiming,
}

impl SaveLeases {
    /// No leases known yet.
    pub fn new(instance: InstanceId, timing: LeaseTiming) -> Self {
        Self {
            holders: Mutex::new(HashMap::new()),
            instance,
            timing,
        }
    }

    fn holders(&self) -> MutexGuard<'_, HashMap<Uuid, Holder>> {
        self.holders.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether this instance should save a board shared since `shared_since`:
    /// not while another instance holds its lease (as confirmed within the
    /// ttl), nor while the lease is being sought; yes if Redis has not
    /// answered for a ttl.
    pub fn may_save(&self, board_id: Uuid, shared_since: Instant) -> bool {
        let now = Instant::now();
        match self.holders().get(&board_id) {
            Some(Holder::Us { .. }) => true,
            Some(Holder::Other { until }) => *until <= now,
            None => now.saturating_duration_since(shared_since) >= self.timing.ttl,
        }
    }

    /// How many leases this instance holds now.
    pub fn held(&self) -> usize {
        let now = Instant::now();
        self.holders()
            .values()
            .filter(|holder| matches!(holder, Holder::Us { until } if *until > now))
            .count()
    }

    /// The value stored in a lease key: who holds it.
    fn owner(&self) -> String {
        Uuid::from_bytes(self.instance.0).simple().to_string()
    }
}

/// Renews, seeks and releases leases every `renew` period, and at once when
/// a board becomes shared or a shared board is released, until `cancel`
/// (then releases what it holds).
pub async fn run(
    leases: Arc<SaveLeases>,
    sharing: Arc<Sharing>,
    channels: Channels,
    connection: watch::Receiver<Connection>,
    cancel: CancellationToken,
) {
    let mut tick = tokio::time::interval(leases.timing.renew);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The connection of the last round: at shutdown the link may already
    // have let go of it, and the leases are still worth releasing.
    let mut last: Option<MultiplexedConnection> = None;
    loop {
        tokio::select! {
            () = cancel.cancelled() => break,
            () = sharing.lease_review() => {}
            _ = tick.tick() => {}
        }
        let current = connection.borrow().clone().map(|(_, conn)| conn);
        last.clone_from(&current);
        let shared: HashSet<Uuid> = sharing.shared_boards().into_iter().collect();
        round(&leases, &shared, &channels, current).await;
    }
    // Let another instance take over at once rather than after the ttl.
    round(&leases, &HashSet::new(), &channels, last).await;
}

/// One exchange with Redis: release the leases of boards no longer shared,
/// renew ours, seek the others. Without a connection nothing changes, and
/// what is known ages out.
async fn round(
    leases: &SaveLeases,
    shared: &HashSet<Uuid>,
    channels: &Channels,
    connection: Option<MultiplexedConnection>,
) {
    let known: HashMap<Uuid, Holder> = {
        let mut holders = leases.holders();
        let known = holders.clone();
        holders.retain(|id, _| shared.contains(id));
        known
    };
    let owner = leases.owner();
    let ttl = leases.timing.ttl.as_millis() as u64;
    let mut pipe = redis::pipe();
    // What each reply answers, in order.
    let mut asked: Vec<Uuid> = Vec::new();
    let mut releasing = false;
    for (board_id, holder) in &known {
        if !shared.contains(board_id) && matches!(holder, Holder::Us { .. }) {
            releasing = true;
            pipe.cmd("EVAL")
                .arg(RELEASE)
                .arg(1)
                .arg(channels.lease(*board_id))
                .arg(&owner)
                .ignore();
        }
    }
    for &board_id in shared {
        let ours = matches!(known.get(&board_id), Some(Holder::Us { .. }));
        if ours {
            pipe.cmd("EVAL")
                .arg(RENEW)
                .arg(1)
                .arg(channels.lease(board_id))
                .arg(&owner)
                .arg(ttl);
        } else {
            pipe.cmd("SET")
                .arg(channels.lease(board_id))
                .arg(&owner)
                .arg("NX")
                .arg("PX")
                .arg(ttl);
        }
        asked.push(board_id);
    }
    // Boards held here alone cost Redis nothing.
    if asked.is_empty() && !releasing {
        return;
    }
    let Some(mut conn) = connection else {
        return;
    };
    let sent_at = Instant::now();
    let replies =
        tokio::time::timeout(TIMEOUT, pipe.query_async::<Vec<redis::Value>>(&mut conn)).await;
    let Ok(Ok(replies)) = replies else {
        tracing::debug!("save leases not renewed: Redis did not answer");
        return;
    };
    let until = sent_at + leases.timing.ttl;
    let mut holders = leases.holders();
    for (board_id, reply) in asked.into_iter().zip(replies) {
        // SET answers OK or nil; the renewal 1 or 0.
        let got = matches!(reply, redis::Value::Okay | redis::Value::Int(1));
        let holder = if got {
            Holder::Us { until }
        } else {
            Holder::Other { until }
        };
        holders.insert(board_id, holder);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_confirmed_lease_elsewhere_stops_a_save() {
        let leases = SaveLeases::new(
            InstanceId([1; 16]),
            LeaseTiming::for_sync_interval(Duration::from_secs(5)),
        );
        let board = Uuid::new_v4();
        let now = Instant::now();
        assert!(!leases.may_save(board, now), "being sought: wait");
        let long_ago = now - Duration::from_secs(60);
        assert!(
            leases.may_save(board, long_ago),
            "Redis silent for a ttl: save"
        );
        let later = now + Duration::from_secs(60);
        leases.holders().insert(board, Holder::Us { until: later });
        assert!(leases.may_save(board, now));
        assert_eq!(leases.held(), 1);
        leases
            .holders()
            .insert(board, Holder::Other { until: later });
        assert!(!leases.may_save(board, long_ago));
        assert_eq!(leases.held(), 0);
        let past = Instant::now() - Duration::from_millis(1);
        leases
            .holders()
            .insert(board, Holder::Other { until: past });
        assert!(
            leases.may_save(board, now),
            "unconfirmed for a ttl: save again"
        );
    }

    #[test]
    fn leases_outlive_a_few_missed_renewals() {
        let timing = LeaseTiming::for_sync_interval(Duration::from_secs(5));
        assert_eq!(timing.ttl, Duration::from_secs(20));
        assert_eq!(timing.renew, Duration::from_secs(5));
        let fast = LeaseTiming::for_sync_interval(Duration::from_millis(200));
        assert_eq!(fast.ttl, Duration::from_secs(2));
    }
}

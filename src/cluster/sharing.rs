//! Which boards this instance holds, and which of them another instance holds
//! too ("shared"). Only shared boards cost Redis anything per edit: updates,
//! awareness and periodic summaries of a board held here alone stay here.
//!
//! Redis itself knows the holders: every instance holding a board subscribes
//! to its channel, and PUBLISH answers how many subscribers got a message. So:
//!
//! - a board just opened counts as shared until the hello summary it
//!   publishes once subscribed is answered by Redis (edits in between are
//!   published, in case another instance holds it);
//! - a summary that reached more than our own subscription marks the board
//!   shared; one that reached only ours (or nobody) marks it not shared;
//! - any message from another instance on the board's channel marks the
//!   board shared with that instance; its "leaving" message ends that;
//! - evidence older than [`Sharing::expiry`] (several summary periods: a
//!   sharer publishes one every period) no longer counts.
//!
//! Being wrong for a moment loses nothing: a newcomer's hello starts an
//! anti-entropy exchange both ways, sharers keep exchanging summaries, and
//! the compare-and-swap save merges whatever two savers wrote.

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use tokio::{sync::Notify, time::Instant};
use uuid::Uuid;

use super::envelope::InstanceId;

/// What is known of one board held here.
#[derive(Debug)]
struct Holding {
    /// Other instances heard on the board's channel, and when last.
    peers: HashMap<InstanceId, Instant>,
    /// When a summary last reached another subscriber than ours.
    others_subscribed: Option<Instant>,
    /// When the board was opened, until its hello's count is known.
    opened: Option<Instant>,
    /// When it last became shared.
    shared_since: Option<Instant>,
}

impl Holding {
    /// Shared with another instance on evidence fresher than `expiry`.
    fn shared(&self, now: Instant, expiry: Duration) -> bool {
        let fresh = |at: Instant| now.saturating_duration_since(at) < expiry;
        self.others_subscribed.is_some_and(fresh) || self.peers.values().copied().any(fresh)
    }

    /// Shared, or just opened and not yet known to be alone.
    fn worth_publishing(&self, now: Instant, expiry: Duration) -> bool {
        self.shared(now, expiry)
            || self
                .opened
                .is_some_and(|at| now.saturating_duration_since(at) < expiry)
    }
}

/// The boards held here and who else holds them.
#[derive(Debug)]
pub struct Sharing {
    boards: Mutex<HashMap<Uuid, Holding>>,
    expiry: Duration,
    /// Woken when a board becomes shared, or a shared board is released, so
    /// its save lease is sought or given back at once.
    lease_review: Notify,
}

impl Sharing {
    /// A registry in which evidence of another holder lasts `expiry`.
    pub fn new(expiry: Duration) -> Self {
        Self {
            boards: Mutex::new(HashMap::new()),
            expiry,
            lease_review: Notify::new(),
        }
    }

    fn boards(&self) -> MutexGuard<'_, HashMap<Uuid, Holding>> {
        self.boards.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Resolves when a board became shared or a shared board was released
    /// (since the last call).
    pub async fn lease_review(&self) {
        self.lease_review.notified().await;
    }

    /// A board was opened here.
    pub fn held(&self, board_id: Uuid) {
        self.boards().insert(
            board_id,
            Holding {
                peers: HashMap::new(),
                others_subscribed: None,
                opened: Some(Instant::now()),
                shared_since: None,
            },
        );
    }

    /// A board left memory here; returns whether it was shared.
    pub fn released(&self, board_id: Uuid) -> bool {
        let now = Instant::now();
        let holding = self.boards().remove(&board_id);
        let shared = holding.is_some_and(|holding| holding.shared(now, self.expiry));
        if shared {
            self.lease_review.notify_one();
        }
        shared
    }

    /// Forgets the boards not in `open` (ones that left memory unannounced).
    pub fn retain(&self, open: &std::collections::HashSet<Uuid>) {
        self.boards().retain(|board_id, _| open.contains(board_id));
    }

    /// Applies `change` to a held board and wakes the lease task if that made
    /// the board shared.
    fn update(&self, board_id: Uuid, change: impl FnOnce(&mut Holding, Instant)) {
        let now = Instant::now();
        let became_shared = {
            let mut boards = self.boards();
            let Some(holding) = boards.get_mut(&board_id) else {
                return;
            };
            let before = holding.shared(now, self.expiry);
            change(holding, now);
            let became_shared = !before && holding.shared(now, self.expiry);
            if became_shared {
                holding.shared_since = Some(now);
            }
            became_shared
        };
        if became_shared {
            self.lease_review.notify_one();
        }
    }

    /// Another instance spoke on a board's channel.
    pub fn heard(&self, board_id: Uuid, from: InstanceId) {
        self.update(board_id, |holding, now| {
            holding.peers.insert(from, now);
        });
    }

    /// Another instance let go of a board.
    pub fn left(&self, board_id: Uuid, from: InstanceId) {
        self.update(board_id, |holding, _| {
            holding.peers.remove(&from);
            // The count may have been that instance's subscription; the next
            // summary tells if anyone else remains.
            holding.others_subscribed = None;
        });
    }

    /// A summary of a board reached `receivers` subscribers, ours included.
    pub fn reached(&self, board_id: Uuid, receivers: i64) {
        self.update(board_id, |holding, now| {
            holding.opened = None;
            if receivers > 1 {
                holding.others_subscribed = Some(now);
            } else {
                holding.others_subscribed = None;
                holding.peers.clear();
            }
        });
    }

    /// Whether a board's updates and awareness should go to Redis.
    pub fn worth_publishing(&self, board_id: Uuid) -> bool {
        let now = Instant::now();
        self.boards()
            .get(&board_id)
            .is_some_and(|holding| holding.worth_publishing(now, self.expiry))
    }

    /// Since when another instance is known to hold the board, if it is.
    pub fn shared_since(&self, board_id: Uuid) -> Option<Instant> {
        let now = Instant::now();
        self.boards()
            .get(&board_id)
            .filter(|holding| holding.shared(now, self.expiry))
            .map(|holding| holding.shared_since.unwrap_or(now))
    }

    /// The boards held here that another instance is known to hold.
    pub fn shared_boards(&self) -> Vec<Uuid> {
        let now = Instant::now();
        self.boards()
            .iter()
            .filter(|(_, holding)| holding.shared(now, self.expiry))
            .map(|(&board_id, _)| board_id)
            .collect()
    }

    /// Boards held here, and how many of them are shared.
    pub fn counts(&self) -> (usize, usize) {
        let now = Instant::now();
        let boards = self.boards();
        let shared = boards
            .values()
            .filter(|holding| holding.shared(now, self.expiry))
            .count();
        (boards.len(), shared)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXPIRY: Duration = Duration::from_secs(60);
    const PEER: InstanceId = InstanceId([3; 16]);

    #[test]
    fn a_board_alone_stops_publishing_once_its_hello_reached_only_itself() {
        let sharing = Sharing::new(EXPIRY);
        let board = Uuid::new_v4();
        assert!(!sharing.worth_publishing(board), "not held");
        sharing.held(board);
        assert!(
            sharing.worth_publishing(board),
            "until the hello is counted"
        );
        assert!(sharing.shared_since(board).is_none());
        sharing.reached(board, 1);
        assert!(!sharing.worth_publishing(board));
        assert_eq!(sharing.counts(), (1, 0));
    }

    #[test]
    fn a_count_or_a_peer_shares_a_board_and_leaving_or_a_lone_count_ends_it() {
        let sharing = Sharing::new(EXPIRY);
        let board = Uuid::new_v4();
        sharing.held(board);
        sharing.reached(board, 2);
        assert!(sharing.shared_since(board).is_some());
        sharing.reached(board, 1);
        assert!(sharing.shared_since(board).is_none());
        sharing.heard(board, PEER);
        assert!(sharing.shared_since(board).is_some() && sharing.worth_publishing(board));
        assert_eq!(sharing.shared_boards(), vec![board]);
        sharing.left(board, PEER);
        assert!(sharing.shared_since(board).is_none());
        sharing.heard(board, PEER);
        sharing.reached(board, 1);
        assert!(
            sharing.shared_since(board).is_none(),
            "nobody else follows the channel"
        );
        sharing.released(board);
        sharing.heard(board, PEER);
        assert_eq!(sharing.counts(), (0, 0), "a board not held stays unknown");
    }

    #[test]
    fn evidence_expires() {
        let sharing = Sharing::new(Duration::ZERO);
        let board = Uuid::new_v4();
        sharing.held(board);
        sharing.heard(board, PEER);
        assert!(sharing.shared_since(board).is_none());
        assert!(!sharing.worth_publishing(board));
    }
}

//! One board in memory: its Yjs document, awareness states, connected peers and
//! save bookkeeping.
//!
//! Locks are `std::sync::Mutex` and never held across an `.await`. The document
//! lock is taken only on the blocking pool (see `BoardService::blocking`), because
//! applying or encoding a large document can take milliseconds; the state lock is
//! held only for short bookkeeping and non-blocking queue pushes.

use std::{
    panic::{catch_unwind, AssertUnwindSafe},
    sync::{atomic::AtomicBool, Arc, Mutex, MutexGuard, PoisonError},
};

use bytes::Bytes;
use tokio::{sync::Notify, time::Instant};
use uuid::Uuid;
use yrs::{
    updates::decoder::Decode, updates::encoder::Encode, Doc, ReadTxn, StateVector, Transact, Update,
};

use super::{
    awareness::{AwarenessError, AwarenessTable},
    peer::{CloseReason, Peer},
};
use crate::protocol::{guard::AwarenessEntry, message};

/// Why yrs refused a payload.
#[derive(Debug, thiserror::Error)]
pub enum DocError {
    /// The bytes are not a valid update or state vector.
    #[error("undecodable: {0}")]
    Decode(String),
    /// yrs rejected the update while integrating it.
    #[error("rejected: {0}")]
    Apply(String),
    /// yrs panicked on the input; the panic was contained.
    #[error("yrs panicked on the input")]
    Panicked,
}

/// Whether the board still serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Status {
    /// Loaded and serving.
    Open,
    /// Saved and removed from the registry; a new copy must be loaded.
    Unloaded,
    /// Deleted from the database: never saved again.
    Deleted,
}

/// Save bookkeeping and everything else besides the document.
#[derive(Debug)]
pub(super) struct BoardState {
    pub(super) peers: Vec<Arc<Peer>>,
    pub(super) awareness: AwarenessTable,
    /// Holders that keep the board loaded (sockets and in-flight REST calls).
    pub(super) leases: usize,
    /// Bumped by every accepted change.
    pub(super) change_seq: u64,
    /// The `change_seq` the stored snapshot includes.
    pub(super) saved_seq: u64,
    /// When the oldest unsaved change happened (for the debounce cap).
    pub(super) unsaved_since: Option<Instant>,
    /// When the newest change happened (for the quiet-time debounce).
    pub(super) last_change: Instant,
    pub(super) status: Status,
    /// The sync step 2 frame for a client with an empty state vector, and the
    /// `change_seq` it is valid for: every fresh client of an unchanged board
    /// shares one encoding (and right after loading, the stored bytes are it).
    full_state_frame: Option<(u64, Bytes)>,
}

impl BoardState {
    pub(super) fn is_dirty(&self) -> bool {
        self.change_seq > self.saved_seq
    }
}

/// A board loaded in memory.
#[derive(Debug)]
pub struct LiveBoard {
    /// The board id.
    pub id: Uuid,
    doc: Mutex<Doc>,
    state: Mutex<BoardState>,
    /// Wakes the board's save worker (a change, the last lease gone, shutdown).
    pub(super) wake: Notify,
    /// Set when the save worker is spawned (after the first lease, so it never
    /// sees a fresh board as unused and unloads it under its first opener).
    pub(super) worker_started: AtomicBool,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock is contained by `catch_unwind` or ends a
    // task; the data behind it stays consistent enough to save, so keep going.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn contained<T>(f: impl FnOnce() -> Result<T, DocError>) -> Result<T, DocError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(Err(DocError::Panicked))
}

impl LiveBoard {
    /// A board from its stored snapshot (or empty). Runs yrs: call on the blocking pool.
    pub fn from_snapshot(id: Uuid, snapshot: Option<&[u8]>) -> Result<Self, DocError> {
        let doc = Doc::new();
        if let Some(bytes) = snapshot {
            apply_to(&doc, bytes)?;
        }
        // The stored snapshot is the whole document: exactly what a fresh
        // client needs, with no encoding.
        let full_state = message::encode_sync_step2(snapshot.unwrap_or(&[0, 0]));
        Ok(Self {
            id,
            doc: Mutex::new(doc),
            state: Mutex::new(BoardState {
                peers: Vec::new(),
                awareness: AwarenessTable::default(),
                leases: 0,
                change_seq: 0,
                saved_seq: 0,
                unsaved_since: None,
                last_change: Instant::now(),
                status: Status::Open,
                full_state_frame: Some((0, Bytes::from(full_state))),
            }),
            wake: Notify::new(),
            worker_started: AtomicBool::new(false),
        })
    }

    pub(super) fn state(&self) -> MutexGuard<'_, BoardState> {
        lock(&self.state)
    }

    /// Decodes and integrates a v1 update that passed the guard. Blocking.
    pub fn apply_update(&self, update: &[u8]) -> Result<(), DocError> {
        let doc = lock(&self.doc);
        apply_to(&doc, update)
    }

    /// Like [`Self::apply_update`], but `None` instead of waiting when another
    /// thread holds the document (so the async threads never block on it).
    pub fn try_apply_update(&self, update: &[u8]) -> Option<Result<(), DocError>> {
        let doc = match self.doc.try_lock() {
            Ok(doc) => doc,
            Err(std::sync::TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return None,
        };
        Some(apply_to(&doc, update))
    }

    /// The document's state vector, encoded. Blocking.
    pub fn state_vector(&self) -> Vec<u8> {
        lock(&self.doc).transact().state_vector().encode_v1()
    }

    /// What a client with `state_vector` lacks, as one v1 update. Blocking.
    pub fn diff(&self, state_vector: &[u8]) -> Result<Vec<u8>, DocError> {
        contained(|| {
            let sv = StateVector::decode_v1(state_vector)
                .map_err(|e| DocError::Decode(e.to_string()))?;
            Ok(lock(&self.doc).transact().encode_diff_v1(&sv))
        })
    }

    /// The whole document, compacted, as one v1 update. Blocking.
    pub fn snapshot(&self) -> Vec<u8> {
        lock(&self.doc)
            .transact()
            .encode_state_as_update_v1(&StateVector::default())
    }

    /// The counter of accepted changes (to tag derived data with).
    pub fn change_seq(&self) -> u64 {
        self.state().change_seq
    }

    /// The cached sync step 2 frame for a fresh client, if still current.
    pub fn cached_full_state_frame(&self) -> Option<Bytes> {
        let state = self.state();
        match &state.full_state_frame {
            Some((seq, frame)) if *seq == state.change_seq => Some(frame.clone()),
            _ => None,
        }
    }

    /// Caches the step 2 frame for a fresh client, computed at `seq`; ignored
    /// if the board changed since.
    pub fn cache_full_state_frame(&self, seq: u64, frame: Bytes) {
        let mut state = self.state();
        if state.change_seq == seq {
            state.full_state_frame = Some((seq, frame));
        }
    }

    /// Records an accepted change (marks the board dirty). The save worker is
    /// woken only by the first unsaved change: later ones just move the
    /// deadline it re-reads when its timer fires.
    pub fn mark_changed(&self) {
        let first = {
            let mut state = self.state();
            let now = Instant::now();
            state.change_seq += 1;
            state.last_change = now;
            let first = state.unsaved_since.is_none();
            state.unsaved_since.get_or_insert(now);
            first
        };
        if first {
            self.wake.notify_one();
        }
    }

    /// Queues `frame` to every peer except `except`. Peers whose queue is full
    /// are closed (1013) by [`Peer::send`].
    pub fn broadcast(&self, frame: &Bytes, except: Option<u64>) {
        let state = self.state();
        for peer in state.peers.iter().filter(|peer| Some(peer.id) != except) {
            peer.send(frame.clone());
        }
    }

    /// Adds a socket.
    pub fn join(&self, peer: Arc<Peer>) {
        self.state().peers.push(peer);
    }

    /// Removes a socket and tells the others its awareness states are gone.
    pub fn leave(&self, peer_id: u64) {
        let removal = {
            let mut state = self.state();
            state.peers.retain(|peer| peer.id != peer_id);
            state.awareness.remove_peer(peer_id)
        };
        if let Some(payload) = removal {
            self.broadcast(&Bytes::from(message::encode_awareness(&payload)), None);
        }
    }

    /// Records awareness states a socket sent.
    pub fn apply_awareness(
        &self,
        peer_id: u64,
        entries: &[AwarenessEntry<'_>],
    ) -> Result<(), AwarenessError> {
        self.state().awareness.apply(peer_id, entries)
    }

    /// All present awareness states as one awareness frame, if any.
    pub fn awareness_frame(&self) -> Option<Bytes> {
        self.state()
            .awareness
            .snapshot()
            .map(|payload| Bytes::from(message::encode_awareness(&payload)))
    }

    /// Closes every socket of `user_id` (all of them when `None`).
    pub fn close_peers(&self, user_id: Option<Uuid>, reason: CloseReason) {
        for peer in self
            .state()
            .peers
            .iter()
            .filter(|peer| user_id.is_none_or(|user| peer.user_id == user))
        {
            peer.close(reason);
        }
    }

    /// Sets the role of every live socket of `user_id`.
    pub fn set_role(&self, user_id: Uuid, role: crate::db::Role) {
        for peer in self.state().peers.iter().filter(|p| p.user_id == user_id) {
            peer.set_role(role);
        }
    }

    /// How many sockets are connected.
    pub fn peer_count(&self) -> usize {
        self.state().peers.len()
    }
}

fn apply_to(doc: &Doc, update: &[u8]) -> Result<(), DocError> {
    contained(|| {
        let update = Update::decode_v1(update).map_err(|e| DocError::Decode(e.to_string()))?;
        doc.transact_mut()
            .apply_update(update)
            .map_err(|e| DocError::Apply(e.to_string()))
    })
}

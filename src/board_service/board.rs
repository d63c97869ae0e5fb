//! One board in memory: its Yjs document, awareness states, connected peers and
//! save bookkeeping.
//!
//! Locks are `std::sync::Mutex` and never held across an `.await`. Work on the
//! document can take milliseconds (applying or encoding a large board), so the
//! calls that wait for its lock or may run long (`apply_update`, `diff`,
//! `snapshot`, `state_vector`, `read_doc`) are made from the blocking pool. An
//! async thread touches the document only through the `try_*` calls, which take
//! the lock if it is free (spinning briefly) and otherwise give up, and through
//! `decode` of a board whose stored bytes are small. The state lock is held only
//! for short bookkeeping and non-blocking queue pushes.

use std::{
    panic::{catch_unwind, AssertUnwindSafe},
    sync::{atomic::AtomicBool, Arc, Mutex, MutexGuard, OnceLock},
};

use bytes::Bytes;
use tokio::{sync::Notify, time::Instant};
use uuid::Uuid;
use yrs::{
    updates::decoder::Decode, updates::encoder::Encode, Doc, ReadTxn, StateVector, Transact, Update,
};

use super::{
    awareness::{Accepted, AwarenessError, AwarenessTable},
    group_commit::JournalCursor,
    journal::{unframe_updates, JournalRow},
    journal_join::join_updates,
    lock,
    peer::{Batch, CloseReason, Peer},
    type_depth::{self, NestingError},
};
use crate::protocol::{
    guard::{self, AwarenessEntry, GuardLimits, UpdateShape},
    message,
};

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
    /// The update would nest shared types too deep (or where their depth
    /// cannot be known); nothing of it was applied.
    #[error("refused: {0}")]
    Nesting(#[from] NestingError),
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
    /// Shared with broadcasts in progress, which queue to their copy with the
    /// lock released (joins and leaves copy the list if one is).
    pub(super) peers: Arc<Vec<Arc<Peer>>>,
    pub(super) awareness: AwarenessTable,
    /// Holders that keep the board loaded (sockets and in-flight REST calls).
    pub(super) leases: usize,
    /// Bumped by every accepted change.
    pub(super) change_seq: u64,
    /// The `change_seq` the stored snapshot includes.
    pub(super) saved_seq: u64,
    /// The version of the stored snapshot this board has merged: the next save
    /// replaces only that version (see `Db::save_board_state`).
    pub(super) stored_version: i64,
    /// When the oldest unsaved change happened (for the debounce cap).
    pub(super) unsaved_since: Option<Instant>,
    /// Journal rows of other processes (or earlier loads) merged into the
    /// document and not yet deleted: the next successful save deletes them.
    pub(super) journal_merged: Vec<i64>,
    /// Journal rows that did not decode: the next successful save marks them
    /// kept aside.
    pub(super) journal_kept_aside: Vec<i64>,
    /// Save at once, without the debounce (a board that replayed its journal
    /// at load is compacted right away).
    pub(super) save_now: bool,
    /// When the newest change happened (for the quiet-time debounce).
    pub(super) last_change: Instant,
    /// The users whose accepted updates are not yet in a successful save:
    /// a save takes them, and puts them back if it fails.
    pub(super) authors: std::collections::HashSet<Uuid>,
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

    /// Records a change made `now`; true if it is the first unsaved one.
    fn note_change(&mut self, now: Instant) -> bool {
        self.change_seq += 1;
        self.last_change = now;
        let first = self.unsaved_since.is_none();
        self.unsaved_since.get_or_insert(now);
        first
    }
}

/// A board loaded in memory.
#[derive(Debug)]
pub struct LiveBoard {
    /// The board id.
    pub id: Uuid,
    /// Decoded from `pending_snapshot` by the first caller of [`Self::doc`].
    doc: OnceLock<Mutex<Doc>>,
    pending_snapshot: Mutex<Option<Vec<u8>>>,
    state: Mutex<BoardState>,
    /// Wakes the board's save worker (a change, the last lease gone, shutdown).
    pub(super) wake: Notify,
    /// Set when the save worker is spawned (after the first lease, so it never
    /// sees a fresh board as unused and unloads it under its first opener).
    pub(super) worker_started: AtomicBool,
    /// The highest own journal row of this board that is committed.
    pub(super) journal_cursor: Arc<JournalCursor>,
}

/// What replaying journal rows came to.
#[derive(Debug, Default)]
pub struct Replayed {
    /// Rows applied to the document.
    pub applied: Vec<i64>,
    /// Rows that did not decode (or that yrs refused): kept aside.
    pub kept_aside: Vec<i64>,
    /// What the applied rows added to the document, as one v1 update (`None`
    /// when nothing was new).
    pub added: Option<Vec<u8>>,
}

/// Guard limits for the server's own stored data (snapshots, journal rows):
/// only the nesting bound matters (yrs recurses).
fn stored_data_limits() -> GuardLimits {
    GuardLimits {
        max_structs: usize::MAX,
        max_delete_ranges: usize::MAX,
        max_clients: usize::MAX,
        max_elements: usize::MAX,
        max_subdocs: usize::MAX,
        ..GuardLimits::default()
    }
}

/// How many updates one `Update::merge_updates` call takes when journal rows
/// are merged (see [`merge_in_tree`]). Merging 10,000 small rows, 16 ran
/// about 27 M fewer instructions than 64 (callgrind): yrs's merge re-sorts
/// its inputs at every struct.
const MERGE_FAN_IN: usize = 16;

/// From how many journal rows a replay decodes and merges on two threads
/// (below, a thread costs more than it saves).
const PARALLEL_REPLAY_ROWS: usize = 2_048;

/// Rows of a journal, decoded and merged.
struct MergedPart<'r, U = Update> {
    /// The rows that decoded, in the order given.
    rows: Vec<&'r JournalRow>,
    /// The rows that did not.
    kept_aside: Vec<i64>,
    /// The decoded rows' updates merged into one (`None`: the merge panicked).
    update: Option<U>,
}

impl<'r> MergedPart<'r> {
    /// A part whose thread failed: nothing applied, nothing kept aside.
    fn failed() -> Self {
        Self {
            rows: Vec::new(),
            kept_aside: Vec::new(),
            update: None,
        }
    }

    /// The merged update encoded (v1), to hand to another thread.
    fn encoded(self) -> MergedPart<'r, Vec<u8>> {
        let update = self
            .update
            .and_then(|update| contained(|| Ok(update.encode_v1())).ok());
        MergedPart {
            rows: self.rows,
            kept_aside: self.kept_aside,
            update,
        }
    }
}

impl<'r> MergedPart<'r, Vec<u8>> {
    /// Decodes the merged update [`MergedPart::encoded`] made (yrs's own
    /// output from guarded rows).
    fn decoded(self) -> MergedPart<'r> {
        let update = self.update.and_then(|bytes| {
            contained(|| Update::decode_v1(&bytes).map_err(|e| DocError::Decode(e.to_string())))
                .ok()
        });
        MergedPart {
            rows: self.rows,
            kept_aside: self.kept_aside,
            update,
        }
    }
}

/// Whether a replay encodes what it added to the document.
#[derive(Debug, Clone, Copy)]
enum AddedUpdate {
    /// Encoded, to relay to the sockets of a live board.
    Encode,
    /// Not wanted (a load: encoding 10,000 rows' worth would cost milliseconds).
    Skip,
}

/// How many times [`LiveBoard::try_apply_update`] retries a busy document:
/// a few microseconds, about one small update's integration.
const BUSY_DOC_SPINS: u32 = 200;

fn contained<T>(f: impl FnOnce() -> Result<T, DocError>) -> Result<T, DocError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(Err(DocError::Panicked))
}

impl LiveBoard {
    /// A board from its stored snapshot (or empty). The snapshot's structure is
    /// checked here (linear, no yrs); the document itself is decoded on first
    /// use, so a fresh client can be served the stored bytes before that.
    pub fn from_snapshot(id: Uuid, snapshot: Option<Vec<u8>>) -> Result<Self, DocError> {
        if let Some(bytes) = &snapshot {
            guard::check_update_v1(bytes, &stored_data_limits())
                .map_err(|err| DocError::Decode(err.to_string()))?;
        }
        // The stored snapshot is the whole document: exactly what a fresh
        // client needs, with no encoding.
        let full_state = message::encode_sync_step2(snapshot.as_deref().unwrap_or(&[0, 0]));
        Ok(Self {
            id,
            doc: OnceLock::new(),
            pending_snapshot: Mutex::new(snapshot),
            state: Mutex::new(BoardState {
                peers: Arc::new(Vec::new()),
                awareness: AwarenessTable::default(),
                leases: 0,
                change_seq: 0,
                saved_seq: 0,
                stored_version: 0,
                unsaved_since: None,
                journal_merged: Vec::new(),
                journal_kept_aside: Vec::new(),
                save_now: false,
                last_change: Instant::now(),
                authors: std::collections::HashSet::new(),
                status: Status::Open,
                full_state_frame: Some((0, Bytes::from(full_state))),
            }),
            wake: Notify::new(),
            worker_started: AtomicBool::new(false),
            journal_cursor: Arc::default(),
        })
    }

    pub(super) fn state(&self) -> MutexGuard<'_, BoardState> {
        lock(&self.state)
    }

    /// The document, decoding the stored snapshot first if nobody has yet
    /// (callers racing here wait for that one decode). Blocking.
    fn doc(&self) -> &Mutex<Doc> {
        self.doc.get_or_init(|| {
            let doc = Doc::new();
            if let Some(bytes) = lock(&self.pending_snapshot).take() {
                if let Err(err) = apply_to(&doc, &bytes) {
                    // Serving (and later saving) an empty document would
                    // destroy the stored one: take the board out of service.
                    tracing::error!(board.id = %self.id, %err, "stored board state does not decode; closing the board");
                    self.state().status = Status::Deleted;
                    self.close_peers(None, CloseReason::InternalError);
                }
            }
            Mutex::new(doc)
        })
    }

    /// Decodes the stored snapshot now, if not done yet. Blocking.
    pub fn decode(&self) {
        self.doc();
    }

    /// Decodes and integrates a v1 update that passed the guard (`shape` is
    /// what the guard found), unless it would nest shared types too deep.
    /// Blocking.
    pub fn apply_update(&self, update: &[u8], shape: &UpdateShape) -> Result<(), DocError> {
        let doc = lock(self.doc());
        apply_untrusted(&doc, update, shape)
    }

    /// Integrates a v1 update from a trusted source (another instance's stored
    /// snapshot) and returns what it added to this document, as a v1 update, or
    /// `None` when it held nothing new. Blocking.
    pub fn merge_update(&self, update: &[u8]) -> Result<Option<Vec<u8>>, DocError> {
        let doc = lock(self.doc());
        contained(|| {
            let update = Update::decode_v1(update).map_err(|e| DocError::Decode(e.to_string()))?;
            let mut txn = doc.transact_mut();
            let before = txn.state_vector();
            txn.apply_update(update)
                .map_err(|e| DocError::Apply(e.to_string()))?;
            let added = txn.state_vector() != before || !txn.delete_set().is_empty();
            Ok(added.then(|| txn.encode_update_v1()))
        })
    }

    /// Applies journal rows (in the order given: id order) in one transaction,
    /// at load: what they added is not encoded (nobody is connected yet).
    /// A row whose updates do not all decode is applied not at all and
    /// reported kept aside; the others still apply. Blocking.
    pub fn replay(&self, rows: &[JournalRow]) -> Replayed {
        self.replay_rows(rows, AddedUpdate::Skip)
    }

    /// Like [`Self::replay`], for a live board merging other instances' rows:
    /// also returns what they added, as one update to relay. Blocking.
    pub fn replay_into_live(&self, rows: &[JournalRow]) -> Replayed {
        self.replay_rows(rows, AddedUpdate::Encode)
    }

    fn replay_rows(&self, rows: &[JournalRow], added: AddedUpdate) -> Replayed {
        // Done before the document is needed, so a load decodes the snapshot
        // meanwhile. Rows that line up are joined into one update without
        // decoding them (linear: see `journal_join`). Others are decoded and
        // merged with yrs, a long journal's last third on a second thread
        // (about 1 µs of work per row; the thread that decodes the snapshot
        // at load is busy for part of that time).
        let parts = if let Some(joined) = join_rows(self.id, rows) {
            vec![joined]
        } else if rows.len() >= PARALLEL_REPLAY_ROWS {
            let (mine, theirs) = rows.split_at(rows.len() - rows.len() / 3);
            std::thread::scope(|scope| {
                // yrs's decoded updates cannot cross threads: the other
                // thread's merge comes back encoded, and is decoded here.
                let other = std::thread::Builder::new()
                    .name("journal-replay".into())
                    .spawn_scoped(scope, || decode_and_merge(self.id, theirs).encoded());
                let mine = decode_and_merge(self.id, mine);
                let theirs = match other {
                    Ok(thread) => thread
                        .join()
                        .map_or_else(|_| MergedPart::failed(), MergedPart::decoded),
                    // No thread to be had: do it here.
                    Err(_) => decode_and_merge(self.id, theirs),
                };
                vec![mine, theirs]
            })
        } else {
            vec![decode_and_merge(self.id, rows)]
        };
        let mut replayed = Replayed::default();
        let mut merged = Vec::with_capacity(parts.len());
        for part in parts {
            replayed.kept_aside.extend(part.kept_aside);
            match part.update {
                Some(update) if !part.rows.is_empty() => merged.push((part.rows, update)),
                Some(_) => {}
                None => {
                    tracing::error!(board.id = %self.id, "merging the journal panicked; rows kept");
                    return replayed;
                }
            }
        }
        if merged.is_empty() {
            return replayed;
        }
        let doc = lock(self.doc());
        let outcome = contained(|| {
            // One transaction for the lot.
            let mut txn = doc.transact_mut();
            let before = match added {
                AddedUpdate::Encode => Some(txn.state_vector()),
                AddedUpdate::Skip => None,
            };
            for (rows, update) in merged {
                if txn.apply_update(update).is_ok() {
                    replayed.applied.extend(rows.iter().map(|row| row.id));
                    continue;
                }
                // Applying an update twice changes nothing: retry row by row
                // to find the row(s) the document refuses.
                for row in rows {
                    let refused = unframe_updates(&row.updates)
                        .unwrap_or_default()
                        .into_iter()
                        .find_map(|bytes| {
                            Update::decode_v1(bytes)
                                .map_err(|e| e.to_string())
                                .and_then(|update| {
                                    txn.apply_update(update).map_err(|e| e.to_string())
                                })
                                .err()
                        });
                    match refused {
                        None => replayed.applied.push(row.id),
                        Some(err) => {
                            tracing::error!(board.id = %self.id, row.id = row.id, %err,
                                "journal row refused by the document; kept aside");
                            replayed.kept_aside.push(row.id);
                        }
                    }
                }
            }
            Ok(before.and_then(|before| {
                let added = txn.state_vector() != before || !txn.delete_set().is_empty();
                added.then(|| txn.encode_update_v1())
            }))
        });
        match outcome {
            Ok(added) => replayed.added = added,
            Err(err) => {
                tracing::error!(board.id = %self.id, %err, "replaying the journal panicked; rows kept");
                // Nothing is known to be in the document: keep every row for
                // the next load rather than delete any.
                replayed.applied.clear();
            }
        }
        replayed
    }

    /// Like [`Self::apply_update`], but `None` instead of waiting when another
    /// thread holds the document (so the async threads never block on it).
    ///
    /// On a busy board the holder is usually another socket's small update,
    /// done within microseconds: a short spin takes the lock then, where
    /// giving up would cost a trip through the blocking pool (two thread
    /// wake-ups). A holder doing long work (a save, a large update) is
    /// outlasted by the spin, and the caller goes to the pool as before.
    pub fn try_apply_update(
        &self,
        update: &[u8],
        shape: &UpdateShape,
    ) -> Option<Result<(), DocError>> {
        let mut spins = 0;
        let doc = loop {
            match self.try_doc() {
                Some(doc) => break doc,
                None if spins < BUSY_DOC_SPINS && self.doc.get().is_some() => {
                    spins += 1;
                    std::hint::spin_loop();
                }
                None => return None,
            }
        };
        Some(apply_untrusted(&doc, update, shape))
    }

    /// The document if it is decoded and no other thread holds it, else `None`
    /// (for the async threads, which must never wait on it).
    fn try_doc(&self) -> Option<MutexGuard<'_, Doc>> {
        match self.doc.get()?.try_lock() {
            Ok(doc) => Some(doc),
            Err(std::sync::TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    /// Holds the document, as a long operation on another thread would.
    #[cfg(test)]
    pub(super) fn hold_doc(&self) -> MutexGuard<'_, Doc> {
        lock(self.doc())
    }

    /// The document's state vector, encoded. Blocking.
    pub fn state_vector(&self) -> Vec<u8> {
        lock(self.doc()).transact().state_vector().encode_v1()
    }

    /// Like [`Self::state_vector`], but `None` instead of waiting when the
    /// document is not decoded yet or another thread holds it. (Encoding it is
    /// one entry per client id: microseconds.)
    pub fn try_state_vector(&self) -> Option<Vec<u8>> {
        let state_vector = self.try_doc()?.transact().state_vector().encode_v1();
        Some(state_vector)
    }

    /// What a client with `state_vector` lacks, as one v1 update. Blocking.
    pub fn diff(&self, state_vector: &[u8]) -> Result<Vec<u8>, DocError> {
        contained(|| {
            let sv = StateVector::decode_v1(state_vector)
                .map_err(|e| DocError::Decode(e.to_string()))?;
            Ok(lock(self.doc()).transact().encode_diff_v1(&sv))
        })
    }

    /// Runs `f` on the document (decoding the stored snapshot first if needed).
    /// Blocking; `f` must not apply untrusted input (use [`Self::apply_update`]).
    pub fn read_doc<T>(&self, f: impl FnOnce(&Doc) -> T) -> T {
        f(&lock(self.doc()))
    }

    /// The whole document, compacted, as one v1 update. Blocking.
    pub fn snapshot(&self) -> Vec<u8> {
        lock(self.doc())
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

    /// Records that `user_id` made an accepted change: the next successful
    /// save reports it among its authors (see `persistence`).
    pub fn note_author(&self, user_id: Uuid) {
        self.state().authors.insert(user_id);
    }

    /// Records an accepted change (marks the board dirty).
    pub fn mark_changed(&self) {
        self.publish(&[], None, true);
    }

    /// Queues `frame` to every peer except `except`. Peers whose queue is full
    /// are closed (1013) by [`Peer::send`].
    pub fn broadcast(&self, frame: &Bytes, except: Option<u64>) {
        self.publish(std::slice::from_ref(frame), except, false);
    }

    /// Queues `frames`, in order, to every peer except `except` (one lock and
    /// at most one writer wake-up per peer for the lot), first marking the
    /// board changed if `changed` (the frames carry accepted changes). The
    /// board lock is taken once, and only to read the peers, not while
    /// queuing to them.
    ///
    /// The save worker is woken only by the first unsaved change: later ones
    /// just move the deadline it re-reads when its timer fires.
    pub fn publish(&self, frames: &[Bytes], except: Option<u64>, changed: bool) {
        let now = changed.then(Instant::now);
        let (peers, first_change) = {
            let mut state = self.state();
            let first_change = now.is_some_and(|now| state.note_change(now));
            let peers = (!frames.is_empty()).then(|| Arc::clone(&state.peers));
            (peers, first_change)
        };
        if first_change {
            self.wake.notify_one();
        }
        let Some(peers) = peers else {
            return;
        };
        let mut recipients = peers.iter().filter(|peer| Some(peer.id) != except);
        let Some(first) = recipients.next() else {
            return;
        };
        // Prepared once for all: every socket of a service has its format.
        let batch = Batch::of(first.wire_format(), frames);
        first.send_batch(&batch);
        for peer in recipients {
            peer.send_batch(&batch);
        }
    }

    /// Adds a socket unless `refused` (asked under the board's lock) says no.
    /// Returns whether it joined.
    pub fn join_unless(&self, peer: Arc<Peer>, refused: impl FnOnce() -> bool) -> bool {
        let mut state = self.state();
        if refused() {
            return false;
        }
        Arc::make_mut(&mut state.peers).push(peer);
        true
    }

    /// Removes a socket and tells the others its awareness states are gone.
    /// Returns that removal's awareness payload, if the socket had states.
    pub fn leave(&self, peer_id: u64) -> Option<Bytes> {
        let removal = {
            let mut state = self.state();
            Arc::make_mut(&mut state.peers).retain(|peer| peer.id != peer_id);
            state
                .awareness
                .remove_peer(peer_id, std::time::Instant::now())
        }?;
        self.broadcast(&Bytes::from(message::encode_awareness(&removal)), None);
        Some(Bytes::from(removal))
    }

    /// Records awareness states socket `peer_id` of `user_id` sent, keeping
    /// only entries for client ids it owns; says which changed something.
    pub fn apply_awareness(
        &self,
        peer_id: u64,
        user_id: Uuid,
        entries: &[AwarenessEntry<'_>],
    ) -> Result<Accepted, AwarenessError> {
        let now = std::time::Instant::now();
        self.state().awareness.apply(peer_id, user_id, entries, now)
    }

    /// Records awareness states another instance accepted (it enforced
    /// ownership for its own sockets); says which changed something.
    pub fn apply_remote_awareness(&self, entries: &[AwarenessEntry<'_>]) -> Accepted {
        let now = std::time::Instant::now();
        self.state().awareness.apply_remote(entries, now)
    }

    /// All present awareness states as one awareness frame, if any.
    pub fn awareness_frame(&self) -> Option<Bytes> {
        let now = std::time::Instant::now();
        self.state()
            .awareness
            .snapshot(now)
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
    pub fn set_role(&self, user_id: Uuid, role: crate::role::Role) {
        for peer in self.state().peers.iter().filter(|p| p.user_id == user_id) {
            peer.set_role(role);
        }
    }

    /// How many sockets are connected.
    pub fn peer_count(&self) -> usize {
        self.state().peers.len()
    }
}

/// Guards and decodes each update of `rows` once and merges the decoded
/// ones (the rows' bytes are read again only if the document refuses the
/// merged update); `board_id` names the board in logs. Blocking.
fn decode_and_merge(board_id: Uuid, rows: &[JournalRow]) -> MergedPart<'_> {
    let limits = stored_data_limits();
    let mut part = MergedPart {
        rows: Vec::with_capacity(rows.len()),
        kept_aside: Vec::new(),
        update: None,
    };
    let mut updates = Vec::with_capacity(rows.len());
    for row in rows {
        match decode_row(&row.updates, &limits) {
            Some(decoded) => {
                part.rows.push(row);
                updates.extend(decoded);
            }
            None => {
                tracing::error!(board.id = %board_id, row.id = row.id,
                    "journal row does not decode; kept aside, the rest of the journal loads");
                part.kept_aside.push(row.id);
            }
        }
    }
    part.update = contained(|| Ok(merge_in_tree(updates))).ok();
    part
}

/// Rows joined into one update by [`join_updates`] and decoded once, with
/// the rows whose framing or guard refused an update kept aside; `None` when
/// the good rows do not line up or their joined update does not decode (the
/// caller then decodes and merges row by row, which also finds a row that
/// only yrs refuses). Blocking.
fn join_rows(board_id: Uuid, rows: &[JournalRow]) -> Option<MergedPart<'_>> {
    let limits = stored_data_limits();
    let mut good = Vec::with_capacity(rows.len());
    let mut sections = Vec::with_capacity(rows.len());
    let mut kept_aside = Vec::new();
    for row in rows {
        let guarded = unframe_updates(&row.updates).and_then(|updates| {
            updates
                .into_iter()
                .map(|update| guard::update_sections_v1(update, &limits).ok())
                .collect::<Option<Vec<_>>>()
        });
        match guarded {
            Some(updates) => {
                good.push(row);
                sections.extend(updates);
            }
            None => kept_aside.push(row.id),
        }
    }
    let joined = join_updates(&sections)?;
    drop(sections);
    let update =
        contained(|| Update::decode_v1(&joined).map_err(|e| DocError::Decode(e.to_string())))
            .ok()?;
    for &id in &kept_aside {
        tracing::error!(board.id = %board_id, row.id = id,
            "journal row does not decode; kept aside, the rest of the journal loads");
    }
    Some(MergedPart {
        rows: good,
        kept_aside,
        update: Some(update),
    })
}

/// A journal row's updates, guarded and decoded, or `None` when its framing,
/// the guard or the decoder refuses any of them (or yrs panics).
fn decode_row(payload: &[u8], limits: &GuardLimits) -> Option<Vec<Update>> {
    unframe_updates(payload)?
        .into_iter()
        .map(|update| {
            guard::check_update_v1(update, limits).ok()?;
            contained(|| Update::decode_v1(update).map_err(|e| DocError::Decode(e.to_string())))
                .ok()
        })
        .collect()
}

/// Merges updates into one, [`MERGE_FAN_IN`] at a time, then the merged ones
/// the same way, until one is left, so that the document integrates one
/// update: yrs spends ~15–30 µs of fixed work per applied update (150–340 ms
/// for 10,000 rows applied one by one, in one transaction or in one each).
/// One merge of everything would cost more
/// than that: yrs re-sorts all its inputs at every step, so a merge of `n`
/// updates costs ~`n²`; in groups it is ~`n × MERGE_FAN_IN` per level, and
/// the levels above the first merge few, long runs. Blocking.
fn merge_in_tree(mut updates: Vec<Update>) -> Update {
    while updates.len() > 1 {
        let mut merged = Vec::with_capacity(updates.len().div_ceil(MERGE_FAN_IN));
        let mut rest = updates.into_iter();
        loop {
            let group: Vec<Update> = rest.by_ref().take(MERGE_FAN_IN).collect();
            match group.len() {
                0 => break,
                1 => merged.extend(group),
                _ => merged.push(Update::merge_updates(group)),
            }
        }
        updates = merged;
    }
    updates.pop().unwrap_or_default()
}

/// [`apply_to`] for an update from outside (a client, another instance):
/// refused whole when its shared types would nest too deep.
fn apply_untrusted(doc: &Doc, update: &[u8], shape: &UpdateShape) -> Result<(), DocError> {
    contained(|| {
        let decoded = Update::decode_v1(update).map_err(|e| DocError::Decode(e.to_string()))?;
        let mut txn = doc.transact_mut();
        type_depth::check_update(&txn, update, shape)?;
        txn.apply_update(decoded)
            .map_err(|e| DocError::Apply(e.to_string()))
    })
}

fn apply_to(doc: &Doc, update: &[u8]) -> Result<(), DocError> {
    contained(|| {
        let update = Update::decode_v1(update).map_err(|e| DocError::Decode(e.to_string()))?;
        doc.transact_mut()
            .apply_update(update)
            .map_err(|e| DocError::Apply(e.to_string()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::{Map, WriteTxn};

    fn snapshot_with(key: &str) -> Vec<u8> {
        let doc = Doc::new();
        {
            let mut txn = doc.transact_mut();
            txn.get_or_insert_map("map").insert(&mut txn, key, true);
        }
        let update = doc
            .transact()
            .encode_state_as_update_v1(&StateVector::default());
        update
    }

    #[test]
    fn a_loaded_board_serves_its_stored_bytes_before_decoding_them() {
        let stored = snapshot_with("k");
        let board = LiveBoard::from_snapshot(Uuid::new_v4(), Some(stored.clone())).expect("loads");
        assert!(board.doc.get().is_none(), "not decoded at load");
        let frame = board.cached_full_state_frame().expect("cached");
        assert_eq!(
            frame.as_ref(),
            message::encode_sync_step2(&stored).as_slice()
        );
        // The first use decodes; the content is the stored one.
        let full = board.diff(&[0]).expect("diff");
        let doc = Doc::new();
        apply_to(&doc, &full).expect("applies");
        let map = doc.get_or_insert_map("map");
        assert!(map.get(&doc.transact(), "k").is_some());
    }

    #[test]
    fn a_change_invalidates_the_cached_full_state() {
        let board = LiveBoard::from_snapshot(Uuid::new_v4(), None).expect("loads");
        assert!(board.cached_full_state_frame().is_some());
        let update = snapshot_with("x");
        let shape = guard::check_update_v1(&update, &GuardLimits::default()).expect("guarded");
        board.apply_update(&update, &shape).expect("applies");
        board.mark_changed();
        assert!(board.cached_full_state_frame().is_none());
        let seq = board.change_seq();
        board.cache_full_state_frame(seq - 1, Bytes::from_static(b"stale"));
        assert!(
            board.cached_full_state_frame().is_none(),
            "stale frames are not stored"
        );
    }

    #[test]
    fn replaying_the_journal_applies_every_good_row_across_merge_chunks_and_keeps_bad_ones_aside() {
        let board =
            LiveBoard::from_snapshot(Uuid::new_v4(), Some(snapshot_with("stored"))).expect("loads");
        let mut rows = Vec::new();
        for id in 1..=200 {
            let mut updates = Vec::new();
            super::super::journal::frame_update(&mut updates, &snapshot_with(&format!("k{id}")));
            rows.push(JournalRow { id, updates });
        }
        rows.insert(
            50,
            JournalRow {
                id: 1000,
                updates: vec![5, 0x86, 0x9a, 0xe2, 0xb6, 0x11],
            },
        );
        let replayed = board.replay_into_live(&rows);
        assert_eq!(replayed.kept_aside, [1000]);
        assert_eq!(replayed.applied, (1..=200).collect::<Vec<_>>());
        assert!(replayed.added.is_some());
        let keys = board.read_doc(|doc| {
            let map = doc.get_or_insert_map("map");
            map.len(&doc.transact())
        });
        assert_eq!(keys, 201, "the stored key and every replayed one");
    }

    /// `count` updates of one client, each setting key `k{i % 100}` of map
    /// `map` on top of the previous ones (so each depends on the one before).
    fn dependent_updates(count: usize) -> Vec<Vec<u8>> {
        let doc = Doc::new();
        let map = doc.get_or_insert_map("map");
        (0..count)
            .map(|i| {
                let before = doc.transact().state_vector();
                map.insert(&mut doc.transact_mut(), format!("k{}", i % 100), i as f64);
                doc.transact().encode_diff_v1(&before)
            })
            .collect()
    }

    fn journal_rows(updates: &[Vec<u8>]) -> Vec<JournalRow> {
        updates
            .iter()
            .zip(1..)
            .map(|(update, id)| {
                let mut framed = Vec::new();
                super::super::journal::frame_update(&mut framed, update);
                JournalRow {
                    id,
                    updates: framed,
                }
            })
            .collect()
    }

    fn map_entries(doc: &Doc) -> Vec<(String, String)> {
        let map = doc.get_or_insert_map("map");
        let txn = doc.transact();
        let mut entries: Vec<_> = map
            .iter(&txn)
            .map(|(key, value)| (key.to_string(), value.to_string(&txn)))
            .collect();
        entries.sort();
        entries
    }

    #[test]
    fn merging_in_a_tree_gives_the_document_that_applying_one_by_one_gives() {
        // More than MERGE_FAN_IN² updates: three levels of merges.
        let updates = dependent_updates(MERGE_FAN_IN * MERGE_FAN_IN + 100);
        let one_by_one = Doc::new();
        for update in &updates {
            apply_to(&one_by_one, update).expect("applies");
        }
        let decoded = updates
            .iter()
            .map(|update| Update::decode_v1(update).expect("decodes"))
            .collect();
        let merged = Doc::new();
        merged
            .transact_mut()
            .apply_update(merge_in_tree(decoded))
            .expect("applies");
        assert_eq!(
            merged.transact().state_vector(),
            one_by_one.transact().state_vector()
        );
        assert_eq!(map_entries(&merged), map_entries(&one_by_one));
        assert!(merged.transact().store().pending_update().is_none());
    }

    #[test]
    fn a_long_journal_replays_in_one_merge_per_thread_and_keeps_bad_rows_aside_on_either() {
        let updates = dependent_updates(PARALLEL_REPLAY_ROWS + 1_000);
        let expected = Doc::new();
        for update in &updates {
            apply_to(&expected, update).expect("applies");
        }
        let mut rows = journal_rows(&updates);
        let bad = |id| JournalRow {
            id,
            updates: vec![5, 0x86, 0x9a, 0xe2, 0xb6, 0x11],
        };
        // One undecodable row in the part this thread merges, one in the
        // part the other thread merges (the last third).
        rows.insert(10, bad(100_000));
        rows.insert(rows.len() - 10, bad(100_001));
        let board = LiveBoard::from_snapshot(Uuid::new_v4(), None).expect("loads");
        let replayed = board.replay(&rows);
        assert_eq!(replayed.kept_aside, [100_000, 100_001]);
        let good: Vec<i64> = (1..=updates.len() as i64).collect();
        assert_eq!(replayed.applied, good, "every good row, in id order");
        assert_eq!(
            board.read_doc(map_entries),
            map_entries(&expected),
            "the document holds every good row's edit"
        );
    }

    #[test]
    fn a_replay_at_load_does_not_encode_what_it_added_but_a_live_merge_does() {
        let rows = journal_rows(&dependent_updates(10));
        let loading = LiveBoard::from_snapshot(Uuid::new_v4(), None).expect("loads");
        let replayed = loading.replay(&rows);
        assert_eq!(replayed.applied.len(), 10);
        assert!(replayed.added.is_none());
        let live = LiveBoard::from_snapshot(Uuid::new_v4(), None).expect("loads");
        let replayed = live.replay_into_live(&rows);
        assert_eq!(replayed.applied.len(), 10);
        let added = replayed.added.expect("the rows added something");
        let relayed = Doc::new();
        apply_to(&relayed, &added).expect("applies");
        assert_eq!(map_entries(&relayed), live.read_doc(map_entries));
    }

    /// Updates of three clients editing a text and a map, each client
    /// seeing the others' edits now and then (so edits refer to other
    /// clients' items), with insertions and deletions; in the order they were
    /// made. Each carries its client's new structs and its document's whole
    /// delete set, as yrs's `encode_diff_v1` writes them.
    fn edits_of_three_clients(count: usize) -> Vec<Vec<u8>> {
        use yrs::{GetString, Text};
        let clients: Vec<Doc> = (1..=3).map(|id: u64| Doc::with_client_id(id)).collect();
        let mut made: Vec<Vec<u8>> = Vec::new();
        let mut seen = [0usize; 3];
        for i in 0..count {
            let c = (i * 7 + i / 5) % 3;
            let doc = &clients[c];
            let text = doc.get_or_insert_text("text");
            let map = doc.get_or_insert_map("map");
            let before = doc.transact().state_vector();
            {
                let mut txn = doc.transact_mut();
                let len = text.get_string(&txn).len() as u32;
                match i % 4 {
                    0 | 1 => text.insert(&mut txn, (i as u32 * 13) % (len + 1), "ab"),
                    2 if len > 3 => text.remove_range(&mut txn, (i as u32 * 5) % (len - 2), 2),
                    _ => {
                        map.insert(&mut txn, format!("k{}", i % 7), i as f64);
                    }
                }
            }
            made.push(doc.transact().encode_diff_v1(&before));
            // Every few edits this client catches up with everything made.
            if i % 3 == 0 {
                for update in &made[seen[c]..] {
                    apply_to(doc, update).expect("applies");
                }
                seen[c] = made.len();
            }
        }
        made
    }

    fn text_of(doc: &Doc) -> String {
        use yrs::GetString;
        let text = doc.get_or_insert_text("text");
        let txn = doc.transact();
        text.get_string(&txn)
    }

    #[test]
    fn joined_rows_of_several_clients_make_the_document_applying_them_one_by_one_makes() {
        let updates = edits_of_three_clients(600);
        let snapshot = snapshot_with("stored");
        let expected = Doc::new();
        apply_to(&expected, &snapshot).expect("applies");
        for update in &updates {
            apply_to(&expected, update).expect("applies");
        }
        let mut rows = journal_rows(&updates);
        assert!(
            join_rows(Uuid::new_v4(), &rows).is_some(),
            "rows in commit order line up"
        );
        // An undecodable row in the middle: kept aside, the rest still joined.
        rows.insert(
            300,
            JournalRow {
                id: 100_000,
                updates: vec![5, 0x86, 0x9a, 0xe2, 0xb6, 0x11],
            },
        );
        let board = LiveBoard::from_snapshot(Uuid::new_v4(), Some(snapshot)).expect("loads");
        let replayed = board.replay(&rows);
        assert_eq!(replayed.kept_aside, [100_000]);
        let good: Vec<i64> = (1..=updates.len() as i64).collect();
        assert_eq!(replayed.applied, good);
        assert!(!text_of(&expected).is_empty());
        assert_eq!(board.read_doc(text_of), text_of(&expected));
        assert_eq!(board.read_doc(map_entries), map_entries(&expected));
        assert_eq!(
            board.read_doc(|doc| doc.transact().state_vector()),
            expected.transact().state_vector()
        );
        assert!(board.read_doc(|doc| doc.transact().store().pending_update().is_none()));
    }

    #[test]
    fn rows_that_do_not_line_up_are_merged_row_by_row_to_the_same_document() {
        let updates = edits_of_three_clients(PARALLEL_REPLAY_ROWS + 500);
        let expected = Doc::new();
        for update in &updates {
            apply_to(&expected, update).expect("applies");
        }
        let mut rows = journal_rows(&updates);
        // A row written twice (a retried commit): its structs overlap.
        let again = JournalRow {
            id: 50_000,
            updates: rows[20].updates.clone(),
        };
        rows.insert(40, again);
        // And one whose structs start past a gap (a later edit of a client
        // whose earlier one is only further down).
        rows.swap(100, 103);
        assert!(join_rows(Uuid::new_v4(), &rows).is_none(), "not joined");
        rows.insert(
            rows.len() - 10,
            JournalRow {
                id: 100_001,
                updates: vec![5, 0x86, 0x9a, 0xe2, 0xb6, 0x11],
            },
        );
        let board = LiveBoard::from_snapshot(Uuid::new_v4(), None).expect("loads");
        let replayed = board.replay(&rows);
        assert_eq!(replayed.kept_aside, [100_001]);
        assert_eq!(replayed.applied.len(), updates.len() + 1);
        assert_eq!(board.read_doc(text_of), text_of(&expected));
        assert_eq!(board.read_doc(map_entries), map_entries(&expected));
        assert_eq!(
            board.read_doc(|doc| doc.transact().state_vector()),
            expected.transact().state_vector()
        );
    }

    #[test]
    fn a_corrupt_snapshot_is_refused_at_load() {
        let loaded =
            LiveBoard::from_snapshot(Uuid::new_v4(), Some(vec![0x86, 0x9a, 0xe2, 0xb6, 0x11]));
        assert!(matches!(loaded, Err(DocError::Decode(_))));
    }
}

//! The board core: a registry of boards loaded in memory, each with its Yjs
//! document, awareness states and sockets, and a save worker per board.
//!
//! Nothing here knows about HTTP, WebSocket framing or the database: the sync
//! transport (`crate::sync_socket`) turns socket messages into calls on a
//! [`session::Session`] and writes what each [`Peer`] queues, prepared once in
//! the [`WireFormat`] it gave the service; snapshots and journal rows go
//! through the [`BoardStore`] and [`journal::JournalStore`] traits, which the
//! database layer implements, with their own error types.
//!
//! - [`board`]: one loaded board (document, peers, dirty bookkeeping).
//! - [`session`]: what one socket's messages do to its board.
//! - [`persistence`]: the debounced, retrying save worker.
//! - [`journal`], [`group_commit`]: every accepted update appended within
//!   milliseconds, so a crash loses none; saves delete what they cover.
//! - [`peer`], [`wire`]: a socket as the board sees it, and its queue of
//!   frames ready to write.
//! - [`awareness`], [`store`]: the parts those use.
//! - [`relay`]: the hook that lets other instances follow (see `crate::cluster`).

mod awareness;
pub mod board;
pub mod content_json;
pub mod group_commit;
pub mod journal;
mod journal_join;
pub mod peer;
mod persistence;
pub mod relay;
pub mod restore;
pub mod save_hook;
pub mod session;
pub mod store;
pub(crate) mod type_depth;
pub mod wire;

#[cfg(test)]
mod core_tests;

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex, MutexGuard, OnceLock, PoisonError,
    },
    time::Duration,
};

use tokio::{sync::OnceCell, time::Instant};
use tokio_util::task::TaskTracker;
use uuid::Uuid;

pub use awareness::Accepted as AwarenessAccepted;
pub use board::{DocError, LiveBoard};
pub use group_commit::{JournalLimits, JournalWriter};
pub use peer::{Batch, CloseReason, Closing, Peer, QueueLimits, WriterStep};
pub use relay::{AccessEvent, Relay};
pub use save_hook::SaveHook;
pub use store::{BoardStore, SaveOutcome, StoreError, StoredState};
pub use wire::{Unframed, WireFormat, WireQueue};

use crate::role::Role;

/// A stored snapshot up to this size is checked and decoded on the async
/// thread that loads the board (microseconds); larger ones on the blocking pool.
const INLINE_DECODE_BYTES: usize = 1024;

/// Tunables of the service.
#[derive(Debug, Clone)]
pub struct ServiceSettings {
    /// Quiet time after the last change before a save.
    pub save_debounce: Duration,
    /// Longest a change waits for its save, however busy the board.
    pub save_max_debounce: Duration,
    /// Per-socket outbound queue bounds.
    pub queue: QueueLimits,
}

/// Why a board could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The server is shutting down.
    #[error("shutting down")]
    ShuttingDown,
    /// The snapshot could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored snapshot does not decode.
    #[error("stored board state is unreadable: {0}")]
    Corrupt(DocError),
    /// The board's journal could not be read.
    #[error(transparent)]
    Journal(#[from] journal::JournalError),
}

/// A board's stored snapshot as [`BoardService::load`] has it after the read.
enum Stored {
    /// The bytes (none: never saved) and their version.
    Snapshot(Option<Vec<u8>>, i64),
    /// Checked, and decoding on the blocking pool; and the version.
    Board(Arc<LiveBoard>, i64),
}

/// A registry slot: the board is loaded into it at most once.
#[derive(Debug, Default)]
struct Slot {
    board: OnceCell<Arc<LiveBoard>>,
}

struct Inner {
    boards: Mutex<HashMap<Uuid, Arc<Slot>>>,
    store: Arc<dyn BoardStore>,
    settings: ServiceSettings,
    shutting_down: AtomicBool,
    /// Set once shutdown saves: workers then save at once, retry until the
    /// deadline, and exit when their board is saved and unused.
    final_flush: AtomicBool,
    /// When the shutdown flush gives up on failed saves.
    final_deadline: OnceLock<Instant>,
    workers: TaskTracker,
    sockets: TaskTracker,
    /// Sockets on a board: a token each, dropped as the socket leaves.
    sessions: TaskTracker,
    /// Where accepted changes go besides this process's sockets (other instances).
    relay: Option<Arc<dyn Relay>>,
    /// Bumped by every access change applied here (see [`BoardService::access_epoch`]).
    access_epoch: AtomicU64,
    /// Where accepted updates are appended (`None`: no journal, saves only).
    journal: Option<JournalWriter>,
    /// Told of every successful save (webhooks' `board.updated`).
    save_hook: OnceLock<Arc<dyn SaveHook>>,
    /// How sockets' frames are prepared for the wire (unset: [`Unframed`]).
    wire_format: OnceLock<&'static dyn WireFormat>,
}

/// The registry of live boards. Cheap to clone.
#[derive(Clone)]
pub struct BoardService {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for BoardService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoardService")
            .field("boards", &self.loaded_count())
            .finish()
    }
}

/// Keeps a board loaded while held; dropping it lets the board unload once saved.
#[derive(Debug)]
pub struct Lease {
    board: Arc<LiveBoard>,
}

impl Lease {
    /// The board.
    pub fn board(&self) -> &Arc<LiveBoard> {
        &self.board
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let last = {
            let mut state = self.board.state();
            state.leases = state.leases.saturating_sub(1);
            state.leases == 0
        };
        if last {
            self.board.wake.notify_one();
        }
    }
}

/// Locks a mutex of the board service. A panic while holding a lock is
/// contained by `catch_unwind` or ends a task; the data behind it stays
/// consistent enough to save, so keep going.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl BoardService {
    /// A service saving through `store`.
    pub fn new(store: Arc<dyn BoardStore>, settings: ServiceSettings) -> Self {
        Self::with_relay(store, settings, None)
    }

    /// A service that also hands accepted changes to `relay`.
    pub fn with_relay(
        store: Arc<dyn BoardStore>,
        settings: ServiceSettings,
        relay: Option<Arc<dyn Relay>>,
    ) -> Self {
        Self::with_journal(store, settings, relay, None)
    }

    /// A service that also appends every update it accepts to `journal`
    /// (and replays it when a board loads).
    pub fn with_journal(
        store: Arc<dyn BoardStore>,
        settings: ServiceSettings,
        relay: Option<Arc<dyn Relay>>,
        journal: Option<JournalWriter>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                boards: Mutex::new(HashMap::new()),
                store,
                settings,
                shutting_down: AtomicBool::new(false),
                final_flush: AtomicBool::new(false),
                final_deadline: OnceLock::new(),
                workers: TaskTracker::new(),
                sockets: TaskTracker::new(),
                sessions: TaskTracker::new(),
                relay,
                access_epoch: AtomicU64::new(0),
                journal,
                save_hook: OnceLock::new(),
                wire_format: OnceLock::new(),
            }),
        }
    }

    /// The tunables.
    pub fn settings(&self) -> &ServiceSettings {
        &self.inner.settings
    }

    /// The relay to other instances, if any.
    pub fn relay(&self) -> Option<&Arc<dyn Relay>> {
        self.inner.relay.as_ref()
    }

    /// Whether this process should save the board now (see [`Relay::may_save`]).
    pub fn may_save(&self, board_id: Uuid) -> bool {
        self.relay().is_none_or(|relay| relay.may_save(board_id))
    }

    /// Sets how every socket's frames are prepared for the wire: the
    /// transport's framing, given once at start (before any socket joins).
    pub fn set_wire_format(&self, format: &'static dyn WireFormat) {
        let _ = self.inner.wire_format.set(format);
    }

    /// How sockets' frames are prepared for the wire.
    pub fn wire_format(&self) -> &'static dyn WireFormat {
        self.inner.wire_format.get().copied().unwrap_or(&Unframed)
    }

    /// Sets the hook told of every successful save (once; later calls are
    /// ignored).
    pub fn set_save_hook(&self, hook: Arc<dyn SaveHook>) {
        let _ = self.inner.save_hook.set(hook);
    }

    /// The hook told of every successful save, if one is set.
    pub fn save_hook(&self) -> Option<&Arc<dyn SaveHook>> {
        self.inner.save_hook.get()
    }

    /// The journal writer, if updates are journaled.
    pub fn journal(&self) -> Option<&JournalWriter> {
        self.inner.journal.as_ref()
    }

    /// Whether shutdown has begun (new sockets and edits are refused).
    pub fn is_shutting_down(&self) -> bool {
        self.inner.shutting_down.load(Ordering::SeqCst)
    }

    /// Tracks a socket task, so shutdown can wait for it before the last saves.
    pub fn track_socket<F>(&self, task: F) -> impl std::future::Future<Output = F::Output>
    where
        F: std::future::Future,
    {
        self.inner.sockets.track_future(task)
    }

    /// Loads the board (once, however many callers race) and leases it.
    pub async fn open(&self, board_id: Uuid) -> Result<Lease, OpenError> {
        loop {
            if self.is_shutting_down() {
                return Err(OpenError::ShuttingDown);
            }
            let slot = Arc::clone(lock(&self.inner.boards).entry(board_id).or_default());
            let loaded = slot
                .board
                .get_or_try_init(|| self.load(board_id))
                .await
                .cloned();
            let board = match loaded {
                Ok(board) => board,
                Err(err) => {
                    self.forget_slot(board_id, &slot);
                    return Err(err);
                }
            };
            {
                let mut state = board.state();
                if state.status == Status::Open {
                    // Under the board's lock: a save worker that stopped at
                    // shutdown (saved, no leases) saw its last lease, so no
                    // lease taken after may bring changes it would not save.
                    if self.is_shutting_down() {
                        return Err(OpenError::ShuttingDown);
                    }
                    state.leases += 1;
                    drop(state);
                    if !board.worker_started.swap(true, Ordering::AcqRel) {
                        self.inner
                            .workers
                            .spawn(persistence::run(self.clone(), Arc::clone(&board)));
                        if let Some(relay) = self.relay() {
                            relay.board_loaded(board_id);
                        }
                    }
                    return Ok(Lease { board });
                }
            }
            // It was unloaded (or deleted) between the lookup and the lease:
            // the slot is gone from the registry, so the next turn starts afresh.
            self.forget_slot(board_id, &slot);
            if board.state().status == Status::Deleted {
                return Err(OpenError::Store(StoreError::NotFound));
            }
            tokio::task::yield_now().await;
        }
    }

    /// The board if it is loaded now (without loading it).
    pub fn loaded(&self, board_id: Uuid) -> Option<Arc<LiveBoard>> {
        let slot = lock(&self.inner.boards).get(&board_id).cloned()?;
        slot.board.get().cloned()
    }

    /// The ids of the boards loaded and serving now.
    pub fn open_board_ids(&self) -> Vec<Uuid> {
        self.all_loaded()
            .iter()
            .filter(|board| board.state().status == Status::Open)
            .map(|board| board.id)
            .collect()
    }

    /// How many boards are in memory.
    pub fn loaded_count(&self) -> usize {
        lock(&self.inner.boards)
            .values()
            .filter(|slot| slot.board.initialized())
            .count()
    }

    /// How many boards in memory have unsaved changes.
    pub fn dirty_count(&self) -> usize {
        self.all_loaded()
            .iter()
            .filter(|board| board.state().is_dirty())
            .count()
    }

    async fn load(&self, board_id: Uuid) -> Result<Arc<LiveBoard>, OpenError> {
        // Both at once (a board's first socket waits for them). Either order
        // is safe: rows deleted by another instance's save in between are in
        // the snapshot read after them, or in a newer one this board's next
        // save merges (its version check fails); rows read twice (in the
        // snapshot and as rows) apply twice, which changes nothing.
        let rows = async {
            match self.journal() {
                Some(journal) => journal.store().read(board_id, None).await,
                None => Ok(Vec::new()),
            }
        };
        let (stored, rows) = tokio::join!(self.stored(board_id), rows);
        let (stored, rows) = (stored?, rows?);
        if !rows.is_empty() {
            return self.load_with_journal(board_id, stored, rows).await;
        }
        let (snapshot, version) = match stored {
            // Decoding already (rows were there when the snapshot was read,
            // gone by the time they were: another instance compacted them).
            Stored::Board(board, version) => {
                board.state().stored_version = version;
                return Ok(board);
            }
            Stored::Snapshot(snapshot, version) => (snapshot, version),
        };
        // A new or small board is checked and decoded here: two trips through
        // the blocking pool would cost more than the work, and the first
        // socket of every board waits for them.
        let small = snapshot
            .as_ref()
            .is_none_or(|bytes| bytes.len() <= INLINE_DECODE_BYTES);
        let board = if small {
            LiveBoard::from_snapshot(board_id, snapshot)
        } else {
            tokio::task::spawn_blocking(move || LiveBoard::from_snapshot(board_id, snapshot))
                .await
                .map_err(|_| OpenError::Corrupt(DocError::Panicked))?
        }
        .map_err(OpenError::Corrupt)?;
        board.state().stored_version = version;
        let board = Arc::new(board);
        // A large document is decoded on first use (see `Session::start`):
        // fresh clients are served the stored bytes meanwhile.
        if small {
            board.decode();
            if board.state().status == Status::Deleted {
                // The decode logged why; the socket gets a 500, not an empty board.
                return Err(OpenError::Corrupt(DocError::Decode(
                    "stored state does not decode".into(),
                )));
            }
        }
        tracing::debug!(board.id = %board_id, "board loaded");
        Ok(board)
    }

    /// Reads the board's snapshot. When the journal has rows to replay into
    /// it, a large snapshot is checked and its decoding started on the
    /// blocking pool as soon as it is read (the replay needs the document;
    /// reading the rows takes longer than reading the snapshot). Without
    /// rows it is left to its first use, as [`Self::load`] says why.
    async fn stored(&self, board_id: Uuid) -> Result<Stored, OpenError> {
        let has_rows = async {
            match self.journal() {
                // Not knowing only costs the early start.
                Some(journal) => journal.store().has_rows(board_id).await.unwrap_or(false),
                None => false,
            }
        };
        let (stored, has_rows) = tokio::join!(self.inner.store.load(board_id), has_rows);
        let stored = stored?;
        let version = stored.as_ref().map_or(0, |stored| stored.version);
        let snapshot = stored.map(|stored| stored.state);
        let large = snapshot
            .as_ref()
            .is_some_and(|bytes| bytes.len() > INLINE_DECODE_BYTES);
        if !(has_rows && large) {
            return Ok(Stored::Snapshot(snapshot, version));
        }
        let board = tokio::task::spawn_blocking(move || {
            let board = Arc::new(LiveBoard::from_snapshot(board_id, snapshot)?);
            let decoding = Arc::clone(&board);
            drop(tokio::task::spawn_blocking(move || decoding.decode()));
            Ok(board)
        })
        .await
        .map_err(|_| OpenError::Corrupt(DocError::Panicked))?
        .map_err(OpenError::Corrupt)?;
        Ok(Stored::Board(board, version))
    }

    /// Loads a board whose journal holds rows: the snapshot, then every row
    /// in id order, then a compaction save at once (it deletes the rows
    /// replayed and marks the undecodable ones kept aside).
    async fn load_with_journal(
        &self,
        board_id: Uuid,
        stored: Stored,
        rows: Vec<journal::JournalRow>,
    ) -> Result<Arc<LiveBoard>, OpenError> {
        let row_count = rows.len();
        let started = std::time::Instant::now();
        let (board, version, replayed) = tokio::task::spawn_blocking(move || {
            let (board, version) = match stored {
                Stored::Board(board, version) => (board, version),
                Stored::Snapshot(snapshot, version) => {
                    let board = Arc::new(LiveBoard::from_snapshot(board_id, snapshot)?);
                    // The snapshot decodes on another thread while this one
                    // decodes and merges the rows.
                    let decoding = Arc::clone(&board);
                    drop(tokio::task::spawn_blocking(move || decoding.decode()));
                    (board, version)
                }
            };
            // The replay decodes and merges the rows, then waits for the
            // document (or decodes it itself, if that thread has not started).
            let replayed = board.replay(&rows);
            Ok::<_, DocError>((board, version, replayed))
        })
        .await
        .map_err(|_| OpenError::Corrupt(DocError::Panicked))?
        .map_err(OpenError::Corrupt)?;
        if board.state().status == Status::Deleted {
            return Err(OpenError::Corrupt(DocError::Decode(
                "stored state does not decode".into(),
            )));
        }
        crate::metrics::journal_replayed(replayed.applied.len(), replayed.kept_aside.len());
        tracing::info!(board.id = %board_id, rows = row_count, applied = replayed.applied.len(),
            kept_aside = replayed.kept_aside.len(), elapsed_ms = started.elapsed().as_millis() as u64,
            "board loaded with its journal replayed");
        {
            let mut state = board.state();
            state.stored_version = version;
            state.journal_merged = replayed.applied;
            state.journal_kept_aside = replayed.kept_aside;
            state.save_now = true;
        }
        // Dirty (and the stored bytes no longer the whole document): the
        // compaction save follows at once.
        board.mark_changed();
        Ok(board)
    }

    fn forget_slot(&self, board_id: Uuid, slot: &Arc<Slot>) {
        let mut boards = lock(&self.inner.boards);
        if boards.get(&board_id).is_some_and(|s| Arc::ptr_eq(s, slot)) {
            boards.remove(&board_id);
        }
    }

    /// Removes a saved board with no leases from the registry. Returns whether
    /// it did (the worker then stops).
    fn try_unload(&self, board: &Arc<LiveBoard>) -> bool {
        let mut boards = lock(&self.inner.boards);
        let mut state = board.state();
        if state.leases > 0 || state.is_dirty() || state.status != Status::Open {
            return false;
        }
        state.status = Status::Unloaded;
        let ours = boards
            .get(&board.id)
            .and_then(|slot| slot.board.get())
            .is_some_and(|loaded| Arc::ptr_eq(loaded, board));
        if ours {
            boards.remove(&board.id);
        }
        drop(state);
        drop(boards);
        if let Some(relay) = self.relay().filter(|_| ours) {
            relay.board_unloaded(board.id);
        }
        tracing::debug!(board.id = %board.id, "board unloaded");
        true
    }

    /// Boards were deleted: close their sockets (4404) and drop them unsaved.
    pub fn boards_deleted(&self, board_ids: &[Uuid]) {
        for &board_id in board_ids {
            self.access_changed(AccessEvent::BoardDeleted(board_id));
        }
    }

    /// A member was removed: close that user's sockets on the board (4403).
    pub fn member_removed(&self, board_id: Uuid, user_id: Uuid) {
        self.access_changed(AccessEvent::MemberRemoved { board_id, user_id });
    }

    /// An account was deleted: close its sockets on every board (4403).
    pub fn user_removed_everywhere(&self, user_id: Uuid) {
        self.access_changed(AccessEvent::UserRemoved(user_id));
    }

    /// A member's role changed: its live sockets follow at once.
    pub fn role_changed(&self, board_id: Uuid, user_id: Uuid, role: Role) {
        self.access_changed(AccessEvent::RoleChanged {
            board_id,
            user_id,
            role,
        });
    }

    /// Counts the access changes (deletions, removals, role changes, from this
    /// instance or another) applied so far. A socket reads it before its access
    /// is checked and again once it has joined its board: only when it moved
    /// can a change have slipped between the two and need a second look.
    pub fn access_epoch(&self) -> u64 {
        self.inner.access_epoch.load(Ordering::SeqCst)
    }

    /// Applies an access change made here, and tells the other instances.
    fn access_changed(&self, event: AccessEvent) {
        self.apply_access(&event);
        if let Some(relay) = self.relay() {
            relay.access(&event);
        }
    }

    /// Applies an access change to this process's sockets (and nothing else:
    /// the relay delivers changes made elsewhere through here).
    pub fn apply_access(&self, event: &AccessEvent) {
        // Before any socket is looked at: a socket that joins after this scan
        // sees the new epoch and checks its access again.
        self.inner.access_epoch.fetch_add(1, Ordering::SeqCst);
        match *event {
            AccessEvent::BoardDeleted(board_id) => {
                let slot = lock(&self.inner.boards).remove(&board_id);
                if let Some(board) = slot.and_then(|slot| slot.board.get().cloned()) {
                    board.state().status = Status::Deleted;
                    board.close_peers(None, CloseReason::BoardDeleted);
                    board.wake.notify_one();
                    if let Some(relay) = self.relay() {
                        relay.board_unloaded(board_id);
                    }
                }
            }
            AccessEvent::MemberRemoved { board_id, user_id } => {
                if let Some(board) = self.loaded(board_id) {
                    board.close_peers(Some(user_id), CloseReason::MemberRemoved);
                }
            }
            AccessEvent::RoleChanged {
                board_id,
                user_id,
                role,
            } => {
                if let Some(board) = self.loaded(board_id) {
                    board.set_role(user_id, role);
                }
            }
            AccessEvent::UserRemoved(user_id) => {
                for board in self.all_loaded() {
                    board.close_peers(Some(user_id), CloseReason::MemberRemoved);
                }
            }
        }
    }

    fn all_loaded(&self) -> Vec<Arc<LiveBoard>> {
        lock(&self.inner.boards)
            .values()
            .filter_map(|slot| slot.board.get().cloned())
            .collect()
    }

    /// First half of shutdown: refuse new sockets, new leases and edits through
    /// them, and close every socket (1001). Waits for nothing.
    pub fn begin_shutdown(&self) {
        // Before any board is looked at: a socket that joins after this scan
        // sees the flag under its board's lock and is refused (see `join`).
        self.inner.shutting_down.store(true, Ordering::SeqCst);
        for board in self.all_loaded() {
            board.close_peers(None, CloseReason::GoingAway);
        }
    }

    /// Adds a socket to its board, unless shutdown has begun: checked under the
    /// board's lock, so a socket upgraded while shutdown begins is either
    /// closed by [`Self::begin_shutdown`] or never joins. Returns whether it joined.
    pub fn join(&self, board: &LiveBoard, peer: Arc<Peer>) -> bool {
        board.join_unless(peer, || self.inner.shutting_down.load(Ordering::SeqCst))
    }

    /// Waits, until `deadline`, for every socket closed by
    /// [`Self::begin_shutdown`] to leave its board (which a socket does as
    /// soon as it has applied the messages its client had already sent, read
    /// without waiting for more, and before its close frame is written): what
    /// they sent last has then reached their boards and the other instances.
    pub async fn sockets_left(&self, deadline: Instant) {
        self.inner.sessions.close();
        if tokio::time::timeout_at(deadline, self.inner.sessions.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                sockets = self.inner.sessions.len(),
                "sockets still on their boards at the shutdown deadline"
            );
        }
    }

    /// Second half: commit what the journal holds, then save every board with
    /// unsaved changes, retrying failed saves, until each is saved and no
    /// longer used or `deadline` passes. Nothing here waits on a client:
    /// sockets were closed by [`Self::begin_shutdown`], and each lets go of its
    /// board as soon as it sees that. Boards still unsaved at the deadline are
    /// logged and returned.
    pub async fn shutdown(&self, deadline: Instant) -> ShutdownReport {
        self.begin_shutdown();
        // What the sockets sent is committed before the last saves, which
        // then delete those rows with the rest. A journal that cannot commit
        // by the deadline leaves its updates to the saves, whose snapshots
        // hold them too.
        if let Some(journal) = self.journal() {
            if tokio::time::timeout_at(deadline, journal.close())
                .await
                .is_err()
            {
                tracing::warn!("journal still committing at the shutdown deadline");
            }
        }
        let dirty = self.dirty_count();
        let _ = self.inner.final_deadline.set(deadline);
        self.inner.final_flush.store(true, Ordering::SeqCst);
        for board in self.all_loaded() {
            board.wake.notify_one();
        }
        self.inner.workers.close();
        let _ = tokio::time::timeout_at(deadline, self.inner.workers.wait()).await;
        let unsaved: Vec<Uuid> = self
            .all_loaded()
            .iter()
            .filter(|board| {
                // A board that was never leased (its first opener came after
                // shutdown began) holds only what its load replayed from the
                // journal, which is still there for the next load.
                if !board.worker_started.load(Ordering::Acquire) {
                    return false;
                }
                let state = board.state();
                state.status == Status::Open && state.is_dirty()
            })
            .map(|board| board.id)
            .collect();
        if !unsaved.is_empty() {
            let ids = unsaved
                .iter()
                .map(Uuid::to_string)
                .collect::<Vec<_>>()
                .join(",");
            tracing::error!(boards.unsaved = %ids, count = unsaved.len(),
                "shutdown deadline passed with boards unsaved: what the journal committed of their changes is replayed when they are next loaded, the rest is lost");
        }
        ShutdownReport {
            saved: dirty.saturating_sub(unsaved.len()),
            unsaved,
        }
    }

    /// Waits, until `deadline`, for every socket task to end (their close
    /// frames sent). Saving does not wait for this.
    pub async fn wait_for_sockets(&self, deadline: Instant) {
        self.inner.sockets.close();
        if tokio::time::timeout_at(deadline, self.inner.sockets.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                sockets = self.inner.sockets.len(),
                "sockets still closing at the shutdown deadline; dropping them"
            );
        }
    }

    /// The deadline of the shutdown flush, once it has begun.
    fn final_deadline(&self) -> Option<Instant> {
        self.inner.final_deadline.get().copied()
    }
}

/// What the shutdown flush did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Boards with unsaved changes when the flush began that it saved.
    pub saved: usize,
    /// Boards whose changes could not be saved by the deadline (lost).
    pub unsaved: Vec<Uuid>,
}

use board::Status;

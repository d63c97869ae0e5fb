//! What one socket's messages do to its board: the server side of the
//! y-websocket sync and awareness protocols, without any socket types.
//!
//! Every payload passes [`crate::protocol::guard`] before yrs sees it. Small
//! updates (the guard bounds their work to microseconds) are integrated on the
//! async thread; everything larger runs on the blocking pool, so a hostile or
//! huge frame costs its own socket (closed 1007) and a blocking thread for a
//! bounded time, never the async threads that serve the other boards.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use tokio::sync::Notify;
use tokio_util::task::task_tracker::TaskTrackerToken;
use uuid::Uuid;

use super::{
    journal::JournalError, AwarenessAccepted, BoardService, CloseReason, DocError, JournalWriter,
    Lease, LiveBoard, OpenError, Peer, Relay,
};
use crate::{
    protocol::{
        guard::{self, GuardError, GuardLimits},
        message::{self, ClientMessage},
    },
    role::Role,
};

/// Payloads up to this size are checked on the async thread; larger ones on the
/// blocking pool (the check is linear, ~1 ns a byte, but 16 MiB is still 16 ms).
const INLINE_CHECK_BYTES: usize = 64 * 1024;

/// The permission-denied reason sent to read-only sockets that send edits.
pub const READ_ONLY: &str = "read-only";

/// One socket attached to one board.
#[derive(Debug)]
pub struct Session {
    lease: Lease,
    peer: Arc<Peer>,
    /// Other instances, told about what this socket changed.
    relay: Option<Arc<dyn Relay>>,
    /// Where what this socket changed is made durable.
    journal: Option<JournalWriter>,
    /// Frames for the board's other sockets, held back and not yet queued to
    /// them (see [`Session::flush`]).
    held_for_others: Vec<Bytes>,
    /// Whether the held frames carry changes the board has not been told of
    /// yet (marked with the flush, under the same lock as the broadcast).
    held_changes: bool,
    /// Told when the client's first message other than a fresh step 1 has
    /// been handled, while the server's step 1 waits for that (see
    /// [`Session::start`]).
    first_message: Option<Arc<Notify>>,
    /// Held while on the board (see [`BoardService::sockets_left`]).
    on_board: Option<TaskTrackerToken>,
}

/// The longest the server's step 1 waits for a client's first message (other
/// than a fresh client's step 1) when it needs the board's document decoded.
const SERVER_STEP1_DEFER: Duration = Duration::from_millis(25);

/// A sync step 1 with an empty state vector, as a fresh client sends it.
const FRESH_SYNC_STEP1: [u8; 4] = [0, 0, 1, 0];

/// The most frames a session holds back before queuing them to the others.
const MAX_HELD_FOR_OTHERS: usize = 64;

/// Runs `f` on the blocking pool; `None` if it panicked.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    tokio::task::spawn_blocking(f).await.ok()
}

impl Session {
    /// Attaches a socket of `user_id` with `role` to the leased board and queues
    /// the opening messages: the server's sync step 1 and the awareness states.
    pub async fn start(service: &BoardService, lease: Lease, user_id: Uuid, role: Role) -> Self {
        let peer = Peer::new(
            user_id,
            role,
            service.settings().queue,
            service.wire_format(),
        );
        let board = Arc::clone(lease.board());
        let relay = service.relay().cloned();
        // Taken before the join, so no socket is on a board uncounted.
        let on_board = service.inner.sessions.token();
        // Join before reading the state vector: an update applied in between is
        // then both broadcast to us and (harmlessly) in our step 2.
        if !service.join(&board, Arc::clone(&peer)) {
            // Upgraded while shutdown began: never on the board, closed 1001.
            peer.close(CloseReason::GoingAway);
            return Self {
                lease,
                peer,
                relay,
                journal: None,
                held_for_others: Vec::new(),
                held_changes: false,
                first_message: None,
                on_board: None,
            };
        }
        // The server's step 1 needs the decoded document. Usually it is, and
        // free: answer at once (a trip through the blocking pool costs more
        // than the encoding).
        let mut first_message = None;
        if let Some(state_vector) = board.try_state_vector() {
            peer.send(Bytes::from(message::encode_sync_step1(&state_vector)));
        } else {
            // A board just loaded: its document is decoded on first use, which
            // takes milliseconds for a large one. A fresh client's step 1 is
            // answered from the stored bytes without it, so the decoding waits
            // for the client's first other message (a client with state of its
            // own sends a step 1 that needs the document anyway), or
            // SERVER_STEP1_DEFER, rather than take the CPU from that answer.
            let first = Arc::new(Notify::new());
            let answered = Arc::clone(&first);
            let sv_board = Arc::clone(&board);
            let sv_peer = Arc::clone(&peer);
            tokio::spawn(async move {
                let _ = tokio::time::timeout(SERVER_STEP1_DEFER, answered.notified()).await;
                if let Some(state_vector) = blocking(move || sv_board.state_vector()).await {
                    sv_peer.send(Bytes::from(message::encode_sync_step1(&state_vector)));
                }
            });
            first_message = Some(first);
        }
        if let Some(frame) = board.awareness_frame() {
            peer.send(frame);
        }
        Self {
            lease,
            peer,
            relay,
            journal: service.journal().cloned(),
            held_for_others: Vec::new(),
            held_changes: false,
            first_message,
            on_board: Some(on_board),
        }
    }

    /// The board.
    pub fn board(&self) -> &Arc<LiveBoard> {
        self.lease.board()
    }

    /// The socket's board-side handle.
    pub fn peer(&self) -> &Arc<Peer> {
        &self.peer
    }

    /// Whether the socket joined its board (it does not once shutdown began).
    pub fn is_on_board(&self) -> bool {
        self.on_board.is_some()
    }

    /// Queues what this socket's messages sent to the board's other sockets.
    ///
    /// Frames are held back while the client's next message is already read
    /// (call this when it is not, or when [`Session::wants_flush`]): every other
    /// socket then gets a burst of updates under one lock and one wake-up, and
    /// its writer sends the burst in one write instead of one write each.
    pub fn flush(&mut self) {
        if !self.held_for_others.is_empty() {
            let changed = std::mem::take(&mut self.held_changes);
            if changed {
                // Before the change is marked: the save it wakes covers this author.
                self.board().note_author(self.peer.user_id);
            }
            self.board()
                .publish(&self.held_for_others, Some(self.peer.id), changed);
            self.held_for_others.clear();
        }
    }

    /// Whether enough is held back that it should be queued now.
    pub fn wants_flush(&self) -> bool {
        self.held_for_others.len() >= MAX_HELD_FOR_OTHERS
    }

    /// Handles one binary frame. `Err` means: close the socket with that reason.
    pub async fn handle_frame(&mut self, frame: Bytes) -> Result<(), CloseReason> {
        // A fresh client (empty state vector) has nothing the server's step 1
        // could ask it for: after its step 1 the decoding keeps waiting (up to
        // SERVER_STEP1_DEFER), so the whole document it is being sent does not
        // compete with it for the CPU. Anything else it sends ends the wait.
        let fresh_step1 = frame[..] == FRESH_SYNC_STEP1;
        let handled = self.handle_message(frame).await;
        if !fresh_step1 {
            if let Some(first) = self.first_message.take() {
                first.notify_one();
            }
        }
        handled
    }

    async fn handle_message(&mut self, frame: Bytes) -> Result<(), CloseReason> {
        // Nothing is held for the others while a frame waits for the blocking
        // pool: large frames always may (below, the other ways do the same).
        if frame.len() > INLINE_APPLY_BYTES {
            self.flush();
        }
        let message = message::decode(&frame).map_err(|err| {
            tracing::debug!(peer = self.peer.id, %err, "undecodable frame");
            CloseReason::InvalidData
        })?;
        match message {
            ClientMessage::SyncStep1(state_vector) => {
                // An empty state vector (a fresh client) asks for everything.
                let fresh = state_vector == [0];
                if fresh {
                    if let Some(frame) = self.board().cached_full_state_frame() {
                        self.peer.send(frame);
                        return Ok(());
                    }
                }
                let state_vector = frame.slice_ref(state_vector);
                let board = Arc::clone(self.board());
                let seq = board.change_seq();
                self.flush();
                let diff = blocking(move || {
                    guard::check_state_vector(&state_vector).map_err(|_| CloseReason::Hostile)?;
                    board
                        .diff(&state_vector)
                        .map_err(|_| CloseReason::InvalidData)
                })
                .await
                .unwrap_or(Err(CloseReason::InvalidData))?;
                let step2 = Bytes::from(message::encode_sync_step2(&diff));
                if fresh {
                    self.board().cache_full_state_frame(seq, step2.clone());
                }
                self.peer.send(step2);
                Ok(())
            }
            ClientMessage::SyncStep2(update) => {
                let update = frame.slice_ref(update);
                self.apply(update, None).await
            }
            ClientMessage::Update(update) => {
                let update = frame.slice_ref(update);
                // The frame is already a sync-update message: relay it as is.
                self.apply(update, Some(frame)).await
            }
            ClientMessage::Awareness(payload) => {
                let payload = frame.slice_ref(payload);
                self.awareness(payload, frame).await
            }
            ClientMessage::QueryAwareness => {
                if let Some(frame) = self.board().awareness_frame() {
                    self.peer.send(frame);
                }
                Ok(())
            }
            ClientMessage::Auth => Ok(()),
        }
    }

    async fn apply(&mut self, update: Bytes, relay: Option<Bytes>) -> Result<(), CloseReason> {
        if !self.peer.role().can_edit() {
            let shape = check_update(update).await?;
            if !shape.is_empty {
                self.peer
                    .send(Bytes::from(message::encode_permission_denied(READ_ONLY)));
            }
            return Ok(());
        }
        let board = Arc::clone(self.board());
        let outcome = apply_update_with(board, update.clone(), || self.flush()).await?;
        if outcome == Applied::Changed {
            let frame = relay.unwrap_or_else(|| Bytes::from(message::encode_update(&update)));
            // Queued for the next group commit; nothing here waits for it.
            // Refused only when the writer is backed up: the update is
            // applied and relayed anyway, and the board's save covers it.
            // A copy: `update` is a view of the socket's read buffer, which
            // could not be reused while the queue held it.
            if let Some(journal) = &self.journal {
                let board = self.board();
                let _ = journal.append(
                    board.id,
                    &board.journal_cursor,
                    Bytes::copy_from_slice(&update),
                );
            }
            self.held_for_others.push(frame);
            self.held_changes = true;
            if let Some(relay) = &self.relay {
                relay.update(self.board().id, &update);
            }
        }
        Ok(())
    }

    async fn awareness(&mut self, payload: Bytes, frame: Bytes) -> Result<(), CloseReason> {
        let board = Arc::clone(self.board());
        let (peer_id, user_id) = (self.peer.id, self.peer.user_id);
        let checked = payload.clone();
        let apply = move || match guard::parse_awareness_update(&checked) {
            Ok(entries) => board
                .apply_awareness(peer_id, user_id, &entries)
                .map_err(|err| {
                    tracing::debug!(board.id = %board.id, peer = peer_id, %err,
                        "awareness refused");
                    CloseReason::AwarenessPolicy
                }),
            Err(GuardError::LimitExceeded {
                what: guard::AWARENESS_ENTRIES | guard::AWARENESS_STATE,
            }) => Err(CloseReason::AwarenessPolicy),
            Err(_) => Err(CloseReason::Hostile),
        };
        let accepted = if frame.len() <= INLINE_CHECK_BYTES {
            apply()?
        } else {
            blocking(apply)
                .await
                .unwrap_or(Err(CloseReason::InvalidData))?
        };
        // Only what changed a state goes on: entries for clients this socket
        // does not own never reach the others (nor the other instances).
        let payload = match accepted {
            AwarenessAccepted::Nothing => return Ok(()),
            AwarenessAccepted::All => {
                self.held_for_others.push(frame);
                payload
            }
            AwarenessAccepted::Some(changed) => {
                self.held_for_others
                    .push(Bytes::from(message::encode_awareness(&changed)));
                Bytes::from(changed)
            }
        };
        if let Some(relay) = &self.relay {
            relay.awareness(self.board().id, &payload);
        }
        Ok(())
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // What the socket changed reaches the others even if it closes now.
        self.flush();
        let removal = self.board().leave(self.peer.id);
        if let (Some(relay), Some(payload)) = (&self.relay, removal) {
            relay.awareness(self.board().id, &payload);
        }
        // Off the board, nothing more is queued: the writer ends once it has
        // written what is (or sent the close frame the board asked for).
        self.peer.finish();
    }
}

/// Whether an accepted update changed anything worth relaying and saving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The update carried nothing (an empty step 2).
    Empty,
    /// The update was integrated.
    Changed,
}

async fn check_update(update: Bytes) -> Result<guard::UpdateShape, CloseReason> {
    let small = update.len() <= INLINE_CHECK_BYTES;
    let check = move || {
        guard::check_update_v1(&update, &GuardLimits::default()).map_err(|_| CloseReason::Hostile)
    };
    if small {
        check()
    } else {
        blocking(check)
            .await
            .unwrap_or(Err(CloseReason::InvalidData))
    }
}

/// Updates up to this size are checked and applied on the async thread when the
/// document is free: the guard bounds their work to microseconds, and a trip
/// through the blocking pool would cost more than the work itself.
const INLINE_APPLY_BYTES: usize = 1024;

/// How many times a small update that finds the document busy lets the other
/// tasks run and tries again before it goes to the blocking pool.
const BUSY_DOC_YIELDS: usize = 2;

/// Guards and integrates a v1 update, then marks the board changed. Small
/// updates run inline when the document is free; anything else on the blocking
/// pool. `Err` is the close reason for the sender.
pub async fn apply_update(board: Arc<LiveBoard>, update: Bytes) -> Result<Applied, CloseReason> {
    let result = apply_update_with(Arc::clone(&board), update, || {}).await;
    if result == Ok(Applied::Changed) {
        board.mark_changed();
    }
    result
}

/// [`apply_update`] without marking the board changed, running `before_wait`
/// before any trip to the pool.
async fn apply_update_with(
    board: Arc<LiveBoard>,
    update: Bytes,
    before_wait: impl FnOnce(),
) -> Result<Applied, CloseReason> {
    let mut before_wait = Some(before_wait);
    let inline = if update.len() <= INLINE_APPLY_BYTES {
        match guarded(&update) {
            Err(reason) => Some(Err(reason)),
            Ok(None) => Some(Ok(Applied::Empty)),
            Ok(Some(shape)) => {
                let mut attempt = board.try_apply_update(&update, &shape).map(outcome);
                // Busy (it passed the guard): on a busy board the holder is
                // usually another socket's update on the other thread. Letting
                // the other tasks run first and trying again costs no thread
                // hand-off, where the blocking pool costs two.
                for _ in 0..BUSY_DOC_YIELDS {
                    if attempt.is_some() {
                        break;
                    }
                    if let Some(before_wait) = before_wait.take() {
                        before_wait();
                    }
                    tokio::task::yield_now().await;
                    attempt = board.try_apply_update(&update, &shape).map(outcome);
                }
                attempt
            }
        }
    } else {
        None
    };
    match inline {
        Some(result) => result,
        None => {
            if let Some(before_wait) = before_wait.take() {
                before_wait();
            }
            let worker_board = Arc::clone(&board);
            blocking(move || match guarded(&update)? {
                Some(shape) => outcome(worker_board.apply_update(&update, &shape)),
                None => Ok(Applied::Empty),
            })
            .await
            .unwrap_or(Err(CloseReason::InvalidData))
        }
    }
}

/// The payload guard's verdict on an update: its shape, or `None` when it
/// holds nothing (no structs, no deletions).
fn guarded(update: &[u8]) -> Result<Option<guard::UpdateShape>, CloseReason> {
    let shape = guard::check_update_v1(update, &GuardLimits::default())
        .map_err(|_| CloseReason::Hostile)?;
    Ok((!shape.is_empty).then_some(shape))
}

/// What integrating a non-empty update came to, for the session: a document
/// that rejected it closes the sender's socket (1007), as does an update
/// refused for nesting shared types too deep (counted as hostile).
fn outcome(applied: Result<(), DocError>) -> Result<Applied, CloseReason> {
    applied.map(|()| Applied::Changed).map_err(|err| match err {
        DocError::Nesting(_) => CloseReason::Hostile,
        _ => CloseReason::InvalidData,
    })
}

/// Why a REST update was not applied.
#[derive(Debug, thiserror::Error)]
pub enum ExternalUpdateError {
    /// The body is not a valid Yjs v1 update.
    #[error("the body is not a valid Yjs v1 update")]
    Invalid,
    /// The update nests shared types more than `MAX_TYPE_DEPTH` deep, or
    /// under content the board does not have; none of it was applied.
    #[error(
        "the update nests shared types more than {} levels deep, or under content the board does not have",
        super::content_json::MAX_TYPE_DEPTH
    )]
    TooDeep,
    /// The board could not be opened.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// Applied and relayed, but not made durable (the journal is backed up or
    /// the database is down): the caller may send it again.
    #[error(transparent)]
    NotDurable(#[from] JournalError),
}

impl BoardService {
    /// Applies an update that arrived outside a socket (REST): opens the board,
    /// applies, relays to its sockets, and resolves once the update is
    /// committed to the journal (the save worker compacts it later).
    pub async fn apply_external_update(
        &self,
        board_id: Uuid,
        update: Bytes,
    ) -> Result<(), ExternalUpdateError> {
        self.apply_authored_update(board_id, update, None).await
    }

    /// [`Self::apply_external_update`], noting `author` (when known) among the
    /// users whose edits the board's next save covers.
    pub async fn apply_authored_update(
        &self,
        board_id: Uuid,
        update: Bytes,
        author: Option<Uuid>,
    ) -> Result<(), ExternalUpdateError> {
        // Refuse garbage before loading the board for it.
        let checked = update.clone();
        let valid =
            blocking(move || guard::check_update_v1(&checked, &GuardLimits::default()).is_ok())
                .await
                .unwrap_or(false);
        if !valid {
            return Err(ExternalUpdateError::Invalid);
        }
        let lease = self.open(board_id).await?;
        let board = Arc::clone(lease.board());
        match apply_update_with(Arc::clone(&board), update.clone(), || {}).await {
            Ok(Applied::Changed) => {
                // Noted before the change marks the board dirty: the save that
                // change wakes covers its author.
                if let Some(author) = author {
                    board.note_author(author);
                }
                board.mark_changed();
                board.broadcast(&Bytes::from(message::encode_update(&update)), None);
                if let Some(relay) = self.relay() {
                    relay.update(board_id, &update);
                }
                // The broadcast went first: only this caller waits for the disk.
                if let Some(journal) = self.journal() {
                    journal
                        .append_durably(board_id, &board.journal_cursor, update)
                        .await?;
                }
                Ok(())
            }
            Ok(Applied::Empty) => Ok(()),
            Err(CloseReason::Hostile) => Err(ExternalUpdateError::TooDeep),
            Err(_) => Err(ExternalUpdateError::Invalid),
        }
    }

    /// The board's full content as one v1 update: the live document when the
    /// board is loaded, else the stored snapshot, else an empty update.
    pub async fn current_state(&self, board_id: Uuid) -> Result<Vec<u8>, OpenError> {
        let snapshot_of = |board: Arc<LiveBoard>| async move {
            blocking(move || board.snapshot())
                .await
                .ok_or(OpenError::Corrupt(super::DocError::Panicked))
        };
        if let Some(board) = self.loaded(board_id) {
            return snapshot_of(board).await;
        }
        // Updates not yet compacted into the snapshot (after a crash): the
        // board is loaded, which replays and compacts them.
        if let Some(journal) = self.journal() {
            if !journal.store().read(board_id, None).await?.is_empty() {
                let lease = self.open(board_id).await?;
                return snapshot_of(Arc::clone(lease.board())).await;
            }
        }
        match self.inner.store.load(board_id).await? {
            Some(stored) => Ok(stored.state),
            None => Ok(EMPTY_UPDATE.to_vec()),
        }
    }
}

/// Why a restore was not applied.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The board's current state could not be had.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// The version's state or the board's does not decode.
    #[error(transparent)]
    Content(#[from] super::content_json::ContentError),
    /// The restoring update could not be applied or made durable.
    #[error(transparent)]
    Apply(#[from] ExternalUpdateError),
    /// Computing the restore panicked.
    #[error("computing the restore failed")]
    Panicked,
}

impl BoardService {
    /// Makes the board's content equal to `version` (a v1 update of a whole
    /// document) through ordinary Yjs operations authored by `author` (see
    /// [`super::restore`]): applied, relayed and journaled like a REST update,
    /// so live clients converge and keep working. Returns whether anything
    /// changed.
    pub async fn restore_content(
        &self,
        board_id: Uuid,
        version: Vec<u8>,
        author: Uuid,
    ) -> Result<bool, RestoreError> {
        let current = self.current_state(board_id).await?;
        let update = blocking(move || super::restore::restore_update(&current, &version))
            .await
            .ok_or(RestoreError::Panicked)??;
        let Some(update) = update else {
            return Ok(false);
        };
        self.apply_authored_update(board_id, Bytes::from(update), Some(author))
            .await?;
        Ok(true)
    }
}

/// Why a board's content could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum ContentReadError {
    /// The board could not be read.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// Its stored state does not decode.
    #[error(transparent)]
    Content(#[from] super::content_json::ContentError),
    /// Rendering panicked.
    #[error("rendering the content failed")]
    Panicked,
}

impl BoardService {
    /// The board's content as JSON (see [`super::content_json`]): rendered
    /// from the live document when the board is loaded here, else from its
    /// stored state. The work runs on the blocking pool.
    pub async fn content_json(
        &self,
        board_id: Uuid,
        overrides: super::content_json::KindOverrides,
    ) -> Result<serde_json::Value, ContentReadError> {
        if let Some(board) = self.loaded(board_id) {
            return Ok(blocking(move || {
                board.read_doc(|doc| super::content_json::render_doc(doc, &overrides))
            })
            .await
            .ok_or(ContentReadError::Panicked)??);
        }
        let state = self.current_state(board_id).await?;
        Ok(
            blocking(move || super::content_json::render_update(&state, &overrides))
                .await
                .ok_or(ContentReadError::Panicked)??,
        )
    }
}

/// A v1 update with no structs and no deletions.
pub const EMPTY_UPDATE: [u8; 2] = [0, 0];

#[cfg(test)]
mod tests {
    use std::{
        sync::atomic::{AtomicUsize, Ordering},
        time::Duration,
    };

    use yrs::{updates::decoder::Decode, GetString, ReadTxn, Text, Transact, Update};

    use super::*;

    fn text_update(text: &str) -> Vec<u8> {
        let doc = yrs::Doc::new();
        let root = doc.get_or_insert_text("text");
        root.insert(&mut doc.transact_mut(), 0, text);
        let update = doc
            .transact()
            .encode_state_as_update_v1(&yrs::StateVector::default());
        update
    }

    #[test]
    fn the_fresh_step_1_is_what_a_client_with_an_empty_document_sends() {
        let empty = yrs::Doc::new();
        let state_vector =
            yrs::updates::encoder::Encode::encode_v1(&empty.transact().state_vector());
        assert_eq!(message::encode_sync_step1(&state_vector), FRESH_SYNC_STEP1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_small_update_finding_the_document_held_is_applied_once_it_is_free() {
        let board = Arc::new(LiveBoard::from_snapshot(Uuid::new_v4(), None).expect("board"));
        board.decode();
        let (held_tx, held_rx) = std::sync::mpsc::channel();
        let holder = {
            let board = Arc::clone(&board);
            std::thread::spawn(move || {
                let _doc = board.hold_doc();
                held_tx.send(()).expect("test waits");
                std::thread::sleep(Duration::from_millis(50));
            })
        };
        held_rx.recv().expect("holder started");
        let waits = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&waits);
        let applied = apply_update_with(
            Arc::clone(&board),
            Bytes::from(text_update("hi")),
            move || {
                counted.fetch_add(1, Ordering::SeqCst);
            },
        )
        .await;
        holder.join().expect("holder");
        assert_eq!(applied, Ok(Applied::Changed));
        // What the session held back was released once, before any waiting.
        assert_eq!(waits.load(Ordering::SeqCst), 1);
        let snapshot = board.snapshot();
        let doc = yrs::Doc::new();
        doc.transact_mut()
            .apply_update(Update::decode_v1(&snapshot).expect("snapshot"))
            .expect("applies");
        let text = doc.get_or_insert_text("text");
        assert_eq!(text.get_string(&doc.transact()), "hi");
    }
}

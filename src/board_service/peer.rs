//! One connected socket as the board service sees it: who it is, what it may do,
//! its bounded outbound queue, and the signal that closes it.
//!
//! The queue and the close decision live inside the [`Peer`] itself (one lock,
//! two `Notify`s) rather than in channels: an idle socket then costs no queue
//! blocks or channel allocations, and the writer takes everything queued in
//! one step instead of one frame at a time. Frames are prepared for the wire
//! as they are queued, in the format the transport gave the peer (see
//! [`WireQueue`]), so a delivery costs one copy.

use std::{
    mem,
    sync::{
        atomic::{AtomicU64, AtomicU8, Ordering},
        Arc, Mutex, MutexGuard, PoisonError,
    },
};

use bytes::Bytes;
use tokio::sync::Notify;
use uuid::Uuid;

use super::wire::{WireFormat, WireQueue};
use crate::{metrics::MessageTally, role::Role};

/// Why the server closes a socket (the transport maps each to its close code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The server is shutting down.
    GoingAway,
    /// The client broke the transport's protocol.
    ProtocolError,
    /// A text message (the sync protocol is binary).
    UnsupportedData,
    /// A frame did not decode or yrs rejected its update.
    InvalidData,
    /// The payload guard refused a Yjs payload (bad lengths, counts, nesting).
    Hostile,
    /// A policy was broken (e.g. a message in too many fragments).
    PolicyViolation,
    /// An awareness message named too many clients, or the socket kept
    /// naming clients it does not own.
    AwarenessPolicy,
    /// More messages than `RATE_WS_MSGS_PER_SEC` allows.
    RateLimited,
    /// A message larger than `MAX_MESSAGE_BYTES`.
    TooLarge,
    /// The server failed (e.g. the board could not be loaded).
    InternalError,
    /// The client could not keep up with its board's traffic.
    SlowClient,
    /// The user's membership of the board was removed.
    MemberRemoved,
    /// The board was deleted.
    BoardDeleted,
}

/// How much a socket may have queued before it counts as too slow.
#[derive(Debug, Clone, Copy)]
pub struct QueueLimits {
    /// Frames waiting to be written.
    pub frames: usize,
    /// Bytes waiting to be written.
    pub bytes: usize,
}

static NEXT_PEER_ID: AtomicU64 = AtomicU64::new(1);

/// Frames ready to write with their count by message type (for the metrics,
/// added once they are written). A writer takes its socket's whole queue as
/// one; a broadcast prepares its frames once as one and queues that to every
/// recipient.
#[derive(Debug, Default)]
pub struct Batch {
    /// The frames, ready to write.
    pub queue: WireQueue,
    /// The messages in `queue`, by type.
    pub tally: MessageTally,
}

impl Batch {
    /// `frames`, prepared in `format`.
    pub fn of(format: &dyn WireFormat, frames: &[Bytes]) -> Self {
        let mut batch = Self::default();
        for frame in frames {
            batch.queue.push(format, frame);
            batch.tally.add(frame);
        }
        batch
    }
}

/// The board-side handle of one socket, shared with the socket's tasks.
#[derive(Debug)]
pub struct Peer {
    /// Unique within the process.
    pub id: u64,
    /// The authenticated user.
    pub user_id: Uuid,
    role: AtomicU8,
    limits: QueueLimits,
    /// How the socket's transport prepares frames for the wire.
    wire: &'static dyn WireFormat,
    queue: Mutex<Queue>,
    /// Wakes the writer: frames queued, a close decided, or the socket left.
    /// One waiter, so a wake-up given while it is busy is kept for its next wait.
    wake_writer: Notify,
    /// Wakes everything waiting for the close decision.
    closed: Notify,
}

#[derive(Debug, Default)]
struct Queue {
    batch: Batch,
    /// Frames queued or taken by the writer and not yet written.
    pending_frames: usize,
    /// Bytes of those frames.
    pending_bytes: usize,
    close: Option<CloseReason>,
    /// The socket left its board: nothing more will be queued.
    finished: bool,
    /// The payload of the client's latest ping, not yet answered.
    pong: Option<Bytes>,
    /// The client closed with this code: echo it once the queue is written.
    client_close: Option<u16>,
}

/// How the writer ends the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closing {
    /// The server closes it for this reason.
    Server(CloseReason),
    /// The client closed it with this close code: answer with the same.
    EchoClient(u16),
}

/// What the writer should do next (see [`Peer::take_frames`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriterStep {
    /// Frames were moved into the batch (which may be empty when there is
    /// only a pong): write the pong, if any, and them, then call [`Peer::written`].
    Write(Option<Bytes>),
    /// Nothing to write: wait for [`Peer::writer_wakeup`].
    Wait,
    /// Send this close (if any; none: just end the connection) and stop;
    /// queued frames are dropped.
    Close(Option<Closing>),
}

fn lock(queue: &Mutex<Queue>) -> MutexGuard<'_, Queue> {
    // Only plain bookkeeping happens under this lock; a panic there leaves the
    // queue usable, so carry on with it.
    queue.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Peer {
    /// A new peer, whose frames are prepared in `wire`'s format.
    pub fn new(
        user_id: Uuid,
        role: Role,
        limits: QueueLimits,
        wire: &'static dyn WireFormat,
    ) -> Arc<Self> {
        Arc::new(Self {
            id: NEXT_PEER_ID.fetch_add(1, Ordering::Relaxed),
            user_id,
            role: AtomicU8::new(encode_role(role)),
            limits: QueueLimits {
                frames: limits.frames.max(1),
                bytes: limits.bytes,
            },
            wire,
            queue: Mutex::new(Queue::default()),
            wake_writer: Notify::new(),
            closed: Notify::new(),
        })
    }

    /// The user's current role on the board (it can change while connected).
    pub fn role(&self) -> Role {
        decode_role(self.role.load(Ordering::Acquire))
    }

    /// How this socket's frames are prepared for the wire.
    pub fn wire_format(&self) -> &'static dyn WireFormat {
        self.wire
    }

    /// Changes the role of a live socket.
    pub fn set_role(&self, role: Role) {
        self.role.store(encode_role(role), Ordering::Release);
    }

    /// Queues a frame without waiting. A socket whose queue is full is closed
    /// with 1013 rather than buffered without bound or silently skipped.
    pub fn send(&self, frame: Bytes) -> bool {
        self.send_batch(&Batch::of(self.wire, std::slice::from_ref(&frame)))
    }

    /// Queues frames, already prepared, in order under one lock, waking the
    /// writer at most once. All or nothing: a batch that does not fit closes
    /// the socket with 1013.
    pub fn send_batch(&self, batch: &Batch) -> bool {
        let mut queue = lock(&self.queue);
        if queue.close.is_some() || queue.finished {
            return false;
        }
        let pending = queue.pending_frames + batch.queue.frames();
        let bytes = queue.pending_bytes + batch.queue.payload_bytes();
        // Frames larger than the byte budget still go through when the queue
        // is otherwise empty: a big board must reach a client that keeps up.
        if pending > self.limits.frames || (bytes > self.limits.bytes && queue.pending_bytes != 0) {
            drop(queue);
            self.close(CloseReason::SlowClient);
            return false;
        }
        queue.pending_frames = pending;
        queue.pending_bytes = bytes;
        // The writer is woken once per batch: while frames wait, it has been.
        let first = queue.batch.queue.is_empty();
        queue.batch.queue.append(&batch.queue);
        queue.batch.tally.merge(&batch.tally);
        drop(queue);
        if first {
            self.wake_writer.notify_one();
        }
        true
    }

    /// Asks the socket to close with `reason`; the first reason given wins.
    pub fn close(&self, reason: CloseReason) {
        {
            let mut queue = lock(&self.queue);
            if queue.close.is_some() {
                return;
            }
            queue.close = Some(reason);
        }
        self.closed.notify_waiters();
        self.wake_writer.notify_one();
    }

    /// Whether a close was requested.
    pub fn is_closing(&self) -> bool {
        self.close_reason().is_some()
    }

    /// The close requested, if any.
    pub fn close_reason(&self) -> Option<CloseReason> {
        lock(&self.queue).close
    }

    /// Resolves once a close is requested.
    pub async fn closed(&self) -> CloseReason {
        loop {
            let notified = self.closed.notified();
            tokio::pin!(notified);
            // Registered before the check, so a close in between still wakes us.
            notified.as_mut().enable();
            if let Some(reason) = self.close_reason() {
                return reason;
            }
            notified.await;
        }
    }

    /// Answers the client's ping (only the latest unanswered one, as RFC 6455
    /// allows), ahead of queued frames.
    pub fn pong(&self, payload: Bytes) {
        let mut queue = lock(&self.queue);
        if queue.close.is_some() || queue.finished {
            return;
        }
        queue.pong = Some(payload);
        drop(queue);
        self.wake_writer.notify_one();
    }

    /// The client sent a close frame with `code`: once the socket has left its
    /// board and its queue is written, the writer answers with the same code.
    pub fn client_closed(&self, code: u16) {
        lock(&self.queue).client_close = Some(code);
    }

    /// The socket left its board: the writer ends once the queue is written.
    pub fn finish(&self) {
        lock(&self.queue).finished = true;
        self.wake_writer.notify_one();
    }

    /// For the socket's writer: moves every queued frame into `batch` (which
    /// it must have emptied) and says what to do.
    pub fn take_frames(&self, batch: &mut Batch) -> WriterStep {
        let mut queue = lock(&self.queue);
        if let Some(reason) = queue.close {
            return WriterStep::Close(Some(Closing::Server(reason)));
        }
        if queue.batch.queue.is_empty() && queue.pong.is_none() {
            return if queue.finished {
                WriterStep::Close(queue.client_close.map(Closing::EchoClient))
            } else {
                WriterStep::Wait
            };
        }
        mem::swap(&mut queue.batch, batch);
        WriterStep::Write(queue.pong.take())
    }

    /// For the socket's writer: `batch` was written (or dropped), which makes
    /// room in the queue. Empties `batch` for the next [`Peer::take_frames`].
    pub fn written(&self, batch: &mut Batch) {
        let (frames, bytes) = (batch.queue.frames(), batch.queue.payload_bytes());
        batch.queue.clear();
        batch.tally = MessageTally::default();
        let mut queue = lock(&self.queue);
        queue.pending_frames = queue.pending_frames.saturating_sub(frames);
        queue.pending_bytes = queue.pending_bytes.saturating_sub(bytes);
    }

    /// Frames queued and not yet taken by the writer.
    pub fn queued_frames(&self) -> usize {
        lock(&self.queue).batch.queue.frames()
    }

    /// For the socket's writer: resolves when there may be something to do.
    pub async fn writer_wakeup(&self) {
        self.wake_writer.notified().await;
    }
}

fn encode_role(role: Role) -> u8 {
    match role {
        Role::Owner => 0,
        Role::Editor => 1,
        Role::Viewer => 2,
    }
}

fn decode_role(value: u8) -> Role {
    match value {
        0 => Role::Owner,
        1 => Role::Editor,
        _ => Role::Viewer,
    }
}

#[cfg(test)]
mod tests {
    use super::{super::wire::Unframed, *};

    fn limits(frames: usize, bytes: usize) -> QueueLimits {
        QueueLimits { frames, bytes }
    }

    #[test]
    fn a_full_frame_queue_closes_the_socket_as_slow() {
        let peer = Peer::new(Uuid::new_v4(), Role::Editor, limits(2, 1 << 20), &Unframed);
        assert!(peer.send(Bytes::from_static(b"a")));
        assert!(peer.send(Bytes::from_static(b"b")));
        assert!(!peer.send(Bytes::from_static(b"c")));
        assert_eq!(peer.close_reason(), Some(CloseReason::SlowClient));
        assert!(
            !peer.send(Bytes::from_static(b"d")),
            "nothing queued after close"
        );
    }

    #[test]
    fn a_batch_is_queued_whole_or_closes_the_socket() {
        let peer = Peer::new(Uuid::new_v4(), Role::Editor, limits(3, 1 << 20), &Unframed);
        let frames = Batch::of(
            &Unframed,
            &[Bytes::from_static(b"a"), Bytes::from_static(b"b")],
        );
        assert!(peer.send_batch(&frames));
        let mut batch = Batch::default();
        assert_eq!(peer.take_frames(&mut batch), WriterStep::Write(None));
        assert_eq!(batch.queue.frames(), 2);
        assert_eq!(batch.queue.payload_bytes(), 2);
        assert!(!peer.send_batch(&frames), "2 taken + 2 more is over 3");
        assert_eq!(peer.close_reason(), Some(CloseReason::SlowClient));
    }

    #[test]
    fn queued_bytes_over_budget_close_the_socket() {
        let peer = Peer::new(Uuid::new_v4(), Role::Editor, limits(100, 10), &Unframed);
        assert!(
            peer.send(Bytes::from(vec![0; 20])),
            "a lone large frame passes"
        );
        assert!(!peer.send(Bytes::from(vec![0; 1])));
        assert_eq!(peer.close_reason(), Some(CloseReason::SlowClient));
    }

    #[test]
    fn frames_being_written_still_count_until_written() {
        let peer = Peer::new(Uuid::new_v4(), Role::Editor, limits(2, 1 << 20), &Unframed);
        let mut batch = Batch::default();
        assert!(peer.send(Bytes::from_static(b"a")));
        assert!(peer.send(Bytes::from_static(b"b")));
        assert_eq!(peer.take_frames(&mut batch), WriterStep::Write(None));
        assert_eq!(batch.queue.frames(), 2);
        assert!(
            !peer.send(Bytes::from_static(b"c")),
            "the taken batch is not written yet"
        );
        assert_eq!(peer.close_reason(), Some(CloseReason::SlowClient));

        let peer = Peer::new(Uuid::new_v4(), Role::Editor, limits(2, 1 << 20), &Unframed);
        assert!(peer.send(Bytes::from_static(b"a")));
        let mut batch = Batch::default();
        assert_eq!(peer.take_frames(&mut batch), WriterStep::Write(None));
        peer.written(&mut batch);
        assert!(peer.send(Bytes::from_static(b"b")));
        assert!(peer.send(Bytes::from_static(b"c")));
        assert_eq!(peer.close_reason(), None);
    }

    #[test]
    fn the_writer_drains_after_the_socket_leaves_but_not_after_a_close() {
        let peer = Peer::new(Uuid::new_v4(), Role::Editor, limits(8, 1 << 20), &Unframed);
        let mut batch = Batch::default();
        assert_eq!(peer.take_frames(&mut batch), WriterStep::Wait);
        assert!(peer.send(Bytes::from_static(b"a")));
        peer.finish();
        assert!(
            !peer.send(Bytes::from_static(b"b")),
            "nothing after leaving"
        );
        assert_eq!(peer.take_frames(&mut batch), WriterStep::Write(None));
        peer.written(&mut batch);
        assert_eq!(peer.take_frames(&mut batch), WriterStep::Close(None));

        let peer = Peer::new(Uuid::new_v4(), Role::Editor, limits(8, 1 << 20), &Unframed);
        assert!(peer.send(Bytes::from_static(b"a")));
        peer.close(CloseReason::BoardDeleted);
        assert_eq!(
            peer.take_frames(&mut batch),
            WriterStep::Close(Some(Closing::Server(CloseReason::BoardDeleted)))
        );
    }

    #[tokio::test]
    async fn waiting_for_the_close_sees_a_close_requested_before_or_during_the_wait() {
        let peer = Peer::new(Uuid::new_v4(), Role::Editor, limits(8, 1 << 20), &Unframed);
        let waiter = tokio::spawn({
            let peer = Arc::clone(&peer);
            async move { peer.closed().await }
        });
        tokio::task::yield_now().await;
        peer.close(CloseReason::GoingAway);
        assert_eq!(waiter.await.ok(), Some(CloseReason::GoingAway));
        assert_eq!(peer.closed().await, CloseReason::GoingAway);
    }

    #[test]
    fn a_pong_goes_out_alone_and_a_client_close_is_echoed_after_the_queue() {
        let peer = Peer::new(Uuid::new_v4(), Role::Editor, limits(8, 1 << 20), &Unframed);
        let mut batch = Batch::default();
        peer.pong(Bytes::from_static(b"p1"));
        peer.pong(Bytes::from_static(b"p2"));
        assert_eq!(
            peer.take_frames(&mut batch),
            WriterStep::Write(Some(Bytes::from_static(b"p2"))),
            "only the latest ping is answered"
        );
        assert!(batch.queue.is_empty());
        assert!(peer.send(Bytes::from_static(b"a")));
        peer.client_closed(4000);
        peer.finish();
        assert_eq!(peer.take_frames(&mut batch), WriterStep::Write(None));
        peer.written(&mut batch);
        assert_eq!(
            peer.take_frames(&mut batch),
            WriterStep::Close(Some(Closing::EchoClient(4000)))
        );
    }

    #[test]
    fn the_first_close_reason_wins_and_roles_change_live() {
        let peer = Peer::new(Uuid::new_v4(), Role::Editor, limits(4, 100), &Unframed);
        peer.set_role(Role::Viewer);
        assert_eq!(peer.role(), Role::Viewer);
        peer.close(CloseReason::MemberRemoved);
        peer.close(CloseReason::GoingAway);
        assert_eq!(peer.close_reason(), Some(CloseReason::MemberRemoved));
    }
}

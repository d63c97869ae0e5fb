//! The journal writer: one task that appends every board's accepted updates
//! in group commits.
//!
//! An accepted update is pushed onto a queue (a lock and a `Vec` push: the
//! fan-out never waits for the disk). The writer takes everything queued,
//! writes it as one transaction (one row per board), and takes whatever queued
//! meanwhile as the next one. The batch size follows the load by itself: a
//! quiet server commits each update at once; a busy one commits many per
//! transaction, so a commit's cost is shared and the queue never builds up
//! while the database keeps pace.
//!
//! An update from a socket waits for its commit at most [`GATHER_WINDOW`]
//! plus the commit itself: the writer, woken by the first update of an empty
//! queue, lets the window pass before it commits, so one transaction carries
//! everything that arrived in it. Committing each update at once would cost a
//! transaction (and a thread hand-off to the database pool) per update on a
//! quiet server and one per few updates on a busy one: measured, that doubled
//! the server's CPU per delivered update in a fan-out. An update whose sender
//! waits for its commit (a REST `204`) ends the window at once and is
//! committed with everything queued before it. With `DURABILITY=power` the
//! window also bounds the fsyncs to one per window. Either way an update is
//! durable within the window plus a commit or two (a few milliseconds on
//! SQLite, see the README's figures), well inside the 50 ms promise.
//!
//! The queue is bounded ([`JournalLimits::max_queued_bytes`]). When the
//! database is slow or down and it fills, further appends are refused: a REST
//! update is answered 503 (it was not made durable), a socket update stays
//! applied and relayed and is made durable by the board's next save (as it
//! would be without a journal); both are counted. A failed commit is not
//! retried row by row: its REST callers get the error, its socket updates are
//! left to the save, and the writer waits before the next commit (backoff).

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicI64, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use bytes::Bytes;
use tokio::{
    sync::{oneshot, Notify},
    task::JoinHandle,
    time::Instant,
};
use uuid::Uuid;

use super::{
    journal::{frame_update, JournalError, JournalStore, NewJournalRow},
    lock,
};

/// How long the writer gathers socket updates before it commits them (see the
/// module docs).
pub const GATHER_WINDOW: Duration = Duration::from_millis(25);
/// First wait after a failed commit; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// What an entry costs in the queue besides its bytes.
const ENTRY_OVERHEAD: usize = 64;

/// Bounds of the writer's queue.
#[derive(Debug, Clone, Copy)]
pub struct JournalLimits {
    /// The most update bytes (plus a small per-update overhead) waiting for a
    /// commit; appends beyond it are refused.
    pub max_queued_bytes: usize,
}

/// Where a board's own journal rows stand: the highest id of this instance's
/// rows of the board that are committed. Shared between the writer (which
/// raises it after each commit) and the board's saves (which read it before
/// encoding the snapshot: every row up to it is then in the snapshot).
#[derive(Debug, Default)]
pub struct JournalCursor(AtomicI64);

impl JournalCursor {
    /// The highest committed own row id (0: none yet).
    pub fn committed(&self) -> i64 {
        self.0.load(Ordering::Acquire)
    }

    fn advance(&self, id: i64) {
        self.0.fetch_max(id, Ordering::AcqRel);
    }
}

type Ack = oneshot::Sender<Result<(), JournalError>>;

struct Entry {
    board_id: Uuid,
    cursor: Arc<JournalCursor>,
    update: Bytes,
    queued_at: Instant,
    ack: Option<Ack>,
}

#[derive(Default)]
struct Queue {
    entries: Vec<Entry>,
    bytes: usize,
    /// A commit is running (its entries are out of `entries`).
    committing: bool,
    /// An entry whose sender waits for its commit is queued: commit now.
    urgent: bool,
    closed: bool,
}

struct Inner {
    store: Arc<dyn JournalStore>,
    instance: Uuid,
    limits: JournalLimits,
    queue: Mutex<Queue>,
    /// Wakes the writer: the first entry of an empty queue, the first entry
    /// whose sender waits for its commit, or closing.
    wake: Notify,
    /// Told after each commit (for [`JournalWriter::flush`]).
    committed: Notify,
}

/// The handle appends go through. Cheap to clone.
#[derive(Clone)]
pub struct JournalWriter {
    inner: Arc<Inner>,
    task: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl std::fmt::Debug for JournalWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournalWriter")
            .field("instance", &self.inner.instance)
            .finish_non_exhaustive()
    }
}

impl JournalWriter {
    /// Starts the writer task (on the current Tokio runtime), writing as a
    /// new instance (a random id of this process).
    pub fn start(store: Arc<dyn JournalStore>, limits: JournalLimits) -> Self {
        let inner = Arc::new(Inner {
            store,
            instance: Uuid::new_v4(),
            limits,
            queue: Mutex::new(Queue::default()),
            wake: Notify::new(),
            committed: Notify::new(),
        });
        let task = tokio::spawn(run(Arc::clone(&inner)));
        Self {
            inner,
            task: Arc::new(Mutex::new(Some(task))),
        }
    }

    /// This process's instance id, as written in its rows.
    pub fn instance(&self) -> Uuid {
        self.inner.instance
    }

    /// The store rows are written to (and read from).
    pub fn store(&self) -> &Arc<dyn JournalStore> {
        &self.inner.store
    }

    /// Queues an accepted update of a board; never waits. `Err` when the
    /// queue is full or closed (the update is then not journaled: it stays
    /// in the live document and the board's next save covers it).
    pub fn append(
        &self,
        board_id: Uuid,
        cursor: &Arc<JournalCursor>,
        update: Bytes,
    ) -> Result<(), JournalError> {
        let refused = self.push(board_id, cursor, update, None);
        if let Err(err) = &refused {
            crate::metrics::journal_refused(matches!(err, JournalError::Full));
        }
        refused
    }

    /// Queues an update and resolves once it is committed (for callers that
    /// answer only then: a REST `204`).
    pub async fn append_durably(
        &self,
        board_id: Uuid,
        cursor: &Arc<JournalCursor>,
        update: Bytes,
    ) -> Result<(), JournalError> {
        let (tx, rx) = oneshot::channel();
        if let Err(err) = self.push(board_id, cursor, update, Some(tx)) {
            crate::metrics::journal_refused(matches!(err, JournalError::Full));
            return Err(err);
        }
        rx.await.unwrap_or(Err(JournalError::Stopped))
    }

    fn push(
        &self,
        board_id: Uuid,
        cursor: &Arc<JournalCursor>,
        update: Bytes,
        ack: Option<Ack>,
    ) -> Result<(), JournalError> {
        let cost = update.len() + ENTRY_OVERHEAD;
        let wake = {
            let mut queue = lock(&self.inner.queue);
            if queue.closed {
                return Err(JournalError::Stopped);
            }
            // One update larger than the bound still goes in alone, or a
            // maximal message could never be journaled.
            if queue.bytes > 0 && queue.bytes + cost > self.inner.limits.max_queued_bytes {
                return Err(JournalError::Full);
            }
            queue.bytes += cost;
            let urgent = ack.is_some() && !queue.urgent;
            queue.urgent |= ack.is_some();
            queue.entries.push(Entry {
                board_id,
                cursor: Arc::clone(cursor),
                update,
                queued_at: Instant::now(),
                ack,
            });
            queue.entries.len() == 1 || urgent
        };
        if wake {
            self.inner.wake.notify_one();
        }
        Ok(())
    }

    /// Resolves once everything queued before the call is committed (or its
    /// commit failed).
    pub async fn flush(&self) {
        loop {
            let committed = self.inner.committed.notified();
            tokio::pin!(committed);
            committed.as_mut().enable();
            {
                let queue = lock(&self.inner.queue);
                if queue.entries.is_empty() && !queue.committing {
                    return;
                }
            }
            committed.await;
        }
    }

    /// Refuses further appends, commits what is queued, and stops the writer.
    pub async fn close(&self) {
        lock(&self.inner.queue).closed = true;
        self.inner.wake.notify_one();
        let task = lock(&self.task).take();
        if let Some(task) = task {
            if let Err(err) = task.await {
                tracing::error!(%err, "journal writer failed");
            }
        }
    }
}

async fn run(inner: Arc<Inner>) {
    let mut backoff: Option<Duration> = None;
    loop {
        let batch = {
            let mut queue = lock(&inner.queue);
            if queue.entries.is_empty() {
                if queue.closed {
                    return;
                }
                None
            } else {
                let gather_until = queue.entries[0].queued_at + GATHER_WINDOW;
                if queue.urgent || queue.closed || Instant::now() >= gather_until {
                    queue.committing = true;
                    queue.urgent = false;
                    // The batch's bytes stay counted until its commit ends:
                    // while the database hangs, what waits in a commit is
                    // held as surely as what waits in the queue.
                    Some(Ok((queue.bytes, std::mem::take(&mut queue.entries))))
                } else {
                    Some(Err(gather_until))
                }
            }
        };
        let (taken_bytes, batch) = match batch {
            Some(Ok(taken)) => taken,
            Some(Err(gather_until)) => {
                // Gathering: an urgent entry or closing ends the window early.
                tokio::select! {
                    () = tokio::time::sleep_until(gather_until) => {}
                    () = inner.wake.notified() => {}
                }
                continue;
            }
            None => {
                // A permit stored by a push between the check and here wakes us at once.
                inner.wake.notified().await;
                continue;
            }
        };
        let ok = commit(&inner, batch).await;
        {
            let mut queue = lock(&inner.queue);
            queue.committing = false;
            queue.bytes -= taken_bytes;
        }
        inner.committed.notify_waiters();
        if ok {
            backoff = None;
        } else {
            let wait = backoff.map_or(FIRST_BACKOFF, |last| (last * 2).min(MAX_BACKOFF));
            backoff = Some(wait);
            tokio::time::sleep(wait).await;
        }
    }
}

/// Writes one batch as one transaction and tells its waiters. Returns whether
/// it committed.
async fn commit(inner: &Inner, batch: Vec<Entry>) -> bool {
    let started = Instant::now();
    // One row per board, its updates in arrival order.
    let mut rows: Vec<NewJournalRow> = Vec::new();
    let mut cursors: HashMap<Uuid, Arc<JournalCursor>> = HashMap::new();
    let mut row_of: HashMap<Uuid, usize> = HashMap::new();
    let mut bytes = 0usize;
    for entry in &batch {
        let index = *row_of.entry(entry.board_id).or_insert_with(|| {
            rows.push(NewJournalRow {
                board_id: entry.board_id,
                updates: Vec::new(),
            });
            cursors.insert(entry.board_id, Arc::clone(&entry.cursor));
            rows.len() - 1
        });
        frame_update(&mut rows[index].updates, &entry.update);
        bytes += entry.update.len();
    }
    let row_count = rows.len();
    let result = inner.store.append(inner.instance, rows).await;
    let committed_at = Instant::now();
    match result {
        Ok(written) => {
            let mut present = HashMap::with_capacity(written.len());
            for (board_id, id) in written {
                if let Some(cursor) = cursors.get(&board_id) {
                    cursor.advance(id);
                }
                present.insert(board_id, ());
            }
            let oldest = batch
                .iter()
                .map(|entry| entry.queued_at)
                .min()
                .unwrap_or(started);
            crate::metrics::journal_commit(
                batch.len(),
                bytes,
                committed_at - started,
                committed_at - oldest,
            );
            for entry in batch {
                if let Some(ack) = entry.ack {
                    let outcome = if present.contains_key(&entry.board_id) {
                        Ok(())
                    } else {
                        Err(JournalError::BoardGone)
                    };
                    let _ = ack.send(outcome);
                }
            }
            true
        }
        Err(err) => {
            crate::metrics::journal_commit_failed();
            tracing::warn!(%err, updates = batch.len(), rows = row_count,
                "journal commit failed; these updates are durable only once their boards are saved");
            for entry in batch {
                if let Some(ack) = entry.ack {
                    let _ = ack.send(Err(err.clone()));
                }
            }
            false
        }
    }
}

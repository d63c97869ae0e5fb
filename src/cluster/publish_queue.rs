//! The way out to Redis: a bounded queue that callers push to without ever
//! waiting, and the task that publishes it in pipelined batches.
//!
//! A board must never wait for Redis, so a message that does not fit the
//! queue, or that finds no connection, is dropped (and counted); the
//! anti-entropy exchange brings the other instances up to date afterwards.
//!
//! PUBLISH answers how many subscribers received a message: for summaries,
//! that count tells [`Sharing`] whether another instance follows the board.

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc,
};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{link::Connection, sharing::Sharing};
use crate::metrics;

/// Most messages waiting to be published.
const QUEUE_MESSAGES: usize = 4096;
/// Most messages sent in one pipeline.
const BATCH: usize = 64;
/// How long one pipeline may take before the connection is given up.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(5);

/// One message for one channel.
#[derive(Debug)]
pub struct Outgoing {
    /// The channel.
    pub channel: String,
    /// The encoded envelope.
    pub payload: Vec<u8>,
    /// The message kind (metrics label).
    pub kind: &'static str,
    /// The board whose sharing the number of receivers tells (summaries,
    /// which are only sent once this instance follows the board's channel).
    pub counts_for: Option<Uuid>,
}

/// The sending side, shared by every caller.
#[derive(Debug)]
pub struct PublishQueue {
    tx: mpsc::Sender<Outgoing>,
    /// Bytes queued now, bounded by `max_bytes` (a few huge updates must not
    /// pile up behind a slow connection any more than many small ones).
    queued_bytes: Arc<AtomicUsize>,
    max_bytes: usize,
}

/// The receiving side, for [`run`].
#[derive(Debug)]
pub struct PublishQueueReceiver {
    rx: mpsc::Receiver<Outgoing>,
    queued_bytes: Arc<AtomicUsize>,
}

/// A queue holding at most `max_bytes` of payloads.
pub fn publish_queue(max_bytes: usize) -> (PublishQueue, PublishQueueReceiver) {
    let (tx, rx) = mpsc::channel(QUEUE_MESSAGES);
    let queued_bytes = Arc::new(AtomicUsize::new(0));
    (
        PublishQueue {
            tx,
            queued_bytes: Arc::clone(&queued_bytes),
            max_bytes,
        },
        PublishQueueReceiver { rx, queued_bytes },
    )
}

impl PublishQueue {
    /// Queues a message, or drops it when the queue is full. Never waits.
    pub fn push(&self, message: Outgoing) {
        let len = message.payload.len();
        let before = self.queued_bytes.fetch_add(len, Ordering::AcqRel);
        if before > 0 && before + len > self.max_bytes {
            self.queued_bytes.fetch_sub(len, Ordering::AcqRel);
            metrics::cluster_dropped("queue_full");
            return;
        }
        if self.tx.try_send(message).is_err() {
            self.queued_bytes.fetch_sub(len, Ordering::AcqRel);
            metrics::cluster_dropped("queue_full");
        }
    }
}

/// Publishes queued messages on the current connection until `cancel`.
/// Without a connection they are dropped; a failed publish drops its batch and
/// tells the link (`broken`, with the connection's number) to reconnect.
pub async fn run(
    mut queue: PublishQueueReceiver,
    connection: watch::Receiver<Connection>,
    sharing: Arc<Sharing>,
    broken: watch::Sender<u64>,
    cancel: CancellationToken,
) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let first = tokio::select! {
            () = cancel.cancelled() => return,
            message = queue.rx.recv() => match message {
                Some(message) => message,
                None => return,
            },
        };
        batch.push(first);
        while batch.len() < BATCH {
            match queue.rx.try_recv() {
                Ok(message) => batch.push(message),
                Err(_) => break,
            }
        }
        let bytes: usize = batch.iter().map(|m| m.payload.len()).sum();
        queue.queued_bytes.fetch_sub(bytes, Ordering::AcqRel);
        let current = connection.borrow().clone();
        let Some((generation, mut conn)) = current else {
            for _ in batch.drain(..) {
                metrics::cluster_dropped("disconnected");
            }
            continue;
        };
        let mut pipe = redis::pipe();
        for message in &batch {
            pipe.cmd("PUBLISH")
                .arg(&message.channel)
                .arg(message.payload.as_slice());
        }
        let sent =
            tokio::time::timeout(PUBLISH_TIMEOUT, pipe.query_async::<Vec<i64>>(&mut conn)).await;
        match sent {
            Ok(Ok(receivers)) => {
                for (message, receivers) in batch.drain(..).zip(receivers) {
                    if let Some(board_id) = message.counts_for {
                        sharing.reached(board_id, receivers);
                    }
                    metrics::cluster_message("published", message.kind);
                }
            }
            Ok(Err(_)) | Err(_) => {
                // The link logs the disconnection once; here it is only counted.
                for _ in batch.drain(..) {
                    metrics::cluster_dropped("publish_failed");
                }
                broken.send_replace(generation);
            }
        }
    }
}

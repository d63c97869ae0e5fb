//! What other instances' board messages do here, and the periodic summaries.
//!
//! One task works through a bounded queue in order. A remote update or
//! awareness payload is applied only to a board loaded here (a board loaded
//! later reads the stored state and catches up through anti-entropy), passes
//! the same guard as a client's, reaches this instance's sockets, and is never
//! published again. Summaries are answered as [`super::antientropy`] decides.
//!
//! Every period, each board another instance holds too has its summary
//! published; boards held here alone have none (a newcomer's hello is
//! answered instead).

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use yrs::{updates::decoder::Decode, StateVector};

use super::{
    antientropy,
    envelope::{Message, Summary},
    sharing::Sharing,
    Publisher,
};
use crate::{
    board_service::{
        session::{apply_update, Applied},
        AwarenessAccepted, BoardService, LiveBoard,
    },
    metrics,
    protocol::{
        guard,
        message::{self, ClientMessage},
    },
};

/// Awareness payloads up to this size are parsed on the async thread.
const INLINE_AWARENESS_BYTES: usize = 64 * 1024;

/// Work for the inbox task.
#[derive(Debug)]
pub enum Job {
    /// A message another instance published on a board's channel.
    Remote {
        /// The board (from the channel name).
        board_id: Uuid,
        /// The message.
        message: Message,
    },
    /// Publish one board's summary.
    Announce {
        /// The board.
        board_id: Uuid,
        /// Ask the others for their awareness states too.
        hello: bool,
    },
    /// Publish the summary of every open board (after connecting).
    AnnounceAll {
        /// Ask the others for their awareness states too.
        hello: bool,
    },
}

/// The inbox task's state.
pub struct Inbox {
    /// The boards of this instance.
    pub service: BoardService,
    /// Where answers go.
    pub publisher: Arc<Publisher>,
    /// Which boards other instances hold too.
    pub sharing: Arc<Sharing>,
    /// Jobs from the link.
    pub jobs: mpsc::Receiver<Job>,
    /// How often every shared board's summary is published.
    pub sync_interval: Duration,
    /// Stops the task.
    pub cancel: CancellationToken,
}

/// Runs `f` on the blocking pool; `None` if it panicked.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    tokio::task::spawn_blocking(f).await.ok()
}

impl Inbox {
    /// Runs until cancelled.
    pub async fn run(mut self) {
        let mut tick = tokio::time::interval_at(
            tokio::time::Instant::now() + self.sync_interval,
            self.sync_interval,
        );
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = self.cancel.cancelled() => return,
                job = self.jobs.recv() => match job {
                    Some(job) => self.handle(job).await,
                    None => return,
                },
                _ = tick.tick() => self.announce_shared().await,
            }
        }
    }

    async fn handle(&self, job: Job) {
        match job {
            Job::Remote { board_id, message } => {
                let Some(board) = self.service.loaded(board_id) else {
                    return;
                };
                match message {
                    Message::Update(update) => remote_update(board, update).await,
                    Message::Awareness(payload) => remote_awareness(board, payload).await,
                    Message::StateVector {
                        summary,
                        reply,
                        hello,
                    } => self.summary(board, summary, reply, hello).await,
                    Message::Access(_) | Message::Leaving => {}
                }
            }
            Job::Announce { board_id, hello } => self.announce(board_id, hello).await,
            Job::AnnounceAll { hello } => self.announce_all(hello).await,
        }
    }

    async fn announce_all(&self, hello: bool) {
        for board_id in self.service.open_board_ids() {
            self.announce(board_id, hello).await;
        }
    }

    /// The periodic summaries: only boards another instance holds too. How
    /// many received each tells whether that is still so.
    async fn announce_shared(&self) {
        for board_id in self.sharing.shared_boards() {
            self.announce(board_id, false).await;
        }
    }

    /// Publishes what this instance has of a board.
    async fn announce(&self, board_id: Uuid, hello: bool) {
        let Some(board) = self.service.loaded(board_id) else {
            return;
        };
        if let Some(summary) = blocking(move || board.read_doc(antientropy::summarize)).await {
            self.publisher.to_board(
                board_id,
                &Message::StateVector {
                    summary,
                    reply: false,
                    hello,
                },
            );
        }
    }

    /// Answers another instance's summary: what it lacks, and ours if it has
    /// something we lack; our awareness states if it just joined.
    async fn summary(&self, board: Arc<LiveBoard>, summary: Summary, reply: bool, hello: bool) {
        let board_id = board.id;
        if hello {
            let payload = board
                .awareness_frame()
                .and_then(|frame| match message::decode(&frame) {
                    Ok(ClientMessage::Awareness(payload)) => Some(Bytes::copy_from_slice(payload)),
                    _ => None,
                });
            if let Some(payload) = payload {
                self.publisher
                    .to_board(board_id, &Message::Awareness(payload));
            }
        }
        let answer = blocking(move || {
            guard::check_state_vector(&summary.state_vector).ok()?;
            let remote = StateVector::decode_v1(&summary.state_vector).ok()?;
            Some(board.read_doc(|doc| antientropy::answer(doc, &remote, summary.deletes, !reply)))
        })
        .await
        .flatten();
        let Some(answer) = answer else {
            metrics::cluster_invalid();
            tracing::debug!(board.id = %board_id, "state vector from another instance refused");
            return;
        };
        // The update first: the other side reads our summary after applying it.
        if let Some(update) = answer.update {
            self.publisher
                .to_board(board_id, &Message::Update(Bytes::from(update)));
        }
        if let Some(summary) = answer.summary {
            self.publisher.to_board(
                board_id,
                &Message::StateVector {
                    summary,
                    reply: true,
                    hello: false,
                },
            );
        }
    }
}

/// Applies another instance's update like a client's (guard, yrs, dirty),
/// relays it to this instance's sockets, and publishes nothing.
async fn remote_update(board: Arc<LiveBoard>, update: Bytes) {
    let board_id = board.id;
    match apply_update(Arc::clone(&board), update.clone()).await {
        Ok(Applied::Changed) => {
            board.broadcast(&Bytes::from(message::encode_update(&update)), None);
        }
        Ok(Applied::Empty) => {}
        Err(reason) => {
            metrics::cluster_invalid();
            tracing::warn!(board.id = %board_id, ?reason, "update from another instance refused");
        }
    }
}

/// Records another instance's awareness states (so sockets joining here see
/// them) and relays to this instance's sockets what changed a state.
async fn remote_awareness(board: Arc<LiveBoard>, payload: Bytes) {
    let board_id = board.id;
    let checked = payload.clone();
    let target = Arc::clone(&board);
    let apply = move || {
        guard::parse_awareness_update(&checked)
            .ok()
            .map(|entries| target.apply_remote_awareness(&entries))
    };
    let applied = if payload.len() <= INLINE_AWARENESS_BYTES {
        apply()
    } else {
        blocking(apply).await.flatten()
    };
    let changed = match applied {
        Some(AwarenessAccepted::All) => payload,
        Some(AwarenessAccepted::Some(changed)) => Bytes::from(changed),
        Some(AwarenessAccepted::Nothing) => return,
        None => {
            metrics::cluster_invalid();
            tracing::debug!(board.id = %board_id, "awareness from another instance refused");
            return;
        }
    };
    board.broadcast(&Bytes::from(message::encode_awareness(&changed)), None);
}

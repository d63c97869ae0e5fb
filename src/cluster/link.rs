//! The connection to Redis: connect, subscribe to the control channel and to
//! the channel of every open board, read messages, and reconnect with backoff
//! (250 ms doubling to 5 s) when the connection is lost.
//!
//! Two connections: one in subscriber mode that this task reads, one
//! multiplexed connection that it hands to the publisher and to `/readyz`.
//! Connecting and losing the connection are logged once per transition.

use std::{collections::HashSet, sync::Arc, time::Duration};

use bytes::Bytes;
use futures_util::StreamExt;
use redis::{
    aio::{MultiplexedConnection, PubSubSink, PubSubStream},
    AsyncConnectionConfig, Msg,
};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{
    channels::{Channels, Target},
    envelope::{self, InstanceId, Message},
    inbox::Job,
    sharing::Sharing,
};
use crate::{board_service::BoardService, metrics};

const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Connecting, subscribing and pinging each give up after this long.
const TIMEOUT: Duration = Duration::from_secs(2);
/// A publish pipeline may carry large updates: allow it longer.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);

/// What the service asks of the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// A board was loaded: follow its channel.
    Subscribe(Uuid),
    /// A board left memory: stop following it.
    Unsubscribe(Uuid),
}

/// The current publishing connection, numbered so a failure reported for an
/// old one does not end a new one.
pub type Connection = Option<(u64, MultiplexedConnection)>;

/// The connection task's state.
pub struct Link {
    /// Where to connect.
    pub client: redis::Client,
    /// Channel names.
    pub channels: Channels,
    /// This instance (its own messages are skipped).
    pub instance: InstanceId,
    /// Learns which boards other instances hold too.
    pub sharing: Arc<Sharing>,
    /// The boards of this instance.
    pub service: BoardService,
    /// Subscriptions requested by the service.
    pub commands: mpsc::UnboundedReceiver<Command>,
    /// Publishes the current connection.
    pub connection: watch::Sender<Connection>,
    /// The number of a connection on which publishing failed.
    pub broken: watch::Receiver<u64>,
    /// Board messages for the inbox task.
    pub inbox: mpsc::Sender<Job>,
    /// How often the connection is pinged and subscriptions reconciled.
    pub check_interval: Duration,
    /// Stops the task.
    pub cancel: CancellationToken,
}

/// Why a connected session ended.
enum End {
    Cancelled,
    Lost(String),
}

impl Link {
    /// Runs until cancelled.
    pub async fn run(mut self) {
        let mut backoff = FIRST_BACKOFF;
        let mut generation = 0u64;
        // So that a failing Redis is reported once, not at every attempt.
        let mut failure_logged = false;
        let cancel = self.cancel.clone();
        loop {
            let attempt = tokio::select! {
                () = cancel.cancelled() => return,
                attempt = self.connect() => attempt,
            };
            match attempt {
                Ok((sink, stream, conn, subscribed)) => {
                    backoff = FIRST_BACKOFF;
                    if generation > 0 {
                        metrics::cluster_reconnect();
                    }
                    generation += 1;
                    self.connection.send_replace(Some((generation, conn)));
                    metrics::cluster_connected(true);
                    tracing::info!(
                        boards = subscribed.len(),
                        "connected to Redis: sharing live boards with other instances"
                    );
                    self.announce(Job::AnnounceAll { hello: true });
                    let end = self.serve(sink, stream, subscribed, generation).await;
                    self.connection.send_replace(None);
                    metrics::cluster_connected(false);
                    match end {
                        End::Cancelled => return,
                        End::Lost(reason) => {
                            tracing::warn!(%reason, "lost the connection to Redis; edits reach other instances again once it is back");
                        }
                    }
                }
                Err(err) => {
                    // Reported once per outage (a lost connection was already).
                    if generation == 0 && !failure_logged {
                        tracing::warn!(%err, "cannot connect to Redis; retrying with backoff");
                        failure_logged = true;
                    }
                    tokio::select! {
                        () = self.cancel.cancelled() => return,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// Opens both connections and subscribes to the control channel and every
    /// open board.
    async fn connect(
        &mut self,
    ) -> Result<
        (
            PubSubSink,
            PubSubStream,
            MultiplexedConnection,
            HashSet<Uuid>,
        ),
        String,
    > {
        let pubsub = tokio::time::timeout(TIMEOUT, self.client.get_async_pubsub())
            .await
            .map_err(|_| "timed out".to_owned())?
            .map_err(|err| err.to_string())?;
        let (sink, stream) = pubsub.split();
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT));
        let conn = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|err| err.to_string())?;
        // Requests made while disconnected are covered by subscribing to what
        // is open now.
        while self.commands.try_recv().is_ok() {}
        let boards: HashSet<Uuid> = self.service.open_board_ids().into_iter().collect();
        let mut names = vec![self.channels.control().to_owned()];
        names.extend(boards.iter().map(|&id| self.channels.board(id)));
        subscribe_all(&sink, names).await?;
        // Drop the permit of a failure reported for an earlier connection.
        self.broken.borrow_and_update();
        Ok((sink, stream, conn, boards))
    }

    /// Reads messages and follows board loads until the connection is lost.
    async fn serve(
        &mut self,
        mut sink: PubSubSink,
        mut stream: PubSubStream,
        mut subscribed: HashSet<Uuid>,
        generation: u64,
    ) -> End {
        let mut check = tokio::time::interval_at(
            tokio::time::Instant::now() + self.check_interval,
            self.check_interval,
        );
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let result = tokio::select! {
                () = self.cancel.cancelled() => return End::Cancelled,
                changed = self.broken.changed() => match changed {
                    Ok(()) if *self.broken.borrow_and_update() == generation => {
                        Err("publishing failed".to_owned())
                    }
                    Ok(()) => Ok(()),
                    Err(_) => return End::Cancelled,
                },
                message = stream.next() => match message {
                    Some(message) => {
                        self.receive(&message);
                        Ok(())
                    }
                    None => Err("connection closed".to_owned()),
                },
                Some(command) = self.commands.recv() => {
                    self.follow(&mut sink, &mut subscribed, command).await
                }
                _ = check.tick() => self.check(&mut sink, &mut subscribed).await,
            };
            if let Err(reason) = result {
                return End::Lost(reason);
            }
        }
    }

    /// Hands one received message on; skips our own and refuses garbage.
    fn receive(&self, message: &Msg) {
        let Some(target) = self.channels.parse(message.get_channel_name()) else {
            return;
        };
        let raw = message.get_payload_bytes();
        if envelope::sender_of(raw) == Some(self.instance) {
            return;
        }
        let envelope = match envelope::decode(&Bytes::copy_from_slice(raw)) {
            Ok(envelope) => envelope,
            Err(err) => {
                metrics::cluster_invalid();
                tracing::debug!(%err, "undecodable message from Redis");
                return;
            }
        };
        metrics::cluster_message("received", envelope.message.kind());
        match (target, envelope.message) {
            (Target::Control, Message::Access(event)) => self.service.apply_access(&event),
            // Access changes travel on the control channel, board messages on
            // their board's: anything else is not from a well-behaved instance.
            (Target::Board(_), Message::Access(_)) | (Target::Control, _) => {
                metrics::cluster_invalid();
            }
            (Target::Board(board_id), Message::Leaving) => {
                self.sharing.left(board_id, envelope.sender);
            }
            (Target::Board(board_id), message) => {
                self.sharing.heard(board_id, envelope.sender);
                if self
                    .inbox
                    .try_send(Job::Remote { board_id, message })
                    .is_err()
                {
                    metrics::cluster_dropped("inbox_full");
                }
            }
        }
    }

    /// Applies a subscription request.
    async fn follow(
        &self,
        sink: &mut PubSubSink,
        subscribed: &mut HashSet<Uuid>,
        command: Command,
    ) -> Result<(), String> {
        match command {
            Command::Subscribe(board_id) => {
                if subscribed.insert(board_id) {
                    self.subscribe(sink, board_id).await?;
                }
            }
            Command::Unsubscribe(board_id) => {
                if subscribed.remove(&board_id) {
                    self.unsubscribe(sink, board_id).await?;
                }
            }
        }
        Ok(())
    }

    /// Pings (a connection that went silent is given up) and brings the
    /// subscriptions in line with the open boards (a board can leave memory
    /// without an unload, e.g. when a save finds it deleted).
    async fn check(
        &self,
        sink: &mut PubSubSink,
        subscribed: &mut HashSet<Uuid>,
    ) -> Result<(), String> {
        tokio::time::timeout(TIMEOUT, sink.ping::<redis::Value>())
            .await
            .map_err(|_| "ping timed out".to_owned())?
            .map_err(|err| err.to_string())?;
        let open: HashSet<Uuid> = self.service.open_board_ids().into_iter().collect();
        self.sharing.retain(&open);
        for &board_id in open.difference(&subscribed.clone()) {
            subscribed.insert(board_id);
            self.subscribe(sink, board_id).await?;
        }
        for board_id in subscribed.clone().difference(&open) {
            subscribed.remove(board_id);
            self.unsubscribe(sink, *board_id).await?;
        }
        Ok(())
    }

    /// Subscribes to a board's channel, then says what this instance has of
    /// it, so others send what it lacks (and their awareness states).
    async fn subscribe(&self, sink: &mut PubSubSink, board_id: Uuid) -> Result<(), String> {
        tokio::time::timeout(TIMEOUT, sink.subscribe(self.channels.board(board_id)))
            .await
            .map_err(|_| "subscribe timed out".to_owned())?
            .map_err(|err| err.to_string())?;
        self.announce(Job::Announce {
            board_id,
            hello: true,
        });
        Ok(())
    }

    async fn unsubscribe(&self, sink: &mut PubSubSink, board_id: Uuid) -> Result<(), String> {
        tokio::time::timeout(TIMEOUT, sink.unsubscribe(self.channels.board(board_id)))
            .await
            .map_err(|_| "unsubscribe timed out".to_owned())?
            .map_err(|err| err.to_string())
    }

    /// Queues an announcement; if the inbox is full, the periodic one follows.
    fn announce(&self, job: Job) {
        if self.inbox.try_send(job).is_err() {
            metrics::cluster_dropped("inbox_full");
        }
    }
}

/// Subscribes to every channel, one command each: the client pairs each
/// subscription reply with one request, so a multi-channel SUBSCRIBE would
/// answer later requests too early. The commands are pipelined, not awaited
/// one by one.
async fn subscribe_all(sink: &PubSubSink, names: Vec<String>) -> Result<(), String> {
    let requests = names.into_iter().map(|name| {
        let mut sink = sink.clone();
        async move { sink.subscribe(name).await }
    });
    tokio::time::timeout(TIMEOUT, futures_util::future::try_join_all(requests))
        .await
        .map_err(|_| "subscribe timed out".to_owned())?
        .map_err(|err| err.to_string())?;
    Ok(())
}

//! Several instances serving the same boards, through Redis pub/sub
//! (`REDIS_URL`). Off when it is not set: nothing here runs then.
//!
//! Every board has a channel, `{prefix}:board:{board_id}`, that each instance
//! holding the board follows. While another instance holds a board too, it
//! carries the updates and awareness payloads each instance accepted from its
//! own clients, and anti-entropy summaries; a board held by one instance costs
//! Redis nothing per edit (see [`sharing`]). `{prefix}:control` carries access
//! changes (board deleted, member removed, role changed, account deleted) so
//! sockets on every instance close or change as they would on the instance
//! that made them. A board held by several instances is saved by one of them,
//! the holder of its lease `{prefix}:lease:{board_id}` (see [`save_lease`]).
//!
//! - [`Cluster`] (here): the handle the board service relays to, and the tasks.
//! - [`envelope`]: the binary message format; [`channels`]: channel names.
//! - [`link`]: the connection (subscribe, read, reconnect with backoff).
//! - [`publish_queue`]: the bounded queue and the publishing task.
//! - [`sharing`]: which boards another instance holds too.
//! - [`save_lease`]: which instance saves a shared board.
//! - [`inbox`]: applies other instances' messages; [`antientropy`]: how copies
//!   that missed messages catch up.
//!
//! Redis is never waited for on a board's path: messages that cannot be
//! published are dropped and counted, and the periodic summaries heal the gap.

mod antientropy;
pub mod channels;
pub mod envelope;
mod inbox;
mod link;
mod publish_queue;
mod save_lease;
mod sharing;

use std::{
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use bytes::Bytes;
use tokio::sync::{mpsc, watch};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use uuid::Uuid;

use self::{
    channels::Channels,
    envelope::{InstanceId, Message},
    inbox::Inbox,
    link::{Command, Connection, Link},
    publish_queue::{Outgoing, PublishQueue, PublishQueueReceiver},
    save_lease::{LeaseTiming, SaveLeases},
    sharing::Sharing,
};
use crate::board_service::{AccessEvent, BoardService, Relay};

/// Remote messages waiting to be applied before new ones are dropped.
const INBOX_JOBS: usize = 4096;
/// How long `/readyz` waits for Redis to answer a ping.
const PING_TIMEOUT: Duration = Duration::from_secs(1);
/// Summary periods after which unrenewed evidence that another instance holds
/// a board no longer counts (sharers publish a summary every period).
const SHARING_PERIODS: u32 = 3;

/// A Redis URL that parses (checked at start, so a typo fails there).
/// Its `Debug` form hides any password.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl(String);

impl RedisUrl {
    /// Checks `url` the way the client will read it.
    pub fn parse(url: &str) -> Result<Self, String> {
        redis::Client::open(url).map_err(|err| err.to_string())?;
        Ok(Self(url.to_owned()))
    }
}

impl std::fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("RedisUrl")
            .field(&crate::redact::redact_url_password(&self.0))
            .finish()
    }
}

/// How an instance joins the others.
#[derive(Debug, Clone)]
pub struct ClusterSettings {
    /// The Redis server.
    pub url: RedisUrl,
    /// Prefix of every channel name; instances that share boards use the same.
    pub prefix: String,
    /// How often each shared board's summary is published (anti-entropy);
    /// save leases are renewed as often and last four times as long.
    pub sync_interval: Duration,
    /// Most bytes waiting to be published before messages are dropped.
    pub max_queued_bytes: usize,
}

/// Encodes messages from this instance and queues them for their channel.
#[derive(Debug)]
pub struct Publisher {
    instance: InstanceId,
    channels: Channels,
    queue: PublishQueue,
}

impl Publisher {
    /// Queues a message for a board's channel.
    fn to_board(&self, board_id: Uuid, message: &Message) {
        self.queue.push(Outgoing {
            channel: self.channels.board(board_id),
            payload: envelope::encode(self.instance, message),
            kind: message.kind(),
            // Summaries are sent once subscribed: how many got one tells
            // whether anyone else follows the board.
            counts_for: matches!(message, Message::StateVector { .. }).then_some(board_id),
        });
    }

    /// Queues a message for the control channel.
    fn to_control(&self, message: &Message) {
        self.queue.push(Outgoing {
            channel: self.channels.control().to_owned(),
            payload: envelope::encode(self.instance, message),
            kind: message.kind(),
            counts_for: None,
        });
    }
}

/// What [`Cluster::start`] hands to the tasks.
struct Parts {
    client: redis::Client,
    commands: mpsc::UnboundedReceiver<Command>,
    connection: watch::Sender<Connection>,
    queue: PublishQueueReceiver,
}

struct Shared {
    publisher: Arc<Publisher>,
    sharing: Arc<Sharing>,
    leases: Arc<SaveLeases>,
    commands: mpsc::UnboundedSender<Command>,
    connection: watch::Receiver<Connection>,
    settings: ClusterSettings,
    cancel: CancellationToken,
    tasks: TaskTracker,
    parts: Mutex<Option<Parts>>,
}

/// This instance's membership of the cluster. Cheap to clone.
#[derive(Clone)]
pub struct Cluster {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("url", &self.shared.settings.url)
            .field("prefix", &self.shared.settings.prefix)
            .field("connected", &self.shared.connection.borrow().is_some())
            .finish()
    }
}

/// Why Redis is not usable now.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// No connection (never made, or lost and not yet back).
    #[error("not connected to Redis")]
    NotConnected,
    /// Redis did not answer in time.
    #[error("Redis did not answer in time")]
    Timeout,
    /// Redis answered with an error, or the connection failed.
    #[error("Redis: {0}")]
    Redis(String),
}

impl Cluster {
    /// Prepares the handle; nothing connects before [`Self::start`].
    pub fn new(settings: ClusterSettings) -> Result<Self, ClusterError> {
        let client = redis::Client::open(settings.url.0.as_str())
            .map_err(|e| ClusterError::Redis(e.to_string()))?;
        let (commands_tx, commands) = mpsc::unbounded_channel();
        let (connection, connection_rx) = watch::channel(None);
        let (queue, queue_rx) = publish_queue::publish_queue(settings.max_queued_bytes);
        let instance = InstanceId::random();
        let publisher = Arc::new(Publisher {
            instance,
            channels: Channels::new(&settings.prefix),
            queue,
        });
        let sharing = Arc::new(Sharing::new(settings.sync_interval * SHARING_PERIODS));
        let leases = Arc::new(SaveLeases::new(
            instance,
            LeaseTiming::for_sync_interval(settings.sync_interval),
        ));
        Ok(Self {
            shared: Arc::new(Shared {
                publisher,
                sharing,
                leases,
                commands: commands_tx,
                connection: connection_rx,
                settings,
                cancel: CancellationToken::new(),
                tasks: TaskTracker::new(),
                parts: Mutex::new(Some(Parts {
                    client,
                    commands,
                    connection,
                    queue: queue_rx,
                })),
            }),
        })
    }

    /// Starts the connection, publishing and inbox tasks for `service` (once;
    /// later calls do nothing).
    pub fn start(&self, service: BoardService) {
        let parts = self
            .shared
            .parts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(parts) = parts else {
            return;
        };
        let shared = &self.shared;
        let (jobs_tx, jobs) = mpsc::channel(INBOX_JOBS);
        let (broken_tx, broken) = watch::channel(0);
        shared.tasks.spawn(publish_queue::run(
            parts.queue,
            shared.connection.clone(),
            Arc::clone(&shared.sharing),
            broken_tx,
            shared.cancel.clone(),
        ));
        shared.tasks.spawn(save_lease::run(
            Arc::clone(&shared.leases),
            Arc::clone(&shared.sharing),
            shared.publisher.channels.clone(),
            shared.connection.clone(),
            shared.cancel.clone(),
        ));
        shared.tasks.spawn(
            Inbox {
                service: service.clone(),
                publisher: Arc::clone(&shared.publisher),
                sharing: Arc::clone(&shared.sharing),
                jobs,
                sync_interval: shared.settings.sync_interval,
                cancel: shared.cancel.clone(),
            }
            .run(),
        );
        shared.tasks.spawn(
            Link {
                client: parts.client,
                channels: shared.publisher.channels.clone(),
                instance: shared.publisher.instance,
                sharing: Arc::clone(&shared.sharing),
                service,
                commands: parts.commands,
                connection: parts.connection,
                broken,
                inbox: jobs_tx,
                check_interval: shared.settings.sync_interval,
                cancel: shared.cancel.clone(),
            }
            .run(),
        );
        shared.tasks.close();
    }

    /// Stops the tasks and waits for them (at shutdown, once sockets are closed).
    pub async fn stop(&self) {
        self.shared.cancel.cancel();
        self.shared.tasks.close();
        self.shared.tasks.wait().await;
    }

    /// Samples the cluster gauges (boards held, shared, save leases held).
    pub fn sample_metrics(&self) {
        let (held, shared) = self.shared.sharing.counts();
        crate::metrics::cluster_boards(held, shared, self.shared.leases.held());
    }

    /// Whether Redis answers a ping now (for `/readyz`).
    pub async fn ping(&self) -> Result<(), ClusterError> {
        let current = self.shared.connection.borrow().clone();
        let (_, mut conn) = current.ok_or(ClusterError::NotConnected)?;
        tokio::time::timeout(
            PING_TIMEOUT,
            redis::cmd("PING").query_async::<String>(&mut conn),
        )
        .await
        .map_err(|_| ClusterError::Timeout)?
        .map(|_| ())
        .map_err(|err| ClusterError::Redis(err.to_string()))
    }
}

impl Relay for Cluster {
    fn board_loaded(&self, board_id: Uuid) {
        self.shared.sharing.held(board_id);
        let _ = self.shared.commands.send(Command::Subscribe(board_id));
    }

    fn board_unloaded(&self, board_id: Uuid) {
        // Releasing a shared board also gives its save lease back.
        if self.shared.sharing.released(board_id) {
            // The others stop publishing to us.
            self.shared.publisher.to_board(board_id, &Message::Leaving);
        }
        let _ = self.shared.commands.send(Command::Unsubscribe(board_id));
    }

    fn update(&self, board_id: Uuid, update: &Bytes) {
        if self.shared.sharing.worth_publishing(board_id) {
            self.shared
                .publisher
                .to_board(board_id, &Message::Update(update.clone()));
        } else {
            crate::metrics::cluster_publish_skipped("update");
        }
    }

    fn awareness(&self, board_id: Uuid, payload: &Bytes) {
        if self.shared.sharing.worth_publishing(board_id) {
            self.shared
                .publisher
                .to_board(board_id, &Message::Awareness(payload.clone()));
        } else {
            crate::metrics::cluster_publish_skipped("awareness");
        }
    }

    fn may_save(&self, board_id: Uuid) -> bool {
        self.shared
            .sharing
            .shared_since(board_id)
            .is_none_or(|since| self.shared.leases.may_save(board_id, since))
    }

    fn access(&self, event: &AccessEvent) {
        self.shared.publisher.to_control(&Message::Access(*event));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_urls_are_checked_and_passwords_hidden() {
        assert!(RedisUrl::parse("redis://127.0.0.1:6379").is_ok());
        assert!(RedisUrl::parse("redis://:secret@cache.internal:6379/2").is_ok());
        assert!(RedisUrl::parse("http://nope").is_err());
        assert!(RedisUrl::parse("not a url").is_err());
        let url = RedisUrl::parse("redis://user:secret@cache.internal/0").expect("url");
        let shown = format!("{url:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("cache.internal"), "{shown}");
    }
}

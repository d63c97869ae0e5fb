//! The shared application state handed to every handler.

use std::sync::Arc;

use crate::{
    auth::{AuthContext, HashingSlots, JwtKeys},
    board_service::{
        BoardService, JournalLimits, JournalWriter, QueueLimits, Relay, ServiceSettings,
    },
    board_threads::BoardThreads,
    body_budget::BodyBudget,
    cluster::{Cluster, ClusterSettings},
    config::Config,
    db::Db,
    sync_socket,
    throttle::{client_ip, KeyedLimiter},
    webhooks::{self, BoardUpdates, Webhooks},
};

/// Most keys (client IPs, or users) each limiter remembers at once (a few MiB
/// at most).
const LIMITER_MAX_KEYS: usize = 100_000;

/// Everything a request handler may need, built once at start.
#[derive(Debug)]
pub struct App {
    /// The configuration the process started with.
    pub config: Config,
    /// The database.
    pub db: Db,
    /// Keys for issuing and verifying tokens.
    pub jwt: JwtKeys,
    /// Boards loaded in memory, their sockets and their saves.
    pub boards: BoardService,
    /// The other instances sharing live boards through Redis (`REDIS_URL`).
    pub cluster: Option<Cluster>,
    /// The threads sync sockets are served on, each board's on one.
    pub board_threads: BoardThreads,
    /// Login/register attempts per client IP (`None`: off).
    pub login_limiter: Option<KeyedLimiter>,
    /// WebSocket upgrades per client IP (`None`: off).
    pub ws_connect_limiter: Option<KeyedLimiter>,
    /// `PUT /boards/{id}/members` calls per user (`None`: off): each one tells
    /// whether an email has an account.
    pub member_add_limiter: Option<KeyedLimiter<uuid::Uuid>>,
    /// Password hashes allowed to run at once (one per core).
    pub hashing: HashingSlots,
    /// The memory large request bodies may hold at once.
    pub body_budget: BodyBudget,
    /// Renders `/metrics`; `None` if the process-wide recorder could not be installed.
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    /// The webhook delivery worker (`WEBHOOK_URLS`; `None`: webhooks off).
    pub webhooks: Option<Webhooks>,
}

/// Cheap-to-clone handle to the [`App`], used as axum state.
#[derive(Debug, Clone)]
pub struct AppState(pub Arc<App>);

impl AuthContext for AppState {
    fn jwt_keys(&self) -> &JwtKeys {
        &self.jwt
    }

    fn db(&self) -> &Db {
        &self.db
    }
}

impl std::ops::Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}

impl App {
    /// Opens the database (running migrations) and prepares the keys.
    pub async fn new(config: Config) -> anyhow::Result<Self> {
        let mut db = Db::open_with_pool(
            &config.database,
            config.durability,
            config.database_pool_size,
        )
        .await?;
        if let Some(settings) = &config.webhooks {
            db = db.with_outbox(webhooks::outbox(settings, config.save_max_debounce));
        }
        let secret = match &config.jwt_secret {
            Some(secret) => secret.as_bytes().to_vec(),
            None => {
                tracing::warn!(
                    "JWT_SECRET is not set: using a random secret; issued tokens stop working when the process exits"
                );
                JwtKeys::random_secret()
            }
        };
        let jwt = JwtKeys::new(&secret, config.token_ttl);
        if !config.trusted_proxies.is_empty() {
            tracing::info!(trusted_proxies = %config.trusted_proxies, "X-Forwarded-For is believed from these proxies");
        }
        let cluster = match &config.redis_url {
            Some(url) => Some(Cluster::new(ClusterSettings {
                url: url.clone(),
                prefix: config.cluster_prefix.clone(),
                sync_interval: config.cluster_sync_interval,
                max_queued_bytes: queue_limits(config.max_message_bytes).bytes * 4,
            })?),
            None => None,
        };
        let journal = JournalWriter::start(
            Arc::new(db.clone()),
            JournalLimits {
                max_queued_bytes: journal_queue_bytes(config.max_message_bytes),
            },
        );
        let boards = BoardService::with_journal(
            std::sync::Arc::new(db.clone()),
            ServiceSettings {
                save_debounce: config.save_debounce,
                save_max_debounce: config.save_max_debounce,
                queue: queue_limits(config.max_message_bytes),
            },
            cluster
                .clone()
                .map(|cluster| Arc::new(cluster) as Arc<dyn Relay>),
            Some(journal),
        );
        // Frames are framed for the socket once, as they are queued.
        boards.set_wire_format(&sync_socket::BinaryFrames);
        if let (Some(cluster), Some(url)) = (&cluster, &config.redis_url) {
            tracing::info!(redis = ?url, prefix = %config.cluster_prefix, "sharing live boards through Redis");
            cluster.start(boards.clone());
        }
        let webhooks = match &config.webhooks {
            Some(settings) => {
                boards.set_save_hook(BoardUpdates::new(db.clone()));
                Some(Webhooks::start(db.clone(), settings)?)
            }
            None => None,
        };
        let login_limiter = KeyedLimiter::per_minute(config.rate_login_per_min, LIMITER_MAX_KEYS);
        let ws_connect_limiter =
            KeyedLimiter::per_minute(config.rate_ws_connect_per_min, LIMITER_MAX_KEYS);
        let member_add_limiter =
            KeyedLimiter::per_minute(config.rate_member_adds_per_min, LIMITER_MAX_KEYS);
        let board_threads = match config.sync_threads {
            Some(count) => BoardThreads::start(count.get())?,
            None => BoardThreads::per_core()?,
        };
        tracing::info!(
            threads = board_threads.len(),
            "sync sockets served on their boards' threads"
        );
        let body_budget = BodyBudget::for_max_message(config.max_message_bytes);
        Ok(Self {
            config,
            db,
            jwt,
            boards,
            cluster,
            board_threads,
            login_limiter,
            ws_connect_limiter,
            member_add_limiter,
            hashing: HashingSlots::per_core(),
            body_budget,
            metrics: crate::metrics::install(),
            webhooks,
        })
    }
}

impl App {
    /// The IP a request counts against for rate limits (see `TRUSTED_PROXIES`).
    pub fn client_ip(
        &self,
        peer: std::net::SocketAddr,
        headers: &axum::http::HeaderMap,
    ) -> std::net::IpAddr {
        client_ip(peer, headers, &self.config.trusted_proxies)
    }
}

/// The most update bytes waiting for a journal commit: far more than a
/// healthy database ever lets build up (a commit takes milliseconds), and room
/// for a few maximal messages; beyond it appends are refused (REST 503).
fn journal_queue_bytes(max_message_bytes: usize) -> usize {
    (64 * 1024 * 1024).max(max_message_bytes.saturating_mul(4))
}

/// Per-socket send queue bounds: enough for bursts of small updates and for one
/// maximal message, small enough that a stalled client costs little.
fn queue_limits(max_message_bytes: usize) -> QueueLimits {
    QueueLimits {
        frames: 1024,
        bytes: (4 * 1024 * 1024).max(max_message_bytes.saturating_mul(2)),
    }
}

//! Typed configuration, read once at start from the environment (and `.env`).
//!
//! Every variable of the contract's configuration table that a built capability uses
//! is parsed here; nothing else in the crate reads the environment.

use std::{collections::HashMap, net::SocketAddr, time::Duration};

use crate::{cluster::RedisUrl, redact::redact_url_password, throttle::TrustedProxies};
pub use crate::{
    config_error::ConfigError,
    db::{DatabaseLocation, Durability},
};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object a line.
    Json,
}

/// The server's whole configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `BIND_ADDR`: listen address.
    pub bind_addr: SocketAddr,
    /// `DATABASE_URL`: where boards and accounts are stored.
    pub database: DatabaseLocation,
    /// `DATABASE_POOL_SIZE`: connections this instance keeps to PostgreSQL
    /// (SQLite ignores it). Several instances share the server's
    /// `max_connections`.
    pub database_pool_size: usize,
    /// `REDIS_URL`: share live boards with other instances through this Redis;
    /// `None`: this instance serves its boards alone.
    pub redis_url: Option<RedisUrl>,
    /// Prefix of the Redis channel names; instances that share boards use the
    /// same (not configurable by environment).
    pub cluster_prefix: String,
    /// How often each open board's summary goes to the other instances, so
    /// copies that missed messages catch up (not configurable by environment).
    pub cluster_sync_interval: Duration,
    /// `JWT_SECRET`: HS256 secret; `None` means a random one is generated at start.
    pub jwt_secret: Option<String>,
    /// `TOKEN_TTL_SECS`: lifetime of issued tokens.
    pub token_ttl: Duration,
    /// `SAVE_DEBOUNCE_MS`: quiet time after the last change before a board is saved.
    pub save_debounce: Duration,
    /// `SAVE_MAX_DEBOUNCE_MS`: longest a dirty board waits for its save.
    pub save_max_debounce: Duration,
    /// `MAX_MESSAGE_BYTES`: largest WebSocket message or REST update body.
    pub max_message_bytes: usize,
    /// `DURABILITY`: what a committed update survives (SQLite; PostgreSQL
    /// follows its own `synchronous_commit`).
    pub durability: Durability,
    /// `CORS_ORIGINS`: allowed origins; empty means any origin (development).
    pub cors_origins: Vec<String>,
    /// `LOG_FORMAT`.
    pub log_format: LogFormat,
    /// `METRICS_ADDR`: a separate listener for `/metrics`; `None` serves it on the main one.
    pub metrics_addr: Option<SocketAddr>,
    /// `RATE_LOGIN_PER_MIN`: login/register attempts per client IP per minute (0 = off).
    pub rate_login_per_min: u32,
    /// `RATE_WS_CONNECT_PER_MIN`: WebSocket upgrades per client IP per minute (0 = off).
    pub rate_ws_connect_per_min: u32,
    /// `RATE_WS_MSGS_PER_SEC`: sustained messages per second per socket, burst 10× (0 = off).
    pub rate_ws_msgs_per_sec: u32,
    /// `RATE_MEMBER_ADDS_PER_MIN`: `PUT /boards/{id}/members` calls per user per minute (0 = off).
    pub rate_member_adds_per_min: u32,
    /// `TRUSTED_PROXIES`: proxies whose `X-Forwarded-For` is believed for the client IP.
    pub trusted_proxies: TrustedProxies,
    /// `SYNC_THREADS`: threads serving sync sockets (each board's on one);
    /// `None` is one per core.
    pub sync_threads: Option<std::num::NonZeroUsize>,
    /// How often the server pings each socket (not configurable by environment).
    pub ws_ping_interval: Duration,
    /// A socket from which nothing (not even a pong) arrives for this long is
    /// dropped (not configurable by environment).
    pub ws_idle_timeout: Duration,
    /// `SHUTDOWN_TIMEOUT_MS`: after the shutdown signal, the most time spent
    /// saving boards and draining in-flight HTTP requests.
    pub shutdown_timeout: Duration,
    /// `REQUEST_TIMEOUT_MS`: a request body not fully arrived by then is
    /// answered 408 and its connection closed.
    pub request_timeout: Duration,
    /// `VERSION_IDLE_MS`: a board edited and then quiet this long gets an
    /// automatic version.
    pub version_idle: Duration,
    /// `VERSION_MAX_INTERVAL_MS`: under continuous editing, an automatic
    /// version at least this often.
    pub version_max_interval: Duration,
    /// `VERSION_KEEP`: automatic versions kept per board.
    pub version_keep: u32,
    /// `WEBHOOK_URLS`, `WEBHOOK_SECRET`, `WEBHOOK_RETRY_DELAYS_MS`: where
    /// events are POSTed; `None`: webhooks off.
    pub webhooks: Option<crate::webhooks::WebhookSettings>,
    /// `WEB_UI`: serve the whiteboard web app at `/` (`on`, the default) or not (`off`).
    pub web_ui: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind_addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
            database: DatabaseLocation::SqliteFile("canvas.db".to_owned()),
            database_pool_size: crate::db::DEFAULT_POSTGRES_POOL_SIZE,
            redis_url: None,
            cluster_prefix: "canvas".to_owned(),
            cluster_sync_interval: Duration::from_secs(5),
            jwt_secret: None,
            token_ttl: Duration::from_secs(86_400),
            save_debounce: Duration::from_millis(2_000),
            save_max_debounce: Duration::from_millis(10_000),
            max_message_bytes: 16 * 1024 * 1024,
            durability: Durability::Process,
            cors_origins: Vec::new(),
            log_format: LogFormat::Text,
            metrics_addr: None,
            rate_login_per_min: 10,
            rate_ws_connect_per_min: 120,
            rate_ws_msgs_per_sec: 200,
            rate_member_adds_per_min: 30,
            trusted_proxies: TrustedProxies::default(),
            sync_threads: None,
            ws_ping_interval: Duration::from_secs(30),
            ws_idle_timeout: Duration::from_secs(75),
            shutdown_timeout: Duration::from_millis(10_000),
            request_timeout: Duration::from_millis(30_000),
            version_idle: Duration::from_millis(300_000),
            version_max_interval: Duration::from_millis(3_600_000),
            version_keep: 100,
            webhooks: None,
            web_ui: true,
        }
    }
}

impl Config {
    /// Loads `.env` (when present) into the process environment, then reads it.
    pub fn from_env() -> Result<Self, ConfigError> {
        // A missing .env is the normal case; a malformed one is reported by the
        // variables it fails to set, so its own error is not fatal.
        let _ = dotenvy::dotenv();
        Self::from_vars(&std::env::vars().collect())
    }

    /// Reads the configuration from a map of variables (testable without the
    /// process environment). Unset or empty variables take their defaults.
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let get = |name: &str| vars.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
        let defaults = Self::default();
        let mut config = defaults.clone();

        if let Some(value) = get("BIND_ADDR") {
            config.bind_addr = parse("BIND_ADDR", value)?;
        }
        if let Some(value) = get("DATABASE_URL") {
            config.database = parse_database_url(value)?;
        }
        if let Some(value) = get("DATABASE_POOL_SIZE") {
            config.database_pool_size = usize::try_from(positive("DATABASE_POOL_SIZE", value)?)
                .map_err(|_| ConfigError::Invalid {
                    name: "DATABASE_POOL_SIZE",
                    value: value.to_owned(),
                    reason: "too large".to_owned(),
                })?;
        }
        if let Some(value) = get("REDIS_URL") {
            config.redis_url =
                Some(
                    RedisUrl::parse(value).map_err(|reason| ConfigError::Invalid {
                        name: "REDIS_URL",
                        value: redact_url_password(value),
                        reason,
                    })?,
                );
        }
        if let Some(secret) = get("JWT_SECRET") {
            config.jwt_secret = Some(jwt_secret(secret)?);
        }
        if let Some(value) = get("TOKEN_TTL_SECS") {
            config.token_ttl = Duration::from_secs(positive("TOKEN_TTL_SECS", value)?);
        }
        if let Some(value) = get("SAVE_DEBOUNCE_MS") {
            config.save_debounce = Duration::from_millis(parse("SAVE_DEBOUNCE_MS", value)?);
        }
        if let Some(value) = get("SAVE_MAX_DEBOUNCE_MS") {
            config.save_max_debounce = Duration::from_millis(parse("SAVE_MAX_DEBOUNCE_MS", value)?);
        }
        if config.save_max_debounce < config.save_debounce {
            return Err(ConfigError::Invalid {
                name: "SAVE_MAX_DEBOUNCE_MS",
                value: config.save_max_debounce.as_millis().to_string(),
                reason: "must not be smaller than SAVE_DEBOUNCE_MS".to_owned(),
            });
        }
        if let Some(value) = get("MAX_MESSAGE_BYTES") {
            let bytes = positive("MAX_MESSAGE_BYTES", value)?;
            config.max_message_bytes =
                usize::try_from(bytes).map_err(|_| ConfigError::Invalid {
                    name: "MAX_MESSAGE_BYTES",
                    value: value.to_owned(),
                    reason: "too large for this platform".to_owned(),
                })?;
        }
        if let Some(value) = get("CORS_ORIGINS") {
            config.cors_origins = value
                .split(',')
                .map(str::trim)
                .filter(|origin| !origin.is_empty())
                .map(str::to_owned)
                .collect();
        }
        if let Some(value) = get("METRICS_ADDR") {
            config.metrics_addr = Some(parse("METRICS_ADDR", value)?);
        }
        if let Some(value) = get("RATE_LOGIN_PER_MIN") {
            config.rate_login_per_min = parse("RATE_LOGIN_PER_MIN", value)?;
        }
        if let Some(value) = get("RATE_WS_CONNECT_PER_MIN") {
            config.rate_ws_connect_per_min = parse("RATE_WS_CONNECT_PER_MIN", value)?;
        }
        if let Some(value) = get("RATE_WS_MSGS_PER_SEC") {
            config.rate_ws_msgs_per_sec = parse("RATE_WS_MSGS_PER_SEC", value)?;
        }
        if let Some(value) = get("RATE_MEMBER_ADDS_PER_MIN") {
            config.rate_member_adds_per_min = parse("RATE_MEMBER_ADDS_PER_MIN", value)?;
        }
        if let Some(value) = get("SYNC_THREADS") {
            config.sync_threads = Some(parse("SYNC_THREADS", value)?);
        }
        if let Some(value) = get("SHUTDOWN_TIMEOUT_MS") {
            config.shutdown_timeout =
                Duration::from_millis(positive("SHUTDOWN_TIMEOUT_MS", value)?);
        }
        if let Some(value) = get("REQUEST_TIMEOUT_MS") {
            config.request_timeout = Duration::from_millis(positive("REQUEST_TIMEOUT_MS", value)?);
        }
        if let Some(value) = get("VERSION_IDLE_MS") {
            config.version_idle = Duration::from_millis(positive("VERSION_IDLE_MS", value)?);
        }
        if let Some(value) = get("VERSION_MAX_INTERVAL_MS") {
            config.version_max_interval =
                Duration::from_millis(positive("VERSION_MAX_INTERVAL_MS", value)?);
        }
        if let Some(value) = get("VERSION_KEEP") {
            config.version_keep = parse("VERSION_KEEP", value)?;
        }
        if let Some(value) = get("TRUSTED_PROXIES") {
            config.trusted_proxies =
                value
                    .parse()
                    .map_err(
                        |err: crate::throttle::InvalidTrustedProxy| ConfigError::Invalid {
                            name: "TRUSTED_PROXIES",
                            value: value.to_owned(),
                            reason: err.to_string(),
                        },
                    )?;
        }
        if let Some(value) = get("DURABILITY") {
            config.durability = match value.to_ascii_lowercase().as_str() {
                "process" => Durability::Process,
                "power" => Durability::Power,
                _ => {
                    return Err(ConfigError::Invalid {
                        name: "DURABILITY",
                        value: value.to_owned(),
                        reason: "expected `process` or `power`".to_owned(),
                    })
                }
            };
        }
        if let Some(value) = get("LOG_FORMAT") {
            config.log_format = match value.to_ascii_lowercase().as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                _ => {
                    return Err(ConfigError::Invalid {
                        name: "LOG_FORMAT",
                        value: value.to_owned(),
                        reason: "expected `text` or `json`".to_owned(),
                    })
                }
            };
        }
        config.webhooks = crate::webhooks::settings::from_vars(vars)?;
        if let Some(value) = get("WEB_UI") {
            config.web_ui = match value.to_ascii_lowercase().as_str() {
                "on" => true,
                "off" => false,
                _ => {
                    return Err(ConfigError::Invalid {
                        name: "WEB_UI",
                        value: value.to_owned(),
                        reason: "expected `on` or `off`".to_owned(),
                    })
                }
            };
        }
        Ok(config)
    }
}

fn parse<T: std::str::FromStr>(name: &'static str, value: &str) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    value.parse().map_err(|err: T::Err| ConfigError::Invalid {
        name,
        value: value.to_owned(),
        reason: err.to_string(),
    })
}

/// Shortest accepted `JWT_SECRET`: HS256 keys are 256 bits, and a short secret
/// can be found by brute force from any one token.
pub const MIN_JWT_SECRET_BYTES: usize = 32;

/// `JWT_SECRET`, refused when shorter than [`MIN_JWT_SECRET_BYTES`] (the error
/// gives its length, never the secret).
fn jwt_secret(value: &str) -> Result<String, ConfigError> {
    if value.len() < MIN_JWT_SECRET_BYTES {
        return Err(ConfigError::Invalid {
            name: "JWT_SECRET",
            value: format!("{} bytes", value.len()),
            reason: format!("must be at least {MIN_JWT_SECRET_BYTES} bytes"),
        });
    }
    Ok(value.to_owned())
}

fn positive(name: &'static str, value: &str) -> Result<u64, ConfigError> {
    match parse::<u64>(name, value)? {
        0 => Err(ConfigError::Invalid {
            name,
            value: value.to_owned(),
            reason: "must be greater than zero".to_owned(),
        }),
        n => Ok(n),
    }
}

fn parse_database_url(value: &str) -> Result<DatabaseLocation, ConfigError> {
    if value == "sqlite::memory:" || value == "sqlite://:memory:" {
        return Ok(DatabaseLocation::SqliteMemory);
    }
    if let Some(path) = value
        .strip_prefix("sqlite://")
        .or_else(|| value.strip_prefix("sqlite:"))
    {
        if !path.is_empty() {
            return Ok(DatabaseLocation::SqliteFile(path.to_owned()));
        }
    }
    if value.starts_with("postgres://") || value.starts_with("postgresql://") {
        return Ok(DatabaseLocation::Postgres(value.to_owned()));
    }
    let reason = "expected sqlite://PATH, sqlite::memory: or postgres://…";
    Err(ConfigError::Invalid {
        name: "DATABASE_URL",
        value: value.to_owned(),
        reason: reason.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn no_variables_give_the_contract_defaults() {
        let config = Config::from_vars(&HashMap::new()).expect("defaults load");
        assert_eq!(config.bind_addr.to_string(), "127.0.0.1:3000");
        assert_eq!(
            config.database,
            DatabaseLocation::SqliteFile("canvas.db".into())
        );
        assert_eq!(config.token_ttl, Duration::from_secs(86_400));
        assert_eq!(config.save_debounce, Duration::from_millis(2_000));
        assert_eq!(config.save_max_debounce, Duration::from_millis(10_000));
        assert_eq!(config.max_message_bytes, 16_777_216);
        assert!(config.cors_origins.is_empty());
        assert!(config.jwt_secret.is_none());
        assert_eq!(config.log_format, LogFormat::Text);
        assert_eq!(config.metrics_addr, None);
        assert_eq!(config.rate_login_per_min, 10);
        assert_eq!(config.rate_ws_connect_per_min, 120);
        assert_eq!(config.rate_ws_msgs_per_sec, 200);
        assert_eq!(config.rate_member_adds_per_min, 30);
        assert!(config.redis_url.is_none());
        assert!(config.sync_threads.is_none(), "one per core");
        assert_eq!(config.durability, Durability::Process);
        assert!(config.webhooks.is_none(), "webhooks off");
        assert_eq!(config.database_pool_size, 16);
    }

    #[test]
    fn the_postgres_pool_size_is_a_positive_count() {
        let set = Config::from_vars(&vars(&[("DATABASE_POOL_SIZE", "4")])).expect("valid");
        assert_eq!(set.database_pool_size, 4);
        for bad in ["0", "-1", "many"] {
            assert!(
                Config::from_vars(&vars(&[("DATABASE_POOL_SIZE", bad)])).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn durability_is_process_or_power() {
        let power = Config::from_vars(&vars(&[("DURABILITY", "power")])).expect("power");
        assert_eq!(power.durability, Durability::Power);
        let process = Config::from_vars(&vars(&[("DURABILITY", "Process")])).expect("process");
        assert_eq!(process.durability, Durability::Process);
        let err = Config::from_vars(&vars(&[("DURABILITY", "disk")])).expect_err("refused");
        assert!(err.to_string().contains("DURABILITY"), "{err}");
    }

    #[test]
    fn a_redis_url_is_checked_at_start() {
        let config = Config::from_vars(&vars(&[("REDIS_URL", "redis://127.0.0.1:6379")]))
            .expect("redis url");
        assert!(config.redis_url.is_some());
        let err =
            Config::from_vars(&vars(&[("REDIS_URL", "htp://:hunter2@x")])).expect_err("bad url");
        let shown = err.to_string();
        assert!(shown.contains("REDIS_URL"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn rate_limits_may_be_turned_off_with_zero() {
        let config = Config::from_vars(&vars(&[
            ("RATE_LOGIN_PER_MIN", "0"),
            ("RATE_WS_CONNECT_PER_MIN", "0"),
            ("RATE_WS_MSGS_PER_SEC", "0"),
            ("METRICS_ADDR", "127.0.0.1:9100"),
        ]))
        .expect("config");
        assert_eq!(
            (
                config.rate_login_per_min,
                config.rate_ws_connect_per_min,
                config.rate_ws_msgs_per_sec
            ),
            (0, 0, 0)
        );
        assert_eq!(
            config.metrics_addr,
            Some("127.0.0.1:9100".parse().expect("addr"))
        );
        assert!(Config::from_vars(&vars(&[("RATE_WS_MSGS_PER_SEC", "-1")])).is_err());
        let threads = Config::from_vars(&vars(&[("SYNC_THREADS", "3")])).expect("threads");
        assert_eq!(threads.sync_threads.map(usize::from), Some(3));
        let err = Config::from_vars(&vars(&[("SYNC_THREADS", "0")])).expect_err("zero threads");
        assert!(err.to_string().contains("SYNC_THREADS"), "{err}");
        let proxies = Config::from_vars(&vars(&[("TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1")]))
            .expect("proxies");
        assert!(proxies
            .trusted_proxies
            .contains("10.1.2.3".parse().expect("ip")));
        assert!(Config::from_vars(&vars(&[("TRUSTED_PROXIES", "banana")])).is_err());
    }

    #[test]
    fn member_additions_are_limited_per_minute_unless_zero() {
        let config = Config::from_vars(&vars(&[("RATE_MEMBER_ADDS_PER_MIN", "5")])).expect("5");
        assert_eq!(config.rate_member_adds_per_min, 5);
        let off = Config::from_vars(&vars(&[("RATE_MEMBER_ADDS_PER_MIN", "0")])).expect("off");
        assert_eq!(off.rate_member_adds_per_min, 0);
        let err = Config::from_vars(&vars(&[("RATE_MEMBER_ADDS_PER_MIN", "many")]))
            .expect_err("not a number");
        assert!(
            err.to_string().contains("RATE_MEMBER_ADDS_PER_MIN"),
            "{err}"
        );
    }

    #[test]
    fn database_urls_are_understood() {
        let memory = Config::from_vars(&vars(&[("DATABASE_URL", "sqlite::memory:")]));
        assert_eq!(
            memory.expect("memory url").database,
            DatabaseLocation::SqliteMemory
        );
        let file = Config::from_vars(&vars(&[("DATABASE_URL", "sqlite:///tmp/x.db")]));
        assert_eq!(
            file.expect("file url").database,
            DatabaseLocation::SqliteFile("/tmp/x.db".into())
        );
        let postgres = Config::from_vars(&vars(&[("DATABASE_URL", "postgres://u:pw@h/db")]));
        let postgres = postgres.expect("postgres url").database;
        assert_eq!(
            postgres,
            DatabaseLocation::Postgres("postgres://u:pw@h/db".into())
        );
        assert_eq!(postgres.redacted(), "postgres://u:***@h/db");
        assert_eq!(
            redact_url_password("redis://secret@cache:6379"),
            "redis://***@cache:6379"
        );
        assert_eq!(
            redact_url_password("redis://cache:6379"),
            "redis://cache:6379"
        );
        assert!(Config::from_vars(&vars(&[("DATABASE_URL", "mysql://x")])).is_err());
    }

    #[test]
    fn bad_values_are_rejected_with_the_variable_name() {
        let err = Config::from_vars(&vars(&[("TOKEN_TTL_SECS", "soon")])).expect_err("bad ttl");
        assert!(err.to_string().contains("TOKEN_TTL_SECS"));
        let err = Config::from_vars(&vars(&[
            ("SAVE_DEBOUNCE_MS", "5000"),
            ("SAVE_MAX_DEBOUNCE_MS", "1000"),
        ]))
        .expect_err("cap below debounce");
        assert!(err.to_string().contains("SAVE_MAX_DEBOUNCE_MS"));
        assert!(Config::from_vars(&vars(&[("LOG_FORMAT", "xml")])).is_err());
    }

    #[test]
    fn a_jwt_secret_shorter_than_32_bytes_is_refused_naming_the_variable() {
        let err = Config::from_vars(&vars(&[("JWT_SECRET", "short-but-not-32-bytes-long")]))
            .expect_err("a 27-byte secret");
        let shown = err.to_string();
        assert!(shown.contains("JWT_SECRET"), "{shown}");
        assert!(
            !shown.contains("short-but"),
            "the secret is not shown: {shown}"
        );
        let secret = "x".repeat(MIN_JWT_SECRET_BYTES);
        let config = Config::from_vars(&vars(&[("JWT_SECRET", &secret)])).expect("32 bytes");
        assert_eq!(config.jwt_secret.as_deref(), Some(secret.as_str()));
    }

    #[test]
    fn shutdown_and_request_timeouts_are_read_in_milliseconds() {
        let defaults = Config::from_vars(&HashMap::new()).expect("defaults load");
        assert_eq!(defaults.shutdown_timeout, Duration::from_secs(10));
        assert_eq!(defaults.request_timeout, Duration::from_secs(30));
        let config = Config::from_vars(&vars(&[
            ("SHUTDOWN_TIMEOUT_MS", "2500"),
            ("REQUEST_TIMEOUT_MS", "750"),
        ]))
        .expect("timeouts");
        assert_eq!(config.shutdown_timeout, Duration::from_millis(2_500));
        assert_eq!(config.request_timeout, Duration::from_millis(750));
        for name in ["SHUTDOWN_TIMEOUT_MS", "REQUEST_TIMEOUT_MS"] {
            let err = Config::from_vars(&vars(&[(name, "0")])).expect_err("zero");
            assert!(err.to_string().contains(name), "{err}");
        }
    }

    #[test]
    fn cors_origins_are_split_and_trimmed() {
        let config = Config::from_vars(&vars(&[(
            "CORS_ORIGINS",
            " https://a.example , https://b.example,",
        )]))
        .expect("cors");
        assert_eq!(
            config.cors_origins,
            vec!["https://a.example", "https://b.example"]
        );
    }

    #[test]
    fn version_settings_are_read_with_contract_defaults() {
        let defaults = Config::from_vars(&HashMap::new()).expect("defaults load");
        assert_eq!(defaults.version_idle, Duration::from_millis(300_000));
        assert_eq!(
            defaults.version_max_interval,
            Duration::from_millis(3_600_000)
        );
        assert_eq!(defaults.version_keep, 100);
        let config = Config::from_vars(&vars(&[
            ("VERSION_IDLE_MS", "200"),
            ("VERSION_MAX_INTERVAL_MS", "900"),
            ("VERSION_KEEP", "3"),
        ]))
        .expect("versions");
        assert_eq!(config.version_idle, Duration::from_millis(200));
        assert_eq!(config.version_max_interval, Duration::from_millis(900));
        assert_eq!(config.version_keep, 3);
        for name in ["VERSION_IDLE_MS", "VERSION_MAX_INTERVAL_MS"] {
            let err = Config::from_vars(&vars(&[(name, "0")])).expect_err("zero");
            assert!(err.to_string().contains(name), "{err}");
        }
        let err = Config::from_vars(&vars(&[("VERSION_KEEP", "many")])).expect_err("bad");
        assert!(err.to_string().contains("VERSION_KEEP"), "{err}");
    }

    #[test]
    fn the_web_ui_is_on_unless_turned_off() {
        let config = Config::from_vars(&HashMap::new()).expect("defaults");
        assert!(config.web_ui);
        let config = Config::from_vars(&vars(&[("WEB_UI", "OFF")])).expect("off");
        assert!(!config.web_ui);
        let config = Config::from_vars(&vars(&[("WEB_UI", "on")])).expect("on");
        assert!(config.web_ui);
        let err = Config::from_vars(&vars(&[("WEB_UI", "yes")])).expect_err("yes");
        assert!(err.to_string().contains("WEB_UI"), "{err}");
    }
}

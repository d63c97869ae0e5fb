//! Several instances sharing live boards through Redis (`REDIS_URL`): two
//! servers over one database file, clients on each.
//!
//! These need a Redis server: set `TEST_REDIS_URL` (e.g. `redis://127.0.0.1:6379`).
//! Without it they print why and pass (under `CI=true` they fail). Every test
//! uses its own channel prefix, so tests running at once do not hear each other.
//!
//! - [`sync`]: edits and awareness cross instances, late joiners, lost
//!   messages, many clients, quiet once converged.
//! - [`access`]: deletions and membership changes reach the other instance;
//!   readiness follows Redis.
//! - [`kill`]: one instance killed: its journal keeps what it accepted.
//! - [`sharing`]: a board held by one instance publishes nothing per edit; a
//!   board held by two is saved by one.

mod access;
mod kill;
mod sharing;
mod sync;

use std::{io::Write, sync::Once, time::Duration};

use canvas_server::{cluster::RedisUrl, Config};

use crate::{
    harness::{service_url, test_config, Backend, Given, TestApp, TestUser},
    sync_client::{content_of, SyncClient, WAIT},
    tcp_proxy::TcpProxy,
};

/// The Redis of `TEST_REDIS_URL`, which the instances of a test share.
struct Redis {
    url: String,
}

impl Given for Redis {
    /// `None` (with the reason printed once) when `TEST_REDIS_URL` is not set.
    async fn given(_: Backend) -> Option<Self> {
        let url = service_url("TEST_REDIS_URL");
        if url.is_none() {
            static SAID: Once = Once::new();
            SAID.call_once(|| {
                let _ = writeln!(
                    std::io::stderr(),
                    "skipped: the multi-instance tests (`cluster::…`) need TEST_REDIS_URL \
                     (e.g. redis://127.0.0.1:6379)"
                );
            });
        }
        url.map(|url| Self { url })
    }
}

/// The test configuration with Redis on, a prefix of its own, and summaries
/// every 200 ms (so anti-entropy shows within a test's patience).
fn clustered(redis_url: &str, prefix: &str) -> Config {
    Config {
        redis_url: Some(RedisUrl::parse(redis_url).expect("TEST_REDIS_URL parses")),
        cluster_prefix: prefix.to_owned(),
        cluster_sync_interval: Duration::from_millis(200),
        ..test_config()
    }
}

fn unique_prefix() -> String {
    format!("canvas-test-{}", uuid::Uuid::new_v4().simple())
}

/// Saves that wait a minute: what reaches the other instance then came
/// through Redis, not through the shared database file.
fn without_saves(config: Config) -> Config {
    Config {
        save_debounce: Duration::from_secs(60),
        save_max_debounce: Duration::from_secs(60),
        ..config
    }
}

/// Two instances over one database on `backend` and one Redis, both connected.
async fn two_instances(
    backend: Backend,
    redis: &Redis,
    configure: impl Fn(Config) -> Config,
) -> (TestApp, TestApp) {
    let prefix = unique_prefix();
    let a = backend
        .spawn_with(configure(clustered(&redis.url, &prefix)))
        .await;
    let b = a
        .spawn_sibling(configure(clustered(&redis.url, &prefix)))
        .await;
    wait_until_ready(&a, 200).await;
    wait_until_ready(&b, 200).await;
    (a, b)
}

/// Like [`two_instances`], but the second reaches Redis through a proxy the
/// test can cut and restore.
async fn two_instances_one_cuttable(
    backend: Backend,
    redis: &Redis,
    configure: impl Fn(Config) -> Config,
) -> (TestApp, TestApp, TcpProxy) {
    let redis_url = &redis.url;
    let authority = upstream_authority(redis_url);
    let upstream = tokio::net::lookup_host(&authority)
        .await
        .expect("resolve TEST_REDIS_URL")
        .next()
        .expect("an address");
    let proxy = TcpProxy::start(upstream).await;
    let proxied = redis_url.replacen(&authority, &proxy.addr.to_string(), 1);
    let prefix = unique_prefix();
    let a = backend
        .spawn_with(configure(clustered(redis_url, &prefix)))
        .await;
    let b = a
        .spawn_sibling(configure(clustered(&proxied, &prefix)))
        .await;
    wait_until_ready(&a, 200).await;
    wait_until_ready(&b, 200).await;
    (a, b, proxy)
}

/// `host:port` of a Redis URL.
fn upstream_authority(url: &str) -> String {
    let rest = url.split("://").nth(1).unwrap_or(url);
    let authority = rest.split('/').next().unwrap_or(rest);
    authority.rsplit('@').next().unwrap_or(authority).to_owned()
}

/// Waits until `/readyz` answers `status`.
async fn wait_until_ready(app: &TestApp, status: u16) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let response = app.get("/readyz", None).await;
        if response.status.as_u16() == status {
            if status == 503 {
                response.assert_error(503, "service_unavailable");
            }
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "/readyz still {} after {WAIT:?}, expected {status}",
            response.status
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A new board of `ada`'s, with one of her clients on each instance.
async fn a_board_on_both(a: &TestApp, b: &TestApp) -> (TestUser, String, SyncClient, SyncClient) {
    let (ada, board) = a.user_with_board("ada").await;
    let on_a = a.connect(&board, &ada).await;
    let on_b = b.connect(&board, &ada).await;
    (ada, board, on_a, on_b)
}

fn map_has(client: &SyncClient, key: &str) -> bool {
    content_of(&client.state())["map"].get(key).is_some()
}

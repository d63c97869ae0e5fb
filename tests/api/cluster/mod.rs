//! Several instances sharing live boards through Redis (`REDIS_URL`): two
//! servers over one database file, clients on each.
//!
//! These need a Redis server: set `TEST_REDIS_URL` (e.g. `redis://127.0.0.1:6379`).
//! Without it they print why and pass. Every test uses its own channel prefix,
//! so tests running at once do not hear each other.
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

use std::{io::Write, time::Duration};

use canvas_server::{cluster::RedisUrl, Config};

use crate::{
    harness::{service_url, test_config, TestApp, TestUser},
    sync_client::{connect, content_of, SyncClient, WAIT},
    tcp_proxy::TcpProxy,
};

/// The Redis to test against, or `None` (with the reason printed) to skip.
fn test_redis_url(test: &str) -> Option<String> {
    let url = service_url("TEST_REDIS_URL");
    if url.is_none() {
        let _ = writeln!(
            std::io::stderr(),
            "skipped {test}: set TEST_REDIS_URL (e.g. redis://127.0.0.1:6379) to run it"
        );
    }
    url
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

/// Two instances over one database and one Redis, both connected; `None` when
/// the binary's database is not available (the test is then skipped).
async fn two_instances(
    redis_url: &str,
    configure: impl Fn(Config) -> Config,
) -> Option<(TestApp, TestApp)> {
    let prefix = unique_prefix();
    let a = TestApp::spawn_with(configure(clustered(redis_url, &prefix))).await?;
    let b = a
        .spawn_sibling(configure(clustered(redis_url, &prefix)))
        .await;
    wait_until_ready(&a, 200).await;
    wait_until_ready(&b, 200).await;
    Some((a, b))
}

/// Like [`two_instances`], but the second reaches Redis through a proxy the
/// test can cut and restore.
async fn two_instances_one_cuttable(
    redis_url: &str,
    configure: impl Fn(Config) -> Config,
) -> Option<(TestApp, TestApp, TcpProxy)> {
    let authority = upstream_authority(redis_url);
    let upstream = tokio::net::lookup_host(&authority)
        .await
        .expect("resolve TEST_REDIS_URL")
        .next()
        .expect("an address");
    let proxy = TcpProxy::start(upstream).await;
    let proxied = redis_url.replacen(&authority, &proxy.addr.to_string(), 1);
    let prefix = unique_prefix();
    let a = TestApp::spawn_with(configure(clustered(redis_url, &prefix))).await?;
    let b = a
        .spawn_sibling(configure(clustered(&proxied, &prefix)))
        .await;
    wait_until_ready(&a, 200).await;
    wait_until_ready(&b, 200).await;
    Some((a, b, proxy))
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
    let ada = a.register("ada").await;
    let board = a.create_board(&ada, "Plan").await;
    let on_a = connect(&a.sync_url(&board, &ada.token)).await;
    let on_b = connect(&b.sync_url(&board, &ada.token)).await;
    (ada, board, on_a, on_b)
}

fn map_has(client: &SyncClient, key: &str) -> bool {
    content_of(&client.state())["map"].get(key).is_some()
}

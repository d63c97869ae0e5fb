//! Prometheus metrics: the recorder, every series the server exports (names,
//! help texts, label sets), and small functions that record them, so call sites
//! stay one line and label values stay bounded (routes, never ids).

use std::{sync::OnceLock, time::Duration};

use axum::http::Method;
use metrics::{
    counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Counter, Unit,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Latency buckets (seconds) for requests, saves and pool waits.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Buckets for the number of updates per journal group commit.
const COMMIT_SIZE_BUCKETS: &[f64] = &[
    1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0,
];

/// Buckets (seconds) for a webhook event's time to delivery: milliseconds
/// when the receiver is up, hours when it was down through retries.
const WEBHOOK_LATENCY_BUCKETS: &[f64] = &[
    0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, 3600.0, 21600.0, 86400.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The y-websocket message types used as the `type` label.
const MESSAGE_KINDS: [&str; 7] = [
    "sync_step1",
    "sync_step2",
    "sync_update",
    "awareness",
    "auth",
    "query_awareness",
    "other",
];

/// Per-message counters, registered once: they are touched for every frame in
/// and every delivery out, where a registry lookup per call would show.
struct MessageCounters {
    /// `[direction][kind]`: messages, then bytes.
    messages: [[Counter; 7]; 2],
    bytes: [[Counter; 7]; 2],
}

static MESSAGE_COUNTERS: OnceLock<MessageCounters> = OnceLock::new();

fn message_counters() -> MessageCounters {
    let table = |name: &'static str| {
        ["in", "out"].map(|direction| {
            MESSAGE_KINDS.map(|kind| counter!(name, "direction" => direction, "type" => kind))
        })
    };
    MessageCounters {
        messages: table("ws_messages_total"),
        bytes: table("ws_message_bytes_total"),
    }
}

/// Installs the process-wide recorder (once; later calls reuse it) and returns
/// the handle that renders the exposition, or `None` if another recorder was
/// installed first (metrics are then not exported).
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), LATENCY_BUCKETS)
                .ok()?
                .set_buckets_for_metric(
                    Matcher::Full("journal_commit_updates".to_owned()),
                    COMMIT_SIZE_BUCKETS,
                )
                .ok()?
                .set_buckets_for_metric(
                    Matcher::Full("webhook_delivery_latency_seconds".to_owned()),
                    WEBHOOK_LATENCY_BUCKETS,
                )
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            describe();
            describe_versions();
            // Registered after the recorder exists, or they would record nowhere.
            let _ = MESSAGE_COUNTERS.set(message_counters());
            Some(handle)
        })
        .clone()
}

fn describe_versions() {
    describe_counter!(
        "board_versions_created_total",
        "Board versions written, by kind (auto, manual, pre_restore)."
    );
    describe_counter!(
        "board_version_restores_total",
        "Restores applied, by result (changed, unchanged)."
    );
    describe_counter!(
        "board_version_sweep_failures_total",
        "Sweeps for automatic versions that failed on the database."
    );
}

fn describe() {
    describe_counter!(
        "http_requests_total",
        "HTTP requests by method, matched route and status."
    );
    describe_histogram!(
        "http_request_duration_seconds",
        Unit::Seconds,
        "HTTP request latency by method, matched route and status."
    );
    describe_counter!(
        "http_rate_limited_total",
        "Requests refused with 429, by limit (login, ws_connect, member_add)."
    );
    describe_gauge!("ws_connections_open", "WebSocket sync sockets open now.");
    describe_counter!(
        "ws_messages_total",
        "WebSocket messages by direction (in/out) and type."
    );
    describe_counter!(
        "ws_message_bytes_total",
        Unit::Bytes,
        "WebSocket message bytes by direction (in/out) and type."
    );
    describe_counter!(
        "ws_closes_total",
        "WebSocket sockets closed by the server, by close code."
    );
    describe_counter!(
        "ws_frames_rejected_total",
        "Frames refused, by reason: undecodable, hostile (refused by the payload guard), too_large, rate, policy, awareness (awareness for clients the socket does not own, too many, or a state too long), protocol (a broken WebSocket frame or sequence), unsupported (a text message)."
    );
    describe_counter!(
        "ws_slow_client_disconnects_total",
        "Sockets closed (1013) because their send queue filled up."
    );
    describe_gauge!("boards_in_memory", "Boards loaded in memory.");
    describe_gauge!(
        "boards_dirty",
        "Boards in memory with changes not yet saved."
    );
    describe_counter!("board_saves_total", "Board saves by result (ok, error).");
    describe_counter!(
        "board_save_merges_total",
        "Saves that first merged a snapshot another instance had stored."
    );
    describe_histogram!(
        "board_save_duration_seconds",
        Unit::Seconds,
        "Time to encode and store a board snapshot."
    );
    describe_counter!(
        "board_save_bytes_total",
        Unit::Bytes,
        "Snapshot bytes written by saves."
    );
    describe_counter!(
        "journal_appends_total",
        "Updates committed to the board journal."
    );
    describe_counter!(
        "journal_bytes_total",
        Unit::Bytes,
        "Update bytes committed to the board journal."
    );
    describe_histogram!(
        "journal_commit_updates",
        "Updates per journal group commit (one transaction for every board's pending updates)."
    );
    describe_histogram!(
        "journal_commit_latency_seconds",
        Unit::Seconds,
        "Per group commit: from the arrival of its oldest update to its commit (the longest an update waited to become durable)."
    );
    describe_histogram!(
        "journal_commit_duration_seconds",
        Unit::Seconds,
        "Time the journal transaction of one group commit took."
    );
    describe_counter!(
        "journal_commit_failures_total",
        "Journal group commits that failed (their socket updates become durable with their boards' next saves; REST callers got 503)."
    );
    describe_counter!(
        "journal_refused_total",
        "Updates not queued for the journal, by reason: full (the writer is backed up), stopped (shutdown)."
    );
    describe_counter!(
        "journal_rows_replayed_total",
        "Journal rows applied when a board loaded (or merged from other instances by a save)."
    );
    describe_counter!(
        "journal_rows_kept_aside_total",
        "Journal rows that did not decode: kept in the table (kept_aside), never replayed again."
    );
    describe_histogram!(
        "db_pool_wait_seconds",
        Unit::Seconds,
        "Time spent waiting for a database connection."
    );
    describe_counter!(
        "cluster_messages_total",
        "Messages between instances through Redis, by direction (published, received) and kind (update, awareness, state_vector, leaving, control)."
    );
    describe_counter!(
        "cluster_messages_dropped_total",
        "Messages to other instances dropped, by reason: queue_full, disconnected, publish_failed, inbox_full."
    );
    describe_counter!(
        "cluster_messages_invalid_total",
        "Messages from Redis refused: undecodable envelopes, or payloads refused by the guard."
    );
    describe_counter!(
        "cluster_reconnects_total",
        "Connections to Redis re-established after one was lost."
    );
    describe_gauge!(
        "cluster_connected",
        "1 while connected to Redis (REDIS_URL set), else 0."
    );
    describe_counter!(
        "cluster_publishes_skipped_total",
        "Updates and awareness payloads (kind) not published because no other instance holds their board."
    );
    describe_gauge!(
        "cluster_boards_held",
        "Boards this instance holds (follows in Redis), as sampled when scraped."
    );
    describe_gauge!(
        "cluster_boards_shared",
        "Boards held here that another instance holds too: only these publish to Redis."
    );
    describe_gauge!(
        "cluster_save_leases_held",
        "Save leases this instance holds: shared boards it is the one saver of."
    );
    describe_counter!(
        "board_saves_deferred_total",
        "Due saves left to the instance holding the board's save lease."
    );
    describe_webhooks();
}

fn describe_webhooks() {
    describe_counter!(
        "webhook_deliveries_total",
        "Webhook deliveries a receiver accepted (answered 2xx)."
    );
    describe_counter!(
        "webhook_delivery_failures_total",
        "Failed webhook delivery attempts, by reason: status (not 2xx), timeout, connect, other."
    );
    describe_counter!(
        "webhook_deliveries_given_up_total",
        "Webhook deliveries dropped after their last retry failed."
    );
    describe_gauge!(
        "webhook_deliveries_pending",
        "Webhook deliveries in the outbox (due, waiting for a retry, or being sent), as last surveyed."
    );
    describe_histogram!(
        "webhook_delivery_latency_seconds",
        Unit::Seconds,
        "From a webhook event's creation to its delivery (2xx), retries included."
    );
}

/// The `route` label of a request that matched no route.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// A finished HTTP request. `route` is the matched route pattern (a closed set:
/// the router's own), `None` when no route matched.
pub fn http_request(method: &Method, route: Option<&str>, status: u16, elapsed: Duration) {
    let labels = [
        ("method", method_label(method).to_owned()),
        ("route", route.unwrap_or(UNMATCHED_ROUTE).to_owned()),
        ("status", status.to_string()),
    ];
    counter!("http_requests_total", &labels).increment(1);
    histogram!("http_request_duration_seconds", &labels).record(elapsed.as_secs_f64());
}

/// The `method` label: the method's name when it is one of RFC 9110's (and
/// `PATCH`), else `other`. Any token is a valid method name, so a label taken
/// from the request as is would let a client create series without bound.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// A request refused by a rate limit (`login`, `ws_connect`, `member_add`).
pub fn rate_limited(limit: &'static str) {
    counter!("http_rate_limited_total", "limit" => limit).increment(1);
}

/// A sync socket opened (`+1`) or closed (`-1`).
pub fn ws_open(delta: f64) {
    gauge!("ws_connections_open").increment(delta);
}

/// Which way a WebSocket message went.
#[derive(Debug, Clone, Copy)]
pub enum Direction {
    /// From the client.
    In = 0,
    /// To the client.
    Out = 1,
}

/// A WebSocket message in or out.
pub fn ws_message(direction: Direction, frame: &[u8]) {
    if let Some(counters) = MESSAGE_COUNTERS.get() {
        let kind = message_kind(frame);
        counters.messages[direction as usize][kind].increment(1);
        counters.bytes[direction as usize][kind].increment(frame.len() as u64);
    }
}

/// Messages of one direction tallied locally and added to the counters at
/// once: a socket's writer adds a whole batch of deliveries with one atomic
/// add per type seen instead of two per message (both cores share these).
#[derive(Debug, Default)]
pub struct MessageTally {
    messages: [u64; MESSAGE_KINDS.len()],
    bytes: [u64; MESSAGE_KINDS.len()],
}

impl MessageTally {
    /// Counts one message.
    pub fn add(&mut self, frame: &[u8]) {
        let kind = message_kind(frame);
        self.messages[kind] += 1;
        self.bytes[kind] += frame.len() as u64;
    }

    /// Counts everything `other` counted.
    pub fn merge(&mut self, other: &MessageTally) {
        for kind in 0..MESSAGE_KINDS.len() {
            self.messages[kind] += other.messages[kind];
            self.bytes[kind] += other.bytes[kind];
        }
    }

    /// Adds what was counted to the counters and starts again from zero.
    pub fn flush(&mut self, direction: Direction) {
        if let Some(counters) = MESSAGE_COUNTERS.get() {
            for kind in 0..MESSAGE_KINDS.len() {
                if self.messages[kind] > 0 {
                    counters.messages[direction as usize][kind].increment(self.messages[kind]);
                    counters.bytes[direction as usize][kind].increment(self.bytes[kind]);
                }
            }
        }
        *self = Self::default();
    }
}

/// Index into [`MESSAGE_KINDS`] of a frame's y-websocket type, from its first bytes.
fn message_kind(frame: &[u8]) -> usize {
    match frame {
        [0, 0, ..] => 0,
        [0, 1, ..] => 1,
        [0, 2, ..] => 2,
        [1, ..] => 3,
        [2, ..] => 4,
        [3, ..] => 5,
        _ => 6,
    }
}

/// The server closed a socket with `code`.
pub fn ws_closed(code: u16) {
    counter!("ws_closes_total", "code" => code.to_string()).increment(1);
    if code == 1013 {
        counter!("ws_slow_client_disconnects_total").increment(1);
    }
}

/// A frame was refused; `reason` is one of the closed set the sync controller
/// maps close reasons to (`undecodable`, `hostile`, `too_large`, `rate`,
/// `policy`, `awareness`, `protocol`, `unsupported`).
pub fn frame_rejected(reason: &'static str) {
    counter!("ws_frames_rejected_total", "reason" => reason).increment(1);
}

/// Boards in memory and dirty boards, sampled when metrics are scraped.
pub fn boards(in_memory: usize, dirty: usize) {
    gauge!("boards_in_memory").set(in_memory as f64);
    gauge!("boards_dirty").set(dirty as f64);
}

/// A board save attempt.
pub fn board_save(ok: bool, bytes: usize, elapsed: Duration) {
    let result = if ok { "ok" } else { "error" };
    counter!("board_saves_total", "result" => result).increment(1);
    histogram!("board_save_duration_seconds").record(elapsed.as_secs_f64());
    if ok {
        counter!("board_save_bytes_total").increment(bytes as u64);
    }
}

/// A save found that another instance had saved the board since, and merged
/// that snapshot first.
pub fn board_save_merge() {
    counter!("board_save_merges_total").increment(1);
}

/// A journal group commit: how many updates, rows (boards) and bytes it
/// carried, how long its transaction took, and how long its oldest update
/// waited (arrival to commit).
pub fn journal_commit(updates: usize, bytes: usize, duration: Duration, oldest_wait: Duration) {
    counter!("journal_appends_total").increment(updates as u64);
    counter!("journal_bytes_total").increment(bytes as u64);
    histogram!("journal_commit_updates").record(updates as f64);
    histogram!("journal_commit_duration_seconds").record(duration.as_secs_f64());
    histogram!("journal_commit_latency_seconds").record(oldest_wait.as_secs_f64());
}

/// A journal group commit failed.
pub fn journal_commit_failed() {
    counter!("journal_commit_failures_total").increment(1);
}

/// An update was not queued for the journal: its queue was `full`, or the
/// writer had stopped.
pub fn journal_refused(full: bool) {
    let reason = if full { "full" } else { "stopped" };
    counter!("journal_refused_total", "reason" => reason).increment(1);
}

/// Journal rows replayed into a board, and rows kept aside as undecodable.
pub fn journal_replayed(applied: usize, kept_aside: usize) {
    if applied > 0 {
        counter!("journal_rows_replayed_total").increment(applied as u64);
    }
    if kept_aside > 0 {
        counter!("journal_rows_kept_aside_total").increment(kept_aside as u64);
    }
}

/// Time spent waiting for a pooled database connection.
pub fn pool_wait(elapsed: Duration) {
    histogram!("db_pool_wait_seconds").record(elapsed.as_secs_f64());
}

/// A message to (`published`) or from (`received`) other instances.
pub fn cluster_message(direction: &'static str, kind: &'static str) {
    counter!("cluster_messages_total", "direction" => direction, "kind" => kind).increment(1);
}

/// A message to other instances was dropped (`queue_full`, `disconnected`,
/// `publish_failed`, `inbox_full`).
pub fn cluster_dropped(reason: &'static str) {
    counter!("cluster_messages_dropped_total", "reason" => reason).increment(1);
}

/// A message from Redis was refused.
pub fn cluster_invalid() {
    counter!("cluster_messages_invalid_total").increment(1);
}

/// The connection to Redis was re-established.
pub fn cluster_reconnect() {
    counter!("cluster_reconnects_total").increment(1);
}

/// An update or awareness payload was not published: no other instance
/// holds its board.
pub fn cluster_publish_skipped(kind: &'static str) {
    counter!("cluster_publishes_skipped_total", "kind" => kind).increment(1);
}

/// Boards held here, how many of them another instance holds too, and how
/// many save leases this instance holds, sampled when metrics are scraped.
pub fn cluster_boards(held: usize, shared: usize, leases: usize) {
    gauge!("cluster_boards_held").set(held as f64);
    gauge!("cluster_boards_shared").set(shared as f64);
    gauge!("cluster_save_leases_held").set(leases as f64);
}

/// A due save was left to the instance holding the board's save lease.
pub fn board_save_deferred() {
    counter!("board_saves_deferred_total").increment(1);
}

/// Connected to Redis or not.
pub fn cluster_connected(connected: bool) {
    gauge!("cluster_connected").set(if connected { 1.0 } else { 0.0 });
}

/// A board version was written (`kind`: `auto`, `manual` or `pre_restore`).
pub fn version_created(kind: &'static str) {
    counter!("board_versions_created_total", "kind" => kind).increment(1);
}

/// A restore was applied (`changed`: whether the board's content differed).
pub fn version_restored(changed: bool) {
    let result = if changed { "changed" } else { "unchanged" };
    counter!("board_version_restores_total", "result" => result).increment(1);
}

/// A sweep for automatic versions failed (the database did not answer).
pub fn version_sweep_failed() {
    counter!("board_version_sweep_failures_total").increment(1);
}

/// A webhook delivery a receiver accepted, `latency` after its event.
pub fn webhook_delivered(latency: Duration) {
    counter!("webhook_deliveries_total").increment(1);
    histogram!("webhook_delivery_latency_seconds").record(latency.as_secs_f64());
}

/// A failed webhook attempt; `reason` is one of `status`, `timeout`,
/// `connect`, `other`.
pub fn webhook_attempt_failed(reason: &'static str) {
    counter!("webhook_delivery_failures_total", "reason" => reason).increment(1);
}

/// A webhook delivery given up after its last retry.
pub fn webhook_given_up() {
    counter!("webhook_deliveries_given_up_total").increment(1);
}

/// Webhook deliveries in the outbox.
pub fn webhook_pending(pending: i64) {
    gauge!("webhook_deliveries_pending").set(pending as f64);
}

#[cfg(test)]
mod tests {
    use super::{message_kind, method_label, Method, MESSAGE_KINDS};

    #[test]
    fn method_labels_are_a_fixed_set() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        assert_eq!(method_label(&Method::TRACE), "TRACE");
        for made_up in ["FOO", "get", "BREW", "X-1234"] {
            let method = Method::from_bytes(made_up.as_bytes()).expect("a valid token");
            assert_eq!(method_label(&method), "other", "{made_up}");
        }
    }

    #[test]
    fn message_kinds_are_a_fixed_set() {
        let kind = |frame: &[u8]| MESSAGE_KINDS[message_kind(frame)];
        assert_eq!(kind(&[0, 0, 1, 0]), "sync_step1");
        assert_eq!(kind(&[0, 1, 2, 0, 0]), "sync_step2");
        assert_eq!(kind(&[0, 2, 2, 0, 0]), "sync_update");
        assert_eq!(kind(&[1, 1, 0]), "awareness");
        assert_eq!(kind(&[2, 0]), "auth");
        assert_eq!(kind(&[3]), "query_awareness");
        assert_eq!(kind(&[]), "other");
        assert_eq!(kind(&[77, 1]), "other");
    }
}

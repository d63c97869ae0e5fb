//! `saves` (canvas-server only: it reads `/metrics` and the REST API).
//!
//! 1. Database writes while a fanout runs: `board_saves_total{result="ok"}` and
//!    `board_save_bytes_total` before and after the fanout, and again once every
//!    board is saved and unloaded (the save after the last change); per board
//!    and per second of writing.
//! 2. Stored size after many updates: writers send `updates` small updates to
//!    one board (closed loop) while one client keeps a full replica; once the
//!    board is saved and unloaded, `GET /boards/{id}/state` (the stored
//!    snapshot) is compared with the replica compacted by
//!    `encode_state_as_update_v1`, in size and content.

use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{json, Value};
use yrs::{types::ToJson, updates::decoder::Decode, Doc, ReadTxn, StateVector, Transact, Update};

use crate::{
    fanout::{self, Pace},
    procstat::round2,
    server::{Backend, CanvasServer},
};

#[derive(Debug, Clone)]
pub struct Spec {
    /// The fanout during which saves are counted.
    pub fanout: fanout::Spec,
    /// Updates sent to one board for the stored-size part.
    pub updates: u64,
    pub size_writers: usize,
    pub size_window: u64,
    /// Upper bound on the stored-size part's writing time.
    pub size_time_limit: Duration,
}

const SAVES_OK: &str = "board_saves_total{result=\"ok\"}";
const SAVE_BYTES: &str = "board_save_bytes_total";
const SAVE_SECONDS_SUM: &str = "board_save_duration_seconds_sum";

async fn counters(server: &CanvasServer) -> anyhow::Result<(f64, f64, f64)> {
    let m = server.metrics().await?;
    let get = |k: &str| m.get(k).copied().unwrap_or(0.0);
    Ok((get(SAVES_OK), get(SAVE_BYTES), get(SAVE_SECONDS_SUM)))
}

pub async fn run(backend: &Backend, spec: &Spec) -> anyhow::Result<Value> {
    let server = backend
        .canvas()
        .context("saves reads canvas-server's /metrics and REST API: run it without --url")?;

    // Part 1: saves during a fanout.
    let before = counters(server).await?;
    let outcome = fanout::run(backend, &spec.fanout).await?;
    let during = counters(server).await?;
    let settle = server
        .wait_metric_at_most("boards_in_memory", 0.0, Duration::from_secs(60))
        .await?;
    let after = counters(server).await?;
    let write_s = outcome.json["write_s"].as_f64().unwrap_or(0.0);
    let boards = spec.fanout.boards as f64;
    let saves_during = during.0 - before.0;
    let saves_total = after.0 - before.0;
    let bytes_total = after.1 - before.1;
    let fanout_summary = json!({
        "clients": spec.fanout.clients,
        "writers": spec.fanout.writers,
        "boards": spec.fanout.boards,
        "write_s": write_s,
        "updates_sent": outcome.json["updates_sent"],
        "deliveries_per_s": outcome.json["deliveries_per_s"],
        "latency_ms": outcome.json["latency_ms"],
    });

    // Part 2: stored size after many updates on one board.
    let size_spec = fanout::Spec {
        clients: spec.size_writers + 1,
        writers: spec.size_writers,
        boards: 1,
        pace: Pace::Closed {
            window: spec.size_window,
        },
        duration: spec.size_time_limit,
        updates_per_writer: Some(spec.updates.div_ceil(spec.size_writers.max(1) as u64)),
        replica: true,
        connect_concurrency: 16,
    };
    let size_started = Instant::now();
    let size_before = counters(server).await?;
    let sized = fanout::run(backend, &size_spec).await?;
    let size_write_s = size_started.elapsed();
    server
        .wait_metric_at_most("boards_in_memory", 0.0, Duration::from_secs(60))
        .await?;
    let size_after = counters(server).await?;
    let board = &sized.rooms.first().context("a board")?.id;
    let stored = server.state(board).await?;
    let replica = sized.replica.context("the replica")?;
    let compacted = replica
        .transact()
        .encode_state_as_update_v1(&StateVector::default());
    let same = same_content(&stored, &replica)?;

    Ok(json!({
        "target": backend.describe(),
        "fanout": fanout_summary,
        "saves_during_fanout": saves_during,
        "saves_including_final": saves_total,
        "saves_per_board": round2(saves_total / boards),
        "saves_per_board_per_min": round2(saves_during / boards / (write_s / 60.0).max(1e-9)),
        "save_bytes_per_board": round2(bytes_total / boards),
        "bytes_per_save": round2(bytes_total / saves_total.max(1.0)),
        "save_ms_mean": round2((after.2 - before.2) * 1e3 / saves_total.max(1.0)),
        "settle_ms": round2(settle.as_secs_f64() * 1e3),
        "size_updates_sent": sized.json["updates_sent"],
        "size_updates_per_s": sized.json["updates_per_s"],
        "size_run_s": round2(size_write_s.as_secs_f64()),
        "size_saves": size_after.0 - size_before.0,
        "stored_bytes": stored.len(),
        "replica_compacted_bytes": compacted.len(),
        "stored_matches_replica": same,
        "db_file_bytes": server.db_bytes(),
        "errors": sized.json["errors"],
    }))
}

/// Whether the stored snapshot holds exactly what the replica holds.
fn same_content(stored: &[u8], replica: &Doc) -> anyhow::Result<bool> {
    let doc = Doc::new();
    doc.transact_mut()
        .apply_update(Update::decode_v1(stored)?)?;
    let (stored_map, replica_map) = (
        doc.get_or_insert_map("shapes"),
        replica.get_or_insert_map("shapes"),
    );
    let a = stored_map.to_json(&doc.transact());
    let b = replica_map.to_json(&replica.transact());
    let sv_equal = doc.transact().state_vector() == replica.transact().state_vector();
    Ok(a == b && sv_equal)
}

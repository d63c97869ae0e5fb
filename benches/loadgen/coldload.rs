//! `coldload`: how long a fresh client takes to get a large real document.
//!
//! The automerge-paper editing trace (259,778 single-character edits by Martin
//! Kleppmann et al., CC BY 4.0; see `shared/data/automerge-paper.SOURCE.md`) is
//! replayed locally into a Y.Text named `text`, one transaction per trace
//! transaction, and the result is checked against the trace's `endContent`.
//! Its full update is put on a fresh board (canvas-server: `POST
//! /boards/{id}/updates`; others: one client sends it), then:
//! - warm: with one socket keeping the board open, fresh clients one after
//!   another time connect → sync step 2 received (the whole document);
//! - cold: every socket closed, the board saved and unloaded (canvas-server:
//!   `boards_in_memory` back to 0 on `/metrics`; others: a fixed wait), then
//!   the first fresh client is timed (it loads the board), and the rest while
//!   it stays connected.
//!
//! Every client's step 2 is applied afterwards (untimed) and its text length checked.

use std::{
    io::Read as _,
    path::Path,
    time::{Duration, Instant},
};

use anyhow::Context;
use serde::Deserialize;
use serde_json::{json, Value};
use yrs::{updates::decoder::Decode, Doc, GetString, ReadTxn, StateVector, Text, Transact, Update};

use crate::{
    client::{Conn, Room},
    hist::summary_of,
    procstat::round2,
    server::Backend,
};

#[derive(Deserialize)]
struct Trace {
    #[serde(rename = "startContent")]
    start_content: String,
    #[serde(rename = "endContent")]
    end_content: String,
    txns: Vec<Txn>,
}

#[derive(Deserialize)]
struct Txn {
    patches: Vec<(u32, u32, String)>,
}

#[derive(Debug, Clone)]
pub struct Spec {
    pub trace: std::path::PathBuf,
    /// Fresh clients timed in each phase.
    pub clients: usize,
    /// For servers other than canvas-server: how long to wait for an unload.
    pub unload_wait: Duration,
}

/// The replayed document: its full update and facts about the replay.
pub(crate) struct Replayed {
    pub(crate) update: Vec<u8>,
    edits: usize,
    text_len: usize,
    replay: Duration,
}

pub(crate) fn replay(path: &Path) -> anyhow::Result<Replayed> {
    let file = std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
    let mut json = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut json)
        .context("gunzip trace")?;
    let trace: Trace = serde_json::from_str(&json).context("parse trace")?;
    drop(json);
    let started = Instant::now();
    let doc = Doc::new();
    let text = doc.get_or_insert_text("text");
    if !trace.start_content.is_empty() {
        text.insert(&mut doc.transact_mut(), 0, &trace.start_content);
    }
    let mut edits = 0;
    for txn in &trace.txns {
        let mut t = doc.transact_mut();
        for (pos, deleted, inserted) in &txn.patches {
            if *deleted > 0 {
                text.remove_range(&mut t, *pos, *deleted);
            }
            if !inserted.is_empty() {
                text.insert(&mut t, *pos, inserted);
            }
            edits += 1;
        }
    }
    let replay = started.elapsed();
    let content = text.get_string(&doc.transact());
    anyhow::ensure!(
        content.len() == trace.end_content.len() && content == trace.end_content,
        "replayed text ({} bytes) differs from endContent ({} bytes)",
        content.len(),
        trace.end_content.len()
    );
    let update = doc
        .transact()
        .encode_state_as_update_v1(&StateVector::default());
    Ok(Replayed {
        update,
        edits,
        text_len: content.len(),
        replay,
    })
}

/// Length of `text` in a document built from `update`.
fn text_len_of(update: &[u8]) -> anyhow::Result<usize> {
    let doc = Doc::new();
    doc.transact_mut()
        .apply_update(Update::decode_v1(update)?)?;
    let text = doc.get_or_insert_text("text");
    let len = text.get_string(&doc.transact()).len();
    Ok(len)
}

/// Connects a fresh client and times connect → step 2; returns the open socket
/// and its step 2 update.
async fn fresh(room: &Room) -> anyhow::Result<(Conn, Duration, bytes::Bytes)> {
    let started = Instant::now();
    let mut conn = Conn::connect(room).await?;
    let state = conn.handshake(None).await?;
    Ok((conn, started.elapsed(), state))
}

pub async fn run(backend: &Backend, spec: &Spec) -> anyhow::Result<Value> {
    let trace = tokio::task::spawn_blocking({
        let path = spec.trace.clone();
        move || replay(&path)
    })
    .await??;
    let room = backend
        .rooms("coldload", 1)
        .await?
        .pop()
        .context("a room")?;
    let rss_empty = backend.rss_kib();

    // Seed the board, then keep one socket on it.
    let seed_started = Instant::now();
    let holder = match backend.canvas() {
        Some(server) => {
            server.post_update(&room.id, trace.update.clone()).await?;
            let mut holder = Conn::connect(&room).await?;
            holder.handshake(None).await?;
            holder
        }
        None => {
            let mut holder = Conn::connect(&room).await?;
            holder.handshake(None).await?;
            let frame = holder.framing().update(&trace.update);
            holder.send(frame).await?;
            holder
        }
    };
    let seed = seed_started.elapsed();

    let mut warm = Vec::new();
    let mut states = Vec::new();
    for _ in 0..spec.clients {
        let (conn, took, state) = fresh(&room).await?;
        warm.push(took);
        states.push(state);
        conn.close().await;
    }
    let rss_loaded = backend.rss_kib();
    holder.close().await;

    // Wait for the board to be saved and unloaded.
    let unload_started = Instant::now();
    match backend.canvas() {
        Some(server) => {
            server
                .wait_metric_at_most("boards_in_memory", 0.0, Duration::from_secs(60))
                .await?;
        }
        None => tokio::time::sleep(spec.unload_wait).await,
    }
    let unload_wait = unload_started.elapsed();
    let rss_unloaded = backend.rss_kib();

    let (first, cold, state) = fresh(&room).await?;
    states.push(state);
    let mut reload = Vec::new();
    for _ in 1..spec.clients {
        let (conn, took, state) = fresh(&room).await?;
        reload.push(took);
        states.push(state);
        conn.close().await;
    }
    first.close().await;

    let step2_bytes = states.first().map(|s| s.len());
    let mut full = [true, true];
    for (i, state) in states.iter().enumerate() {
        let phase = usize::from(i >= spec.clients);
        full[phase] &= text_len_of(state)? == trace.text_len;
    }
    Ok(json!({
        "target": backend.describe(),
        "trace_edits": trace.edits,
        "text_len": trace.text_len,
        "replay_ms": round2(trace.replay.as_secs_f64() * 1e3),
        "update_bytes": trace.update.len(),
        "step2_bytes": step2_bytes,
        "seed_ms": round2(seed.as_secs_f64() * 1e3),
        "clients_per_phase": spec.clients,
        "warm_ms": summary_of(&warm),
        "cold_first_ms": round2(cold.as_secs_f64() * 1e3),
        "after_reload_ms": summary_of(&reload),
        "unload_wait_ms": round2(unload_wait.as_secs_f64() * 1e3),
        "warm_synced_full_text": full[0],
        "cold_synced_full_text": full[1],
        "server_rss_empty_kib": rss_empty,
        "server_rss_loaded_kib": rss_loaded,
        "server_rss_unloaded_kib": rss_unloaded,
    }))
}

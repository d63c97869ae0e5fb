//! `journal`: the board journal on its own, in process, over a temporary SQLite
//! file (no sockets, so the numbers are the journal's).
//!
//! - throughput: 16-byte updates appended round-robin over many boards as fast
//!   as the group-commit writer takes them; updates committed per second of
//!   wall time and per CPU second of this process (the writer and its database
//!   thread: "on one core"), for `DURABILITY=process` and `power`;
//! - latency: REST-style appends (each waits for its commit) at a fixed rate;
//!   arrival → commit percentiles: the group-commit window;
//! - cold load: the automerge-paper board's snapshot plus a 10,000-row
//!   journal (one small map edit a row), read and replayed as a load does
//!   (snapshot and rows read at once; the snapshot decoded on one thread
//!   while the rows are decoded and merged on another; the merged rows
//!   applied); beside it the
//!   same board with an empty journal.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use bytes::Bytes;
use canvas_server::{
    board_service::{
        group_commit::JournalCursor, journal::Compaction, JournalLimits, JournalWriter, LiveBoard,
    },
    config::{DatabaseLocation, Durability},
    db::Db,
};
use serde_json::{json, Value};
use uuid::Uuid;
use yrs::{Map, ReadTxn, Transact};

use crate::{
    hist::summary_of,
    procstat::{cpu_seconds, round2},
};

#[derive(Debug, Clone)]
pub struct Spec {
    pub trace: std::path::PathBuf,
    /// Updates appended in each throughput run.
    pub updates: u64,
    /// Boards they are spread over.
    pub boards: usize,
}

/// A temporary database with `boards` boards of one user.
async fn database(
    durability: Durability,
    boards: usize,
) -> anyhow::Result<(tempfile::TempDir, Db, Vec<Uuid>)> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("canvas.db").to_string_lossy().into_owned();
    let db = Db::open_with(&DatabaseLocation::SqliteFile(path), durability).await?;
    let user = db
        .create_user("bench@example.com".into(), "bench".into(), "x".into())
        .await?;
    let mut ids = Vec::with_capacity(boards);
    for i in 0..boards {
        ids.push(db.create_board(user.id, format!("b{i}")).await?.id);
    }
    Ok((dir, db, ids))
}

async fn throughput(durability: Durability, spec: &Spec) -> anyhow::Result<Value> {
    let (_dir, db, boards) = database(durability, spec.boards).await?;
    let writer = JournalWriter::start(
        Arc::new(db.clone()),
        JournalLimits {
            max_queued_bytes: 8 * 1024 * 1024,
        },
    );
    let cursors: Vec<Arc<JournalCursor>> = boards.iter().map(|_| Arc::default()).collect();
    let update = Bytes::from_static(&[7; 16]);
    let cpu_before = cpu_seconds("self").unwrap_or(0.0);
    let started = Instant::now();
    let mut refused = 0u64;
    for i in 0..spec.updates {
        let board = (i as usize) % boards.len();
        // Backed up: let the writer catch up, as a socket's next read would.
        while writer
            .append(boards[board], &cursors[board], update.clone())
            .is_err()
        {
            refused += 1;
            tokio::task::yield_now().await;
        }
        if i % 256 == 0 {
            tokio::task::yield_now().await;
        }
    }
    writer.flush().await;
    let wall = started.elapsed();
    let cpu = cpu_seconds("self").unwrap_or(0.0) - cpu_before;
    writer.close().await;
    let stored = db
        .read_journal(boards[0], None)
        .await?
        .iter()
        .map(|row| row.updates.len())
        .sum::<usize>();
    anyhow::ensure!(stored > 0, "nothing was committed");
    Ok(json!({
        "durability": format!("{durability:?}").to_lowercase(),
        "updates": spec.updates,
        "boards": spec.boards,
        "update_bytes": update.len(),
        "wall_ms": round2(wall.as_secs_f64() * 1e3),
        "updates_per_sec": (spec.updates as f64 / wall.as_secs_f64()).round(),
        "cpu_seconds": round2(cpu),
        "updates_per_cpu_sec": (spec.updates as f64 / cpu.max(1e-9)).round(),
        "refused_while_backed_up": refused,
    }))
}

async fn latency(durability: Durability, rate: f64, count: usize) -> anyhow::Result<Value> {
    let (_dir, db, boards) = database(durability, 16).await?;
    let writer = JournalWriter::start(
        Arc::new(db.clone()),
        JournalLimits {
            max_queued_bytes: 8 * 1024 * 1024,
        },
    );
    let cursors: Vec<Arc<JournalCursor>> = boards.iter().map(|_| Arc::default()).collect();
    let interval = Duration::from_secs_f64(1.0 / rate);
    let started = tokio::time::Instant::now();
    let mut waits = Vec::with_capacity(count);
    for i in 0..count {
        tokio::time::sleep_until(started + interval * i as u32).await;
        let board = i % boards.len();
        let writer = writer.clone();
        let (id, cursor) = (boards[board], Arc::clone(&cursors[board]));
        waits.push(tokio::spawn(async move {
            let at = Instant::now();
            writer
                .append_durably(id, &cursor, Bytes::from_static(&[7; 16]))
                .await
                .map(|()| at.elapsed())
        }));
    }
    let mut samples = Vec::with_capacity(count);
    for wait in waits {
        samples.push(wait.await?.context("committed")?);
    }
    writer.close().await;
    Ok(json!({
        "durability": format!("{durability:?}").to_lowercase(),
        "rate_per_sec": rate,
        "appends": count,
        "arrival_to_commit_ms": summary_of(&samples),
    }))
}

/// 10,000 updates each setting one key of map `m`, made on top of nothing
/// (they apply to any document).
fn small_updates(count: usize) -> Vec<Vec<u8>> {
    let doc = yrs::Doc::new();
    let map = doc.get_or_insert_map("m");
    (0..count)
        .map(|i| {
            let before = doc.transact().state_vector();
            map.insert(&mut doc.transact_mut(), format!("k{}", i % 100), i as f64);
            doc.transact().encode_diff_v1(&before)
        })
        .collect()
}

async fn cold_load(spec: &Spec) -> anyhow::Result<Value> {
    let paper = tokio::task::spawn_blocking({
        let path = spec.trace.clone();
        move || crate::coldload::replay(&path)
    })
    .await??;
    let (_dir, db, boards) = database(Durability::Process, 2).await?;
    let (with_journal, without) = (boards[0], boards[1]);
    for board in [with_journal, without] {
        db.save_board_state(
            board,
            paper.update.clone(),
            0,
            Compaction::default(),
            Vec::new(),
        )
        .await?;
    }
    const ROWS: usize = 10_000;
    let updates = small_updates(ROWS);
    let row_bytes: usize = updates.iter().map(Vec::len).sum::<usize>() / ROWS;
    // One row per update, as 10,000 group commits of one update each leave them.
    let rows = updates
        .iter()
        .map(|update| {
            let mut framed = Vec::new();
            canvas_server::board_service::journal::frame_update(&mut framed, update);
            canvas_server::board_service::journal::NewJournalRow {
                board_id: with_journal,
                updates: framed,
            }
        })
        .collect::<Vec<_>>();
    for chunk in rows.chunks(1_000) {
        db.append_journal(Uuid::new_v4(), chunk.to_vec()).await?;
    }
    anyhow::ensure!(db.read_journal(with_journal, None).await?.len() == ROWS);

    let mut loads = Vec::new();
    let mut baseline = Vec::new();
    for round in 0..12 {
        for (board, journal) in [(with_journal, true), (without, false)] {
            let started = Instant::now();
            // Both reads at once, as a load does.
            let (stored, rows) =
                tokio::join!(db.load_board_state(board), db.read_journal(board, None));
            let (stored, rows) = (stored?.context("saved")?, rows?);
            let (applied, text_ok) = tokio::task::spawn_blocking(move || {
                // As a load does: the snapshot decodes on another thread
                // while this one prepares the rows.
                let live = Arc::new(LiveBoard::from_snapshot(board, Some(stored.state))?);
                let decoding = Arc::clone(&live);
                drop(tokio::task::spawn_blocking(move || decoding.decode()));
                let replayed = live.replay(&rows);
                live.decode();
                let keys = live.read_doc(|doc| {
                    let map = doc.get_or_insert_map("m");
                    let txn = doc.transact();
                    map.len(&txn)
                });
                Ok::<_, canvas_server::board_service::DocError>((replayed.applied.len(), keys))
            })
            .await??;
            let took = started.elapsed();
            anyhow::ensure!(applied == if journal { ROWS } else { 0 });
            anyhow::ensure!(text_ok == if journal { 100 } else { 0 });
            // The first round warms the page cache and the allocator.
            if round > 1 {
                if journal {
                    loads.push(took);
                } else {
                    baseline.push(took);
                }
            }
        }
    }
    Ok(json!({
        "snapshot_bytes": paper.update.len(),
        "journal_rows": ROWS,
        "row_update_bytes": row_bytes,
        "load_with_journal_ms": summary_of(&loads),
        "load_without_journal_ms": summary_of(&baseline),
    }))
}

pub async fn run(spec: &Spec) -> anyhow::Result<Value> {
    let process = throughput(Durability::Process, spec).await?;
    let power = throughput(Durability::Power, spec).await?;
    let latency_low = latency(Durability::Process, 1_000.0, 2_000).await?;
    let latency_high = latency(Durability::Process, 50_000.0, 50_000).await?;
    let latency_power = latency(Durability::Power, 1_000.0, 2_000).await?;
    let cold = cold_load(spec).await?;
    Ok(json!({
        "throughput": [process, power],
        "latency": [latency_low, latency_high, latency_power],
        "cold_load": cold,
    }))
}

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
//!   journal (one small map edit a row, as another process left them),
//!   loaded by the server's own load path (`BoardService::open`: from the
//!   first database read to a board ready to serve, its document decoded and
//!   every row replayed); beside it the same board with an empty journal
//!   (timed to its document decoded, and to `open` returning, when the
//!   stored bytes can already be served), and the load's parts timed one
//!   after another.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use bytes::Bytes;
use canvas_server::{
    board_service::{
        group_commit::JournalCursor,
        journal::{frame_update, Compaction, NewJournalRow},
        BoardService, JournalLimits, JournalWriter, LiveBoard, QueueLimits, ServiceSettings,
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
    /// Run only the cold load.
    pub cold_load_only: bool,
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

/// The rows of `updates`, one update a row, as 10,000 group commits of one
/// update each leave them.
fn journal_rows(board: Uuid, updates: &[Vec<u8>]) -> Vec<NewJournalRow> {
    updates
        .iter()
        .map(|update| {
            let mut framed = Vec::new();
            frame_update(&mut framed, update);
            NewJournalRow {
                board_id: board,
                updates: framed,
            }
        })
        .collect()
}

/// Puts `snapshot` back as the board's stored state and appends `rows` as
/// another (crashed) process's: the state a load after a crash finds.
async fn reset_board(
    db: &Db,
    board: Uuid,
    snapshot: &[u8],
    rows: &[NewJournalRow],
) -> anyhow::Result<()> {
    let version = db.load_board_state(board).await?.map_or(0, |s| s.version);
    db.save_board_state(
        board,
        snapshot.to_vec(),
        version,
        Compaction::default(),
        Vec::new(),
    )
    .await?;
    let crashed = Uuid::new_v4();
    for chunk in rows.chunks(1_000) {
        db.append_journal(crashed, chunk.to_vec()).await?;
    }
    Ok(())
}

/// Journal rows of the cold-load board.
const ROWS: usize = 10_000;

async fn cold_load(spec: &Spec) -> anyhow::Result<Value> {
    let paper = tokio::task::spawn_blocking({
        let path = spec.trace.clone();
        move || crate::coldload::replay(&path)
    })
    .await??;
    let (_dir, db, boards) = database(Durability::Process, 2).await?;
    let (with_journal, without) = (boards[0], boards[1]);
    let updates = small_updates(ROWS);
    let row_bytes: usize = updates.iter().map(Vec::len).sum::<usize>() / ROWS;
    let rows = journal_rows(with_journal, &updates);
    reset_board(&db, without, &paper.update, &[]).await?;

    // The server's own load path: `BoardService::open` reads the snapshot and
    // the rows, replays them and returns a board ready to serve. Its save
    // worker then compacts (deleting the rows); between rounds the board is
    // unloaded and the snapshot and rows put back, untimed.
    let store = Arc::new(db.clone());
    let writer = JournalWriter::start(
        store.clone(),
        JournalLimits {
            max_queued_bytes: 8 * 1024 * 1024,
        },
    );
    let service = BoardService::with_journal(
        store,
        ServiceSettings {
            save_debounce: Duration::from_millis(20),
            save_max_debounce: Duration::from_millis(100),
            queue: QueueLimits {
                frames: 16,
                bytes: 1 << 20,
            },
        },
        None,
        Some(writer.clone()),
    );
    let mut loads = Vec::new();
    let mut opens = Vec::new();
    let mut baseline = Vec::new();
    for round in 0..14 {
        for (board, journal) in [(with_journal, true), (without, false)] {
            if journal {
                reset_board(&db, board, &paper.update, &rows).await?;
            }
            let started = Instant::now();
            let lease = service.open(board).await?;
            let opened = started.elapsed();
            let live = Arc::clone(lease.board());
            // Ready to serve: a replayed board's document is decoded by the
            // load; a board without rows serves its stored bytes at once and
            // decodes on first use, timed here as part of its load.
            let ready = tokio::task::spawn_blocking(move || {
                live.decode();
                live.read_doc(|doc| {
                    let map = doc.get_or_insert_map("m");
                    let txn = doc.transact();
                    map.len(&txn)
                })
            })
            .await?;
            let took = started.elapsed();
            anyhow::ensure!(ready == if journal { 100 } else { 0 });
            drop(lease);
            let deadline = Instant::now() + Duration::from_secs(10);
            while service.loaded_count() > 0 {
                anyhow::ensure!(Instant::now() < deadline, "the board never unloaded");
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            if journal {
                anyhow::ensure!(
                    db.read_journal(board, None).await?.is_empty(),
                    "the load's compaction left rows"
                );
            }
            // The first rounds warm the page cache and the allocator.
            if round > 1 {
                if journal {
                    loads.push(opened);
                } else {
                    opens.push(opened);
                    baseline.push(took);
                }
            }
        }
    }
    writer.close().await;
    Ok(json!({
        "snapshot_bytes": paper.update.len(),
        "journal_rows": ROWS,
        "row_update_bytes": row_bytes,
        "load_with_journal_ms": summary_of(&loads),
        "load_without_journal_ms": summary_of(&baseline),
        "open_without_journal_ms": summary_of(&opens),
        "phases_ms": phases(&db, with_journal, &paper.update, &rows).await?,
    }))
}

/// The load's parts one after another (in a load they overlap), medians of
/// 10 runs: reading the rows, reading the snapshot, decoding the snapshot,
/// replaying the rows into it.
async fn phases(
    db: &Db,
    board: Uuid,
    snapshot: &[u8],
    rows: &[NewJournalRow],
) -> anyhow::Result<Value> {
    reset_board(db, board, snapshot, rows).await?;
    let (mut read_rows, mut read_snapshot, mut decode, mut replay) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..12 {
        let started = Instant::now();
        let rows = db.read_journal(board, None).await?;
        read_rows.push(started.elapsed());
        let started = Instant::now();
        let stored = db.load_board_state(board).await?.context("saved")?;
        read_snapshot.push(started.elapsed());
        let (decoded, replayed, board) = tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let live = LiveBoard::from_snapshot(board, Some(stored.state))?;
            live.decode();
            let decoded = started.elapsed();
            let started = Instant::now();
            let applied = live.replay(&rows).applied.len();
            Ok::<_, canvas_server::board_service::DocError>((
                decoded,
                (started.elapsed(), applied),
                live,
            ))
        })
        .await??;
        anyhow::ensure!(replayed.1 == ROWS, "every row replays");
        drop(board);
        decode.push(decoded);
        replay.push(replayed.0);
    }
    let median = |samples: &mut Vec<Duration>| {
        samples.drain(..2);
        samples.sort();
        round2(samples[samples.len() / 2].as_secs_f64() * 1e3)
    };
    Ok(json!({
        "read_rows": median(&mut read_rows),
        "read_snapshot": median(&mut read_snapshot),
        "decode_snapshot": median(&mut decode),
        "replay_rows": median(&mut replay),
    }))
}

pub async fn run(spec: &Spec) -> anyhow::Result<Value> {
    if spec.cold_load_only {
        return Ok(json!({ "cold_load": cold_load(spec).await? }));
    }
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

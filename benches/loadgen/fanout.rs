//! `fanout`: C clients on B boards, W of them writing, every update measured
//! from its send to each other client of its board.
//!
//! Clients are spread round-robin over the boards, writers first, so each board
//! gets W/B writers. All clients connect and finish the sync handshake before
//! the first write. Open loop: writers send at a fixed total rate on a
//! schedule, and latency counts from the scheduled time, so a server (or load
//! generator) falling behind shows up as latency instead of as a lower rate.
//! Closed loop: each writer keeps at most `window` updates that some other
//! client of its board has not yet received. After the writing time, writers
//! stop and the run waits (a few seconds at most) for the deliveries in flight.
//! Server and load generator CPU are measured over writing plus draining.

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use serde_json::{json, Value};
use tokio::sync::{watch, Semaphore};
use yrs::{Doc, Transact};

use crate::{
    client::{Conn, Room},
    hist::{summary_of, Hist},
    procstat::{round2, round3, CpuWindow},
    server::Backend,
    track::{BoardTrack, WriterTrack},
    writer::{run_client, ClientOutcome, ClientRole},
};

/// How writers pace themselves.
#[derive(Debug, Clone, Copy)]
pub enum Pace {
    /// A total rate of updates per second over all writers.
    Open { rate: f64 },
    /// At most `window` undelivered updates per writer.
    Closed { window: u64 },
}

/// One fanout run.
#[derive(Debug, Clone)]
pub struct Spec {
    pub clients: usize,
    pub writers: usize,
    pub boards: usize,
    pub pace: Pace,
    /// Writing time (the cap, when `updates_per_writer` is set).
    pub duration: Duration,
    /// Stop each writer after this many updates.
    pub updates_per_writer: Option<u64>,
    /// One non-writing client of board 0 keeps a full replica.
    pub replica: bool,
    /// Sockets connecting at once during set-up.
    pub connect_concurrency: usize,
}

/// What a run leaves for a caller that goes on with the boards.
pub struct Outcome {
    pub json: Value,
    pub rooms: Vec<Room>,
    /// The replica of board 0, when asked for.
    pub replica: Option<Doc>,
}

/// Flags every client task reads.
pub struct Shared {
    pub base: Instant,
    pub start: tokio::time::Instant,
    pub sending: AtomicBool,
    pub pace: Pace,
    pub writers_total: usize,
    pub quota: Option<u64>,
    /// Largest delay of an open-loop send behind its schedule, in ns.
    pub behind_ns: AtomicU64,
    pub writers_done: AtomicU64,
}

/// A document whose client id fits in 32 bits, as Yjs (JavaScript) makes them:
/// yrs's own 53-bit ids are cut to 32 bits by servers built on older yrs
/// (y-sweet 0.9), which would make their updates unrecognisable here.
pub fn js_sized_doc() -> Doc {
    let id = yrs::block::ClientID::random().get() & u64::from(u32::MAX);
    Doc::with_client_id(id.max(1))
}

/// Time since `base` in ns.
pub fn now_ns(base: Instant) -> u64 {
    base.elapsed().as_nanos() as u64
}

/// Runs one fanout on fresh rooms of `backend`.
pub async fn run(backend: &Backend, spec: &Spec) -> anyhow::Result<Outcome> {
    anyhow::ensure!(
        spec.boards >= 1 && spec.clients >= spec.boards,
        "need clients >= boards >= 1"
    );
    anyhow::ensure!(
        spec.writers >= 1 && spec.writers <= spec.clients,
        "need 1 <= writers <= clients"
    );
    if let Pace::Closed { window } = spec.pace {
        anyhow::ensure!(window >= 1, "window must be at least 1");
        anyhow::ensure!(
            spec.clients >= 2 * spec.boards,
            "closed loop needs two clients per board"
        );
    }
    let rooms = backend.rooms("fanout", spec.boards).await?;

    // Plan: client i joins board i % B as member i / B; clients below W write.
    let mut roles: Vec<ClientRole> = (0..spec.clients)
        .map(|i| ClientRole {
            board: i % spec.boards,
            member: i / spec.boards,
            writer: (i < spec.writers).then_some(i / spec.boards),
            writer_index: i,
            replica: false,
        })
        .collect();
    if spec.replica {
        let replica = roles
            .iter_mut()
            .find(|r| r.board == 0 && r.writer.is_none())
            .ok_or_else(|| anyhow::anyhow!("a replica needs a non-writing client on board 0"))?;
        replica.replica = true;
    }
    let docs: Vec<Option<Doc>> = roles
        .iter()
        .map(|r| (r.writer.is_some() || r.replica).then(js_sized_doc))
        .collect();
    let tracks: Arc<Vec<BoardTrack>> = Arc::new(
        (0..spec.boards)
            .map(|board| {
                let members = roles.iter().filter(|r| r.board == board).count();
                let mut by_client = std::collections::HashMap::new();
                let mut writers = Vec::new();
                for (role, doc) in roles.iter().zip(&docs) {
                    if let (true, Some(slot), Some(doc)) = (role.board == board, role.writer, doc) {
                        by_client.insert(doc.client_id().get(), slot);
                        writers.push(WriterTrack::new(members, role.member));
                    }
                }
                BoardTrack {
                    by_client,
                    writers,
                    members,
                }
            })
            .collect(),
    );

    // Connect and sync everyone, a bounded number at a time.
    let gate = Arc::new(Semaphore::new(spec.connect_concurrency.max(1)));
    let mut connecting = Vec::new();
    for (role, doc) in roles.iter().zip(docs) {
        let room = rooms[role.board].clone();
        let gate = Arc::clone(&gate);
        connecting.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await?;
            let started = Instant::now();
            let mut conn = Conn::connect(&room).await?;
            let state = conn.handshake(doc.as_ref()).await?;
            if let Some(doc) = &doc {
                use yrs::updates::decoder::Decode;
                let update = yrs::Update::decode_v1(&state)?;
                doc.transact_mut().apply_update(update)?;
            }
            anyhow::Ok((conn, doc, started.elapsed()))
        }));
    }
    let mut conns = Vec::new();
    let mut connect_times = Vec::new();
    for task in connecting {
        let (conn, doc, took) = task.await??;
        conns.push((conn, doc));
        connect_times.push(took);
    }

    let base = Instant::now();
    let start = tokio::time::Instant::now() + Duration::from_millis(50);
    let shared = Arc::new(Shared {
        base,
        start,
        sending: AtomicBool::new(true),
        pace: spec.pace,
        writers_total: spec.writers,
        quota: spec.updates_per_writer,
        behind_ns: AtomicU64::new(0),
        writers_done: AtomicU64::new(0),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let pid = backend.pid();
    let cpu = CpuWindow::start(pid);
    let mut tasks = Vec::new();
    for (role, (conn, doc)) in roles.iter().cloned().zip(conns) {
        tasks.push(tokio::spawn(run_client(
            conn,
            doc,
            role,
            Arc::clone(&tracks),
            Arc::clone(&shared),
            stop_rx.clone(),
        )));
    }

    // Write until the time is up (or every writer has its quota), then drain.
    let deadline = start + spec.duration;
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let all_done = shared.writers_done.load(Ordering::Acquire) as usize >= spec.writers;
        if all_done || tokio::time::Instant::now() >= deadline {
            break;
        }
    }
    shared.sending.store(false, Ordering::Release);
    let send_window = start.elapsed();
    let drain_started = Instant::now();
    while !tracks.iter().all(BoardTrack::drained)
        && drain_started.elapsed() < Duration::from_secs(5)
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let drain = drain_started.elapsed();
    let used = cpu.finish();
    let server_rss = backend.rss_kib();
    let _ = stop_tx.send(true);

    let mut hist = Hist::default();
    let mut outcomes: Vec<ClientOutcome> = Vec::new();
    for task in tasks {
        outcomes.push(task.await?);
    }
    for outcome in &outcomes {
        hist.merge(&outcome.receiver.hist);
    }
    let sum = |f: fn(&ClientOutcome) -> u64| outcomes.iter().map(f).sum::<u64>();
    let sent: u64 = tracks
        .iter()
        .flat_map(|b| &b.writers)
        .map(|w| w.sent.load(Ordering::Acquire))
        .sum();
    let expected: u64 = tracks.iter().map(BoardTrack::expected).sum();
    let deliveries = hist.count();
    let window_s = send_window.as_secs_f64();
    let ended: Vec<Value> = outcomes.iter().filter_map(|o| o.ended.clone()).collect();
    let errors: Vec<String> = outcomes.iter().filter_map(|o| o.error.clone()).collect();
    let mut line = json!({
        "target": backend.describe(),
        "clients": spec.clients,
        "writers": spec.writers,
        "boards": spec.boards,
        "write_s": round3(window_s),
        "drain_ms": round2(drain.as_secs_f64() * 1e3),
        "updates_sent": sent,
        "updates_per_s": round2(sent as f64 / window_s),
        "deliveries": deliveries,
        "deliveries_expected": expected,
        "deliveries_per_s": round2(deliveries as f64 / (window_s + drain.as_secs_f64())),
        "latency_ms": hist.summary_ms(),
        "connect_sync_ms": summary_of(&connect_times),
        "server_cpu_pct": used.server_pct(),
        "server_cpu_us_per_delivery": used.server_cpu_s
            .filter(|_| deliveries > 0)
            .map(|s| round3(s * 1e6 / deliveries as f64)),
        "server_rss_kib": server_rss,
        "loadgen_cpu_pct": used.own_pct(),
        "out_of_order": sum(|o| o.receiver.out_of_order),
        "stale": sum(|o| o.receiver.stale),
        "undecodable": sum(|o| o.receiver.undecodable),
        "decoded_by_yrs": sum(|o| o.receiver.decoded_by_yrs),
        "sockets_ended_early": ended,
        "errors": errors,
    });
    match spec.pace {
        Pace::Open { rate } => {
            line["pace"] = json!("open");
            line["rate_target"] = json!(rate);
            line["send_behind_max_ms"] = json!(round3(
                shared.behind_ns.load(Ordering::Relaxed) as f64 / 1e6
            ));
        }
        Pace::Closed { window } => {
            line["pace"] = json!("closed");
            line["window"] = json!(window);
        }
    }
    let replica = outcomes.into_iter().find_map(|o| o.replica);
    Ok(Outcome {
        json: line,
        rooms,
        replica,
    })
}

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

pub use crate::writer::Pace;
use crate::{
    client::{Conn, Room},
    hist::{summary_of, Hist},
    procstat::{round2, round3, CpuWindow},
    server::Backend,
    track::{BoardTrack, WriterTrack},
    writer::{run_client, ClientOutcome, ClientRole, Shared},
};

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

/// A document whose client id fits in 32 bits, as Yjs (JavaScript) makes them:
/// yrs's own 53-bit ids are cut to 32 bits by servers built on older yrs
/// (y-sweet 0.9), which would make their updates unrecognisable here.
pub fn js_sized_doc() -> Doc {
    let id = yrs::block::ClientID::random().get() & u64::from(u32::MAX);
    Doc::with_client_id(id.max(1))
}

/// The clients of one fanout, connected and synced, not yet writing.
pub struct Group {
    spec: Spec,
    rooms: Vec<Room>,
    roles: Vec<ClientRole>,
    tracks: Arc<Vec<BoardTrack>>,
    conns: Vec<(Conn, Option<Doc>)>,
    connect_times: Vec<Duration>,
}

/// Connects and syncs every client of `spec` to `rooms` (one per board), a
/// bounded number at a time. The sockets belong to the runtime this runs on.
pub async fn connect(rooms: Vec<Room>, spec: Spec) -> anyhow::Result<Group> {
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
    anyhow::ensure!(rooms.len() == spec.boards, "one room per board");

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
    Ok(Group {
        spec,
        rooms,
        roles,
        tracks,
        conns,
        connect_times,
    })
}

/// A group's clients at work: writing on their pace and receiving.
pub struct Running {
    spec: Spec,
    rooms: Vec<Room>,
    tracks: Arc<Vec<BoardTrack>>,
    shared: Arc<Shared>,
    tasks: Vec<tokio::task::JoinHandle<ClientOutcome>>,
    connect_times: Vec<Duration>,
}

impl Group {
    /// Starts every client task (on the current runtime); writing begins at
    /// `start`, and the tasks end when `stop` turns true.
    pub fn launch(
        self,
        base: Instant,
        start: tokio::time::Instant,
        stop: watch::Receiver<bool>,
    ) -> Running {
        let shared = Arc::new(Shared {
            base,
            start,
            sending: AtomicBool::new(true),
            pace: self.spec.pace,
            writers_total: self.spec.writers,
            quota: self.spec.updates_per_writer,
            behind_ns: AtomicU64::new(0),
            writers_done: AtomicU64::new(0),
        });
        let tasks = self
            .roles
            .iter()
            .cloned()
            .zip(self.conns)
            .map(|(role, (conn, doc))| {
                tokio::spawn(run_client(
                    conn,
                    doc,
                    role,
                    Arc::clone(&self.tracks),
                    Arc::clone(&shared),
                    stop.clone(),
                ))
            })
            .collect();
        Running {
            spec: self.spec,
            rooms: self.rooms,
            tracks: self.tracks,
            shared,
            tasks,
            connect_times: self.connect_times,
        }
    }
}

/// What a group's run measured.
pub struct Finished {
    pub hist: Hist,
    pub outcomes: Vec<ClientOutcome>,
    pub sent: u64,
    pub expected: u64,
    pub rooms: Vec<Room>,
    pub connect_times: Vec<Duration>,
    /// Largest open-loop send delay behind schedule, in ns.
    pub behind_ns: u64,
}

impl Running {
    /// Whether every writer reached its quota.
    fn all_written(&self) -> bool {
        self.shared.writers_done.load(Ordering::Acquire) as usize >= self.spec.writers
    }

    fn stop_sending(&self) {
        self.shared.sending.store(false, Ordering::Release);
    }

    fn drained(&self) -> bool {
        self.tracks.iter().all(BoardTrack::drained)
    }

    /// Waits for the client tasks (after `stop` turned true) and merges what
    /// they measured.
    pub async fn finish(self) -> anyhow::Result<Finished> {
        let mut hist = Hist::default();
        let mut outcomes: Vec<ClientOutcome> = Vec::new();
        for task in self.tasks {
            outcomes.push(task.await?);
        }
        for outcome in &outcomes {
            hist.merge(&outcome.receiver.hist);
        }
        let sent: u64 = self
            .tracks
            .iter()
            .flat_map(|b| &b.writers)
            .map(|w| w.sent.load(Ordering::Acquire))
            .sum();
        let expected: u64 = self.tracks.iter().map(BoardTrack::expected).sum();
        Ok(Finished {
            hist,
            outcomes,
            sent,
            expected,
            rooms: self.rooms,
            connect_times: self.connect_times,
            behind_ns: self.shared.behind_ns.load(Ordering::Relaxed),
        })
    }
}

/// Lets `groups` write until `deadline` (or until each has its quota), then
/// stops their writers and waits (5 s at most) for the deliveries in flight.
/// Returns (writing time since `start`, draining time).
pub async fn write_and_drain(
    groups: &[&Running],
    start: tokio::time::Instant,
    deadline: tokio::time::Instant,
) -> (Duration, Duration) {
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let all_done = groups.iter().all(|g| g.all_written());
        if all_done || tokio::time::Instant::now() >= deadline {
            break;
        }
    }
    for group in groups {
        group.stop_sending();
    }
    let send_window = start.elapsed();
    let drain_started = Instant::now();
    while !groups.iter().all(|g| g.drained()) && drain_started.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (send_window, drain_started.elapsed())
}

impl Finished {
    /// Sum of a per-client counter.
    pub fn sum(&self, f: fn(&ClientOutcome) -> u64) -> u64 {
        self.outcomes.iter().map(f).sum()
    }

    /// Close codes of sockets the server ended early, and client errors.
    pub fn problems(&self) -> (Vec<Value>, Vec<String>) {
        (
            self.outcomes
                .iter()
                .filter_map(|o| o.ended.clone())
                .collect(),
            self.outcomes
                .iter()
                .filter_map(|o| o.error.clone())
                .collect(),
        )
    }
}

/// Runs one fanout on fresh rooms of `backend`.
pub async fn run(backend: &Backend, spec: &Spec) -> anyhow::Result<Outcome> {
    let rooms = backend.rooms("fanout", spec.boards).await?;
    let group = connect(rooms, spec.clone()).await?;
    let base = Instant::now();
    let start = tokio::time::Instant::now() + Duration::from_millis(50);
    let (stop_tx, stop_rx) = watch::channel(false);
    let cpu = CpuWindow::start(backend.pid());
    let running = group.launch(base, start, stop_rx);
    let (send_window, drain) = write_and_drain(&[&running], start, start + spec.duration).await;
    let used = cpu.finish();
    let server_rss = backend.rss_kib();
    let _ = stop_tx.send(true);
    let mut done = running.finish().await?;

    let deliveries = done.hist.count();
    let window_s = send_window.as_secs_f64();
    let (ended, errors) = done.problems();
    let mut line = json!({
        "target": backend.describe(),
        "clients": spec.clients,
        "writers": spec.writers,
        "boards": spec.boards,
        "write_s": round3(window_s),
        "drain_ms": round2(drain.as_secs_f64() * 1e3),
        "updates_sent": done.sent,
        "updates_per_s": round2(done.sent as f64 / window_s),
        "deliveries": deliveries,
        "deliveries_expected": done.expected,
        "deliveries_per_s": round2(deliveries as f64 / (window_s + drain.as_secs_f64())),
        "latency_ms": done.hist.summary_ms(),
        "connect_sync_ms": summary_of(&done.connect_times),
        "server_cpu_pct": used.server_pct(),
        "server_cpu_us_per_delivery": used.server_cpu_s
            .filter(|_| deliveries > 0)
            .map(|s| round3(s * 1e6 / deliveries as f64)),
        "server_rss_kib": server_rss,
        "loadgen_cpu_pct": used.own_pct(),
        "out_of_order": done.sum(|o| o.receiver.out_of_order),
        "stale": done.sum(|o| o.receiver.stale),
        "undecodable": done.sum(|o| o.receiver.undecodable),
        "decoded_by_yrs": done.sum(|o| o.receiver.decoded_by_yrs),
        "sockets_ended_early": ended,
        "errors": errors,
    });
    match spec.pace {
        Pace::Open { rate } => {
            line["pace"] = json!("open");
            line["rate_target"] = json!(rate);
            line["send_behind_max_ms"] = json!(round3(done.behind_ns as f64 / 1e6));
        }
        Pace::Closed { window } => {
            line["pace"] = json!("closed");
            line["window"] = json!(window);
        }
    }
    let replica = std::mem::take(&mut done.outcomes)
        .into_iter()
        .find_map(|o| o.replica);
    Ok(Outcome {
        json: line,
        rooms: done.rooms,
        replica,
    })
}

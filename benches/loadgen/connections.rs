//! `connections`: N sockets over B boards, each connecting and completing the
//! sync handshake (a bounded number at a time); then, with all of them open
//! and idle, the server's memory per socket.
//!
//! `rss_per_socket_kib` = (server RSS with every socket open and idle − server
//! RSS before the first socket) / N; the boards exist before (created over
//! REST) but are loaded by the sockets, so their in-memory cost is included.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use serde_json::{json, Value};
use tokio::sync::{watch, Semaphore};

use crate::{
    client::{is_emfile, Conn, Read},
    hist::summary_of,
    procstat::{open_files_limit, round2, CpuWindow},
    server::Backend,
};

#[derive(Debug, Clone)]
pub struct Spec {
    pub sockets: usize,
    pub boards: usize,
    pub concurrency: usize,
    /// How long all sockets stay open and idle before memory is read.
    pub settle: Duration,
}

pub async fn run(backend: &Backend, spec: &Spec) -> anyhow::Result<Value> {
    anyhow::ensure!(
        spec.boards >= 1 && spec.sockets >= 1,
        "need sockets and boards"
    );
    // This process holds one descriptor per socket (plus a few); a canvas-server
    // started here inherits the same limit.
    let needed = spec.sockets as u64 + 256;
    if let Some(limit) = open_files_limit().filter(|limit| *limit < needed) {
        anyhow::bail!(
            "open file limit {limit} is below the {needed} this run needs: \
             raise it first (`ulimit -n {needed}`) or pass fewer --sockets"
        );
    }
    let rooms = backend.rooms("connections", spec.boards).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss_before = backend.rss_kib();
    let cpu = CpuWindow::start(backend.pid());
    let gate = Arc::new(Semaphore::new(spec.concurrency.max(1)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let (opened_tx, mut opened_rx) = tokio::sync::mpsc::unbounded_channel();
    let started = Instant::now();
    let mut holders = Vec::with_capacity(spec.sockets);
    for i in 0..spec.sockets {
        let room = rooms[i % rooms.len()].clone();
        let gate = Arc::clone(&gate);
        let opened = opened_tx.clone();
        let mut stop = stop_rx.clone();
        holders.push(tokio::spawn(async move {
            let permit = gate.acquire_owned().await;
            let began = Instant::now();
            let result = async {
                let mut conn = Conn::connect(&room).await?;
                conn.handshake(None).await?;
                anyhow::Ok(conn)
            }
            .await;
            drop(permit);
            // Each task reports once, then lets go of its sender.
            let mut conn = match result {
                Ok(conn) => {
                    let _ = opened.send(Ok(began.elapsed()));
                    drop(opened);
                    conn
                }
                Err(err) => {
                    let _ = opened.send(Err(err));
                    return None;
                }
            };
            // Hold the socket (answering pings) until the run ends.
            loop {
                tokio::select! {
                    _ = stop.changed() => break,
                    read = conn.read() => if let Read::Ended(code) = read {
                        return Some(code);
                    },
                }
            }
            conn.close().await;
            None
        }));
    }
    drop(opened_tx);
    let mut times = Vec::with_capacity(spec.sockets);
    let mut failures = 0usize;
    let mut first_error: Option<String> = None;
    let mut emfile = false;
    while let Some(result) = opened_rx.recv().await {
        match result {
            Ok(took) => times.push(took),
            Err(err) => {
                failures += 1;
                emfile |= is_emfile(&err);
                first_error.get_or_insert_with(|| format!("{err:#}"));
            }
        }
    }
    let open_all = started.elapsed();
    let cpu_used = cpu.finish();
    tokio::time::sleep(spec.settle).await;
    let rss_after = backend.rss_kib();
    let _ = stop_tx.send(true);
    let mut ended_early = 0usize;
    for holder in holders {
        if let Ok(Some(_)) = holder.await {
            ended_early += 1;
        }
    }
    if emfile {
        eprintln!(
            "loadgen: connections hit the open file limit (EMFILE): raise `ulimit -n` \
             above {needed} for this shell, or pass fewer --sockets"
        );
    }
    let opened = times.len();
    let per_socket = match (rss_before, rss_after) {
        (Some(before), Some(after)) if opened > 0 => {
            Some(round2((after as f64 - before as f64) / opened as f64))
        }
        _ => None,
    };
    Ok(json!({
        "target": backend.describe(),
        "sockets": spec.sockets,
        "boards": spec.boards,
        "concurrency": spec.concurrency,
        "opened": opened,
        "failed": failures,
        "first_error": first_error,
        "emfile": emfile,
        "ended_while_idle": ended_early,
        "connect_sync_ms": summary_of(&times),
        "open_all_s": round2(open_all.as_secs_f64()),
        "sockets_per_s": round2(opened as f64 / open_all.as_secs_f64()),
        "server_cpu_ms": cpu_used.server_cpu_s.map(|s| round2(s * 1e3)),
        "server_cpu_ms_per_socket": cpu_used.server_cpu_s
            .filter(|_| opened > 0)
            .map(|s| round2(s * 1e3 / opened as f64)),
        "server_rss_before_kib": rss_before,
        "server_rss_after_kib": rss_after,
        "rss_per_socket_kib": per_socket,
        "loadgen_cpu_pct": cpu_used.own_pct(),
    }))
}

//! `isolation`: does one busy board slow another board down?
//!
//! A quiet board (a few clients, writers on a modest open-loop rate) runs
//! twice on fresh boards of the same server: first alone (the baseline), then
//! while a busy board runs a closed-loop fanout (as in `fanout`) for the same
//! time. The figure is the quiet board's delivery latency (scheduled send →
//! receipt, p50/p95/p99/max) beside the busy board, against the baseline.
//!
//! The quiet clients run on a runtime of their own (one worker thread, its own
//! sockets and timers), so that inside the load generator their receipts do not
//! wait in a queue behind the busy board's clients: what remains is the
//! server's doing, plus the OS sharing the cores (the busy board keeps both
//! cores of a 2-core machine saturated, load generator included).
//!
//! With `--busy-nice N` the busy board's clients run on a runtime of their own
//! whose threads lower their priority to nice N: the OS then runs the server
//! and the quiet board first whenever they are ready, as if the busy load came
//! from another machine (it still saturates the server: see its deliveries/s).

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::{runtime::Runtime, sync::watch};

use crate::{
    fanout::{self, Pace, Running},
    hist::summary_of,
    procstat::{round2, round3, CpuWindow},
    server::Backend,
};

#[derive(Debug, Clone)]
pub struct Spec {
    /// The closed-loop fanout on the busy board.
    pub busy: fanout::Spec,
    /// The open-loop fanout on the quiet board.
    pub quiet: fanout::Spec,
    /// The nice value of the busy board's client threads (0: the process's runtime).
    pub busy_nice: u8,
}

/// A runtime for the quiet board's clients.
fn quiet_runtime() -> anyhow::Result<Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("loadgen-quiet")
        .enable_all()
        .build()?)
}

/// A runtime for the busy board's clients whose threads run at nice `nice`
/// (`renice` on the thread's own id, read from `/proc/thread-self`).
fn busy_runtime(nice: u8) -> anyhow::Result<Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .thread_name("loadgen-busy")
        .on_thread_start(move || {
            let tid = std::fs::read_link("/proc/thread-self")
                .ok()
                .and_then(|link| link.file_name().map(|tid| tid.to_owned()));
            let reniced = tid.is_some_and(|tid| {
                std::process::Command::new("renice")
                    .args(["-n", &nice.to_string(), "-p"])
                    .arg(tid)
                    .stdout(std::process::Stdio::null())
                    .status()
                    .is_ok_and(|status| status.success())
            });
            if !reniced {
                eprintln!("isolation: could not renice a busy client thread to {nice}");
            }
        })
        .enable_all()
        .build()?)
}

/// Connects a board's clients on `rt` (their sockets belong to it).
async fn connect_on(
    rt: &Runtime,
    backend: &Backend,
    label: &str,
    spec: &fanout::Spec,
) -> anyhow::Result<fanout::Group> {
    let rooms = backend.rooms(label, spec.boards).await?;
    rt.spawn(fanout::connect(rooms, spec.clone())).await?
}

/// The quiet board's figures.
async fn quiet_summary(running: Running) -> anyhow::Result<Value> {
    let done = running.finish().await?;
    let (ended, errors) = done.problems();
    Ok(json!({
        "updates_sent": done.sent,
        "deliveries": done.hist.count(),
        "deliveries_expected": done.expected,
        "latency_ms": done.hist.summary_ms(),
        "send_behind_max_ms": round3(done.behind_ns as f64 / 1e6),
        "connect_sync_ms": summary_of(&done.connect_times),
        "sockets_ended_early": ended,
        "errors": errors,
    }))
}

pub async fn run(backend: &Backend, spec: &Spec) -> anyhow::Result<Value> {
    anyhow::ensure!(
        matches!(spec.busy.pace, Pace::Closed { .. }),
        "the busy board runs a closed loop (--window)"
    );
    let Pace::Open { rate } = spec.quiet.pace else {
        anyhow::bail!("the quiet board runs an open loop (--quiet-rate)");
    };
    let rt = quiet_runtime()?;
    let busy_rt = match spec.busy_nice {
        0 => None,
        nice => Some(busy_runtime(nice)?),
    };
    let result = phases(backend, spec, &rt, busy_rt.as_ref()).await;
    // Every client task has ended by now (or the run failed): nothing to wait for.
    rt.shutdown_background();
    if let Some(busy_rt) = busy_rt {
        busy_rt.shutdown_background();
    }
    let (alone, beside, busy) = result?;
    Ok(json!({
        "target": backend.describe(),
        "write_s": round3(spec.quiet.duration.as_secs_f64()),
        "quiet": {
            "clients": spec.quiet.clients,
            "writers": spec.quiet.writers,
            "rate_target": rate,
            "alone": alone,
            "beside_busy": beside,
        },
        "busy": busy,
        "busy_nice": spec.busy_nice,
    }))
}

/// Phase 1, the quiet board alone; phase 2, a fresh quiet board beside the busy one.
async fn phases(
    backend: &Backend,
    spec: &Spec,
    rt: &Runtime,
    busy_rt: Option<&Runtime>,
) -> anyhow::Result<(Value, Value, Value)> {
    // Phase 1.
    let quiet = connect_on(rt, backend, "isolation-alone", &spec.quiet).await?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let start = tokio::time::Instant::now() + Duration::from_millis(50);
    let running = {
        let _on_quiet = rt.enter();
        quiet.launch(Instant::now(), start, stop_rx)
    };
    let cpu = CpuWindow::start(backend.pid());
    fanout::write_and_drain(&[&running], start, start + spec.quiet.duration).await;
    let alone_cpu = cpu.finish();
    let _ = stop_tx.send(true);
    let mut alone = quiet_summary(running).await?;
    alone["server_cpu_pct"] = json!(alone_cpu.server_pct());

    // Phase 2: both connect first, then write over the same window.
    let busy = match busy_rt {
        Some(busy_rt) => connect_on(busy_rt, backend, "isolation-busy", &spec.busy).await?,
        None => {
            let rooms = backend.rooms("isolation-busy", spec.busy.boards).await?;
            fanout::connect(rooms, spec.busy.clone()).await?
        }
    };
    let quiet = connect_on(rt, backend, "isolation-quiet", &spec.quiet).await?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let base = Instant::now();
    let start = tokio::time::Instant::now() + Duration::from_millis(50);
    let busy = {
        let _on_busy = busy_rt.map(Runtime::enter);
        busy.launch(base, start, stop_rx.clone())
    };
    let quiet = {
        let _on_quiet = rt.enter();
        quiet.launch(base, start, stop_rx)
    };
    let cpu = CpuWindow::start(backend.pid());
    let deadline = start + spec.quiet.duration.max(spec.busy.duration);
    let (write, drain) = fanout::write_and_drain(&[&busy, &quiet], start, deadline).await;
    let used = cpu.finish();
    let _ = stop_tx.send(true);
    let mut beside = quiet_summary(quiet).await?;
    beside["server_cpu_pct"] = json!(used.server_pct());
    beside["loadgen_cpu_pct"] = json!(used.own_pct());
    let busy_done = busy.finish().await?;
    let (ended, errors) = busy_done.problems();
    let deliveries = busy_done.hist.count();
    let busy = json!({
        "clients": spec.busy.clients,
        "writers": spec.busy.writers,
        "window": match spec.busy.pace { Pace::Closed { window } => window, Pace::Open { .. } => 0 },
        "updates_sent": busy_done.sent,
        "deliveries": deliveries,
        "deliveries_expected": busy_done.expected,
        "deliveries_per_s": round2(deliveries as f64 / (write + drain).as_secs_f64()),
        "latency_ms": busy_done.hist.summary_ms(),
        "sockets_ended_early": ended,
        "errors": errors,
    });
    Ok((alone, beside, busy))
}

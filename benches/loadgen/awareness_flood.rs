//! `awareness-flood`: one socket floods a board with awareness messages, each
//! "removing" thousands of client ids it never announced (`null` states),
//! beside a victim socket and a watcher on the same board.
//!
//! Reports the server's resident memory before the flood and at its highest
//! during and shortly after it (`/proc/PID/status` `VmRSS`, sampled every
//! 10 ms), how the flooding socket ended (its close code, and how many
//! messages it got out), and the delivery latency of the victim's edits to the
//! watcher (one at a time, send → receipt) before, during and after the flood.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};
use yrs::{Doc, Map, ReadTxn, Transact};

use crate::{
    client::{Conn, Read, Room, WAIT},
    hist::summary_of,
    procstat::{round2, rss_kib},
    proto::{write_var_bytes, write_var_u64, Incoming},
    server::Backend,
};

#[derive(Debug, Clone)]
pub struct Spec {
    /// Awareness messages the flooding socket sends.
    pub messages: usize,
    /// Removals of never-announced client ids in each.
    pub entries: usize,
    /// Edits timed before and after the flood.
    pub samples: usize,
}

/// An awareness message with `count` removals of ids from `first` on.
fn removals(first: u64, count: usize) -> Vec<u8> {
    let mut payload = Vec::with_capacity(count * 14 + 8);
    write_var_u64(&mut payload, count as u64);
    for id in first..first + count as u64 {
        write_var_u64(&mut payload, id);
        write_var_u64(&mut payload, 1);
        write_var_bytes(&mut payload, b"null");
    }
    let mut frame = Vec::with_capacity(payload.len() + 8);
    write_var_u64(&mut frame, 1);
    write_var_bytes(&mut frame, &payload);
    frame
}

/// The victim's edits and the watcher that times their arrival.
struct Probe {
    victim: Conn,
    watcher: Conn,
    doc: Doc,
    edits: u64,
}

impl Probe {
    /// One edit from the victim, timed until the watcher has it.
    async fn round_trip(&mut self) -> anyhow::Result<Duration> {
        let before = self.doc.transact().state_vector();
        {
            let map = self.doc.get_or_insert_map("map");
            let mut txn = self.doc.transact_mut();
            map.insert(&mut txn, format!("k{}", self.edits), self.edits as f64);
        }
        self.edits += 1;
        let update = self.doc.transact().encode_diff_v1(&before);
        let started = Instant::now();
        let frame = self.victim.framing().update(&update);
        self.victim.send(frame).await?;
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.watcher.read()).await {
                Err(_) => bail!("the watcher got no update within {WAIT:?}"),
                Ok(Read::Ended(code)) => bail!("the watcher's socket ended ({code:?})"),
                Ok(Read::Binary(frame)) => {
                    if let Some(Incoming::Update(_)) = self.watcher.framing().parse(&frame) {
                        return Ok(started.elapsed());
                    }
                }
            }
        }
    }

    async fn round_trips(&mut self, n: usize) -> anyhow::Result<Vec<Duration>> {
        let mut times = Vec::with_capacity(n);
        for _ in 0..n {
            times.push(self.round_trip().await?);
        }
        Ok(times)
    }
}

/// How the flooding socket fared.
struct Flood {
    sent: usize,
    close_code: Option<u16>,
    elapsed: Duration,
}

async fn flood(room: Room, spec: Spec) -> anyhow::Result<Flood> {
    let mut attacker = Conn::connect(&room).await?;
    attacker.handshake(None).await?;
    let started = Instant::now();
    let mut sent = 0;
    for i in 0..spec.messages {
        let first = 1_000_000 + (i * spec.entries) as u64;
        if attacker.send(removals(first, spec.entries)).await.is_err() {
            break;
        }
        sent += 1;
    }
    // Whatever the server makes of it: a close frame, or nothing (still open).
    let close_code = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            if let Read::Ended(code) = attacker.read().await {
                return code;
            }
        }
    })
    .await
    .unwrap_or_default();
    Ok(Flood {
        sent,
        close_code,
        elapsed: started.elapsed(),
    })
}

fn mib(kib: u64) -> f64 {
    round2(kib as f64 / 1024.0)
}

pub async fn run(backend: &Backend, spec: &Spec) -> anyhow::Result<Value> {
    let pid = backend
        .pid()
        .context("awareness-flood reads the server's memory: give --pid with --url")?
        .to_string();
    let room = backend.rooms("awareness-flood", 1).await?.remove(0);
    let mut victim = Conn::connect(&room).await?;
    victim.handshake(None).await?;
    let mut watcher = Conn::connect(&room).await?;
    watcher.handshake(None).await?;
    let mut probe = Probe {
        victim,
        watcher,
        doc: Doc::new(),
        edits: 0,
    };
    // Warm up (allocator, first encodings), then the baseline.
    probe.round_trips(spec.samples.min(50)).await?;
    let before = probe.round_trips(spec.samples).await?;
    let rss_before = rss_kib(&pid).context("server RSS")?;

    let attack = tokio::spawn(flood(room, spec.clone()));
    let mut during = Vec::new();
    let mut rss_peak = rss_before;
    while !attack.is_finished() {
        during.push(probe.round_trip().await?);
        rss_peak = rss_peak.max(rss_kib(&pid).unwrap_or(0));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let flood = attack.await??;
    let settle = Instant::now() + Duration::from_secs(1);
    while Instant::now() < settle {
        rss_peak = rss_peak.max(rss_kib(&pid).unwrap_or(0));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let rss_after = rss_kib(&pid).context("server RSS")?;
    let after = probe.round_trips(spec.samples).await?;
    Ok(json!({
        "target": backend.describe(),
        "flood_messages": spec.messages,
        "flood_entries_per_message": spec.entries,
        "flood_messages_sent": flood.sent,
        "flood_close_code": flood.close_code,
        "flood_s": round2(flood.elapsed.as_secs_f64()),
        "rss_before_mib": mib(rss_before),
        "rss_peak_mib": mib(rss_peak),
        "rss_after_mib": mib(rss_after),
        "rss_growth_mib": mib(rss_peak.saturating_sub(rss_before)),
        "victim_latency_before_ms": summary_of(&before),
        "victim_latency_during_ms": summary_of(&during),
        "victim_latency_after_ms": summary_of(&after),
    }))
}

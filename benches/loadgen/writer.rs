//! One fanout client's task: it receives on its socket all run long and, when
//! it is a writer, sends updates on the open-loop schedule or within its
//! closed-loop window.
//!
//! A writer's update sets one entry of the root Y.Map `shapes` (64 keys per
//! writer, cycled: a board of shapes being moved) to a small map carrying the
//! writer, its sequence number and its send time; receivers match updates by
//! client id and clock (see `track.rs`), so they never apply them. A writer's
//! own document holds only its own edits, so making an update stays cheap.

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use futures_util::FutureExt;
use serde_json::{json, Value};
use tokio::sync::watch;
use yrs::{Any, Doc, Map, ReadTxn, Transact, WriteTxn};

use crate::{
    client::{Conn, Read},
    proto::Incoming,
    track::{BoardTrack, Receiver},
};

/// How writers pace themselves.
#[derive(Debug, Clone, Copy)]
pub enum Pace {
    /// A total rate of updates per second over all writers.
    Open { rate: f64 },
    /// At most `window` undelivered updates per writer.
    Closed { window: u64 },
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

/// Time since `base` in ns.
pub fn now_ns(base: Instant) -> u64 {
    base.elapsed().as_nanos() as u64
}

/// A client's place in the run.
#[derive(Debug, Clone)]
pub struct ClientRole {
    pub board: usize,
    /// Index among its board's clients.
    pub member: usize,
    /// Writer slot on its board.
    pub writer: Option<usize>,
    /// Index among all clients (writers come first), for staggering.
    pub writer_index: usize,
    /// Applies everything it receives to its document.
    pub replica: bool,
}

/// What a client task reports.
pub struct ClientOutcome {
    pub receiver: Receiver,
    /// Close code (or `null`) when the server ended the socket before the run did.
    pub ended: Option<Value>,
    pub error: Option<String>,
    pub replica: Option<Doc>,
}

struct Writer {
    doc: Doc,
    seq: u64,
    tag: String,
}

impl Writer {
    /// Makes the next update; returns (clock range it inserts, encoded update).
    fn next_update(&mut self, stamp_ns: u64) -> (u64, u64, Vec<u8>) {
        let client = self.doc.client_id();
        let key = format!("{}-{}", self.tag, self.seq % 64);
        let seq = self.seq;
        self.seq += 1;
        let mut txn = self.doc.transact_mut();
        let from = u64::from(txn.state_vector().get(&client));
        let shapes = txn.get_or_insert_map("shapes");
        let value: Any = yrs::any!({
            "x": ((seq * 37) % 1000) as f64,
            "y": ((seq * 91) % 700) as f64,
            "writer": self.tag.clone(),
            "seq": seq as f64,
            "sent_ns": stamp_ns as f64,
        });
        shapes.insert(&mut txn, key, value);
        let update = txn.encode_update_v1();
        let to = u64::from(txn.state_vector().get(&client));
        (from, to, update)
    }
}

/// Runs one client until the run stops or its socket ends.
pub async fn run_client(
    mut conn: Conn,
    doc: Option<Doc>,
    role: ClientRole,
    tracks: Arc<Vec<BoardTrack>>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) -> ClientOutcome {
    let board = &tracks[role.board];
    let mut receiver = Receiver::new(board, role.member, role.writer);
    let (mut writer, replica) = match (role.writer, doc) {
        (Some(slot), Some(doc)) => (
            Some(Writer {
                doc,
                seq: 0,
                tag: format!("b{}w{slot}", role.board),
            }),
            None,
        ),
        (None, doc) if role.replica => (None, doc),
        _ => (None, None),
    };
    let track = role.writer.map(|slot| &board.writers[slot]);
    // Open loop: this writer's period, staggered among all writers.
    let (period, offset) = match shared.pace {
        Pace::Open { rate } => {
            let period = Duration::from_secs_f64(shared.writers_total as f64 / rate.max(1e-9));
            let offset = period.mul_f64(role.writer_index as f64 / shared.writers_total as f64);
            (period, offset)
        }
        Pace::Closed { .. } => (Duration::ZERO, Duration::ZERO),
    };
    let mut next_send = shared.start + offset;
    let mut sent: u64 = 0;
    let mut writing = writer.is_some();
    let mut ended = None;
    let mut error = None;

    loop {
        // Closed loop: fill the window before waiting for anything.
        if let (Some(w), Some(track), Pace::Closed { window }) = (&mut writer, track, shared.pace) {
            while writing
                && tokio::time::Instant::now() >= shared.start
                && track.outstanding() < window
            {
                if !shared.sending.load(Ordering::Acquire)
                    || shared.quota.is_some_and(|q| sent >= q)
                {
                    writing = false;
                    shared.writers_done.fetch_add(1, Ordering::AcqRel);
                    break;
                }
                let at = now_ns(shared.base);
                let (from, to, update) = w.next_update(at);
                track.stamp(from, to, at);
                sent += 1;
                if let Err(err) = conn.send(conn.framing().update(&update)).await {
                    error = Some(format!("{err:#}"));
                    break;
                }
            }
        }
        if error.is_some() {
            break;
        }
        let open_due = matches!(shared.pace, Pace::Open { .. }) && writing;
        let closed_waiting = matches!(shared.pace, Pace::Closed { .. }) && writing;
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            () = tokio::time::sleep_until(next_send), if open_due => {
                if !shared.sending.load(Ordering::Acquire) || shared.quota.is_some_and(|q| sent >= q) {
                    writing = false;
                    shared.writers_done.fetch_add(1, Ordering::AcqRel);
                    continue;
                }
                let (Some(w), Some(track)) = (&mut writer, track) else { continue };
                // Latency counts from the scheduled time (no coordinated omission).
                let due_ns = (next_send.into_std().saturating_duration_since(shared.base)).as_nanos() as u64;
                let behind = now_ns(shared.base).saturating_sub(due_ns);
                shared.behind_ns.fetch_max(behind, Ordering::Relaxed);
                let (from, to, update) = w.next_update(due_ns);
                track.stamp(from, to, due_ns);
                sent += 1;
                next_send = shared.start + offset + period.mul_f64(sent as f64);
                if let Err(err) = conn.send(conn.framing().update(&update)).await {
                    error = Some(format!("{err:#}"));
                    break;
                }
            }
            () = async { track.expect("writer").advanced.notified().await }, if closed_waiting => {}
            () = tokio::time::sleep_until(shared.start), if closed_waiting
                && tokio::time::Instant::now() < shared.start => {}
            read = conn.read() => match read {
                Read::Ended(code) => {
                    ended = Some(json!(code));
                    break;
                }
                Read::Binary(frame) => {
                    // Handle whatever else is already buffered in the same turn.
                    let mut next = Some(frame);
                    let mut batch = 0;
                    while let Some(frame) = next.take() {
                        if let Err(err) = handle(&mut conn, &frame, &mut receiver, board, &shared, writer.as_ref().map(|w| &w.doc), replica.as_ref()).await {
                            error = Some(format!("{err:#}"));
                        }
                        batch += 1;
                        if batch < 64 {
                            match conn.read().now_or_never() {
                                Some(Read::Binary(frame)) => next = Some(frame),
                                Some(Read::Ended(code)) => ended = Some(json!(code)),
                                None => {}
                            }
                        }
                    }
                    if ended.is_some() {
                        break;
                    }
                }
            },
        }
    }
    if writing {
        shared.writers_done.fetch_add(1, Ordering::AcqRel);
    }
    conn.close().await;
    ClientOutcome {
        receiver,
        ended,
        error,
        replica,
    }
}

/// Handles one server message.
async fn handle(
    conn: &mut Conn,
    frame: &[u8],
    receiver: &mut Receiver,
    board: &BoardTrack,
    shared: &Shared,
    writer_doc: Option<&Doc>,
    replica: Option<&Doc>,
) -> anyhow::Result<()> {
    let at = now_ns(shared.base);
    match conn.framing().parse(frame) {
        Some(Incoming::Update(payload)) => {
            receiver.on_update(board, payload, at);
            if let Some(doc) = replica {
                use yrs::updates::decoder::Decode;
                let update = yrs::Update::decode_v1(payload)?;
                doc.transact_mut().apply_update(update)?;
            }
        }
        Some(Incoming::Step1(sv)) => {
            let reply = conn.step2_for(writer_doc.or(replica), sv)?;
            conn.send(reply).await?;
        }
        Some(Incoming::Denied(reason)) => anyhow::bail!("denied: {reason}"),
        Some(_) => {}
        None => receiver.undecodable += 1,
    }
    Ok(())
}

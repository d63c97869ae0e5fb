//! Who sent what when, shared by the writers and receivers of a fanout run.
//!
//! A writer's every update sets one Y.Map entry, so it advances the writer's
//! Yjs clock by exactly the clocks that update inserts; before sending, the
//! writer stores the send time under each of those clocks. A receiver decodes
//! each incoming update with yrs, takes its insertions (client id, clock
//! ranges) and looks the send times up, so one incoming update that a server
//! merged from several writers' updates, or from several updates of one
//! writer, is credited to every (writer, clock) it carries. Receivers publish
//! how far they got per writer, which is what closed-loop writers wait on.

use std::{
    collections::HashMap,
    sync::atomic::{AtomicU64, Ordering},
};

use tokio::sync::Notify;
use yrs::{updates::decoder::Decode, Update};

use crate::hist::Hist;

/// Send times kept per writer (by clock, modulo this).
pub const RING: u64 = 1 << 16;

/// One writer's shared record.
pub struct WriterTrack {
    /// The next clock the writer will use (= clocks sent so far).
    pub sent: AtomicU64,
    send_ns: Box<[AtomicU64]>,
    /// Per board member: the next clock of this writer that member expects.
    progress: Box<[AtomicU64]>,
    /// The writer's own member index (it does not receive its own updates).
    pub own_member: usize,
    /// Woken whenever a member's progress on this writer advances.
    pub advanced: Notify,
}

impl WriterTrack {
    pub fn new(members: usize, own_member: usize) -> Self {
        Self {
            sent: AtomicU64::new(0),
            send_ns: (0..RING).map(|_| AtomicU64::new(0)).collect(),
            progress: (0..members).map(|_| AtomicU64::new(0)).collect(),
            own_member,
            advanced: Notify::new(),
        }
    }

    /// Records that clocks `from..to` leave at `at_ns`.
    pub fn stamp(&self, from: u64, to: u64, at_ns: u64) {
        for clock in from..to {
            self.send_ns[(clock % RING) as usize].store(at_ns, Ordering::Relaxed);
        }
        self.sent.store(to, Ordering::Release);
    }

    /// Clocks sent that some other member of the board has not seen yet.
    pub fn outstanding(&self) -> u64 {
        let sent = self.sent.load(Ordering::Acquire);
        let seen = self
            .progress
            .iter()
            .enumerate()
            .filter(|(member, _)| *member != self.own_member)
            .map(|(_, p)| p.load(Ordering::Acquire))
            .min()
            .unwrap_or(sent);
        sent.saturating_sub(seen)
    }
}

/// Everything about one board's writers.
pub struct BoardTrack {
    /// Writer client id → writer slot.
    pub by_client: HashMap<u64, usize>,
    pub writers: Vec<WriterTrack>,
    pub members: usize,
}

impl BoardTrack {
    /// Deliveries expected so far: each sent clock to every other member.
    pub fn expected(&self) -> u64 {
        let others = self.members.saturating_sub(1) as u64;
        self.writers
            .iter()
            .map(|w| w.sent.load(Ordering::Acquire) * others)
            .sum()
    }

    /// Whether every member has seen everything sent.
    pub fn drained(&self) -> bool {
        self.writers.iter().all(|w| w.outstanding() == 0)
    }
}

/// One receiver's private view: where it is per writer and its latencies.
pub struct Receiver {
    member: usize,
    own_writer: Option<usize>,
    next: Vec<u64>,
    pub hist: Hist,
    /// Clocks that arrived after later ones of the same writer.
    pub out_of_order: u64,
    /// Clocks whose send time was already overwritten in the ring.
    pub stale: u64,
    pub undecodable: u64,
}

impl Receiver {
    pub fn new(board: &BoardTrack, member: usize, own_writer: Option<usize>) -> Self {
        Self {
            member,
            own_writer,
            next: vec![0; board.writers.len()],
            hist: Hist::default(),
            out_of_order: 0,
            stale: 0,
            undecodable: 0,
        }
    }

    /// Credits the (writer, clock)s an incoming update carries; returns the
    /// decoded update for a caller that keeps a replica.
    pub fn on_update(&mut self, board: &BoardTrack, payload: &[u8], now_ns: u64) -> Option<Update> {
        let Ok(update) = Update::decode_v1(payload) else {
            self.undecodable += 1;
            return None;
        };
        for (client, ranges) in update.insertions(true).iter() {
            let Some(&slot) = board.by_client.get(&client.get()) else {
                continue;
            };
            if Some(slot) == self.own_writer {
                continue;
            }
            let writer = &board.writers[slot];
            let sent = writer.sent.load(Ordering::Acquire);
            let next = &mut self.next[slot];
            for range in ranges.iter() {
                let (start, end) = (u64::from(range.start), u64::from(range.end));
                if start > *next {
                    self.out_of_order += 1;
                }
                for clock in start.max(*next)..end {
                    if sent.saturating_sub(clock) > RING {
                        self.stale += 1;
                        continue;
                    }
                    let at = writer.send_ns[(clock % RING) as usize].load(Ordering::Relaxed);
                    self.hist.record(now_ns.saturating_sub(at));
                }
                *next = (*next).max(end);
            }
            writer.progress[self.member].store(*next, Ordering::Release);
            writer.advanced.notify_one();
        }
        Some(update)
    }
}

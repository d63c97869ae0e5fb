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

use crate::{hist::Hist, update_ids};

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
    /// Updates the fast reader left to yrs.
    pub decoded_by_yrs: u64,
    ranges: Vec<(u64, u64, u64)>,
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
            decoded_by_yrs: 0,
            ranges: Vec::new(),
        }
    }

    /// Credits the (writer, clock)s an incoming update carries.
    pub fn on_update(&mut self, board: &BoardTrack, payload: &[u8], now_ns: u64) {
        let mut ranges = std::mem::take(&mut self.ranges);
        if update_ids::insertions(payload, &mut ranges).is_none() {
            // Content the fast reader does not skip: let yrs decode it.
            ranges.clear();
            self.decoded_by_yrs += 1;
            let Ok(update) = Update::decode_v1(payload) else {
                self.undecodable += 1;
                self.ranges = ranges;
                return;
            };
            for (client, client_ranges) in update.insertions(true).iter() {
                for range in client_ranges.iter() {
                    ranges.push((client.get(), range.start.into(), range.end.into()));
                }
            }
        }
        for &(client, start, end) in &ranges {
            self.credit(board, client, start, end, now_ns);
        }
        self.ranges = ranges;
    }

    fn credit(&mut self, board: &BoardTrack, client: u64, start: u64, end: u64, now_ns: u64) {
        let Some(&slot) = board.by_client.get(&client) else {
            return;
        };
        if Some(slot) == self.own_writer {
            return;
        }
        let writer = &board.writers[slot];
        let sent = writer.sent.load(Ordering::Acquire);
        let next = &mut self.next[slot];
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
        if end > *next {
            *next = end;
            writer.progress[self.member].store(end, Ordering::Release);
            writer.advanced.notify_one();
        }
    }
}

/// Checks the fast insertion reader against yrs on updates like the ones
/// receivers see (map sets and overwrites, text edits, nested values, merged
/// updates); an error means latencies would be credited wrongly.
pub fn check_update_reader() -> anyhow::Result<()> {
    use yrs::{Array, Doc, Map, ReadTxn, Text, Transact, WriteTxn};
    let a = Doc::new();
    let b = Doc::new();
    let mut updates = Vec::new();
    for i in 0..40u32 {
        let doc = if i % 3 == 0 { &b } else { &a };
        let mut txn = doc.transact_mut();
        let map = txn.get_or_insert_map("shapes");
        map.insert(
            &mut txn,
            format!("k{}", i % 4),
            yrs::any!({"x": i, "s": "é😀", "l": [1, true, null]}),
        );
        let text = txn.get_or_insert_text("text");
        text.insert(&mut txn, 0, "héllo 😀 ");
        if i > 2 {
            text.remove_range(&mut txn, 1, 3);
        }
        let array = txn.get_or_insert_array("array");
        array.push_back(&mut txn, yrs::Any::from(vec![0u8, 1, 2]));
        updates.push(txn.encode_update_v1());
    }
    updates.push(yrs::merge_updates_v1(&updates[..10])?);
    updates.push(a.transact().encode_state_as_update_v1(&Default::default()));
    let mut fast = Vec::new();
    for update in &updates {
        let mut expected: Vec<(u64, u64, u64)> = Vec::new();
        let decoded = Update::decode_v1(update)?;
        for (client, ranges) in decoded.insertions(true).iter() {
            for range in ranges.iter() {
                expected.push((client.get(), range.start.into(), range.end.into()));
            }
        }
        expected.sort_unstable();
        if update_ids::insertions(update, &mut fast).is_some() {
            fast.sort_unstable();
            anyhow::ensure!(
                fast == expected,
                "insertion reader: {fast:?} != {expected:?}"
            );
        }
    }
    Ok(())
}

//! The awareness states of one board (cursors, selections, user names), kept as
//! the JSON the clients sent, with the y-protocols clock rules, and who may
//! change each of them.
//! <https://github.com/yjs/y-protocols/blob/master/awareness.js>
//!
//! A client id belongs to the socket that announced it first (states relayed
//! from other instances belong to them): only its owner may change or remove
//! it. Entries naming ids a socket does not own are dropped, so one person can
//! neither fake nor erase another's cursor, and a socket of another user that
//! keeps sending them is refused ([`AwarenessError::ForeignClients`]). The
//! stock `y-websocket` client sends back every state it receives, so entries
//! that change nothing (an older or equal clock) are ignored without counting.
//!
//! Removed ids are kept as tombstones, so stale updates stay ignored, for
//! [`TOMBSTONE_LIFETIME`]; the table never holds more than
//! [`MAX_CLIENTS_PER_BOARD`] ids, and a removal of an id nobody announced is
//! dropped rather than stored. A message costs work in proportion to its own
//! entries, never to the size of the table.

use std::{
    collections::{HashMap, VecDeque},
    time::{Duration, Instant},
};

use uuid::Uuid;

use crate::protocol::{
    guard::{AwarenessEntry, MAX_AWARENESS_ENTRIES},
    message::encode_awareness_payload,
};

/// Most awareness client ids one socket may own, present or removed (a
/// browser tab has one).
pub const MAX_CLIENTS_PER_PEER: usize = 32;

/// Most client ids (present states and tombstones) a board keeps. Equal to
/// the entries one message may carry, so a full board's snapshot, relayed to
/// another instance or sent back by a client, passes the guard.
pub const MAX_CLIENTS_PER_BOARD: usize = MAX_AWARENESS_ENTRIES;

/// How long a removed id is remembered (y-protocols' `outdatedTimeout`). The
/// same span ends states relayed from another instance that stopped renewing
/// them (clients renew theirs every 15 s).
pub const TOMBSTONE_LIFETIME: Duration = Duration::from_secs(30);

/// Changes to ids it does not own a socket may send per
/// [`TOMBSTONE_LIFETIME`] before it is refused. Stock clients send none (a
/// browser's tabs of one user may echo each other's states: not counted).
pub const MAX_FOREIGN_ENTRIES: u32 = 64;

/// Who may change a client id's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    /// The socket that announced it.
    Socket(u64),
    /// Another instance (which enforces ownership for its own sockets).
    Remote,
    /// Its socket left, or another instance removed it: the next newer
    /// announcement, from any socket, claims it.
    Nobody,
}

#[derive(Debug)]
struct ClientState {
    clock: u64,
    /// `None` once removed (the clock is kept so stale updates stay ignored).
    state: Option<Box<str>>,
    owner: Owner,
    /// When the state last changed (a removal: when it became a tombstone).
    changed_at: Instant,
    /// Which removal made it a tombstone (see [`AwarenessTable::tombstones`]).
    removal: u64,
}

/// What the table knows of one socket that sent awareness.
#[derive(Debug)]
struct PeerRecord {
    user_id: Uuid,
    /// The ids it owns, present or removed (at most [`MAX_CLIENTS_PER_PEER`]).
    ids: Vec<u64>,
    /// Foreign entries counted since `window_start`.
    foreign: u32,
    window_start: Instant,
}

/// Why an awareness update was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AwarenessError {
    /// The socket speaks for more client ids than allowed.
    #[error("too many awareness clients on one socket")]
    TooManyClients,
    /// The socket keeps naming client ids it does not own.
    #[error("awareness entries for clients the socket does not own")]
    ForeignClients,
}

/// What an accepted update changed, to pass on to the board's other sockets
/// and instances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    /// Every entry changed a state: the payload as received.
    All,
    /// Some entries did: the payload of just those.
    Some(Vec<u8>),
    /// None did.
    Nothing,
}

/// What one entry would do to the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// The sender owns the id and the entry is newer.
    Apply,
    /// A new id, or a removed one nobody owns, announced with a newer clock.
    Claim,
    /// Older than (or as old as) what is known: changes nothing.
    Stale,
    /// A newer entry for an id someone else owns.
    Foreign(Owner),
    /// A removal of an id nobody announced.
    UnknownRemoval,
}

/// Who may change `client`'s state at `now`. A state another instance has
/// not renewed for [`TOMBSTONE_LIFETIME`] belongs to nobody: its client is
/// gone (the instance may have died without removing it, or the client moved
/// to this instance with the same id), so the next newer announcement claims
/// it rather than being dropped as foreign for as long as the board is open.
fn effective_owner(client: &ClientState, now: Instant) -> Owner {
    match client.owner {
        Owner::Remote if now.saturating_duration_since(client.changed_at) >= TOMBSTONE_LIFETIME => {
            Owner::Nobody
        }
        owner => owner,
    }
}

/// All awareness states of a board.
#[derive(Debug, Default)]
pub struct AwarenessTable {
    clients: HashMap<u64, ClientState>,
    peers: HashMap<u64, PeerRecord>,
    /// `(removed at, client id, removal number)` in removal order. An item
    /// is void when its id has been announced, removed again or forgotten
    /// since.
    tombstones: VecDeque<(Instant, u64, u64)>,
    /// Numbers the removals.
    removals: u64,
}

impl AwarenessTable {
    /// Applies an update sent by socket `peer_id` of `user_id` at `now`.
    /// Entries with an older clock than the one known are ignored, as
    /// y-protocols does; entries for ids the socket does not own are dropped.
    pub fn apply(
        &mut self,
        peer_id: u64,
        user_id: Uuid,
        entries: &[AwarenessEntry<'_>],
        now: Instant,
    ) -> Result<Accepted, AwarenessError> {
        self.expire(now);
        let sender = Owner::Socket(peer_id);
        let (mut claims, mut foreign) = (0, 0u32);
        for entry in entries {
            match self.judge(sender, entry, now) {
                Verdict::Claim => claims += 1,
                Verdict::UnknownRemoval => foreign += 1,
                // Held only against another user's socket: one user's tabs
                // echo each other's states (y-websocket's BroadcastChannel),
                // and a client that moved between instances may find its id
                // still held by the one it left.
                Verdict::Foreign(Owner::Socket(owner))
                    if self.peers.get(&owner).map(|p| p.user_id) != Some(user_id) =>
                {
                    foreign += 1;
                }
                Verdict::Foreign(_) | Verdict::Apply | Verdict::Stale => {}
            }
        }
        let record = self.peers.entry(peer_id).or_insert_with(|| PeerRecord {
            user_id,
            ids: Vec::new(),
            foreign: 0,
            window_start: now,
        });
        if now.saturating_duration_since(record.window_start) >= TOMBSTONE_LIFETIME {
            record.foreign = 0;
            record.window_start = now;
        }
        record.foreign = record.foreign.saturating_add(foreign);
        if record.foreign > MAX_FOREIGN_ENTRIES {
            return Err(AwarenessError::ForeignClients);
        }
        if record.ids.len() + claims > MAX_CLIENTS_PER_PEER {
            return Err(AwarenessError::TooManyClients);
        }
        Ok(self.merge(sender, entries, now))
    }

    /// Applies an update accepted by another instance, which enforced
    /// ownership for its own sockets. Ids owned by a socket here are not
    /// changed; the same clock rules apply.
    pub fn apply_remote(&mut self, entries: &[AwarenessEntry<'_>], now: Instant) -> Accepted {
        self.expire(now);
        self.merge(Owner::Remote, entries, now)
    }

    fn judge(&self, sender: Owner, entry: &AwarenessEntry<'_>, now: Instant) -> Verdict {
        let removal = entry.is_removal();
        let Some(current) = self.clients.get(&entry.client_id) else {
            return if removal {
                Verdict::UnknownRemoval
            } else {
                Verdict::Claim
            };
        };
        let newer = current.clock < entry.clock
            || (current.clock == entry.clock && removal && current.state.is_some());
        match effective_owner(current, now) {
            _ if !newer => Verdict::Stale,
            owner if owner == sender => Verdict::Apply,
            // Nothing to remove: a removed id is claimed only by a state.
            Owner::Nobody if removal => Verdict::Stale,
            Owner::Nobody => Verdict::Claim,
            owner if current.clock < entry.clock => Verdict::Foreign(owner),
            // A removal at an equal clock: what a y-protocols client sends for
            // a state that timed out on its side. Dropped, but not held
            // against it.
            _ => Verdict::Stale,
        }
    }

    /// Applies what `sender` may change and says what changed.
    fn merge(&mut self, sender: Owner, entries: &[AwarenessEntry<'_>], now: Instant) -> Accepted {
        let mut changed = Vec::new();
        for (index, entry) in entries.iter().enumerate() {
            // Judged again: an earlier entry of the same message may have
            // claimed this id.
            let done = match self.judge(sender, entry, now) {
                Verdict::Apply => {
                    self.set(sender, entry, now);
                    true
                }
                Verdict::Claim => self.claim(sender, entry, now),
                Verdict::Stale | Verdict::Foreign(_) | Verdict::UnknownRemoval => false,
            };
            if done {
                changed.push(index);
            }
        }
        if changed.len() == entries.len() && !entries.is_empty() {
            Accepted::All
        } else if changed.is_empty() {
            Accepted::Nothing
        } else {
            Accepted::Some(encode_awareness_payload(changed.into_iter().map(|i| {
                let entry = &entries[i];
                (entry.client_id, entry.clock, entry.state_json)
            })))
        }
    }

    /// Writes an entry over an id `sender` owns (or has just claimed).
    fn set(&mut self, sender: Owner, entry: &AwarenessEntry<'_>, now: Instant) {
        let Some(current) = self.clients.get_mut(&entry.client_id) else {
            return;
        };
        current.clock = entry.clock;
        current.changed_at = now;
        if entry.is_removal() {
            current.state = None;
            // A socket keeps the ids it removed (it may announce them again);
            // an id another instance removed is free for whoever comes next.
            if sender == Owner::Remote {
                current.owner = Owner::Nobody;
            }
            self.removals += 1;
            current.removal = self.removals;
            self.tombstones
                .push_back((now, entry.client_id, self.removals));
            self.compact_tombstones();
        } else {
            current.state = Some(entry.state_json.into());
        }
    }

    /// Gives `sender` a new id, or a removed one nobody owns. False when the
    /// board or the socket has no room for it (the entry is then dropped).
    fn claim(&mut self, sender: Owner, entry: &AwarenessEntry<'_>, now: Instant) -> bool {
        if let Owner::Socket(peer_id) = sender {
            if self
                .peers
                .get(&peer_id)
                .is_none_or(|peer| peer.ids.len() >= MAX_CLIENTS_PER_PEER)
            {
                return false;
            }
        }
        if !self.clients.contains_key(&entry.client_id) {
            if self.clients.len() >= MAX_CLIENTS_PER_BOARD
                && !self.evict_oldest_tombstone()
                && !self.evict_abandoned_remote_state(now)
            {
                return false;
            }
            self.clients.insert(
                entry.client_id,
                ClientState {
                    clock: entry.clock,
                    state: None,
                    owner: sender,
                    changed_at: now,
                    removal: 0,
                },
            );
        }
        if let Some(current) = self.clients.get_mut(&entry.client_id) {
            current.owner = sender;
        }
        if let Owner::Socket(peer_id) = sender {
            if let Some(peer) = self.peers.get_mut(&peer_id) {
                peer.ids.push(entry.client_id);
            }
        }
        self.set(sender, entry, now);
        true
    }

    /// Whether `item` of the tombstone queue still names a tombstone.
    fn is_live_tombstone(&self, (_, client_id, removal): (Instant, u64, u64)) -> bool {
        self.clients
            .get(&client_id)
            .is_some_and(|client| client.state.is_none() && client.removal == removal)
    }

    /// Forgets tombstones older than [`TOMBSTONE_LIFETIME`].
    fn expire(&mut self, now: Instant) {
        while let Some(&(removed_at, _, _)) = self.tombstones.front() {
            if now.saturating_duration_since(removed_at) < TOMBSTONE_LIFETIME {
                break;
            }
            self.forget_front_tombstone();
        }
    }

    /// Forgets the oldest tombstone to make room; false when there is none.
    fn evict_oldest_tombstone(&mut self) -> bool {
        while !self.tombstones.is_empty() {
            if self.forget_front_tombstone() {
                return true;
            }
        }
        false
    }

    /// Forgets one state another instance stopped renewing, to make room on a
    /// full board; false when there is none. A scan of the table, made only
    /// when the board is full and has no tombstone to forget.
    fn evict_abandoned_remote_state(&mut self, now: Instant) -> bool {
        let abandoned = self
            .clients
            .iter()
            .find(|(_, client)| {
                client.owner == Owner::Remote && effective_owner(client, now) == Owner::Nobody
            })
            .map(|(&id, _)| id);
        abandoned.is_some_and(|id| self.clients.remove(&id).is_some())
    }

    /// Pops the front of the tombstone queue, forgetting its id if it is
    /// still a tombstone; true if it was.
    fn forget_front_tombstone(&mut self) -> bool {
        let Some(item) = self.tombstones.pop_front() else {
            return false;
        };
        if !self.is_live_tombstone(item) {
            return false;
        }
        let (_, client_id, _) = item;
        if let Some(ClientState {
            owner: Owner::Socket(peer_id),
            ..
        }) = self.clients.remove(&client_id)
        {
            if let Some(peer) = self.peers.get_mut(&peer_id) {
                peer.ids.retain(|&id| id != client_id);
            }
        }
        true
    }

    /// Drops void items once they outnumber the ids the board may hold, so
    /// the queue stays bounded however often ids come and go (amortized
    /// constant work per removal).
    fn compact_tombstones(&mut self) {
        if self.tombstones.len() > 2 * MAX_CLIENTS_PER_BOARD {
            let mut queue = std::mem::take(&mut self.tombstones);
            queue.retain(|&item| self.is_live_tombstone(item));
            self.tombstones = queue;
        }
    }

    /// Removes every state a socket owns and returns the awareness payload
    /// that tells the others (state `null`, clock + 1), or `None` if it had
    /// none. Its ids stay as tombstones nobody owns, so copies of its states
    /// still in flight are ignored and its client may claim them again.
    pub fn remove_peer(&mut self, peer_id: u64, now: Instant) -> Option<Vec<u8>> {
        let record = self.peers.remove(&peer_id)?;
        let mut removed = Vec::new();
        for client_id in record.ids {
            let Some(client) = self.clients.get_mut(&client_id) else {
                continue;
            };
            client.owner = Owner::Nobody;
            if client.state.take().is_some() {
                client.clock = client.clock.saturating_add(1);
                client.changed_at = now;
                removed.push((client_id, client.clock));
                self.removals += 1;
                client.removal = self.removals;
                self.tombstones.push_back((now, client_id, self.removals));
            }
        }
        self.compact_tombstones();
        if removed.is_empty() {
            return None;
        }
        Some(encode_awareness_payload(
            removed
                .into_iter()
                .map(|(client, clock)| (client, clock, "null")),
        ))
    }

    /// Every present state as one awareness payload, or `None` when there is
    /// none. States from another instance not renewed within
    /// [`TOMBSTONE_LIFETIME`] are left out: their client is gone (its
    /// instance may have stopped without removing them).
    pub fn snapshot(&self, now: Instant) -> Option<Vec<u8>> {
        let present: Vec<_> = self
            .clients
            .iter()
            .filter(|(_, client)| {
                client.owner != Owner::Remote
                    || now.saturating_duration_since(client.changed_at) < TOMBSTONE_LIFETIME
            })
            .filter_map(|(&id, client)| client.state.as_deref().map(|s| (id, client.clock, s)))
            .collect();
        if present.is_empty() {
            None
        } else {
            Some(encode_awareness_payload(present.into_iter()))
        }
    }

    /// How many clients have a present state.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.clients.values().filter(|c| c.state.is_some()).count()
    }

    /// Whether no client has a present state.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
#[path = "awareness_tests.rs"]
mod tests;

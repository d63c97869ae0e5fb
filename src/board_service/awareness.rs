//! The awareness states of one board (cursors, selections, user names), kept as
//! the JSON the clients sent, with the y-protocols clock rules.
//! <https://github.com/yjs/y-protocols/blob/master/awareness.js>

use std::collections::HashMap;

use crate::protocol::{guard::AwarenessEntry, message::encode_awareness_payload};

/// Most awareness client ids one socket may speak for (a browser tab has one).
pub const MAX_CLIENTS_PER_PEER: usize = 32;

/// The owner recorded for states set on other instances (socket ids count up
/// from 1 and never reach it). Their removals arrive as updates, so no socket
/// leaving here removes them.
const REMOTE_PEER: u64 = u64::MAX;

#[derive(Debug)]
struct ClientState {
    clock: u64,
    /// `None` once removed (the clock is kept so stale updates stay ignored).
    state: Option<String>,
    /// The socket that last set this state.
    peer_id: u64,
}

/// Why an awareness update was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AwarenessError {
    /// The socket speaks for more client ids than allowed.
    #[error("too many awareness clients on one socket")]
    TooManyClients,
}

/// All awareness states of a board.
#[derive(Debug, Default)]
pub struct AwarenessTable {
    clients: HashMap<u64, ClientState>,
}

impl AwarenessTable {
    /// Applies an update sent by `peer_id`. Entries with an older clock than the
    /// one known are ignored, as y-protocols does.
    pub fn apply(
        &mut self,
        peer_id: u64,
        entries: &[AwarenessEntry<'_>],
    ) -> Result<(), AwarenessError> {
        let owned = self
            .clients
            .values()
            .filter(|client| client.peer_id == peer_id && client.state.is_some())
            .count();
        let new_ids = entries
            .iter()
            .filter(|entry| !entry.is_removal())
            .filter(|entry| {
                self.clients
                    .get(&entry.client_id)
                    .is_none_or(|client| client.peer_id != peer_id || client.state.is_none())
            })
            .count();
        if owned + new_ids > MAX_CLIENTS_PER_PEER {
            return Err(AwarenessError::TooManyClients);
        }
        self.merge(peer_id, entries);
        Ok(())
    }

    /// Applies an update accepted by another instance, which capped its own
    /// sockets; the same clock rules apply.
    pub fn apply_remote(&mut self, entries: &[AwarenessEntry<'_>]) {
        self.merge(REMOTE_PEER, entries);
    }

    fn merge(&mut self, peer_id: u64, entries: &[AwarenessEntry<'_>]) {
        for entry in entries {
            let state = (!entry.is_removal()).then(|| entry.state_json.to_owned());
            match self.clients.get_mut(&entry.client_id) {
                Some(current)
                    if current.clock < entry.clock
                        || (current.clock == entry.clock
                            && state.is_none()
                            && current.state.is_some()) =>
                {
                    current.clock = entry.clock;
                    current.state = state;
                    current.peer_id = peer_id;
                }
                Some(_) => {}
                None => {
                    self.clients.insert(
                        entry.client_id,
                        ClientState {
                            clock: entry.clock,
                            state,
                            peer_id,
                        },
                    );
                }
            }
        }
    }

    /// Removes every state a socket set and returns the awareness payload that
    /// tells the others (state `null`, clock + 1), or `None` if it set none.
    pub fn remove_peer(&mut self, peer_id: u64) -> Option<Vec<u8>> {
        let mut removed = Vec::new();
        self.clients.retain(|&client_id, client| {
            if client.peer_id == peer_id {
                if client.state.is_some() {
                    removed.push((client_id, client.clock.saturating_add(1)));
                }
                false
            } else {
                true
            }
        });
        if removed.is_empty() {
            return None;
        }
        Some(encode_awareness_payload(
            removed
                .into_iter()
                .map(|(client, clock)| (client, clock, "null")),
        ))
    }

    /// Every present state as one awareness payload, or `None` when there is none.
    pub fn snapshot(&self) -> Option<Vec<u8>> {
        let present: Vec<_> = self
            .clients
            .iter()
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
mod tests {
    use super::*;
    use crate::protocol::guard::parse_awareness_update;

    fn entry(client_id: u64, clock: u64, state_json: &str) -> AwarenessEntry<'_> {
        AwarenessEntry {
            client_id,
            clock,
            state_json,
        }
    }

    #[test]
    fn newer_clocks_win_and_older_ones_are_ignored() {
        let mut table = AwarenessTable::default();
        table
            .apply(1, &[entry(10, 2, r#"{"x":2}"#)])
            .expect("apply");
        table
            .apply(1, &[entry(10, 1, r#"{"x":1}"#)])
            .expect("apply");
        let snapshot = table.snapshot().expect("one state");
        let entries = parse_awareness_update(&snapshot).expect("parses");
        assert_eq!(entries, vec![entry(10, 2, r#"{"x":2}"#)]);
    }

    #[test]
    fn a_closing_peer_yields_a_removal_with_a_higher_clock() {
        let mut table = AwarenessTable::default();
        table.apply(1, &[entry(10, 5, "{}")]).expect("apply");
        table.apply(2, &[entry(20, 1, "{}")]).expect("apply");
        let removal = table.remove_peer(1).expect("peer 1 had a state");
        let entries = parse_awareness_update(&removal).expect("parses");
        assert_eq!(entries, vec![entry(10, 6, "null")]);
        assert_eq!(table.len(), 1);
        assert!(table.remove_peer(1).is_none());
    }

    #[test]
    fn one_socket_cannot_speak_for_unbounded_clients() {
        let mut table = AwarenessTable::default();
        let many: Vec<_> = (0..=MAX_CLIENTS_PER_PEER as u64)
            .map(|id| entry(id, 1, "{}"))
            .collect();
        assert_eq!(table.apply(1, &many), Err(AwarenessError::TooManyClients));
        assert!(table.is_empty());
    }
}

//! The wire format of messages between instances, and nothing else.
//!
//! ```text
//! version (1 byte, = 1) | sender instance id (16 bytes) | kind (1 byte) | payload
//! ```
//!
//! Payloads by kind:
//! - `1` update: a Yjs v1 update, as is;
//! - `2` awareness: a y-protocols awareness payload, as is;
//! - `3` state vector: flags (1 byte: bit 0 reply, bit 1 hello), a digest of the
//!   delete set (u64 little-endian), then the Yjs v1 state vector;
//! - `4` leaving: empty (the sender let go of the board);
//! - `16` board deleted: board id (16 bytes);
//! - `17` member removed: board id, user id;
//! - `18` role changed: board id, user id, role (1 owner, 2 editor, 3 viewer);
//! - `19` user removed: user id.
//!
//! The board of kinds 1–4 is named by the channel they travel on. [`decode`]
//! checks every length and never panics; it does not look inside Yjs payloads
//! (the receiver runs them through `crate::protocol::guard` like any client's).

use bytes::Bytes;
use uuid::Uuid;

use crate::{board_service::AccessEvent, db::Role};

/// The format version written first in every envelope.
const VERSION: u8 = 1;
/// Version, sender and kind.
const HEADER: usize = 1 + 16 + 1;

const KIND_UPDATE: u8 = 1;
const KIND_AWARENESS: u8 = 2;
const KIND_STATE_VECTOR: u8 = 3;
const KIND_LEAVING: u8 = 4;
const KIND_BOARD_DELETED: u8 = 16;
const KIND_MEMBER_REMOVED: u8 = 17;
const KIND_ROLE_CHANGED: u8 = 18;
const KIND_USER_REMOVED: u8 = 19;

const FLAG_REPLY: u8 = 1;
const FLAG_HELLO: u8 = 2;

/// Identifies one running instance (random, drawn at start).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InstanceId(pub [u8; 16]);

impl InstanceId {
    /// A fresh random id.
    pub fn random() -> Self {
        Self(Uuid::new_v4().into_bytes())
    }
}

/// What one board's document holds, in short: enough to tell whether two
/// copies differ and what one of them lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The encoded (v1) state vector.
    pub state_vector: Bytes,
    /// A digest of the delete set (deletions do not move the state vector).
    pub deletes: u64,
}

/// One message between instances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A Yjs v1 update the sender accepted.
    Update(Bytes),
    /// An awareness payload the sender accepted.
    Awareness(Bytes),
    /// The sender's summary of a board (anti-entropy).
    StateVector {
        /// The summary.
        summary: Summary,
        /// An answer to another summary: receivers send what the sender lacks
        /// but do not answer with their own summary again.
        reply: bool,
        /// The sender just (re)joined the board's channel: receivers also send
        /// their awareness states.
        hello: bool,
    },
    /// The sender let go of the board (it no longer needs its messages).
    Leaving,
    /// An access change (control channel only).
    Access(AccessEvent),
}

impl Message {
    /// The metrics label of the message's kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Update(_) => "update",
            Self::Awareness(_) => "awareness",
            Self::StateVector { .. } => "state_vector",
            Self::Leaving => "leaving",
            Self::Access(_) => "control",
        }
    }
}

/// A decoded envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Who sent it.
    pub sender: InstanceId,
    /// What it says.
    pub message: Message,
}

/// Why bytes are not an envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// Shorter than its header or its kind's fixed payload.
    #[error("truncated envelope")]
    Truncated,
    /// Written by an incompatible version.
    #[error("unknown envelope version {0}")]
    Version(u8),
    /// A kind this version does not know.
    #[error("unknown message kind {0}")]
    Kind(u8),
    /// Bytes after a fixed-size payload.
    #[error("trailing bytes after the payload")]
    Trailing,
    /// A role byte out of range.
    #[error("unknown role {0}")]
    Role(u8),
}

/// Encodes `message` from `sender`.
pub fn encode(sender: InstanceId, message: &Message) -> Vec<u8> {
    let (kind, len) = match message {
        Message::Update(update) => (KIND_UPDATE, update.len()),
        Message::Awareness(payload) => (KIND_AWARENESS, payload.len()),
        Message::StateVector { summary, .. } => {
            (KIND_STATE_VECTOR, 1 + 8 + summary.state_vector.len())
        }
        Message::Leaving => (KIND_LEAVING, 0),
        Message::Access(AccessEvent::BoardDeleted(_)) => (KIND_BOARD_DELETED, 16),
        Message::Access(AccessEvent::MemberRemoved { .. }) => (KIND_MEMBER_REMOVED, 32),
        Message::Access(AccessEvent::RoleChanged { .. }) => (KIND_ROLE_CHANGED, 33),
        Message::Access(AccessEvent::UserRemoved(_)) => (KIND_USER_REMOVED, 16),
    };
    let mut out = Vec::with_capacity(HEADER + len);
    out.push(VERSION);
    out.extend_from_slice(&sender.0);
    out.push(kind);
    match message {
        Message::Update(bytes) | Message::Awareness(bytes) => out.extend_from_slice(bytes),
        Message::StateVector {
            summary,
            reply,
            hello,
        } => {
            let flags = if *reply { FLAG_REPLY } else { 0 } | if *hello { FLAG_HELLO } else { 0 };
            out.push(flags);
            out.extend_from_slice(&summary.deletes.to_le_bytes());
            out.extend_from_slice(&summary.state_vector);
        }
        Message::Leaving => {}
        Message::Access(AccessEvent::BoardDeleted(id) | AccessEvent::UserRemoved(id)) => {
            out.extend_from_slice(id.as_bytes());
        }
        Message::Access(AccessEvent::MemberRemoved { board_id, user_id }) => {
            out.extend_from_slice(board_id.as_bytes());
            out.extend_from_slice(user_id.as_bytes());
        }
        Message::Access(AccessEvent::RoleChanged {
            board_id,
            user_id,
            role,
        }) => {
            out.extend_from_slice(board_id.as_bytes());
            out.extend_from_slice(user_id.as_bytes());
            out.push(role_byte(*role));
        }
    }
    out
}

/// The sender of an envelope, read without decoding the rest (to skip our
/// own messages before copying them).
pub fn sender_of(bytes: &[u8]) -> Option<InstanceId> {
    match bytes {
        [VERSION, rest @ ..] => rest.get(..16)?.try_into().ok().map(InstanceId),
        _ => None,
    }
}

/// Decodes an envelope. Yjs payloads are sliced out of `bytes`, not copied.
pub fn decode(bytes: &Bytes) -> Result<Envelope, EnvelopeError> {
    if bytes.len() < HEADER {
        return Err(EnvelopeError::Truncated);
    }
    if bytes[0] != VERSION {
        return Err(EnvelopeError::Version(bytes[0]));
    }
    let sender = sender_of(bytes).ok_or(EnvelopeError::Truncated)?;
    let kind = bytes[HEADER - 1];
    let payload = bytes.slice(HEADER..);
    let message = match kind {
        KIND_UPDATE => Message::Update(payload),
        KIND_AWARENESS => Message::Awareness(payload),
        KIND_STATE_VECTOR => {
            let (&flags, rest) = payload.split_first().ok_or(EnvelopeError::Truncated)?;
            let deletes = rest.get(..8).ok_or(EnvelopeError::Truncated)?;
            let deletes =
                u64::from_le_bytes(deletes.try_into().map_err(|_| EnvelopeError::Truncated)?);
            Message::StateVector {
                summary: Summary {
                    state_vector: payload.slice(9..),
                    deletes,
                },
                reply: flags & FLAG_REPLY != 0,
                hello: flags & FLAG_HELLO != 0,
            }
        }
        KIND_LEAVING if payload.is_empty() => Message::Leaving,
        KIND_LEAVING => return Err(EnvelopeError::Trailing),
        KIND_BOARD_DELETED => {
            let [board_id] = ids(&payload, 0)?;
            Message::Access(AccessEvent::BoardDeleted(board_id))
        }
        KIND_USER_REMOVED => {
            let [user_id] = ids(&payload, 0)?;
            Message::Access(AccessEvent::UserRemoved(user_id))
        }
        KIND_MEMBER_REMOVED => {
            let [board_id, user_id] = ids(&payload, 0)?;
            Message::Access(AccessEvent::MemberRemoved { board_id, user_id })
        }
        KIND_ROLE_CHANGED => {
            let [board_id, user_id] = ids(&payload, 1)?;
            let role = match payload[32] {
                1 => Role::Owner,
                2 => Role::Editor,
                3 => Role::Viewer,
                other => return Err(EnvelopeError::Role(other)),
            };
            Message::Access(AccessEvent::RoleChanged {
                board_id,
                user_id,
                role,
            })
        }
        other => return Err(EnvelopeError::Kind(other)),
    };
    Ok(Envelope { sender, message })
}

/// `N` ids at the start of `payload`, which must hold exactly `extra` more bytes.
fn ids<const N: usize>(payload: &[u8], extra: usize) -> Result<[Uuid; N], EnvelopeError> {
    let expected = N * 16 + extra;
    if payload.len() < expected {
        return Err(EnvelopeError::Truncated);
    }
    if payload.len() > expected {
        return Err(EnvelopeError::Trailing);
    }
    let mut out = [Uuid::nil(); N];
    for (i, chunk) in payload.chunks_exact(16).take(N).enumerate() {
        out[i] = Uuid::from_slice(chunk).map_err(|_| EnvelopeError::Truncated)?;
    }
    Ok(out)
}

fn role_byte(role: Role) -> u8 {
    match role {
        Role::Owner => 1,
        Role::Editor => 2,
        Role::Viewer => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SENDER: InstanceId = InstanceId([7; 16]);

    fn every_kind() -> Vec<Message> {
        let board_id = Uuid::new_v4();
        let user_id = Uuid::new_v4();
        vec![
            Message::Update(Bytes::from_static(&[1, 1, 5, 0, 4, 1, 1, 109, 1, 120, 0])),
            Message::Awareness(Bytes::from_static(&[1, 9, 1, 2, 123, 125])),
            Message::StateVector {
                summary: Summary {
                    state_vector: Bytes::from_static(&[1, 5, 3]),
                    deletes: 0xdead_beef_0bad_f00d,
                },
                reply: true,
                hello: false,
            },
            Message::StateVector {
                summary: Summary {
                    state_vector: Bytes::from_static(&[0]),
                    deletes: 0,
                },
                reply: false,
                hello: true,
            },
            Message::Leaving,
            Message::Access(AccessEvent::BoardDeleted(board_id)),
            Message::Access(AccessEvent::MemberRemoved { board_id, user_id }),
            Message::Access(AccessEvent::RoleChanged {
                board_id,
                user_id,
                role: Role::Viewer,
            }),
            Message::Access(AccessEvent::UserRemoved(user_id)),
        ]
    }

    #[test]
    fn every_kind_survives_a_round_trip() {
        for message in every_kind() {
            let bytes = Bytes::from(encode(SENDER, &message));
            assert_eq!(sender_of(&bytes), Some(SENDER));
            let envelope = decode(&bytes).expect("decodes");
            assert_eq!(envelope.sender, SENDER);
            assert_eq!(envelope.message, message);
        }
    }

    #[test]
    fn every_truncation_is_an_error_or_a_shorter_opaque_payload() {
        for message in every_kind() {
            let bytes = encode(SENDER, &message);
            for len in 0..bytes.len() {
                let cut = Bytes::copy_from_slice(&bytes[..len]);
                match decode(&cut) {
                    Err(_) => {}
                    // Yjs payloads are opaque here (the guard checks them):
                    // a shorter one is still an envelope of the same kind.
                    Ok(Envelope {
                        message: Message::Update(_) | Message::Awareness(_),
                        ..
                    }) => assert!(len >= HEADER),
                    Ok(Envelope {
                        message: Message::StateVector { .. },
                        ..
                    }) => assert!(len >= HEADER + 9),
                    Ok(other) => panic!("truncated to {len} bytes yet decoded: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn fixed_payloads_refuse_trailing_bytes_and_unknown_values() {
        let mut deleted = encode(
            SENDER,
            &Message::Access(AccessEvent::BoardDeleted(Uuid::new_v4())),
        );
        deleted.push(0);
        assert_eq!(decode(&Bytes::from(deleted)), Err(EnvelopeError::Trailing));
        let mut role = encode(
            SENDER,
            &Message::Access(AccessEvent::RoleChanged {
                board_id: Uuid::new_v4(),
                user_id: Uuid::new_v4(),
                role: Role::Editor,
            }),
        );
        *role.last_mut().expect("role byte") = 9;
        assert_eq!(decode(&Bytes::from(role)), Err(EnvelopeError::Role(9)));
        let mut kind = encode(SENDER, &Message::Update(Bytes::new()));
        kind[HEADER - 1] = 200;
        assert_eq!(decode(&Bytes::from(kind)), Err(EnvelopeError::Kind(200)));
        let mut version = encode(SENDER, &Message::Update(Bytes::new()));
        version[0] = 2;
        assert_eq!(
            decode(&Bytes::from(version)),
            Err(EnvelopeError::Version(2))
        );
        assert_eq!(sender_of(&[2; 40]), None);
        assert_eq!(sender_of(&[VERSION, 1, 2]), None);
    }

    #[test]
    fn garbage_never_panics() {
        // A small deterministic generator: the test must not depend on luck.
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..20_000 {
            let len = (next() % 64) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            // Half of them with a valid version and a known kind, to get past
            // the first checks.
            if len >= HEADER && next() % 2 == 0 {
                bytes[0] = VERSION;
                bytes[HEADER - 1] = [1, 2, 3, 4, 16, 17, 18, 19][(next() % 8) as usize];
            }
            let _ = decode(&Bytes::from(bytes));
        }
    }
}

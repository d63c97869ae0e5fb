//! Framing of y-websocket messages: what a client may send, and the frames the
//! server sends. Each `encode_*` returns the complete binary WebSocket payload.

use super::lib0::{var_u64_len, write_var_u64, Cursor};

const MESSAGE_SYNC: u64 = 0;
const MESSAGE_AWARENESS: u64 = 1;
const MESSAGE_AUTH: u64 = 2;
const MESSAGE_QUERY_AWARENESS: u64 = 3;

const SYNC_STEP1: u64 = 0;
const SYNC_STEP2: u64 = 1;
const SYNC_UPDATE: u64 = 2;

const AUTH_PERMISSION_DENIED: u64 = 0;

/// A decoded client frame. Payloads borrow from the frame and are not yet
/// checked: see [`super::guard`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientMessage<'a> {
    /// Sync step 1: the client's state vector; answered with step 2.
    SyncStep1(&'a [u8]),
    /// Sync step 2: what the client has that the server lacks (a v1 update).
    SyncStep2(&'a [u8]),
    /// A live v1 update.
    Update(&'a [u8]),
    /// An awareness update payload.
    Awareness(&'a [u8]),
    /// A request for the current awareness states.
    QueryAwareness,
    /// An auth message; clients have nothing to say here, so it is ignored.
    Auth,
}

/// Why a frame is not a y-websocket message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The frame ended inside a field, or a length exceeds the frame.
    #[error("truncated frame")]
    Truncated,
    /// The message type is not one of sync, awareness, auth, query-awareness.
    #[error("unknown message type {0}")]
    UnknownType(u64),
    /// The sync sub-type is not step 1, step 2 or update.
    #[error("unknown sync message type {0}")]
    UnknownSyncType(u64),
    /// Bytes follow the message.
    #[error("trailing bytes after the message")]
    TrailingBytes,
}

impl ClientMessage<'_> {
    /// A short name for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::SyncStep1(_) => "sync_step1",
            Self::SyncStep2(_) => "sync_step2",
            Self::Update(_) => "update",
            Self::Awareness(_) => "awareness",
            Self::QueryAwareness => "query_awareness",
            Self::Auth => "auth",
        }
    }
}

/// Decodes one client frame; never panics, never allocates.
pub fn decode(frame: &[u8]) -> Result<ClientMessage<'_>, FrameError> {
    let mut cursor = Cursor::new(frame);
    let message_type = cursor.var_u64().ok_or(FrameError::Truncated)?;
    let message = match message_type {
        MESSAGE_SYNC => {
            let sub_type = cursor.var_u64().ok_or(FrameError::Truncated)?;
            let payload = cursor.var_bytes().ok_or(FrameError::Truncated)?;
            match sub_type {
                SYNC_STEP1 => ClientMessage::SyncStep1(payload),
                SYNC_STEP2 => ClientMessage::SyncStep2(payload),
                SYNC_UPDATE => ClientMessage::Update(payload),
                other => return Err(FrameError::UnknownSyncType(other)),
            }
        }
        MESSAGE_AWARENESS => {
            ClientMessage::Awareness(cursor.var_bytes().ok_or(FrameError::Truncated)?)
        }
        MESSAGE_QUERY_AWARENESS => ClientMessage::QueryAwareness,
        // The auth message carries a reason string the server does not use.
        MESSAGE_AUTH => return Ok(ClientMessage::Auth),
        other => return Err(FrameError::UnknownType(other)),
    };
    if cursor.is_empty() {
        Ok(message)
    } else {
        Err(FrameError::TrailingBytes)
    }
}

fn framed(prefix: &[u64], payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u64;
    let mut out = Vec::with_capacity(prefix.len() + var_u64_len(len) + payload.len());
    for &value in prefix {
        write_var_u64(&mut out, value);
    }
    write_var_u64(&mut out, len);
    out.extend_from_slice(payload);
    out
}

/// Sync step 1 carrying a state vector.
pub fn encode_sync_step1(state_vector: &[u8]) -> Vec<u8> {
    framed(&[MESSAGE_SYNC, SYNC_STEP1], state_vector)
}

/// Sync step 2 carrying a v1 update.
pub fn encode_sync_step2(update: &[u8]) -> Vec<u8> {
    framed(&[MESSAGE_SYNC, SYNC_STEP2], update)
}

/// A live sync update carrying a v1 update.
pub fn encode_update(update: &[u8]) -> Vec<u8> {
    framed(&[MESSAGE_SYNC, SYNC_UPDATE], update)
}

/// An awareness message carrying an awareness update payload.
pub fn encode_awareness(payload: &[u8]) -> Vec<u8> {
    framed(&[MESSAGE_AWARENESS], payload)
}

/// An auth permission-denied message with a reason.
pub fn encode_permission_denied(reason: &str) -> Vec<u8> {
    framed(&[MESSAGE_AUTH, AUTH_PERMISSION_DENIED], reason.as_bytes())
}

/// An awareness update payload: `count, (client, clock, state JSON)*`.
pub fn encode_awareness_payload<'a>(
    entries: impl ExactSizeIterator<Item = (u64, u64, &'a str)>,
) -> Vec<u8> {
    let mut out = Vec::new();
    write_var_u64(&mut out, entries.len() as u64);
    for (client, clock, state) in entries {
        write_var_u64(&mut out, client);
        write_var_u64(&mut out, clock);
        write_var_u64(&mut out, state.len() as u64);
        out.extend_from_slice(state.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_frames_decode_as_the_messages_they_carry() {
        assert_eq!(
            decode(&encode_sync_step1(&[1, 2])),
            Ok(ClientMessage::SyncStep1(&[1, 2]))
        );
        assert_eq!(
            decode(&encode_sync_step2(&[0, 0])),
            Ok(ClientMessage::SyncStep2(&[0, 0]))
        );
        assert_eq!(
            decode(&encode_update(&[9; 300])),
            Ok(ClientMessage::Update(&[9; 300]))
        );
        assert_eq!(
            decode(&encode_awareness(&[0])),
            Ok(ClientMessage::Awareness(&[0]))
        );
        assert_eq!(decode(&[3]), Ok(ClientMessage::QueryAwareness));
    }

    #[test]
    fn frames_match_the_y_protocols_bytes() {
        assert_eq!(encode_sync_step1(&[0]), vec![0, 0, 1, 0]);
        assert_eq!(encode_update(&[0, 0]), vec![0, 2, 2, 0, 0]);
        let denied = encode_permission_denied("read-only");
        assert_eq!(&denied[..3], &[2, 0, 9]);
        assert_eq!(&denied[3..], b"read-only");
        let payload = encode_awareness_payload([(7u64, 2u64, "null")].into_iter());
        assert_eq!(payload, vec![1, 7, 2, 4, b'n', b'u', b'l', b'l']);
    }

    #[test]
    fn malformed_frames_are_rejected_not_panicked_on() {
        assert_eq!(decode(&[]), Err(FrameError::Truncated));
        assert_eq!(decode(&[0]), Err(FrameError::Truncated));
        assert_eq!(decode(&[0, 2, 5, 1]), Err(FrameError::Truncated));
        assert_eq!(decode(&[0, 7, 0]), Err(FrameError::UnknownSyncType(7)));
        assert_eq!(decode(&[9]), Err(FrameError::UnknownType(9)));
        assert_eq!(decode(&[3, 0]), Err(FrameError::TrailingBytes));
        assert_eq!(decode(&[0, 2, 1, 0, 0]), Err(FrameError::TrailingBytes));
        // The yrs hazard framed as a sync update: the frame itself is fine, the
        // payload is for the guard to refuse.
        assert_eq!(
            decode(&[0, 2, 5, 0x86, 0x9a, 0xe2, 0xb6, 0x11]),
            Ok(ClientMessage::Update(&[0x86, 0x9a, 0xe2, 0xb6, 0x11]))
        );
    }
}

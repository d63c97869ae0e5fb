//! What a [`CloseReason`] the board decided on looks like on the wire: its
//! WebSocket close code and reason text.

use crate::board_service::CloseReason;

/// The WebSocket close code of `reason`.
pub fn close_code(reason: CloseReason) -> u16 {
    match reason {
        CloseReason::GoingAway => 1001,
        CloseReason::ProtocolError => 1002,
        CloseReason::UnsupportedData => 1003,
        CloseReason::InvalidData | CloseReason::Hostile => 1007,
        CloseReason::PolicyViolation | CloseReason::AwarenessPolicy | CloseReason::RateLimited => {
            1008
        }
        CloseReason::TooLarge => 1009,
        CloseReason::InternalError => 1011,
        CloseReason::SlowClient => 1013,
        CloseReason::MemberRemoved => 4403,
        CloseReason::BoardDeleted => 4404,
    }
}

/// The close frame's reason text for `reason`.
pub fn close_text(reason: CloseReason) -> &'static str {
    match reason {
        CloseReason::GoingAway => "server shutting down",
        CloseReason::ProtocolError => "protocol error",
        CloseReason::UnsupportedData => "text messages are not supported",
        CloseReason::InvalidData | CloseReason::Hostile => "invalid message",
        CloseReason::PolicyViolation => "policy violation",
        CloseReason::AwarenessPolicy => "awareness for clients this socket may not speak for",
        CloseReason::RateLimited => "message rate exceeded",
        CloseReason::TooLarge => "message too large",
        CloseReason::InternalError => "internal error",
        CloseReason::SlowClient => "client too slow; reconnect to resync",
        CloseReason::MemberRemoved => "removed from board",
        CloseReason::BoardDeleted => "board deleted",
    }
}

//! The y-websocket wire protocol (y-protocols), as pure functions.
//!
//! [`message`] frames and unframes WebSocket messages; [`guard`] checks the Yjs
//! payloads inside them (updates, state vectors, awareness) before any byte is
//! handed to yrs, whose decoder trusts lengths read from its input.
//! Spec: <https://github.com/yjs/y-protocols/blob/master/PROTOCOL.md>.

pub mod guard;
pub(crate) mod lib0;
pub mod message;

pub use message::{ClientMessage, FrameError};

//! Integration tests: the real server on port 0, driven over HTTP and WebSocket.
//! Files mirror the URL space.

mod harness;

mod auth;

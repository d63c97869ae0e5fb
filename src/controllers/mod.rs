//! HTTP handlers, one file per resource. Each handler is named `<verb>_<resource>`
//! and documented for OpenAPI next to its request and response types.

pub mod access;
pub mod audit;
pub mod auth;
pub mod boards;
pub mod content;
pub mod health;
pub mod members;
pub mod sync;
pub mod users;
pub mod versions;

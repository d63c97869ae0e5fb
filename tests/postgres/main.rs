//! The REST, sync and multi-instance suites of `tests/api`, run again on
//! PostgreSQL, a check that the two migration sets build the same schema, and
//! board-affine routing through HAProxy in front of three instances.
//!
//! Needs `TEST_POSTGRES_URL` (e.g. `postgres://postgres@127.0.0.1:5432/test`);
//! each test works in a schema of its own, dropped at its end. Without the
//! variable every test here is skipped, and says so.

/// The suites below run on PostgreSQL.
pub const BACKEND: harness::Backend = harness::Backend::Postgres;

// Shared with `tests/api`; not every helper is used by the suites run here.
#[allow(dead_code)]
#[path = "../api/harness.rs"]
mod harness;
#[allow(dead_code)]
#[path = "../api/server_process.rs"]
mod server_process;
#[allow(dead_code)]
#[path = "../api/sync_client.rs"]
mod sync_client;
#[path = "../api/tcp_proxy.rs"]
mod tcp_proxy;
#[allow(dead_code)]
#[path = "../api/webhook_receiver.rs"]
mod webhook_receiver;

#[path = "../api/audit.rs"]
mod audit;
#[path = "../api/auth.rs"]
mod auth;
#[path = "../api/boards.rs"]
mod boards;
#[path = "../api/cascade.rs"]
mod cascade;
#[path = "../api/cluster/mod.rs"]
mod cluster;
#[path = "../api/content.rs"]
mod content;
#[path = "../api/contract_walkthrough.rs"]
mod contract_walkthrough;
#[path = "../api/durability.rs"]
mod durability;
#[path = "../api/errors.rs"]
mod errors;
mod haproxy;
#[path = "../api/members.rs"]
mod members;
#[path = "../api/roles.rs"]
mod roles;
#[path = "../api/sync.rs"]
mod sync;
#[path = "../api/sync_closes.rs"]
mod sync_closes;
#[path = "../api/versions.rs"]
mod versions;
#[path = "../api/webhooks.rs"]
mod webhooks;
#[path = "../api/webhooks_board_updated.rs"]
mod webhooks_board_updated;
#[path = "../api/webhooks_delivery.rs"]
mod webhooks_delivery;
#[path = "../api/webhooks_process.rs"]
mod webhooks_process;

mod schema_equivalence;

//! Integration tests: the real server on port 0, driven over HTTP and WebSocket.
//! Files mirror the URL space.
//!
//! Every test runs on SQLite. The REST, sync, webhook and multi-instance
//! suites are marked `backend_test!` and run again on PostgreSQL (as
//! `…::postgres`, a schema per test) when `TEST_POSTGRES_URL` is set;
//! `schema_equivalence` checks that both migration sets build one schema.

mod harness;

mod audit;
mod auth;
mod board_service;
mod boards;
mod cascade;
mod cluster;
mod content;
mod contract_walkthrough;
mod durability;
mod errors;
mod haproxy;
mod hostile;
mod hostile_input;
mod journal;
mod kill;
mod members;
mod openapi;
mod operations;
mod request_bodies;
mod rfc6455;
mod roles;
mod schema_equivalence;
mod server_process;
mod shutdown;
mod sync;
mod sync_awareness;
mod sync_client;
mod sync_closes;
mod tcp_proxy;
mod throttles;
mod versions;
mod web_ui;
mod webhook_readme;
mod webhook_receiver;
mod webhooks;
mod webhooks_board_updated;
mod webhooks_delivery;
mod webhooks_process;
mod websocket;

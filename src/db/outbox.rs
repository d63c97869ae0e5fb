//! The webhook outbox's write side: events written in the transaction of the
//! change they report, with one delivery row per receiver, so an event exists
//! exactly when its change committed.
//!
//! Every audited change reaches [`audited`] through `audit::record`; which
//! receivers (if any) get it is the [`Outbox`] of the [`Db`](super::Db) whose
//! `interact` runs the transaction. `interact` makes it the current outbox of
//! its thread for the closure's duration ([`Scope`]), so that no query
//! function has to pass it along and no audited change can forget it; and it
//! wakes the delivery worker after the closure returned, when the transaction
//! is over (a worker woken earlier could look before the commit and sleep).

use std::{cell::RefCell, sync::Arc, time::Duration};

use diesel::prelude::*;
use serde_json::{json, Map, Value};
use tokio::sync::Notify;
use uuid::Uuid;

use super::{
    models::utc,
    now,
    schema::{webhook_deliveries, webhook_events},
    sql_types::{DbTime, DbUuid},
    AnyConnection, DbError,
};

/// Where this process's events go: the receivers, and the worker to wake.
#[derive(Debug)]
pub struct Outbox {
    urls: Vec<String>,
    wake: Arc<Notify>,
    update_window: Duration,
}

impl Outbox {
    /// Events for `urls`; `update_window` is the least time between two
    /// `board.updated` events of one board (`SAVE_MAX_DEBOUNCE_MS`).
    pub fn new(urls: Vec<String>, update_window: Duration) -> Self {
        Self {
            urls,
            wake: Arc::new(Notify::new()),
            update_window,
        }
    }

    /// Notified after a transaction wrote an event.
    pub fn wake(&self) -> Arc<Notify> {
        Arc::clone(&self.wake)
    }

    /// The least time between two `board.updated` events of one board.
    pub fn update_window(&self) -> Duration {
        self.update_window
    }
}

/// The event types receivers get, as named in the body's `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    BoardCreated,
    BoardRenamed,
    BoardDeleted,
    BoardUpdated,
    MemberAdded,
    MemberRoleChanged,
    MemberRemoved,
    VersionCreated,
    VersionRestored,
}

impl EventType {
    /// The type's name in the body.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BoardCreated => "board.created",
            Self::BoardRenamed => "board.renamed",
            Self::BoardDeleted => "board.deleted",
            Self::BoardUpdated => "board.updated",
            Self::MemberAdded => "member.added",
            Self::MemberRoleChanged => "member.role_changed",
            Self::MemberRemoved => "member.removed",
            Self::VersionCreated => "version.created",
            Self::VersionRestored => "version.restored",
        }
    }

    /// The event an audited action is sent as, if any. Audit actions that
    /// the contract's list of webhook events leaves out (`version.deleted`)
    /// are not sent.
    pub fn for_audit_action(action: &str) -> Option<Self> {
        Some(match action {
            "board.created" => Self::BoardCreated,
            "board.renamed" => Self::BoardRenamed,
            "member.added" => Self::MemberAdded,
            "member.role_changed" => Self::MemberRoleChanged,
            "member.removed" => Self::MemberRemoved,
            "version.created" => Self::VersionCreated,
            "version.restored" => Self::VersionRestored,
            _ => return None,
        })
    }
}

thread_local! {
    /// The outbox of the `interact` running on this thread, and whether its
    /// closure wrote an event.
    static CURRENT: RefCell<Option<(Arc<Outbox>, bool)>> = const { RefCell::new(None) };
}

/// Makes an outbox current on this thread while held (see the module doc).
pub(super) struct Scope {
    active: bool,
}

impl Scope {
    /// Enters `outbox` (nothing when webhooks are off).
    pub(super) fn enter(outbox: Option<Arc<Outbox>>) -> Self {
        let active = outbox.is_some();
        if let Some(outbox) = outbox {
            CURRENT.with(|current| *current.borrow_mut() = Some((outbox, false)));
        }
        Self { active }
    }
}

impl Drop for Scope {
    /// Leaves the outbox, and wakes its worker if an event was written: the
    /// closure has returned, so its transaction is committed or rolled back
    /// (a wake for nothing costs the worker one look).
    fn drop(&mut self) {
        if !self.active {
            return;
        }
        if let Some((outbox, true)) = CURRENT.with(|current| current.borrow_mut().take()) {
            outbox.wake.notify_one();
        }
    }
}

/// The current outbox, if any.
pub(super) fn current() -> Option<Arc<Outbox>> {
    CURRENT.with(|current| {
        current
            .borrow()
            .as_ref()
            .map(|(outbox, _)| Arc::clone(outbox))
    })
}

/// Within an audited change's transaction: its webhook event, when the
/// action is one of the contract's events and webhooks are on. `data` is the
/// audit detail with the actor's id added.
pub(super) fn audited(
    conn: &mut AnyConnection,
    board_id: Uuid,
    actor_id: Option<Uuid>,
    action: &str,
    detail: &Value,
) -> Result<(), DbError> {
    let Some(event_type) = EventType::for_audit_action(action) else {
        return Ok(());
    };
    let Some(outbox) = current() else {
        return Ok(());
    };
    let mut data = match detail {
        Value::Object(fields) => fields.clone(),
        other => Map::from_iter([("detail".to_owned(), other.clone())]),
    };
    data.insert("actor_id".to_owned(), json!(actor_id));
    enqueue(conn, &outbox, event_type, board_id, Value::Object(data))
}

/// Writes an event and a delivery per receiver, due now.
pub(super) fn enqueue(
    conn: &mut AnyConnection,
    outbox: &Outbox,
    event_type: EventType,
    board_id: Uuid,
    data: Value,
) -> Result<(), DbError> {
    if outbox.urls.is_empty() {
        return Ok(());
    }
    let id = Uuid::now_v7();
    let at = now();
    let body = json!({
        "id": id,
        "type": event_type.as_str(),
        "created_at": utc(at),
        "board_id": board_id,
        "data": data,
    })
    .to_string();
    diesel::insert_into(webhook_events::table)
        .values((
            webhook_events::id.eq(DbUuid(id)),
            webhook_events::event_type.eq(event_type.as_str()),
            webhook_events::board_id.eq(DbUuid(board_id)),
            webhook_events::body.eq(body),
            webhook_events::created_at.eq(at),
        ))
        .execute(conn)?;
    for url in &outbox.urls {
        diesel::insert_into(webhook_deliveries::table)
            .values((
                webhook_deliveries::event_id.eq(DbUuid(id)),
                webhook_deliveries::url.eq(url),
                webhook_deliveries::attempts.eq(0),
                webhook_deliveries::next_attempt_at.eq(at),
            ))
            .execute(conn)?;
    }
    mark_written();
    Ok(())
}

/// Notes that the current transaction gave the worker something to do: it
/// is woken when the transaction is over.
pub(super) fn mark_written() {
    CURRENT.with(|current| {
        if let Some((_, written)) = current.borrow_mut().as_mut() {
            *written = true;
        }
    });
}

/// `at` plus `delay`, as stored.
pub(super) fn later(at: DbTime, delay: Duration) -> DbTime {
    let delay = chrono::TimeDelta::from_std(delay).unwrap_or(chrono::TimeDelta::MAX);
    DbTime(at.0.checked_add_signed(delay).unwrap_or(at.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_actions_map_to_the_contracts_event_types_and_version_deleted_to_none() {
        for action in [
            "board.created",
            "board.renamed",
            "member.added",
            "member.role_changed",
            "member.removed",
            "version.created",
            "version.restored",
        ] {
            let event = EventType::for_audit_action(action).expect(action);
            assert_eq!(event.as_str(), action);
        }
        assert_eq!(EventType::for_audit_action("version.deleted"), None);
        assert_eq!(EventType::for_audit_action("anything.else"), None);
    }

    #[test]
    fn a_scope_wakes_its_worker_only_when_an_event_was_written() {
        let outbox = Arc::new(Outbox::new(vec!["http://x".into()], Duration::ZERO));
        drop(Scope::enter(Some(Arc::clone(&outbox))));
        assert!(current().is_none(), "left when dropped");
        let scope = Scope::enter(Some(Arc::clone(&outbox)));
        mark_written();
        drop(scope);
        // The permit stored by `notify_one` completes the next wait at once.
        let woken = outbox.wake.notified();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            tokio::time::timeout(Duration::from_secs(1), woken)
                .await
                .expect("woken after the write");
        });
    }
}

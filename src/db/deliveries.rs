//! The webhook outbox's read side, for the delivery worker: claiming due
//! deliveries, recording how their attempts went, and when the next one
//! falls due.
//!
//! A claim (`claimed_until`) is what keeps two instances sharing the database
//! from sending one delivery at the same time: a delivery is claimed in a
//! transaction (on PostgreSQL with `FOR UPDATE SKIP LOCKED`, so concurrent
//! claimers take different rows; on SQLite the write transaction serializes
//! them), and a claim left by a crashed instance expires, after which the
//! delivery is claimed and sent again.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::{
    board_updates,
    models::utc,
    now,
    outbox::later,
    schema::{webhook_deliveries, webhook_events},
    sql_types::{DbTime, DbUuid},
    write_transaction, AnyConnection, Db, DbError,
};

/// Which delivery: an event, to one receiver.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeliveryKey {
    /// The event (the `webhook-id`).
    pub event_id: Uuid,
    /// The receiver.
    pub url: String,
}

/// A delivery claimed for sending.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    /// Which one.
    pub key: DeliveryKey,
    /// The JSON body, as written with the event.
    pub body: String,
    /// When the event was written.
    pub created_at: DateTime<Utc>,
    /// Attempts that failed before this one.
    pub attempts: u32,
}

/// How an attempt ended, as the worker decided.
#[derive(Debug, Clone)]
pub enum DeliveryResult {
    /// The receiver answered 2xx: the delivery is done.
    Delivered,
    /// It failed; try again at `retry_in` from now.
    Retry {
        /// Why it failed (kept in `last_error`).
        error: String,
        retry_in: Duration,
    },
    /// It failed for the last time: the delivery is dropped.
    GiveUp,
}

/// What the outbox holds, for the worker's sleep and the pending gauge.
#[derive(Debug, Clone, Copy, Default)]
pub struct OutboxOutlook {
    /// Deliveries not yet done (due, waiting for a retry, or being sent).
    pub pending: i64,
    /// The earliest time a delivery may become due: its next attempt, or
    /// the expiry of its claim.
    pub next_delivery: Option<DateTime<Utc>>,
    /// When the first pending `board.updated` falls due.
    pub next_board_update: Option<DateTime<Utc>>,
}

#[derive(Queryable)]
struct Candidate {
    event_id: DbUuid,
    url: String,
    attempts: i32,
}

impl Db {
    /// Claims up to `limit` due deliveries for `claim_for`, with their events.
    pub async fn claim_deliveries(
        &self,
        limit: usize,
        claim_for: Duration,
    ) -> Result<Vec<ClaimedDelivery>, DbError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.interact(move |conn| {
            write_transaction(conn, |conn| {
                let at = now();
                let query = webhook_deliveries::table
                    .filter(webhook_deliveries::next_attempt_at.le(at))
                    .filter(
                        webhook_deliveries::claimed_until
                            .is_null()
                            .or(webhook_deliveries::claimed_until.le(at)),
                    )
                    .order(webhook_deliveries::next_attempt_at.asc())
                    .limit(limit)
                    .select((
                        webhook_deliveries::event_id,
                        webhook_deliveries::url,
                        webhook_deliveries::attempts,
                    ));
                let candidates: Vec<Candidate> = match conn {
                    AnyConnection::Postgres(pg) => query.for_update().skip_locked().load(pg)?,
                    AnyConnection::Sqlite(_) => query.load(conn)?,
                };
                let until = later(at, claim_for);
                let mut claimed = Vec::with_capacity(candidates.len());
                for candidate in candidates {
                    diesel::update(
                        webhook_deliveries::table.find((&candidate.event_id, &candidate.url)),
                    )
                    .set(webhook_deliveries::claimed_until.eq(Some(until)))
                    .execute(conn)?;
                    let (body, created_at) = webhook_events::table
                        .find(candidate.event_id)
                        .select((webhook_events::body, webhook_events::created_at))
                        .first::<(String, DbTime)>(conn)?;
                    claimed.push(ClaimedDelivery {
                        key: DeliveryKey {
                            event_id: candidate.event_id.0,
                            url: candidate.url,
                        },
                        body,
                        created_at: utc(created_at),
                        attempts: u32::try_from(candidate.attempts).unwrap_or(0),
                    });
                }
                Ok(claimed)
            })
        })
        .await
    }

    /// Records how attempts ended, in one transaction: done deliveries (and
    /// events left without one) are deleted, failed ones rescheduled and
    /// their claims released.
    pub async fn finish_deliveries(
        &self,
        results: Vec<(DeliveryKey, DeliveryResult)>,
    ) -> Result<(), DbError> {
        if results.is_empty() {
            return Ok(());
        }
        self.interact(move |conn| {
            write_transaction(conn, |conn| {
                let at = now();
                for (key, result) in &results {
                    let row = webhook_deliveries::table.find((DbUuid(key.event_id), &key.url));
                    match result {
                        DeliveryResult::Delivered | DeliveryResult::GiveUp => {
                            diesel::delete(row).execute(conn)?;
                            delete_event_if_done(conn, key.event_id)?;
                        }
                        DeliveryResult::Retry { error, retry_in } => {
                            diesel::update(row)
                                .set((
                                    webhook_deliveries::attempts
                                        .eq(webhook_deliveries::attempts + 1),
                                    webhook_deliveries::next_attempt_at.eq(later(at, *retry_in)),
                                    webhook_deliveries::claimed_until.eq(None::<DbTime>),
                                    webhook_deliveries::last_error.eq(Some(error)),
                                ))
                                .execute(conn)?;
                        }
                    }
                }
                Ok(())
            })
        })
        .await
    }

    /// Releases claims of deliveries whose attempts were cut short (at
    /// shutdown), so they are tried again at once, here or elsewhere.
    pub async fn release_deliveries(&self, keys: Vec<DeliveryKey>) -> Result<(), DbError> {
        if keys.is_empty() {
            return Ok(());
        }
        self.interact(move |conn| {
            write_transaction(conn, |conn| {
                for key in &keys {
                    diesel::update(
                        webhook_deliveries::table.find((DbUuid(key.event_id), &key.url)),
                    )
                    .set(webhook_deliveries::claimed_until.eq(None::<DbTime>))
                    .execute(conn)?;
                }
                Ok(())
            })
        })
        .await
    }

    /// How many deliveries are pending, and when the next may become due.
    pub async fn outbox_outlook(&self) -> Result<OutboxOutlook, DbError> {
        self.interact(|conn| {
            let pending = webhook_deliveries::table.count().get_result(conn)?;
            let next_attempt: Option<DbTime> = webhook_deliveries::table
                .filter(webhook_deliveries::claimed_until.is_null())
                .order(webhook_deliveries::next_attempt_at.asc())
                .select(webhook_deliveries::next_attempt_at)
                .first(conn)
                .optional()?;
            let next_expiry: Option<Option<DbTime>> = webhook_deliveries::table
                .filter(webhook_deliveries::claimed_until.is_not_null())
                .order(webhook_deliveries::claimed_until.asc())
                .select(webhook_deliveries::claimed_until)
                .first(conn)
                .optional()?;
            let next_delivery = [next_attempt, next_expiry.flatten()]
                .into_iter()
                .flatten()
                .min()
                .map(utc);
            let next_board_update = board_updates::next_due(conn)?.map(utc);
            Ok(OutboxOutlook {
                pending,
                next_delivery,
                next_board_update,
            })
        })
        .await
    }
}

/// Deletes an event none of whose deliveries is left.
fn delete_event_if_done(conn: &mut AnyConnection, event_id: Uuid) -> Result<(), DbError> {
    let left: i64 = webhook_deliveries::table
        .filter(webhook_deliveries::event_id.eq(DbUuid(event_id)))
        .count()
        .get_result(conn)?;
    if left == 0 {
        diesel::delete(webhook_events::table.find(DbUuid(event_id))).execute(conn)?;
    }
    Ok(())
}

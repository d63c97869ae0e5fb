//! The delivery worker: one task that claims due deliveries from the outbox,
//! sends them (at most [`MAX_IN_FLIGHT`] at once, each on a task of its own),
//! records how each went, and sleeps until something is due.
//!
//! Nothing on the sync or REST paths waits for it: they only write outbox
//! rows. The worker holds at most one pooled connection at a time (its claims
//! and records are sequential; the sends hold none), so a slow or dead
//! receiver costs the rest of the server no connection.

use std::{collections::HashSet, sync::Arc, time::Duration};

use rand::Rng;
use tokio::{
    sync::{watch, Notify},
    task::JoinSet,
    time::{sleep_until, Instant},
};

use super::sender::{AttemptError, Sender};
use crate::db::{ClaimedDelivery, Db, DeliveryKey, DeliveryResult};

/// Deliveries sent at once.
pub const MAX_IN_FLIGHT: usize = 16;

/// How long the worker sleeps at most when nothing is due: it then looks
/// again, for events other instances wrote (and left, if they crashed).
const IDLE_POLL: Duration = Duration::from_secs(10);

/// A claim lasts the attempt's deadline and this much more, so that it never
/// expires while its attempt may still succeed.
const CLAIM_MARGIN: Duration = Duration::from_secs(5);

/// The shortest pause between two rounds.
const MIN_PAUSE: Duration = Duration::from_millis(5);

/// First pause after the database failed the worker; doubles up to the next.
const FIRST_DB_BACKOFF: Duration = Duration::from_millis(500);
const MAX_DB_BACKOFF: Duration = Duration::from_secs(30);

/// What the worker needs.
pub(super) struct Worker {
    pub db: Db,
    pub sender: Sender,
    pub retry_delays: Vec<Duration>,
    pub attempt_timeout: Duration,
    pub wake: Arc<Notify>,
    pub stop: watch::Receiver<bool>,
}

/// What comes back from a send task.
type Attempt = (ClaimedDelivery, Result<(), AttemptError>);

/// The worker's bookkeeping between rounds.
#[derive(Default)]
struct Round {
    sending: JoinSet<Attempt>,
    /// The deliveries being sent (released if abandoned at shutdown).
    in_flight: HashSet<DeliveryKey>,
    /// Finished attempts not yet recorded.
    results: Vec<(DeliveryKey, DeliveryResult)>,
    /// When a board's pending `board.updated` falls due (`None`: none known).
    board_update_due: Option<Instant>,
    /// When the next delivery falls due, as last surveyed.
    next_delivery: Option<Instant>,
    /// When the outbox was last surveyed.
    surveyed: Option<Instant>,
}

impl Worker {
    /// Runs until told to stop; then abandons the attempts in flight and
    /// releases their claims, so they are sent again at once (by the next
    /// start, or another instance).
    pub(super) async fn run(mut self) {
        // Pending `board.updated` events of a previous run are looked at first.
        let mut round = Round {
            board_update_due: Some(Instant::now()),
            ..Round::default()
        };
        let mut db_failures: u32 = 0;
        loop {
            let wake_at = match self.turn(&mut round).await {
                Ok(wake_at) => {
                    db_failures = 0;
                    wake_at
                }
                Err(err) => {
                    db_failures += 1;
                    let backoff = FIRST_DB_BACKOFF
                        .saturating_mul(1 << db_failures.min(8).saturating_sub(1))
                        .min(MAX_DB_BACKOFF);
                    tracing::warn!(%err, retry_in_ms = backoff.as_millis() as u64,
                        "webhook outbox unavailable; deliveries wait");
                    Instant::now() + backoff
                }
            };
            tokio::select! {
                changed = self.stop.changed() => {
                    if changed.is_err() || *self.stop.borrow() {
                        break;
                    }
                }
                // A new event or a board's pending update: look now.
                () = self.wake.notified() => round.surveyed = None,
                Some(done) = round.sending.join_next(), if !round.sending.is_empty() => {
                    if let Ok((delivery, attempt)) = done {
                        round.in_flight.remove(&delivery.key);
                        round.results.push(self.judge(&delivery, attempt));
                    }
                }
                () = sleep_until(wake_at) => {}
            }
            // Everything else that finished meanwhile, recorded together.
            while let Some(Ok((delivery, attempt))) = round.sending.try_join_next() {
                round.in_flight.remove(&delivery.key);
                round.results.push(self.judge(&delivery, attempt));
            }
        }
        round.sending.abort_all();
        while let Some(done) = round.sending.join_next().await {
            if let Ok((delivery, attempt)) = done {
                round.in_flight.remove(&delivery.key);
                round.results.push(self.judge(&delivery, attempt));
            }
        }
        let recorded = self.db.finish_deliveries(round.results).await;
        let released = self
            .db
            .release_deliveries(round.in_flight.into_iter().collect())
            .await;
        if let Err(err) = recorded.and(released) {
            // Their claims expire instead: they are sent again then.
            tracing::warn!(%err, "webhook deliveries in flight at shutdown not released");
        }
        tracing::debug!("webhook worker stopped");
    }

    /// One round: record finished attempts, write due `board.updated`
    /// events, claim and start what is due, and survey the outbox. Returns
    /// when to look again (unless woken first).
    async fn turn(&self, round: &mut Round) -> Result<Instant, crate::db::DbError> {
        if !round.results.is_empty() {
            let results = std::mem::take(&mut round.results);
            if let Err(err) = self.db.finish_deliveries(results.clone()).await {
                // Recorded at the next round (their claims hold meanwhile).
                round.results = results;
                return Err(err);
            }
        }
        let now = Instant::now();
        if round.board_update_due.is_some_and(|due| due <= now) {
            round.board_update_due = None;
            if self.db.emit_due_board_updates().await? > 0 {
                round.surveyed = None;
            }
        }
        let free = MAX_IN_FLIGHT.saturating_sub(round.sending.len());
        let mut more_due = false;
        if free > 0 {
            let claimed = self
                .db
                .claim_deliveries(free, self.attempt_timeout + CLAIM_MARGIN)
                .await?;
            more_due = claimed.len() == free;
            for delivery in claimed {
                round.in_flight.insert(delivery.key.clone());
                let sender = self.sender.clone();
                round.sending.spawn(async move {
                    let attempt = sender.send(&delivery).await;
                    (delivery, attempt)
                });
            }
        }
        // Surveyed when the due deliveries are all claimed, and at least
        // every second while they are not (a long backlog must not hide a
        // board's pending update).
        let survey_due = round
            .surveyed
            .is_none_or(|at| at + Duration::from_secs(1) <= Instant::now());
        if !more_due || survey_due {
            let outlook = self.db.outbox_outlook().await?;
            round.surveyed = Some(Instant::now());
            crate::metrics::webhook_pending(outlook.pending);
            let at = |due: chrono::DateTime<chrono::Utc>| {
                let wait = (due - chrono::Utc::now())
                    .to_std()
                    .unwrap_or(Duration::ZERO);
                Instant::now() + wait.min(IDLE_POLL)
            };
            round.board_update_due = outlook.next_board_update.map(at);
            round.next_delivery = outlook.next_delivery.map(at);
        }
        let mut wake_at = Instant::now() + IDLE_POLL;
        let full = round.sending.len() >= MAX_IN_FLIGHT;
        // While full, the next finished send wakes the worker (`run`).
        let next_delivery = round.next_delivery.filter(|_| !full);
        for due in [round.board_update_due, next_delivery]
            .into_iter()
            .flatten()
        {
            wake_at = wake_at.min(due);
        }
        // Never a busy loop: something due but not claimable now (another
        // instance holds it for a moment) is looked at again shortly.
        Ok(wake_at.max(Instant::now() + MIN_PAUSE))
    }

    /// What an attempt's end means for its delivery, with its metric and log.
    fn judge(
        &self,
        delivery: &ClaimedDelivery,
        attempt: Result<(), AttemptError>,
    ) -> (DeliveryKey, DeliveryResult) {
        let key = delivery.key.clone();
        let url = crate::redact::redact_url_password(&key.url);
        match attempt {
            Ok(()) => {
                let latency = (chrono::Utc::now() - delivery.created_at)
                    .to_std()
                    .unwrap_or(Duration::ZERO);
                crate::metrics::webhook_delivered(latency);
                tracing::debug!(event.id = %key.event_id, %url, "webhook delivered");
                (key, DeliveryResult::Delivered)
            }
            Err(err) => {
                crate::metrics::webhook_attempt_failed(err.reason());
                let failures = delivery.attempts as usize + 1;
                match self.retry_delays.get(failures - 1) {
                    Some(delay) => {
                        let retry_in = with_jitter(*delay);
                        tracing::info!(event.id = %key.event_id, %url, %err, attempt = failures,
                            retry_in_ms = retry_in.as_millis() as u64, "webhook delivery failed; will retry");
                        (
                            key,
                            DeliveryResult::Retry {
                                error: err.to_string(),
                                retry_in,
                            },
                        )
                    }
                    None => {
                        crate::metrics::webhook_given_up();
                        tracing::error!(event.id = %key.event_id, %url, %err, attempts = failures,
                            "webhook delivery failed for the last time; given up");
                        (key, DeliveryResult::GiveUp)
                    }
                }
            }
        }
    }
}

/// `delay` plus up to a tenth more, so that deliveries failed together by
/// one outage are not all retried at the same instant.
fn with_jitter(delay: Duration) -> Duration {
    let spread = u64::try_from(delay.as_millis() / 10).unwrap_or(u64::MAX);
    delay + Duration::from_millis(rand::thread_rng().gen_range(0..=spread))
}

//! Webhooks: every event of the contract POSTed to each `WEBHOOK_URLS`
//! receiver, signed per Standard Webhooks, delivered at least once.
//!
//! - Events are written to the database outbox in the transaction of the
//!   change they report (`db::outbox`): audited changes, board deletions,
//!   and `board.updated`, which [`BoardUpdates`] derives from saves,
//!   throttled per board (`db::board_updates`).
//! - [`worker`] sends them: claims, retries with growing delays, gives up
//!   after the last one; [`sender`] makes one signed attempt
//!   ([`signature`]).
//! - [`settings`]: the configuration.

pub mod sender;
pub mod settings;
pub mod signature;
mod worker;

use std::sync::{Arc, Mutex, PoisonError};

use tokio::{sync::watch, task::JoinHandle};
use uuid::Uuid;

pub use settings::WebhookSettings;
pub use signature::SigningKey;

use crate::{
    board_service::{save_hook::SaveHookFuture, SaveHook},
    db::{outbox::Outbox, Db},
};

/// The outbox `settings` describe, for [`Db::with_outbox`]: events for every
/// receiver, `board.updated` at most once per `update_window` per board.
pub fn outbox(settings: &WebhookSettings, update_window: std::time::Duration) -> Outbox {
    Outbox::new(
        settings
            .urls
            .iter()
            .map(|url| url.as_str().to_owned())
            .collect(),
        update_window,
    )
}

/// The running delivery worker.
#[derive(Debug)]
pub struct Webhooks {
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Webhooks {
    /// Starts delivering what `db`'s outbox holds (`db` must have been given
    /// one with [`Db::with_outbox`]).
    pub fn start(db: Db, settings: &WebhookSettings) -> anyhow::Result<Self> {
        let wake = db
            .outbox()
            .map(Outbox::wake)
            .ok_or_else(|| anyhow::anyhow!("the database has no webhook outbox"))?;
        let sender = sender::Sender::new(settings.key.clone(), settings.attempt_timeout)?;
        let (stop, stopped) = watch::channel(false);
        let worker = worker::Worker {
            db,
            sender,
            retry_delays: settings.retry_delays.clone(),
            attempt_timeout: settings.attempt_timeout,
            wake,
            stop: stopped,
        };
        let receivers: Vec<String> = settings
            .urls
            .iter()
            .map(|url| crate::redact::redact_url_password(url.as_str()))
            .collect();
        tracing::info!(?receivers, "webhooks on");
        Ok(Self {
            stop,
            task: Mutex::new(Some(tokio::spawn(worker.run()))),
        })
    }

    /// Tells the worker to stop: attempts in flight are abandoned (and sent
    /// again by the next start); nothing waits for a receiver.
    pub fn begin_stop(&self) {
        self.stop.send_replace(true);
    }

    /// Stops the worker and waits until it has released what it held.
    pub async fn stop(&self) {
        self.begin_stop();
        let task = self
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = task {
            if let Err(err) = task.await {
                tracing::error!(%err, "webhook worker failed");
            }
        }
    }
}

/// Turns board saves into throttled `board.updated` events (see
/// `db::board_updates`).
#[derive(Debug, Clone)]
pub struct BoardUpdates {
    db: Db,
}

impl BoardUpdates {
    /// Writes through `db`, which has the webhook outbox.
    pub fn new(db: Db) -> Arc<Self> {
        Arc::new(Self { db })
    }
}

impl SaveHook for BoardUpdates {
    fn saved<'a>(&'a self, board_id: Uuid, authors: &'a [Uuid]) -> SaveHookFuture<'a> {
        Box::pin(async move {
            if let Err(err) = self.db.note_board_saved(board_id, authors.to_vec()).await {
                // The save itself stands; only this notification is lost.
                tracing::warn!(board.id = %board_id, %err, "board.updated webhook event not written");
            }
        })
    }
}

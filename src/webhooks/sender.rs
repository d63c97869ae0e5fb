//! One delivery attempt: the signed POST to a receiver, with a deadline.
//!
//! Redirects are not followed (a 3xx is a failed attempt, retried like any
//! other: a receiver that moved is reconfigured, never followed to another
//! host), and at most [`MAX_RESPONSE_BYTES`] of an answer are read.

use std::time::Duration;

use reqwest::{header, redirect, Client};

use super::signature::SigningKey;
use crate::db::ClaimedDelivery;

/// The most of a receiver's answer read (then the connection is dropped):
/// only its status matters.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// Why an attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum AttemptError {
    /// The receiver answered, but not 2xx.
    #[error("answered HTTP {0}")]
    Status(u16),
    /// No answer within the attempt's deadline.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The receiver could not be reached (refused, unresolvable, TLS).
    #[error("could not connect: {0}")]
    Connect(String),
    /// The request failed otherwise.
    #[error("request failed: {0}")]
    Other(String),
}

impl AttemptError {
    /// The `reason` label of the failed-attempt counter (a closed set).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Status(_) => "status",
            Self::Timeout(_) => "timeout",
            Self::Connect(_) => "connect",
            Self::Other(_) => "other",
        }
    }
}

/// Sends signed webhook requests.
#[derive(Debug, Clone)]
pub struct Sender {
    client: Client,
    key: SigningKey,
    timeout: Duration,
}

impl Sender {
    /// A sender signing with `key`, giving each receiver `timeout` to answer.
    pub fn new(key: SigningKey, timeout: Duration) -> Result<Self, reqwest::Error> {
        let client = Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(redirect::Policy::none())
            .user_agent(concat!(
                "canvas-server/",
                env!("CARGO_PKG_VERSION"),
                " webhooks"
            ))
            .build()?;
        Ok(Self {
            client,
            key,
            timeout,
        })
    }

    /// POSTs the delivery's event to its receiver, signed now.
    pub async fn send(&self, delivery: &ClaimedDelivery) -> Result<(), AttemptError> {
        let id = delivery.key.event_id.to_string();
        let timestamp = chrono::Utc::now().timestamp();
        let signature = self.key.sign(&id, timestamp, delivery.body.as_bytes());
        let attempt = async {
            let mut response = self
                .client
                .post(&delivery.key.url)
                .header(header::CONTENT_TYPE, "application/json")
                .header("webhook-id", &id)
                .header("webhook-timestamp", timestamp.to_string())
                .header("webhook-signature", signature)
                .body(delivery.body.clone())
                .send()
                .await
                .map_err(|err| self.classify(&err.without_url()))?;
            let status = response.status();
            // Read (a little of) the answer, so the connection may be reused.
            let mut read = 0;
            while read < MAX_RESPONSE_BYTES {
                match response.chunk().await {
                    Ok(Some(chunk)) => read += chunk.len(),
                    Ok(None) | Err(_) => break,
                }
            }
            if status.is_success() {
                Ok(())
            } else {
                Err(AttemptError::Status(status.as_u16()))
            }
        };
        // The client's own timeout covers the request; this one also covers
        // a receiver that trickles its answer.
        tokio::time::timeout(self.timeout, attempt)
            .await
            .unwrap_or(Err(AttemptError::Timeout(self.timeout)))
    }

    fn classify(&self, err: &reqwest::Error) -> AttemptError {
        if err.is_timeout() {
            AttemptError::Timeout(self.timeout)
        } else if err.is_connect() {
            AttemptError::Connect(error_chain(err))
        } else {
            AttemptError::Other(error_chain(err))
        }
    }
}

/// An error with its causes, which is where reqwest keeps the reason.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

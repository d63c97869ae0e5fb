//! A webhook receiver on `127.0.0.1:0` for the tests: records every request
//! and answers as scripted (a status, a late answer, or none), plus the
//! independent signature check and the configuration that points a server
//! at a receiver.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{body::Bytes, extract::State, http::HeaderMap, response::IntoResponse, routing::post};
use base64::{engine::general_purpose::STANDARD, Engine};
use canvas_server::{
    webhooks::{SigningKey, WebhookSettings},
    Config,
};
use hmac::{Hmac, KeyInit, Mac};
use reqwest::StatusCode;
use serde_json::Value;
use sha2::Sha256;
use tokio::{net::TcpListener, sync::Notify};

use crate::harness::test_config;

/// The signing key of the test receivers: 32 bytes, base64 after `whsec_`.
pub const SECRET: &str = "whsec_Y2FudmFzLXdlYmhvb2stdGVzdC1rZXktMzItYnl0ZXM=";

/// How a receiver answers one request.
#[derive(Debug, Clone, Copy)]
pub enum Answer {
    /// At once, with this status.
    Status(u16),
    /// 200, after this long.
    Late(Duration),
}

/// A request as the receiver got it.
#[derive(Debug, Clone)]
pub struct Received {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub content_type: String,
    pub body: Bytes,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("the body is JSON")
    }

    pub fn event_type(&self) -> String {
        self.json()["type"].as_str().unwrap_or_default().to_owned()
    }

    /// Checks the signature with an HMAC computed here, not by the server's
    /// signer, and the timestamp against this machine's clock.
    #[track_caller]
    pub fn assert_signed(&self) {
        let key = STANDARD
            .decode(SECRET.trim_start_matches("whsec_"))
            .expect("base64 key");
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("any key length");
        mac.update(format!("{}.{}.", self.id, self.timestamp).as_bytes());
        mac.update(&self.body);
        let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
        assert_eq!(self.signature, expected, "signature of {}", self.id);
        let sent: i64 = self.timestamp.parse().expect("Unix seconds");
        let now = chrono::Utc::now().timestamp();
        assert!(
            (now - sent).abs() < 300,
            "timestamp {sent} is far from {now}"
        );
    }
}

#[derive(Default)]
struct Shared {
    received: Mutex<Vec<Received>>,
    arrived: Notify,
    script: Mutex<VecDeque<Answer>>,
    /// The answer once the script is used up (`None`: 200).
    otherwise: Mutex<Option<Answer>>,
}

/// A running receiver.
pub struct Receiver {
    /// `http://127.0.0.1:PORT/hook`.
    pub url: String,
    shared: Arc<Shared>,
}

impl Receiver {
    /// A receiver answering 200 to everything.
    pub async fn start() -> Self {
        Self::scripted(Vec::new()).await
    }

    /// A receiver answering its first requests as `script` says, then 200.
    pub async fn scripted(script: Vec<Answer>) -> Self {
        let shared = Arc::new(Shared {
            script: Mutex::new(script.into()),
            ..Shared::default()
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        let app = axum::Router::new()
            .route("/hook", post(receive))
            .with_state(Arc::clone(&shared));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, shared }
    }

    /// Answers every later request (after the script) with `answer`, or 200.
    pub fn answer_otherwise(&self, answer: Option<Answer>) {
        *self.shared.otherwise.lock().expect("lock") = answer;
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().expect("lock").clone()
    }

    /// Waits (up to `within`) until what was received satisfies `done`.
    pub async fn wait_for(
        &self,
        what: &str,
        within: Duration,
        done: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let arrived = self.shared.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            let received = self.received();
            if done(&received) {
                return received;
            }
            let types: Vec<String> = received.iter().map(Received::event_type).collect();
            tokio::time::timeout_at(deadline, arrived)
                .await
                .unwrap_or_else(|_| panic!("{what}: not within {within:?}; received {types:?}"));
        }
    }

    /// Waits for the first event of `event_type`.
    pub async fn event(&self, event_type: &str) -> Received {
        let received = self
            .wait_for(event_type, Duration::from_secs(10), |received| {
                received.iter().any(|r| r.event_type() == event_type)
            })
            .await;
        received
            .into_iter()
            .find(|r| r.event_type() == event_type)
            .expect("found")
    }
}

async fn receive(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    shared.received.lock().expect("lock").push(Received {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        content_type: header("content-type"),
        body,
    });
    shared.arrived.notify_waiters();
    let scripted = shared.script.lock().expect("lock").pop_front();
    let answer = scripted.or(*shared.otherwise.lock().expect("lock"));
    match answer {
        None => StatusCode::OK,
        Some(Answer::Status(status)) => {
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
        }
        Some(Answer::Late(delay)) => {
            tokio::time::sleep(delay).await;
            StatusCode::OK
        }
    }
}

/// Webhook settings for `urls` with [`SECRET`], retried after 50 ms each
/// time (up to 20 times).
pub fn webhook_settings(urls: &[&str]) -> WebhookSettings {
    let urls = urls.iter().map(|url| url.parse().expect("url")).collect();
    let mut settings = WebhookSettings::new(urls, SigningKey::from_secret(SECRET).expect("key"));
    settings.retry_delays = vec![Duration::from_millis(50); 20];
    settings
}

/// [`test_config`] sending every event to `url`.
pub fn webhook_config(url: &str) -> Config {
    Config {
        webhooks: Some(webhook_settings(&[url])),
        ..test_config()
    }
}

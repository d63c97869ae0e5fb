//! `REQUEST_TIMEOUT_MS`: a request body that stops arriving is not waited for
//! forever. Its body ends in an error once the deadline (counted from when the
//! request's headers arrived) has passed with bytes still missing, and the
//! request is answered `408 request_timeout` with `Connection: close`,
//! whatever the handler made of the error.
//!
//! The timer is only set when a body is polled and has nothing ready, so a
//! request without a body, or one whose body is already here, costs nothing.

use std::{
    future::Future,
    pin::Pin,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    body::Body,
    extract::State,
    http::Request,
    middleware::Next,
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use crate::{app::AppState, error::AppError};

/// The error a body ends with when its deadline passed.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
pub struct BodyTimedOut(Duration);

/// Whether a request's body ran out of time; answers for it (see [`limit`]).
#[derive(Debug, Default)]
pub struct BodyDeadline {
    expired: Option<Arc<AtomicBool>>,
}

impl BodyDeadline {
    /// The handler's response, or `408` with `Connection: close` when the body
    /// timed out while the handler read it.
    pub fn answer(self, response: Response) -> Response {
        match self.expired {
            Some(expired) if expired.load(Ordering::Acquire) => {
                tracing::info!("request body did not arrive in time; answering 408 and closing");
                AppError::RequestTimeout.into_response()
            }
            _ => response,
        }
    }
}

/// The router middleware: gives each request's body `REQUEST_TIMEOUT_MS` from
/// when the router receives it (right after its headers arrived) to arrive,
/// and answers `408` for one that did not. Inside the request metrics and
/// logs, so they count the `408`.
pub async fn enforce(
    State(state): State<AppState>,
    request: Request<Body>,
    next: Next,
) -> Response {
    let (request, deadline) = limit(request, state.config.request_timeout);
    deadline.answer(next.run(request).await)
}

/// Gives `request`'s body `timeout` (from now) to arrive in full. A body that
/// is already complete is left as it is.
pub fn limit(request: Request<Body>, timeout: Duration) -> (Request<Body>, BodyDeadline) {
    if request.body().is_end_stream() {
        return (request, BodyDeadline::default());
    }
    let expired = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + timeout;
    let flag = Arc::clone(&expired);
    let request = request.map(|inner| {
        Body::new(TimedBody {
            inner,
            timeout,
            deadline,
            timer: None,
            expired: flag,
        })
    });
    let watch = BodyDeadline {
        expired: Some(expired),
    };
    (request, watch)
}

/// A body that fails with [`BodyTimedOut`] once its deadline has passed while
/// it waits for more bytes.
struct TimedBody {
    inner: Body,
    timeout: Duration,
    deadline: Instant,
    /// Set on the first poll that finds nothing ready.
    timer: Option<Pin<Box<Sleep>>>,
    expired: Arc<AtomicBool>,
}

impl HttpBody for TimedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        // What has arrived is handed on even past the deadline: only waiting
        // for more is cut short.
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        let deadline = this.deadline;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if timer.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        this.expired.store(true, Ordering::Release);
        Poll::Ready(Some(Err(axum::Error::new(BodyTimedOut(this.timeout)))))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    fn stalled_request() -> (Request<Body>, tokio::sync::mpsc::Sender<Bytes>) {
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv()
                .await
                .map(|bytes| (Ok::<_, std::io::Error>(bytes), rx))
        });
        let request = Request::new(Body::from_stream(stream));
        (request, tx)
    }

    #[tokio::test]
    async fn a_body_that_stops_arriving_fails_after_the_timeout_and_is_answered_408() {
        let (request, tx) = stalled_request();
        let (request, deadline) = limit(request, Duration::from_millis(50));
        tx.send(Bytes::from_static(b"{")).await.expect("sent");
        let mut body = request.into_body();
        let first = body.frame().await.expect("a frame").expect("data");
        assert_eq!(first.into_data().ok(), Some(Bytes::from_static(b"{")));
        let stalled = body.frame().await.expect("an end");
        assert!(stalled.is_err(), "the stalled body ends in an error");
        let response = deadline.answer(Response::new(Body::empty()));
        assert_eq!(response.status(), axum::http::StatusCode::REQUEST_TIMEOUT);
        assert_eq!(
            response.headers().get("connection").map(|v| v.as_bytes()),
            Some(&b"close"[..])
        );
        drop(tx);
    }

    #[tokio::test]
    async fn a_body_that_arrives_in_time_is_passed_through() {
        let (request, tx) = stalled_request();
        let (request, deadline) = limit(request, Duration::from_secs(30));
        let sender = tokio::spawn(async move {
            // Arrives after the body was first polled and found empty.
            tokio::task::yield_now().await;
            tx.send(Bytes::from_static(b"late but in time"))
                .await
                .expect("sent");
        });
        let bytes = request
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        assert_eq!(bytes, Bytes::from_static(b"late but in time"));
        let response = deadline.answer(Response::new(Body::empty()));
        assert_eq!(response.status(), axum::http::StatusCode::OK);
        sender.await.expect("sender");
    }
}

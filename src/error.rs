//! The one error type of the HTTP layer and its JSON envelope.
//!
//! Every 4xx/5xx the server sends is `{"error": {"code", "message"}}`. Handlers
//! return [`AppError`]; `From` impls here decide how lower-level failures map onto
//! statuses, so that policy lives in one place. 5xx bodies are generic: the detail
//! is logged once, here, and never sent to the client.

use axum::{
    extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection},
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    board_service::{journal::JournalError, OpenError, StoreError},
    db::DbError,
    websocket,
};

/// An error answered to an HTTP client.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// 400: the request is malformed (bad JSON syntax, bad query string, undecodable body).
    #[error("{0}")]
    BadRequest(String),
    /// 401: no valid credentials.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// 403: the caller sees the resource but may not do this.
    #[error("{0}")]
    Forbidden(&'static str),
    /// 404: no such resource, or one the caller may not see.
    #[error("{0}")]
    NotFound(&'static str),
    /// 405: the route exists, the method does not.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 408: the request's body did not fully arrive within `REQUEST_TIMEOUT_MS`
    /// (the connection is closed after this answer).
    #[error("the request body did not arrive in time")]
    RequestTimeout,
    /// 409: the change conflicts with existing data.
    #[error("{0}")]
    Conflict(&'static str),
    /// 413: the body is larger than the configured limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 415: the body is not of the expected media type.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 426: a WebSocket upgrade asked for a version other than 13; the answer
    /// carries `Sec-WebSocket-Version: 13` (RFC 6455 §4.2.2).
    #[error("unsupported WebSocket version; this server speaks Sec-WebSocket-Version 13")]
    UnsupportedWebSocketVersion,
    /// 429: a rate limit was hit; retry after this many seconds.
    #[error("too many requests; retry in {0} s")]
    TooManyRequests(u64),
    /// 422: well-formed but invalid input.
    #[error("{0}")]
    Validation(String),
    /// 503: a dependency (the database) cannot serve now.
    #[error("service temporarily unavailable")]
    Unavailable(String),
    /// 503: a capacity limit is reached now; retry after this many seconds.
    #[error("{0}; retry in {1} s")]
    Busy(&'static str, u64),
    /// 500: a bug or an unexpected failure; the detail is logged, not sent.
    #[error("internal server error")]
    Internal(String),
}

/// The JSON body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `not_found`, `validation_failed`.
    #[schema(example = "not_found")]
    pub code: &'static str,
    /// Human-readable explanation.
    #[schema(example = "board not found")]
    pub message: String,
}

impl AppError {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::UnsupportedWebSocketVersion => StatusCode::UPGRADE_REQUIRED,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) | Self::Busy(..) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The envelope's `code`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::RequestTimeout => "request_timeout",
            Self::Conflict(_) => "conflict",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::UnsupportedWebSocketVersion => "upgrade_required",
            Self::Validation(_) => "validation_failed",
            Self::TooManyRequests(_) => "too_many_requests",
            Self::Unavailable(_) | Self::Busy(..) => "service_unavailable",
            Self::Internal(_) => "internal",
        }
    }

    /// Shorthand for a 422 with a message.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::Validation(message.into())
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match &self {
            Self::Internal(detail) => tracing::error!(error = %detail, "internal error"),
            Self::Unavailable(detail) => tracing::warn!(error = %detail, "service unavailable"),
            _ => {}
        }
        let status = self.status();
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message: self.to_string(),
            },
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        match self {
            Self::TooManyRequests(seconds) | Self::Busy(_, seconds) => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
            }
            // The rest of the body may still be on its way: the connection
            // cannot carry another request, so the client is told it closes.
            Self::RequestTimeout => {
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            _ => {}
        }
        if let Self::UnsupportedWebSocketVersion = self {
            response.headers_mut().insert(
                header::SEC_WEBSOCKET_VERSION,
                HeaderValue::from_static(websocket::VERSION),
            );
        }
        response
    }
}

impl From<DbError> for AppError {
    fn from(err: DbError) -> Self {
        match err {
            DbError::NotFound => Self::NotFound("not found"),
            DbError::Conflict => Self::Conflict("conflicts with existing data"),
            DbError::Unavailable(detail) => Self::Unavailable(detail),
            DbError::Query(detail) => Self::Internal(detail),
        }
    }
}

impl From<StoreError> for AppError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => Self::NotFound("not found"),
            StoreError::Unavailable(detail) => Self::Unavailable(detail),
            StoreError::Other(detail) => Self::Internal(detail),
        }
    }
}

impl From<OpenError> for AppError {
    fn from(err: OpenError) -> Self {
        match err {
            OpenError::ShuttingDown => Self::Unavailable("shutting down".to_owned()),
            OpenError::Store(err) => err.into(),
            OpenError::Corrupt(err) => Self::Internal(format!("stored board unreadable: {err}")),
            OpenError::Journal(err) => err.into(),
        }
    }
}

impl From<JournalError> for AppError {
    fn from(err: JournalError) -> Self {
        match err {
            JournalError::BoardGone => Self::NotFound("board not found"),
            // Not made durable: the client may send it again (applying a Yjs
            // update twice changes nothing).
            JournalError::Unavailable(_) | JournalError::Full | JournalError::Stopped => {
                Self::Unavailable("the update could not be made durable now; retry".to_owned())
            }
            // A failed commit (a locked or full database, a serialization
            // failure) is as retryable as an unreachable one: the update is
            // applied but not durable, and the client must be told to resend.
            JournalError::Failed(reason) => Self::Unavailable(format!(
                "journal commit failed, the client may retry: {reason}"
            )),
        }
    }
}

impl From<JsonRejection> for AppError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonDataError(err) => {
                Self::Validation(crate::json_shape::json_shape_message(&err))
            }
            JsonRejection::JsonSyntaxError(err) => Self::BadRequest(err.body_text()),
            JsonRejection::MissingJsonContentType(err) => {
                Self::UnsupportedMediaType(err.body_text())
            }
            JsonRejection::BytesRejection(err) => Self::from(err),
            other => Self::BadRequest(other.body_text()),
        }
    }
}

impl From<BytesRejection> for AppError {
    fn from(rejection: BytesRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Self::PayloadTooLarge("request body is larger than the limit".to_owned())
        } else {
            Self::BadRequest(rejection.body_text())
        }
    }
}

impl From<QueryRejection> for AppError {
    fn from(rejection: QueryRejection) -> Self {
        Self::BadRequest(rejection.body_text())
    }
}

impl From<PathRejection> for AppError {
    fn from(_: PathRejection) -> Self {
        // A malformed id names no resource that exists.
        Self::NotFound("not found")
    }
}

impl From<tokio::task::JoinError> for AppError {
    fn from(err: tokio::task::JoinError) -> Self {
        Self::Internal(format!("background task failed: {err}"))
    }
}

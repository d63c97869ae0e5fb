//! Request extractors that reject with the crate's JSON error envelope instead of
//! axum's plain-text bodies.

use axum::extract::FromRequest;
use axum::extract::FromRequestParts;

use crate::error::AppError;

/// `axum::Json`, rejecting with [`AppError`] (400 syntax, 422 shape, 415 type, 413 size).
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(AppError))]
pub struct Json<T>(pub T);

/// `axum::extract::Path`, rejecting with 404 (a malformed id names nothing).
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(AppError))]
pub struct Path<T>(pub T);

/// `axum::extract::Query`, rejecting with 400.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(AppError))]
pub struct Query<T>(pub T);

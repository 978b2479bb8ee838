//! HTTP responses for the crate's errors (feature `axum`): a handler that
//! returns `Result<_, JobError>` answers overload, shutdown and failures
//! with the right status, and `pool.try_run(f)?.await?` is the whole
//! blocking bridge.
//!
//! | error | status | why |
//! | --- | --- | --- |
//! | queue full ([`JobError::is_full`], [`TrySpawnError::is_full`]) | 503, `Retry-After: 1` | shed load; the client may retry soon |
//! | shed under overload ([`JobError::is_shed`], [`TrySpawnError::is_overloaded`]) | 503, `Retry-After: 1` | the pool sheds a standing queue; the client may retry soon |
//! | shut down or closed ([`JobError::is_closed`], [`SpawnError`]) | 503, `Retry-After: 1` | the service is stopping; the client may retry, elsewhere (a load balancer's next instance) |
//! | queue deadline passed ([`JobError::is_expired`]) | 503 | the work was too late to start |
//! | cancelled ([`JobError::is_cancelled`]) | 503 | the work was called off |
//! | panic ([`JobError::is_panic`]) | 500 | a bug; the message is not sent to the client |
//!
//! The body is a short plain-text reason. A panic's message stays on the
//! server (in `tracing` and the pool's [`on_panic`](crate::Builder::on_panic)
//! hook): it may hold anything the job had, and the client has no use
//! for it.

use axum_core::response::{IntoResponse, Response};
use http::{header, HeaderValue, StatusCode};

use crate::error::{JobError, SpawnError, TrySpawnError};

/// Seconds a client is told to wait before retrying a request that met a
/// full queue (short, since a queue drains in milliseconds) or a pool that
/// stopped admitting (another instance can take it at once).
const RETRY_AFTER_SECS: &str = "1";

#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
impl IntoResponse for JobError {
    fn into_response(self) -> Response {
        let (status, reason) = if self.is_panic() {
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        } else if self.is_full() || self.is_shed() {
            (StatusCode::SERVICE_UNAVAILABLE, "busy: try again shortly")
        } else if self.is_expired() {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "busy: the request waited too long",
            )
        } else if self.is_closed() {
            (StatusCode::SERVICE_UNAVAILABLE, "shutting down")
        } else {
            (StatusCode::SERVICE_UNAVAILABLE, "cancelled")
        };
        let mut response = (status, reason).into_response();
        if self.is_full() || self.is_shed() || self.is_closed() {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECS),
            );
        }
        response
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
impl<F> IntoResponse for TrySpawnError<F> {
    /// As the [`JobError`] it converts into: 503 with `Retry-After`, the
    /// queue being full or the pool shut down. The job is dropped.
    fn into_response(self) -> Response {
        JobError::from(self).into_response()
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
impl<F> IntoResponse for SpawnError<F> {
    /// 503 with `Retry-After`: the executor is shut down. The job is
    /// dropped.
    fn into_response(self) -> Response {
        JobError::from(self).into_response()
    }
}

//! One error type for the relay. Over HTTP it becomes a status code and a
//! short, generic message: details are logged, never sent.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// No token, or a token that matches no member.
    #[error("unauthorized")]
    Unauthorized,
    /// A valid token, but not for this team or document (or read-only).
    #[error("forbidden")]
    Forbidden,
    /// Bad input from the caller (also used by the admin commands).
    #[error("{0}")]
    Invalid(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl IntoResponse for RelayError {
    fn into_response(self) -> Response {
        let (status, message) = match &self {
            RelayError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized".to_string()),
            RelayError::Forbidden => (StatusCode::FORBIDDEN, "forbidden".to_string()),
            RelayError::Invalid(m) => (StatusCode::BAD_REQUEST, m.clone()),
            RelayError::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error".to_string(),
                )
            }
        };
        (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
    }
}

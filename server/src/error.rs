//! The one error type of every API handler: a status code and the JSON body
//! `{"error": "...", "field": "..."}` the API promises for every failure.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use tapesync_model::ApiErrorBody;
use tapesync_store::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub field: Option<String>,
    /// Seconds for a `Retry-After` header (throttled logons, a busy store).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }

    /// Invalid input; `field` names the field or JSON path at fault.
    pub fn bad_request(field: Option<String>, message: impl Into<String>) -> ApiError {
        ApiError {
            field,
            ..ApiError::new(StatusCode::BAD_REQUEST, message)
        }
    }

    /// Used for things that do not exist AND for things the caller may not see, so that a
    /// missing grant and a missing customer cannot be told apart.
    pub fn not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not found")
    }

    pub fn unauthorised(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, message)
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, message)
    }

    pub fn too_many_requests(retry_after_secs: u64) -> ApiError {
        ApiError {
            retry_after: Some(retry_after_secs.max(1)),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too many failed logons; try again later",
            )
        }
    }

    /// A failure of the server itself. The details go to the log (standard error, with the
    /// request's id and user), not to the client.
    pub fn internal(detail: impl std::fmt::Display) -> ApiError {
        tracing::error!("internal error: {detail}");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
    }

    pub fn body(&self) -> ApiErrorBody {
        ApiErrorBody {
            error: self.message.clone(),
            field: self.field.clone(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        if e.is_busy() {
            // Nothing was written (the transaction never got its lock): the client may retry.
            return ApiError {
                retry_after: Some(1),
                ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "inventory busy; retry")
            };
        }
        match e {
            StoreError::Invalid { field, .. } => {
                ApiError::bad_request(field.map(|f| f.to_string()), e.to_string())
            }
            StoreError::NotFound(_) => ApiError::not_found(),
            StoreError::Conflict(msg) => ApiError::new(StatusCode::CONFLICT, msg),
            other => ApiError::internal(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body())).into_response();
        if let Some(secs) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

//! One error type for every handler. API callers get JSON
//! `{"error": {"code", "message", "field"?}}`; browser pages get the same facts rendered as an
//! HTML page by [`crate::web::html_errors`]. 5xx details are logged, never sent.

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Shorthand used by handlers and storage code.
pub type Result<T, E = AppError> = std::result::Result<T, E>;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("authentication required")]
    Unauthorized,
    #[error("you do not have permission to do this")]
    Forbidden,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Gone(String),
    #[error("{field}: {message}")]
    Validation { field: String, message: String },
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("request body is larger than the limit of {0} bytes")]
    TooLarge(usize),
    #[error("too many attempts; try again in {} seconds", .0.as_secs().max(1))]
    TooManyRequests(Duration),
    #[error("{0}")]
    Unavailable(String),
    /// A serialization failure or deadlock (PostgreSQL): the transaction may simply run again.
    #[error("the database was busy with a conflicting change; try again")]
    Contended,
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    /// A field-level validation failure (422).
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        AppError::Validation { field: field.to_string(), message: message.into() }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AppError::Unauthorized => StatusCode::UNAUTHORIZED,
            AppError::Forbidden => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::Gone(_) => StatusCode::GONE,
            AppError::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Unsupported(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unavailable(_) | AppError::Contended => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            AppError::Unauthorized => "unauthorized",
            AppError::Forbidden => "forbidden",
            AppError::NotFound(_) => "not_found",
            AppError::Conflict(_) => "conflict",
            AppError::Gone(_) => "gone",
            AppError::Validation { .. } => "invalid",
            AppError::BadRequest(_) => "bad_request",
            AppError::Unsupported(_) => "unsupported",
            AppError::TooLarge(_) => "too_large",
            AppError::TooManyRequests(_) => "too_many_requests",
            AppError::Unavailable(_) | AppError::Contended => "unavailable",
            AppError::Internal(_) => "internal",
        }
    }
}

/// The JSON body of every error answer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong, for a person and for a program.
#[derive(Serialize, Clone, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `invalid`, `conflict`.
    pub code: &'static str,
    /// A sentence a person understands, in the language `Accept-Language` asks for (English
    /// or Chinese; `Content-Language` says which when it is not English).
    pub message: String,
    /// The input field at fault, for validation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// Attached to error responses so the page layer can render them as HTML.
#[derive(Clone, Debug)]
pub struct RenderedError {
    pub status: StatusCode,
    pub message: String,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            AppError::Internal(e) => {
                tracing::error!(error = ?e, "internal error");
                "internal error; it has been logged".to_string()
            }
            AppError::Validation { message, .. } => message.clone(),
            other => other.to_string(),
        };
        let field = match &self {
            AppError::Validation { field, .. } => Some(field.clone()),
            _ => None,
        };
        let body = ErrorBody { error: ErrorDetail { code: self.code(), message: message.clone(), field } };
        let mut resp = (status, Json(&body)).into_response();
        if let AppError::TooManyRequests(wait) = &self {
            let secs = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1); // ceil, at least 1
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let AppError::Unavailable(_) | AppError::Contended = &self {
            // Busy queues and warming models clear within seconds.
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(5u64));
        }
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp.extensions_mut().insert(RenderedError { status, message });
        resp.extensions_mut().insert(body.error);
        resp
    }
}

/// The documented error answer for a status no variant stands for (a framework's own refusal,
/// such as 405 or a malformed multipart body), with its text as the message.
pub fn framework_refusal(status: StatusCode, message: String) -> Response {
    let code = match status {
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported",
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid",
        StatusCode::NOT_FOUND => "not_found",
        _ => "bad_request",
    };
    let message = if message.trim().is_empty() {
        status.canonical_reason().unwrap_or("bad request").to_lowercase()
    } else {
        message
    };
    let body = ErrorBody { error: ErrorDetail { code, message: message.clone(), field: None } };
    let mut resp = (status, Json(body)).into_response();
    resp.extensions_mut().insert(RenderedError { status, message });
    resp
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        if matches!(e, sqlx::Error::PoolTimedOut) {
            metrics::counter!("db_busy_total", "reason" => "pool_wait").increment(1);
            return AppError::Unavailable("the server is busy; try again shortly".into());
        }
        if let sqlx::Error::Database(db) = &e {
            // serialization_failure, deadlock_detected
            if matches!(db.code().as_deref(), Some("40001" | "40P01")) {
                return AppError::Contended;
            }
            if db.is_unique_violation() {
                // A constraint that means something to a person is named where its query is
                // written (`crate::db::on_unique`); any other is this generic 409.
                return AppError::Conflict("this conflicts with an existing record".into());
            }
            if db.is_foreign_key_violation() {
                return AppError::invalid("reference", "refers to something that does not exist");
            }
        }
        AppError::Internal(e.into())
    }
}

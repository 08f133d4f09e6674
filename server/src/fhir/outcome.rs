//! Errors on `/fhir`: every refusal answers an `OperationOutcome` with the status the rest of
//! the server would give, and its sentence as the issue's `diagnostics`. Refusals made before a
//! FHIR handler runs (admission's 503, a NUL byte's 422, a body over the limit) are converted on
//! the way out by [`convert`].

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::model::{Issue, IssueSeverity, IssueType, OperationOutcome, Resource};
use crate::error::{AppError, RenderedError};

/// The media type of every `/fhir` answer.
pub const FHIR_JSON: &str = "application/fhir+json; charset=utf-8";

/// A FHIR handler's error: an [`AppError`], or a FHIR-specific refusal with its own issue type.
#[derive(Debug)]
pub enum FhirError {
    App(AppError),
    /// A status with an issue of its own (an unknown parameter, an unsupported format).
    Issue {
        status: StatusCode,
        code: IssueType,
        message: String,
        expression: Option<String>,
    },
}

impl FhirError {
    pub fn bad_param(name: &str, message: impl Into<String>) -> FhirError {
        FhirError::Issue {
            status: StatusCode::BAD_REQUEST,
            code: IssueType::Value,
            message: message.into(),
            expression: Some(name.to_string()),
        }
    }

    /// The same refusal, said of entry `i` of a transaction Bundle.
    pub fn at_entry(self, i: usize) -> FhirError {
        match self {
            FhirError::Issue { status, code, message, expression } => FhirError::Issue {
                status,
                code,
                message: format!("entry {i}: {message}"),
                expression: Some(match expression {
                    Some(e) => format!("Bundle.entry[{i}].resource.{e}"),
                    None => format!("Bundle.entry[{i}]"),
                }),
            },
            FhirError::App(e) => {
                let status = e.status();
                if status.is_server_error() {
                    return FhirError::App(e);
                }
                let message = match &e {
                    AppError::Validation { field, message } => format!("{field}: {message}"),
                    other => other.to_string(),
                };
                FhirError::Issue {
                    status,
                    code: issue_type(status),
                    message: format!("entry {i}: {message}"),
                    expression: Some(format!("Bundle.entry[{i}]")),
                }
            }
        }
    }

    /// The body is not the resource it should be (400, `structure`).
    pub fn structure(message: impl Into<String>) -> FhirError {
        FhirError::Issue {
            status: StatusCode::BAD_REQUEST,
            code: IssueType::Structure,
            message: message.into(),
            expression: None,
        }
    }

    /// An element R4 allows but whose value Consilium cannot keep (422, `invalid`).
    pub fn invalid(element: &str, message: impl Into<String>) -> FhirError {
        FhirError::Issue {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: IssueType::Invalid,
            message: message.into(),
            expression: Some(element.to_string()),
        }
    }

    pub fn not_supported(status: StatusCode, message: impl Into<String>) -> FhirError {
        FhirError::Issue { status, code: IssueType::NotSupported, message: message.into(), expression: None }
    }
}

impl From<AppError> for FhirError {
    fn from(e: AppError) -> Self {
        FhirError::App(e)
    }
}

impl From<sqlx::Error> for FhirError {
    fn from(e: sqlx::Error) -> Self {
        FhirError::App(e.into())
    }
}

pub type FhirResult<T> = std::result::Result<T, FhirError>;

/// The issue type FHIR clients expect for a status.
fn issue_type(status: StatusCode) -> IssueType {
    match status.as_u16() {
        401 => IssueType::Login,
        403 => IssueType::Forbidden,
        404 | 410 => IssueType::NotFound,
        409 | 412 => IssueType::Conflict,
        413 => IssueType::TooLong,
        415 | 406 | 405 => IssueType::NotSupported,
        422 => IssueType::Processing,
        429 => IssueType::Throttled,
        503 => IssueType::Transient,
        400..=499 => IssueType::Invalid,
        _ => IssueType::Exception,
    }
}

/// One error issue as a response with `status`.
pub fn respond(status: StatusCode, code: IssueType, message: String, expression: Option<String>) -> Response {
    let outcome = Resource::OperationOutcome(OperationOutcome {
        issue: vec![Issue {
            severity: IssueSeverity::Error,
            code,
            diagnostics: message.clone(),
            expression: expression.into_iter().collect(),
        }],
    });
    let mut resp = (status, axum::Json(outcome)).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
    resp.extensions_mut().insert(RenderedError { status, message });
    resp
}

impl IntoResponse for FhirError {
    fn into_response(self) -> Response {
        match self {
            FhirError::Issue { status, code, message, expression } => {
                respond(status, code, message, expression)
            }
            FhirError::App(e) => {
                let field = match &e {
                    AppError::Validation { field, .. } => Some(field.clone()),
                    _ => None,
                };
                // The server's own answer carries the headers (Retry-After, WWW-Authenticate)
                // and the logged, redacted message of a 5xx; only the body changes.
                let app = e.into_response();
                let (status, message) = app
                    .extensions()
                    .get::<RenderedError>()
                    .map(|r| (r.status, r.message.clone()))
                    .unwrap_or((app.status(), "error".into()));
                let mut resp = respond(status, issue_type(status), message, field);
                for name in [header::RETRY_AFTER, header::WWW_AUTHENTICATE] {
                    if let Some(v) = app.headers().get(&name) {
                        resp.headers_mut().insert(name, v.clone());
                    }
                }
                resp
            }
        }
    }
}

/// An error answered on a `/fhir` path by a layer in front of FHIR's handlers, as an
/// `OperationOutcome` with the same status and headers.
pub fn convert(resp: Response) -> Response {
    let status = resp.status();
    let is_fhir = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|ct| ct.as_bytes().starts_with(b"application/fhir+json"));
    if !(status.is_client_error() || status.is_server_error()) || is_fhir {
        return resp;
    }
    let message = resp
        .extensions()
        .get::<RenderedError>()
        .map(|r| r.message.clone())
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_lowercase());
    let mut out = respond(status, issue_type(status), message, None);
    for name in [header::RETRY_AFTER, header::WWW_AUTHENTICATE] {
        if let Some(v) = resp.headers().get(&name) {
            out.headers_mut().insert(name, v.clone());
        }
    }
    out
}

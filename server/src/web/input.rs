//! What a request may carry before any handler sees it: path, query string and body text
//! without control characters, and the `Path`/`Query` extractors whose refusals are
//! [`AppError`]s (the documented JSON shape, or the HTML error page for browsers) instead of
//! axum's plain-text 400s.
//!
//! The check runs at the edge, so both engines see the same: PostgreSQL refuses a NUL byte in
//! text with an error and SQLite stores it silently; here both are a 422 naming the field.
//! Line breaks and tabs are allowed in body text (notes, reasons); in a path or a query string
//! no control character has a meaning.

use axum::body::Body;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::AppError;

/// Path parameters; a malformed one is a 400 in the documented shape.
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(e) => Err(AppError::BadRequest(e.body_text())),
        }
    }
}

/// Query-string parameters; a malformed one is a 400 in the documented shape, saying which
/// parameter was wrong.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Query(v)),
            Err(e) => Err(AppError::BadRequest(e.body_text())),
        }
    }
}

/// A control character other than tab, line feed and carriage return (those are text).
fn is_forbidden_in_text(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

fn control_char_error(field: &str) -> AppError {
    AppError::invalid(field, format!("{field} contains a control character (such as a NUL byte); remove it"))
}

/// Refuses control characters in the path, the query string and JSON or form bodies, and a
/// path that is not UTF-8 once decoded.
pub async fn refuse_control_characters(req: Request, next: Next) -> Response {
    match check(req).await {
        Ok(req) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

async fn check(req: Request) -> Result<Request, AppError> {
    let path = percent_decode(req.uri().path().as_bytes());
    let path = String::from_utf8(path)
        .map_err(|_| AppError::BadRequest("the address is not valid UTF-8 once decoded".into()))?;
    if path.chars().any(char::is_control) {
        return Err(control_char_error("path"));
    }
    if let Some(query) = req.uri().query() {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
            .map_err(|_| AppError::BadRequest("the query string is not valid UTF-8 once decoded".into()))?;
        if let Some((name, _)) = pairs.iter().find(|(k, v)| k.chars().chain(v.chars()).any(char::is_control))
        {
            return Err(control_char_error(&field_name(name)));
        }
    }
    let kind = body_kind(req.headers());
    if kind == BodyKind::Other {
        return Ok(req);
    }
    let (parts, body) = req.into_parts();
    let limit = if crate::fhir::is_fhir_path(&path) {
        crate::fhir::MAX_BODY_BYTES.max(super::body_limit())
    } else {
        super::body_limit()
    };
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| AppError::TooLarge(limit))?;
    let bad_field = match kind {
        BodyKind::Json => serde_json::from_slice::<Value>(&bytes).ok().and_then(|v| bad_json_field(&v, "")),
        BodyKind::Form => {
            serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes).ok().and_then(|pairs| {
                pairs
                    .iter()
                    .find(|(k, v)| k.chars().chain(v.chars()).any(is_forbidden_in_text))
                    .map(|(k, _)| field_name(k))
            })
        }
        BodyKind::Other => None,
    };
    // Malformed bodies pass on unchanged: their extractor says what is wrong with them.
    if let Some(field) = bad_field {
        return Err(control_char_error(&field));
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum BodyKind {
    Json,
    Form,
    Other,
}

fn body_kind(headers: &HeaderMap) -> BodyKind {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json")) {
        BodyKind::Json
    } else if essence == "application/x-www-form-urlencoded" {
        BodyKind::Form
    } else {
        BodyKind::Other
    }
}

/// The dotted path of the first string (or key) in `v` holding a forbidden character.
fn bad_json_field(v: &Value, at: &str) -> Option<String> {
    let join = |key: &str| if at.is_empty() { key.to_string() } else { format!("{at}.{key}") };
    match v {
        Value::String(s) => s.chars().any(is_forbidden_in_text).then(|| field_name(at)),
        Value::Array(items) => {
            items.iter().enumerate().find_map(|(i, x)| bad_json_field(x, &format!("{at}[{i}]")))
        }
        Value::Object(map) => map.iter().find_map(|(k, x)| {
            if k.chars().any(char::is_control) {
                Some(field_name(&join("")))
            } else {
                bad_json_field(x, &join(k))
            }
        }),
        _ => None,
    }
}

/// A field name fit to echo back: control characters shown as `?`, at most 100 characters.
fn field_name(raw: &str) -> String {
    let name: String = raw.chars().take(100).map(|c| if c.is_control() { '?' } else { c }).collect();
    if name.is_empty() { "body".into() } else { name }
}

fn percent_decode(input: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok());
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%'
            && let (Some(h), Some(l)) =
                (input.get(i + 1).copied().and_then(hex), input.get(i + 2).copied().and_then(hex))
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(input[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_field_with_a_control_character() {
        let v: Value = serde_json::json!({"a": "fine\nline", "b": [{"c": "x\u{0}y"}]});
        assert_eq!(bad_json_field(&v, "").as_deref(), Some("b[0].c"));
        let ok: Value = serde_json::json!({"a": "tab\there", "n": 5});
        assert_eq!(bad_json_field(&ok, ""), None);
        assert_eq!(bad_json_field(&serde_json::json!({"k": "\u{1b}[31m"}), "").as_deref(), Some("k"));
    }

    #[test]
    fn percent_decoding_keeps_what_is_not_an_escape() {
        assert_eq!(percent_decode(b"/a%20b%zz%4"), b"/a b%zz%4");
        assert_eq!(percent_decode(b"%00"), b"\0");
    }
}

//! The browser-facing edge: page context and rendering, typed body extractors with
//! person-readable rejections, HTML error pages, embedded static files, language choice.

pub mod i18n;
pub mod input;
pub mod pages;
pub mod pdf;
pub mod statics;
pub mod time;

use askama::Template;
use axum::extract::rejection::{FormRejection, JsonRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::accounts::model::Role;
use crate::auth::CurrentUser;
use crate::error::{AppError, RenderedError};
use i18n::{Lang, Tr};

/// Cookie holding an explicit language choice of a visitor without an account preference.
pub const LANG_COOKIE: &str = "consilium_lang";

/// JSON body extractor whose failures are [`AppError`]s: 400 for malformed JSON or a missing
/// content type, 422 for well-formed JSON of the wrong shape, 413 past the body limit.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(JsonRejection::JsonDataError(e)) => Err(AppError::invalid("body", e.body_text())),
            Err(JsonRejection::JsonSyntaxError(_)) => {
                Err(AppError::BadRequest("the body is not valid JSON".into()))
            }
            Err(JsonRejection::MissingJsonContentType(_)) => {
                Err(AppError::BadRequest("expected Content-Type: application/json".into()))
            }
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(AppError::TooLarge(body_limit())),
            Err(e) => Err(AppError::BadRequest(e.body_text())),
        }
    }
}

/// Form body extractor with the same error mapping as [`ApiJson`].
#[derive(Debug)]
pub struct PageForm<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for PageForm<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        match axum::Form::<T>::from_request(req, state).await {
            Ok(axum::Form(v)) => Ok(PageForm(v)),
            Err(FormRejection::FailedToDeserializeForm(e)) => Err(AppError::invalid("form", e.body_text())),
            Err(FormRejection::FailedToDeserializeFormBody(e)) => {
                Err(AppError::invalid("form", e.body_text()))
            }
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(AppError::TooLarge(body_limit())),
            Err(e) => Err(AppError::BadRequest(e.body_text())),
        }
    }
}

/// The configured body limit, recorded at start for error messages.
static BODY_LIMIT: std::sync::OnceLock<usize> = std::sync::OnceLock::new();

pub fn set_body_limit(n: usize) {
    let _ = BODY_LIMIT.set(n);
}

fn body_limit() -> usize {
    BODY_LIMIT.get().copied().unwrap_or(64 * 1024)
}

/// Renders a template, turning a template failure into a logged 500.
pub fn render<T: Template>(t: &T) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => AppError::Internal(anyhow::anyhow!("template: {e}")).into_response(),
    }
}

/// The signed-in person as the page layout shows them.
#[derive(Clone, Debug)]
pub struct NavUser {
    pub id: String,
    pub name: String,
    pub role: Role,
}

/// What every page template receives: language, viewer, current path.
#[derive(Clone, Debug)]
pub struct PageCtx {
    pub tr: Tr,
    pub user: Option<NavUser>,
    pub path: String,
}

impl PageCtx {
    pub fn is_admin(&self) -> bool {
        self.has_role(Role::Admin)
    }

    pub fn is_doctor(&self) -> bool {
        self.has_role(Role::Doctor)
    }

    pub fn is_patient(&self) -> bool {
        self.has_role(Role::Patient)
    }

    fn has_role(&self, role: Role) -> bool {
        self.user.as_ref().is_some_and(|u| u.role == role)
    }

    pub fn role_label(&self) -> &'static str {
        match self.user.as_ref().map(|u| u.role) {
            Some(Role::Admin) => self.tr.t("role.admin"),
            Some(Role::Doctor) => self.tr.t("role.doctor"),
            Some(Role::Patient) => self.tr.t("role.patient"),
            None => "",
        }
    }
}

/// Chooses the language: the account's setting, then the language cookie, then
/// `Accept-Language`, then English.
pub fn negotiate(parts: &Parts, user: Option<&CurrentUser>) -> Lang {
    if let Some(l) = user.and_then(|u| u.locale) {
        return l;
    }
    negotiate_headers(&parts.headers, None)
}

/// The language for a request from its headers: the account's setting, then the language
/// cookie, then `Accept-Language` (which the pages' scripts set to the page's language), then
/// English.
pub fn negotiate_headers(headers: &axum::http::HeaderMap, user: Option<&CurrentUser>) -> Lang {
    if let Some(l) = user.and_then(|u| u.locale) {
        return l;
    }
    if let Some(l) =
        CookieJar::from_headers(headers).get(LANG_COOKIE).and_then(|c| Lang::from_code(c.value()))
    {
        return l;
    }
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .map(Lang::from_accept_language)
        .unwrap_or(Lang::En)
}

impl FromRequestParts<AppState> for PageCtx {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let user = CurrentUser::resolve(parts, state).await?;
        let lang = negotiate(parts, user.as_ref());
        Ok(PageCtx {
            tr: Tr(lang),
            user: user.map(|u| NavUser { id: u.id, name: u.name, role: u.role }),
            path: parts.uri.path().to_string(),
        })
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    page: PageCtx,
    status: u16,
    title: &'static str,
    message: String,
}

/// Middleware for page routes: an [`AppError`] answer becomes an HTML page in the viewer's
/// language, and 401 becomes a redirect to the login page that comes back afterwards.
pub async fn html_errors(req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let lang = negotiate(&parts, None);
    let path_and_query = parts.uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_default();
    let is_get = parts.method == axum::http::Method::GET;
    let resp = next.run(Request::from_parts(parts, body)).await;
    let Some(err) = resp.extensions().get::<RenderedError>().cloned() else { return resp };
    if err.status == StatusCode::UNAUTHORIZED {
        let target =
            if is_get { format!("/login?next={}", urlencode(&path_and_query)) } else { "/login".into() };
        return Redirect::to(&target).into_response();
    }
    let mut out = error_page(lang, err.status, err.message);
    if let Some(v) = resp.headers().get(header::RETRY_AFTER) {
        out.headers_mut().insert(header::RETRY_AFTER, v.clone());
    }
    out
}

/// Outermost shaping of refusals, for every route: a framework's plain-text refusal (405, a
/// malformed upload) becomes the documented JSON error, and a browser asking for a page
/// outside `/api` gets any error as an HTML page in its language.
pub async fn edge_errors(req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let fhir = crate::fhir::is_fhir_path(parts.uri.path());
    let wants_page = !is_machine_path(parts.uri.path())
        && parts
            .headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html"));
    // The language is worked out only for a page that may need an error page: API calls,
    // the hot path, skip the cookie and Accept-Language parsing unless they fail.
    let lang = wants_page.then(|| negotiate(&parts, None));
    let api_asks = (!wants_page && parts.uri.path().starts_with("/api/")).then(|| {
        let mut asks = axum::http::HeaderMap::new();
        for name in [header::COOKIE, header::ACCEPT_LANGUAGE] {
            if let Some(v) = parts.headers.get(&name) {
                asks.insert(name, v.clone());
            }
        }
        asks
    });
    let mut resp = next.run(Request::from_parts(parts, body)).await;
    let plain =
        resp.headers().get(header::CONTENT_TYPE).is_none_or(|ct| ct.as_bytes().starts_with(b"text/plain"));
    if resp.status().is_client_error() && plain && resp.extensions().get::<RenderedError>().is_none() {
        let status = resp.status();
        let text = axum::body::to_bytes(std::mem::take(resp.body_mut()), 4096).await.unwrap_or_default();
        resp = crate::error::framework_refusal(status, String::from_utf8_lossy(&text).into_owned());
    }
    if fhir {
        // FHIR clients read every refusal as an OperationOutcome, whoever made it.
        return crate::fhir::outcome::convert(resp);
    }
    if let Some(asks) = api_asks {
        return in_their_language(resp, &asks);
    }
    let Some(lang) = lang else { return resp };
    let Some(err) = resp.extensions().get::<RenderedError>().cloned() else { return resp };
    let mut out = error_page(lang, err.status, err.message);
    if let Some(v) = resp.headers().get(header::RETRY_AFTER) {
        out.headers_mut().insert(header::RETRY_AFTER, v.clone());
    }
    out
}

/// An API refusal with its message in the language the request asked for (the documented
/// error shape, the same status and headers, `Content-Language` added).
fn in_their_language(mut resp: Response, asks: &axum::http::HeaderMap) -> Response {
    let Some(detail) = resp.extensions().get::<crate::error::ErrorDetail>().cloned() else { return resp };
    let tr = Tr(negotiate_headers(asks, None));
    let message = tr.message(&detail.message);
    if message == detail.message {
        return resp;
    }
    let body = crate::error::ErrorBody {
        error: crate::error::ErrorDetail { message: message.into_owned(), ..detail },
    };
    let Ok(json) = serde_json::to_vec(&body) else { return resp };
    resp.headers_mut().remove(header::CONTENT_LENGTH);
    resp.headers_mut().insert(header::CONTENT_LANGUAGE, axum::http::HeaderValue::from_static(tr.html_lang()));
    *resp.body_mut() = axum::body::Body::from(json);
    resp
}

/// Paths that programs call, whose errors stay JSON whatever `Accept` says.
pub fn is_machine_path(path: &str) -> bool {
    ["/api/", "/fhir/", "/whip/", "/whep/", "/calendar/", "/metrics", "/healthz", "/readyz"]
        .iter()
        .any(|p| path.starts_with(p))
}

/// An HTML error page in the given language.
pub fn error_page(lang: Lang, status: StatusCode, message: String) -> Response {
    let tr = Tr(lang);
    let title = match status {
        StatusCode::FORBIDDEN => tr.t("error.forbidden"),
        StatusCode::NOT_FOUND => tr.t("error.not_found"),
        s if s.is_server_error() => tr.t("error.server"),
        _ => tr.t("error.bad_input"),
    };
    let message = tr.message(&message).into_owned();
    let page = PageCtx { tr, user: None, path: String::new() };
    let mut out = render(&ErrorPage { page, status: status.as_u16(), title, message });
    *out.status_mut() = status;
    out
}

/// Percent-encodes a path for a query parameter.
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Only same-site relative paths are followed after login (no `//host` or `/\host`).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.starts_with("/\\") => n.to_string(),
        _ => "/".into(),
    }
}

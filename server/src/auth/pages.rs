//! Browser sign-in: the login form sets the same access token as the API hands out, in an
//! HttpOnly, SameSite=Lax cookie (Secure over TLS); logout revokes it and clears the cookie.

use crate::web::input::Query;
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use serde::Deserialize;

use super::{ClientAddr, CurrentUser, SESSION_COOKIE, handlers};
use crate::AppState;
use crate::config::CookieSecure;
use crate::error::AppError;
use crate::web::{PageCtx, PageForm, render, safe_next};

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    page: PageCtx,
    next: String,
    email: String,
    error: Option<&'static str>,
}

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

/// `GET /login`; a signed-in visitor goes straight on.
pub async fn login_page(page: PageCtx, Query(q): Query<LoginQuery>) -> Response {
    let next = safe_next(q.next.as_deref());
    if page.user.is_some() {
        return Redirect::to(&next).into_response();
    }
    render(&LoginPage { page, next, email: String::new(), error: None })
}

#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    next: Option<String>,
}

/// `POST /login`.
pub async fn login_submit(
    State(state): State<AppState>,
    page: PageCtx,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    jar: CookieJar,
    PageForm(form): PageForm<LoginForm>,
) -> Response {
    let next = safe_next(form.next.as_deref());
    match handlers::authenticate(&state, &addr, &form.email, form.password).await {
        Ok(user) => match state.keys.issue(&user) {
            Ok((token, _)) => {
                (jar.add(session_cookie(&state, &headers, token)), Redirect::to(&next)).into_response()
            }
            Err(e) => AppError::Internal(e).into_response(),
        },
        Err(err) => {
            let (status, key) = match &err {
                AppError::TooManyRequests(_) => (StatusCode::TOO_MANY_REQUESTS, "login.throttled"),
                AppError::Unauthorized => (StatusCode::UNAUTHORIZED, "login.failed"),
                _ => return err.into_response(),
            };
            let error = Some(page.tr.t(key));
            let mut resp = render(&LoginPage { page, next, email: form.email, error });
            *resp.status_mut() = status;
            if let AppError::TooManyRequests(wait) = err {
                resp.headers_mut().insert(axum::http::header::RETRY_AFTER, wait.as_secs().max(1).into());
            }
            resp
        }
    }
}

/// The HttpOnly, SameSite=Lax cookie carrying a browser's access token; `Secure` when configured,
/// or with `auto` when a trusted proxy says the request came over HTTPS.
pub fn session_cookie(state: &AppState, headers: &HeaderMap, token: String) -> Cookie<'static> {
    let secure = match state.config.cookie_secure {
        CookieSecure::Always => true,
        CookieSecure::Never => false,
        CookieSecure::Auto => {
            state.config.trust_proxy
                && headers.get("x-forwarded-proto").is_some_and(|v| v.as_bytes() == b"https")
        }
    };
    Cookie::build((SESSION_COOKIE, token))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .path("/")
        .max_age(time::Duration::seconds(i64::try_from(state.keys.ttl.as_secs()).unwrap_or(i64::MAX)))
        .build()
}

/// `POST /logout`: revokes the token and clears the cookie.
pub async fn logout(State(state): State<AppState>, user: Option<CurrentUser>, jar: CookieJar) -> Response {
    if let Some(u) = user
        && let Err(e) = handlers::revoke(&state, &u).await
    {
        return e.into_response();
    }
    let cleared = Cookie::build((SESSION_COOKIE, "")).path("/").build();
    (jar.remove(cleared), Redirect::to("/login")).into_response()
}

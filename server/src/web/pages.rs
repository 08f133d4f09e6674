//! Pages every signed-in role shares: the role dashboard, personal settings, language switch.

use crate::web::input::{Path, Query};
use askama::Template;
use axum::extract::State;
use axum::response::{Redirect, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use serde::Deserialize;

use super::{PageCtx, PageForm, i18n::Lang, render, safe_next};
use crate::AppState;
use crate::accounts::db as users;
use crate::accounts::model::Role;
use crate::auth::handlers::{MePatch, update_own_profile};
use crate::auth::{ClientAddr, CurrentUser};
use crate::error::{AppError, Result};

#[derive(Template)]
#[template(path = "dashboard.html")]
struct Dashboard {
    page: PageCtx,
    name: String,
    role: Role,
    specialty: Option<String>,
    timezone: String,
    counts: Vec<(&'static str, i64)>,
    upcoming: Vec<crate::scheduling::pages::ApptRow>,
    reviews: Vec<(String, String, &'static str)>,
}

/// `GET /`: the signed-in person's start page, by role.
pub async fn dashboard(
    State(state): State<AppState>,
    page: PageCtx,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
) -> Result<Response> {
    let me = users::find(&mut *state.db.acquire().await?, &user.id).await?.ok_or(AppError::Unauthorized)?;
    let mut counts = Vec::new();
    if me.role == Role::Admin {
        let (per_role, inactive) = users::counts(&state.db).await?;
        counts.extend(per_role.iter().map(|(role, n)| (page.tr.role(role), *n)));
        counts.push((page.tr.t("dash.admin.inactive"), inactive));
    }
    let upcoming = match me.role {
        Role::Patient => crate::scheduling::pages::upcoming_rows(&state, &page, &user, &addr, 365).await?,
        Role::Doctor => crate::scheduling::pages::upcoming_rows(&state, &page, &user, &addr, 7).await?,
        Role::Admin => Vec::new(),
    };
    let reviews = if me.role == Role::Doctor {
        let invited = crate::scheduling::reviews::service::list(&state.db, &user, 10).await?;
        invited
            .into_iter()
            .filter(|r| r.status != "cancelled")
            .take(5)
            .map(|r| {
                let answer = r
                    .experts
                    .iter()
                    .find(|e| e.expert_id == user.id)
                    .map(|e| page.tr.rsvp(&e.response))
                    .unwrap_or("");
                (r.id, r.title, answer)
            })
            .collect()
    } else {
        Vec::new()
    };
    let t = Dashboard {
        page,
        name: me.name,
        role: me.role,
        specialty: me.specialty,
        timezone: me.timezone,
        counts,
        upcoming,
        reviews,
    };
    Ok(render(&t))
}

#[derive(Template)]
#[template(path = "settings.html")]
struct Settings {
    page: PageCtx,
    name: String,
    timezone: String,
    locale: String,
    zones: &'static [&'static str],
    saved: bool,
    has_feed: bool,
    feed_url: Option<String>,
    password_error: Option<String>,
}

/// Frequently used zones offered as suggestions; any IANA name is accepted.
pub const COMMON_ZONES: &[&str] = &[
    "UTC",
    "Europe/London",
    "Europe/Berlin",
    "Europe/Paris",
    "Europe/Madrid",
    "Europe/Rome",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Asia/Shanghai",
    "Asia/Hong_Kong",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Asia/Kolkata",
    "Asia/Dubai",
    "Australia/Sydney",
    "Africa/Johannesburg",
];

#[derive(Deserialize)]
pub struct SavedFlag {
    saved: Option<String>,
}

/// `GET /settings`.
pub async fn settings(
    State(state): State<AppState>,
    page: PageCtx,
    user: CurrentUser,
    Query(q): Query<SavedFlag>,
) -> Result<Response> {
    settings_page(&state, page, &user, q.saved.is_some(), None, None).await
}

async fn settings_page(
    state: &AppState,
    page: PageCtx,
    user: &CurrentUser,
    saved: bool,
    feed_url: Option<String>,
    password_error: Option<String>,
) -> Result<Response> {
    let mut conn = state.db.acquire().await?;
    let me = users::find(&mut conn, &user.id).await?.ok_or(AppError::Unauthorized)?;
    let has_feed = sqlx::query("SELECT 1 AS one FROM calendar_feeds WHERE user_id = $1")
        .bind(&user.id)
        .fetch_optional(&mut *conn)
        .await?
        .is_some();
    drop(conn);
    let t = Settings {
        page,
        name: me.name,
        timezone: me.timezone,
        locale: me.locale.unwrap_or_else(|| "auto".into()),
        zones: COMMON_ZONES,
        saved,
        has_feed,
        feed_url,
        password_error,
    };
    Ok(render(&t))
}

/// `POST /settings/calendar`: a new subscription URL, shown on this page only once.
pub async fn create_feed(
    State(state): State<AppState>,
    page: PageCtx,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
) -> Result<Response> {
    let url = crate::scheduling::feed::create(&state, &user, &addr).await?;
    settings_page(&state, page, &user, false, Some(url), None).await
}

/// `POST /settings/calendar/revoke`.
pub async fn revoke_feed(State(state): State<AppState>, user: CurrentUser) -> Result<Redirect> {
    crate::scheduling::feed::revoke(&state, &user).await?;
    Ok(Redirect::to("/settings?saved=1"))
}

#[derive(Deserialize)]
pub struct SettingsForm {
    name: String,
    timezone: String,
    locale: String,
}

/// `POST /settings`.
pub async fn save_settings(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    PageForm(f): PageForm<SettingsForm>,
) -> Result<Redirect> {
    let patch = MePatch { name: Some(f.name), timezone: Some(f.timezone), locale: Some(f.locale) };
    update_own_profile(&state, &user, &addr, patch).await?;
    Ok(Redirect::to("/settings?saved=1"))
}

#[derive(Deserialize)]
pub struct NextParam {
    next: Option<String>,
}

/// `GET /lang/{code}`: remembers a language choice in a cookie and goes back.
pub async fn set_language(
    Path(code): Path<String>,
    Query(q): Query<NextParam>,
    jar: CookieJar,
) -> Result<(CookieJar, Redirect)> {
    let lang = Lang::from_code(&code)
        .ok_or_else(|| AppError::invalid("lang", "supported languages are en and zh"))?;
    let cookie = Cookie::build((super::LANG_COOKIE, lang.code()))
        .path("/")
        .same_site(SameSite::Lax)
        .max_age(time::Duration::days(365))
        .build();
    Ok((jar.add(cookie), Redirect::to(&safe_next(q.next.as_deref()))))
}

#[derive(Deserialize)]
pub struct PasswordForm {
    current_password: String,
    new_password: String,
    confirm_password: String,
}

/// `POST /settings/password`: on success every other session ends and this browser gets a
/// fresh cookie; on a mistake the page says which field.
pub async fn change_password(
    State(state): State<AppState>,
    page: PageCtx,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    headers: axum::http::HeaderMap,
    jar: CookieJar,
    PageForm(f): PageForm<PasswordForm>,
) -> Result<Response> {
    use axum::response::IntoResponse;
    let result = if f.new_password != f.confirm_password {
        Err(AppError::invalid("confirm_password", page.tr.t("settings.password_mismatch")))
    } else {
        let change = crate::auth::handlers::PasswordChange {
            current_password: f.current_password,
            new_password: f.new_password,
        };
        crate::auth::handlers::change_password(&state, &user, &addr, change).await
    };
    match result {
        Ok(updated) => {
            let (token, _) = state.keys.issue(&updated)?;
            let cookie = crate::auth::pages::session_cookie(&state, &headers, token);
            Ok((jar.add(cookie), Redirect::to("/settings?saved=1")).into_response())
        }
        Err(e @ (AppError::Validation { .. } | AppError::TooManyRequests(_))) => {
            let status = e.status();
            let mut resp = settings_page(&state, page, &user, false, None, Some(e.to_string())).await?;
            *resp.status_mut() = status;
            Ok(resp)
        }
        Err(e) => Err(e),
    }
}

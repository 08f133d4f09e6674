//! Admin pages for accounts: list with filters and a create form, and an edit page.

use crate::web::input::{Path, Query};
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::db::ListFilter;
use super::model::{NewUser, Role, User, UserPatch};
use super::service;
use crate::AppState;
use crate::auth::{Admins, ClientAddr, RequireRole};
use crate::error::{AppError, Result};
use crate::records::audit::Actor;
use crate::web::pages::COMMON_ZONES;
use crate::web::{PageCtx, PageForm, render};

/// Values echoed back into the create form after a failed attempt (never the password).
#[derive(Default, Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    timezone: String,
    #[serde(default)]
    specialty: String,
}

#[derive(Template)]
#[template(path = "admin_users.html")]
struct UsersPage {
    page: PageCtx,
    users: Vec<User>,
    roles: Vec<(&'static str, &'static str)>,
    q: String,
    role_filter: String,
    include_inactive: bool,
    form: CreateForm,
    zones: &'static [&'static str],
    notice: Option<&'static str>,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct UsersQuery {
    q: Option<String>,
    role: Option<String>,
    inactive: Option<String>,
    notice: Option<String>,
}

fn role_options(page: &PageCtx) -> Vec<(&'static str, &'static str)> {
    Role::ALL.iter().map(|r| (r.as_str(), page.tr.role(r))).collect()
}

fn notice(page: &PageCtx, code: Option<&str>) -> Option<&'static str> {
    match code? {
        "created" => Some(page.tr.t("users.created")),
        "saved" => Some(page.tr.t("users.saved")),
        "deactivated" => Some(page.tr.t("users.deactivated")),
        "reactivated" => Some(page.tr.t("users.reactivated")),
        _ => None,
    }
}

async fn users_page(
    state: &AppState,
    admin: &RequireRole<Admins>,
    addr: &str,
    page: PageCtx,
    q: UsersQuery,
    form: CreateForm,
    error: Option<String>,
) -> Result<Response> {
    let role = q.role.as_deref().filter(|r| !r.is_empty()).map(Role::parse).transpose()?;
    let filter = ListFilter {
        role,
        query: q.q.clone().filter(|s| !s.trim().is_empty()).map(|s| s.trim().chars().take(100).collect()),
        include_inactive: q.inactive.is_some(),
        limit: 500,
        offset: 0,
    };
    let users = service::list(&state.db, &Actor::user(admin, addr), &filter).await?;
    let t = UsersPage {
        roles: role_options(&page),
        notice: notice(&page, q.notice.as_deref()),
        page,
        users,
        q: q.q.unwrap_or_default(),
        role_filter: role.map(|r| r.as_str().to_string()).unwrap_or_default(),
        include_inactive: filter.include_inactive,
        form: CreateForm {
            timezone: if form.timezone.is_empty() { "UTC".into() } else { form.timezone },
            password: String::new(),
            ..form
        },
        zones: COMMON_ZONES,
        error,
    };
    Ok(render(&t))
}

/// `GET /admin/users`.
pub async fn list(
    State(state): State<AppState>,
    admin: RequireRole<Admins>,
    ClientAddr(addr): ClientAddr,
    page: PageCtx,
    Query(q): Query<UsersQuery>,
) -> Result<Response> {
    users_page(
        &state,
        &admin,
        &addr,
        page,
        q,
        CreateForm { role: "patient".into(), ..Default::default() },
        None,
    )
    .await
}

/// `POST /admin/users`: on bad input the form comes back filled in, with the reason.
pub async fn create(
    State(state): State<AppState>,
    admin: RequireRole<Admins>,
    ClientAddr(addr): ClientAddr,
    page: PageCtx,
    PageForm(f): PageForm<CreateForm>,
) -> Result<Response> {
    let input = NewUser {
        email: f.email.clone(),
        name: f.name.clone(),
        role: f.role.clone(),
        password: f.password.clone(),
        timezone: Some(f.timezone.clone()),
        specialty: Some(f.specialty.clone()),
        locale: None,
    };
    match service::create(&state.db, &Actor::user(&admin, &addr), input).await {
        Ok(_) => Ok(Redirect::to("/admin/users?notice=created").into_response()),
        Err(e @ (AppError::Validation { .. } | AppError::Conflict(_))) => {
            let status = e.status();
            let q = UsersQuery { q: None, role: None, inactive: None, notice: None };
            let mut resp = users_page(&state, &admin, &addr, page, q, f, Some(e.to_string())).await?;
            *resp.status_mut() = status;
            Ok(resp)
        }
        Err(e) => Err(e),
    }
}

#[derive(Template)]
#[template(path = "admin_user_edit.html")]
struct EditPage {
    page: PageCtx,
    user: User,
    roles: Vec<(&'static str, &'static str)>,
    zones: &'static [&'static str],
    notice: Option<&'static str>,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct NoticeQuery {
    notice: Option<String>,
}

async fn edit_page(
    state: &AppState,
    actor: &Actor,
    page: PageCtx,
    id: &str,
    notice_code: Option<&str>,
    error: Option<String>,
) -> Result<Response> {
    let user = service::get(&state.db, actor, id).await?;
    let t = EditPage {
        roles: role_options(&page),
        notice: notice(&page, notice_code),
        page,
        user,
        zones: COMMON_ZONES,
        error,
    };
    Ok(render(&t))
}

/// `GET /admin/users/{id}`.
pub async fn edit(
    State(state): State<AppState>,
    admin: RequireRole<Admins>,
    ClientAddr(addr): ClientAddr,
    page: PageCtx,
    Path(id): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response> {
    edit_page(&state, &Actor::user(&admin, &addr), page, &id, q.notice.as_deref(), None).await
}

#[derive(Deserialize)]
pub struct EditForm {
    name: String,
    role: String,
    timezone: String,
    #[serde(default)]
    specialty: String,
    #[serde(default)]
    password: String,
}

/// `POST /admin/users/{id}`.
pub async fn save(
    State(state): State<AppState>,
    admin: RequireRole<Admins>,
    ClientAddr(addr): ClientAddr,
    page: PageCtx,
    Path(id): Path<String>,
    PageForm(f): PageForm<EditForm>,
) -> Result<Response> {
    let actor = Actor::user(&admin, &addr);
    let patch = UserPatch {
        name: Some(f.name),
        role: Some(f.role),
        timezone: Some(f.timezone),
        specialty: Some(f.specialty),
        password: Some(f.password).filter(|p| !p.is_empty()),
        ..Default::default()
    };
    respond(&state, &actor, page, &id, patch, "saved").await
}

#[derive(Deserialize)]
pub struct ActiveForm {
    active: bool,
}

/// `POST /admin/users/{id}/active`: deactivate or reactivate.
pub async fn set_active(
    State(state): State<AppState>,
    admin: RequireRole<Admins>,
    ClientAddr(addr): ClientAddr,
    page: PageCtx,
    Path(id): Path<String>,
    PageForm(f): PageForm<ActiveForm>,
) -> Result<Response> {
    let actor = Actor::user(&admin, &addr);
    let patch = UserPatch { active: Some(f.active), ..Default::default() };
    respond(&state, &actor, page, &id, patch, if f.active { "reactivated" } else { "deactivated" }).await
}

async fn respond(
    state: &AppState,
    actor: &Actor,
    page: PageCtx,
    id: &str,
    patch: UserPatch,
    ok_notice: &str,
) -> Result<Response> {
    match service::update(&state.db, actor, id, patch).await {
        Ok(u) => Ok(Redirect::to(&format!("/admin/users/{}?notice={ok_notice}", u.id)).into_response()),
        Err(e @ (AppError::Validation { .. } | AppError::Conflict(_))) => {
            let status = e.status();
            let mut resp = edit_page(state, actor, page, id, None, Some(e.to_string())).await?;
            *resp.status_mut() = if status == StatusCode::CONFLICT { StatusCode::CONFLICT } else { status };
            Ok(resp)
        }
        Err(e) => Err(e),
    }
}

//! Who attended a case review: written from the review's call as people join and leave (the
//! room task calls [`joined`] and [`left`]), shown on the review page and in its report, and
//! correctable by the coordinator, whose correction wins over what the call saw (someone who
//! joined by telephone, a colleague who only tested their camera).

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::ToSchema;

use crate::AppState;
use crate::accounts::model::Role;
use crate::auth::{ClientAddr, CurrentUser};
use crate::db::{Db, now_ms};
use crate::error::{AppError, ErrorBody, Result};
use crate::records::audit::{self, Actor, Event};
use crate::scheduling::reviews::model::Review;
use crate::web::ApiJson;
use crate::web::input::Path;

/// One person on a review's attendance list.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Attendee {
    /// An account id, or `guest:<invite id>` for a guest.
    pub user_id: String,
    pub name: String,
    /// Their role in the call: `host`, `expert` or `guest`.
    pub role: String,
    /// When they first joined the call (ms since the epoch); absent when only the coordinator
    /// put them on the list.
    pub first_joined_at: Option<i64>,
    /// When they last left; absent while they are in the call.
    pub last_left_at: Option<i64>,
    pub present: bool,
    /// Who corrected this line, when someone did.
    pub corrected_by: Option<String>,
}

/// A coordinator's correction.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Correction {
    pub present: bool,
}

// ---- written by the review's call ----

/// The review whose call runs in `room_id`, if it is a review's room.
pub async fn review_of_room(db: &Db, room_id: &str) -> Result<Option<String>> {
    let row = sqlx::query("SELECT id FROM reviews WHERE room_id = $1")
        .bind(room_id)
        .fetch_optional(db.read())
        .await?;
    Ok(row.map(|r| r.try_get("id")).transpose()?)
}

/// `user_id` came into the review's call: on the list from now, present unless the
/// coordinator has said otherwise.
pub async fn joined(db: &Db, review_id: &str, user_id: &str, name: &str, role: &str) -> Result<()> {
    db.execute(
        sqlx::query(
            "INSERT INTO review_attendance (review_id, user_id, name, role, first_joined_at, present)
             VALUES ($1, $2, $3, $4, $5, 1)
             ON CONFLICT (review_id, user_id) DO UPDATE SET last_left_at = NULL,
                 first_joined_at = COALESCE(review_attendance.first_joined_at, excluded.first_joined_at),
                 present = CASE WHEN review_attendance.corrected_at IS NULL THEN 1 ELSE review_attendance.present END",
        )
        .bind(review_id)
        .bind(user_id)
        .bind(name)
        .bind(role)
        .bind(now_ms()),
    )
    .await?;
    Ok(())
}

/// `user_id` left the review's call.
pub async fn left(db: &Db, review_id: &str, user_id: &str) -> Result<()> {
    db.execute(
        sqlx::query("UPDATE review_attendance SET last_left_at = $3 WHERE review_id = $1 AND user_id = $2")
            .bind(review_id)
            .bind(user_id)
            .bind(now_ms()),
    )
    .await?;
    Ok(())
}

// ---- read and corrected ----

/// The attendance list, in order of arrival (those added by hand last).
pub async fn list(db: &Db, review_id: &str) -> Result<Vec<Attendee>> {
    let rows = sqlx::query(
        "SELECT a.user_id, a.name, a.role, a.first_joined_at, a.last_left_at, a.present, c.name AS corrected_by
         FROM review_attendance a LEFT JOIN users c ON c.id = a.corrected_by
         WHERE a.review_id = $1 ORDER BY a.first_joined_at IS NULL, a.first_joined_at, a.name",
    )
    .bind(review_id)
    .fetch_all(db.read())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Attendee {
                user_id: r.try_get("user_id")?,
                name: r.try_get("name")?,
                role: r.try_get("role")?,
                first_joined_at: r.try_get("first_joined_at")?,
                last_left_at: r.try_get("last_left_at")?,
                present: r.try_get::<i32, _>("present")? == 1,
                corrected_by: r.try_get("corrected_by")?,
            })
        })
        .collect()
}

/// Whether `user` may correct the list: the coordinator, or an admin.
pub fn may_correct(user: &CurrentUser, review: &Review) -> bool {
    user.role == Role::Admin || review.coordinator_id == user.id
}

/// Marks `user_id` present or absent. They must be on the list already or on the review's
/// panel (its coordinator, an expert who has not declined).
pub async fn correct(
    db: &Db,
    user: &CurrentUser,
    addr: &str,
    review_id: &str,
    user_id: &str,
    present: bool,
) -> Result<Vec<Attendee>> {
    let review = crate::scheduling::reviews::service::seen_by(db, user, review_id).await?;
    if !may_correct(user, &review) {
        return Err(AppError::Forbidden);
    }
    if review.status == "cancelled" {
        return Err(AppError::Conflict("this review was cancelled".into()));
    }
    let listed = list(db, review_id).await?.into_iter().find(|a| a.user_id == user_id);
    let panel = if review.coordinator_id == user_id {
        Some((review.coordinator_name.clone(), "host"))
    } else {
        review
            .experts
            .iter()
            .find(|e| e.expert_id == user_id && e.response != "declined")
            .map(|e| (e.name.clone(), "expert"))
    };
    let (name, role) = match (&listed, panel) {
        (Some(a), _) => (a.name.clone(), a.role.clone()),
        (None, Some((name, role))) => (name, role.to_string()),
        (None, None) => {
            return Err(AppError::invalid(
                "user_id",
                "only the review's coordinator and experts, or someone who was in its call",
            ));
        }
    };
    let now = now_ms();
    let mut tx = db.write().await?;
    sqlx::query(
        "INSERT INTO review_attendance (review_id, user_id, name, role, present, corrected_by, corrected_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (review_id, user_id) DO UPDATE SET present = excluded.present,
             corrected_by = excluded.corrected_by, corrected_at = excluded.corrected_at",
    )
    .bind(review_id)
    .bind(user_id)
    .bind(&name)
    .bind(&role)
    .bind(i32::from(present))
    .bind(&user.id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let event = Event::new("review.attendance")
        .object("review", review_id)
        .detail(format!("{user_id} {}", if present { "present" } else { "absent" }));
    audit::record(&mut tx, &Actor::user(user, addr), event).await?;
    tx.commit().await?;
    list(db, review_id).await
}

// ---- routes ----

/// Who attended the review, from its call and the coordinator's corrections (its coordinator,
/// experts and admins).
#[utoipa::path(get, path = "/api/v1/reviews/{id}/attendance", tag = "records", params(("id" = String, Path)),
    responses((status = 200, body = [Attendee]), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn read(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<Vec<Attendee>>> {
    crate::scheduling::reviews::service::seen_by(&state.db, &user, &id).await?;
    Ok(Json(list(&state.db, &id).await?))
}

/// The coordinator (or an admin) marks someone present or absent; answers the whole list.
/// `user_id` is on the list already, or the review's coordinator or one of its experts.
#[utoipa::path(put, path = "/api/v1/reviews/{id}/attendance/{user_id}", tag = "records",
    params(("id" = String, Path), ("user_id" = String, Path)), request_body = Correction,
    responses((status = 200, body = [Attendee]), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "not the coordinator"), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the review was cancelled"),
        (status = 422, body = ErrorBody, description = "not on the review's panel nor in its call"),
        (status = 503, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn put(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    Path((id, user_id)): Path<(String, String)>,
    ApiJson(input): ApiJson<Correction>,
) -> Result<Json<Vec<Attendee>>> {
    Ok(Json(correct(&state.db, &user, &addr, &id, &user_id, input.present).await?))
}

// ---- shown ----

/// One attendance line as the review page and the report show it.
pub struct Line {
    pub user_id: String,
    pub name: String,
    pub present: bool,
    /// When they were in the call, in the reader's zone ("joined 10:02 · left 10:48").
    pub span: String,
    pub corrected_by: Option<String>,
}

/// The list in the reader's time zone and language.
pub fn lines(list: &[Attendee], tz: &jiff::tz::TimeZone, tr: &crate::web::i18n::Tr) -> Vec<Line> {
    use crate::web::time::{clock, moment};
    let at = |ms: i64| jiff::Timestamp::from_millisecond(ms).unwrap_or_default();
    list.iter()
        .map(|a| {
            let span = match (a.first_joined_at, a.last_left_at) {
                (None, _) => tr.t("attendance.not_joined").to_string(),
                (Some(j), None) => {
                    format!(
                        "{} {} · {}",
                        tr.t("attendance.joined"),
                        moment(at(j), tz, tr),
                        tr.t("attendance.in_call")
                    )
                }
                (Some(j), Some(l)) => format!(
                    "{} {} · {} {}",
                    tr.t("attendance.joined"),
                    moment(at(j), tz, tr),
                    tr.t("attendance.left"),
                    clock(at(l), tz)
                ),
            };
            Line {
                user_id: a.user_id.clone(),
                name: a.name.clone(),
                present: a.present,
                span,
                corrected_by: a.corrected_by.clone(),
            }
        })
        .collect()
}

#[derive(Deserialize)]
pub struct CorrectionForm {
    user_id: String,
    present: String,
}

/// `POST /reviews/{id}/attendance`: the coordinator's correction from the review page.
pub async fn submit(
    State(state): State<AppState>,
    page: crate::web::PageCtx,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
    crate::web::PageForm(f): crate::web::PageForm<CorrectionForm>,
) -> Result<axum::response::Response> {
    use axum::response::IntoResponse;
    let present = match f.present.as_str() {
        "1" | "true" => true,
        "0" | "false" => false,
        _ => return Err(AppError::invalid("present", "present is 1 or 0")),
    };
    match correct(&state.db, &user, &addr, &id, &f.user_id, present).await {
        Ok(_) => Ok(axum::response::Redirect::to(&format!("/reviews/{id}#attendance")).into_response()),
        Err(e @ (AppError::Validation { .. } | AppError::Conflict(_))) => {
            crate::scheduling::reviews::pages::page_with_error(&state, page, &user, &addr, &id, e).await
        }
        Err(e) => Err(e),
    }
}

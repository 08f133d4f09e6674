//! Consultations: rooms, who may enter them (access), the waiting room, chat and media
//! signalling run by one task per room (hub, room), the signalling WebSocket (ws), guest links
//! (invites) and device streams over WHIP/WHEP (devices). The media itself is `crate::media`.

pub mod access;
pub mod admission;
pub mod db;
pub mod devices;
pub mod events;
pub mod hub;
pub mod invites;
pub mod protocol;
pub mod room;
pub mod turn;
pub mod ws;

use crate::web::input::Path;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::{ClientAddr, Clinicians, CurrentUser, RequireRole};
use crate::db::{new_id, now_ms};
use crate::error::{ErrorBody, Result};
use crate::records::audit::{self, Actor, Event};

/// `/api/v1/rooms*`.
pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_room))
        .routes(routes!(get_room))
        .routes(routes!(invites::create))
        .routes(routes!(devices::create_token))
        .routes(routes!(turn::credentials))
}

/// A room and the caller's place in it.
#[derive(Serialize, ToSchema)]
pub struct RoomView {
    pub id: String,
    /// `host`, `expert`, `patient` or `guest`.
    pub role: &'static str,
    /// Where to open the signalling WebSocket.
    pub ws: String,
    /// When the host ended the call (ms since the epoch); the room cannot be joined after.
    pub ended_at: Option<i64>,
}

/// Open an ad-hoc room (doctors and admins); the caller hosts it.
#[utoipa::path(post, path = "/api/v1/rooms", tag = "consult",
    responses((status = 201, body = RoomView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
pub async fn create_room(
    State(state): State<AppState>,
    user: RequireRole<Clinicians>,
    ClientAddr(addr): ClientAddr,
) -> Result<(StatusCode, Json<RoomView>)> {
    let id = open_adhoc(&state, &user, &addr).await?;
    Ok((
        StatusCode::CREATED,
        Json(RoomView { ws: format!("/rooms/{id}/ws"), id, role: "host", ended_at: None }),
    ))
}

/// `POST /rooms` (the doctor's dashboard): opens an ad-hoc room and goes into it.
pub async fn create_room_page(
    State(state): State<AppState>,
    user: RequireRole<Clinicians>,
    ClientAddr(addr): ClientAddr,
) -> Result<axum::response::Redirect> {
    let id = open_adhoc(&state, &user, &addr).await?;
    Ok(axum::response::Redirect::to(&format!("/rooms/{id}")))
}

/// A new ad-hoc room hosted by `user`: its id.
async fn open_adhoc(state: &AppState, user: &CurrentUser, addr: &str) -> Result<String> {
    let id = new_id();
    let mut tx = state.db.write().await?;
    sqlx::query(
        "INSERT INTO rooms (id, kind, object_id, host_id, created_at) VALUES ($1, 'adhoc', NULL, $2, $3)",
    )
    .bind(&id)
    .bind(&user.id)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    audit::record(&mut tx, &Actor::user(user, addr), Event::new("room.create").object("room", &id)).await?;
    tx.commit().await?;
    Ok(id)
}

/// The caller's role in a room (404 when they may not enter).
#[utoipa::path(get, path = "/api/v1/rooms/{id}", tag = "consult", params(("id" = String, Path)),
    responses((status = 200, body = RoomView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_room(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<RoomView>> {
    let access = access::resolve(&state.db, &user, &id).await?;
    let ended_at = db::ended_at(&state.db, &id).await?;
    Ok(Json(RoomView { ws: format!("/rooms/{id}/ws"), id, role: access.role.as_str(), ended_at }))
}

#[derive(askama::Template)]
#[template(path = "room.html")]
struct RoomPage {
    page: crate::web::PageCtx,
    room_id: String,
    role: &'static str,
    clinical: bool,
    /// Texts of the image viewer and findings, for its script.
    img_i18n: String,
    /// In a case review, for clinicians: the agenda's cases a shared image can belong to.
    cases: Vec<(String, String)>,
    /// In an appointment's room, for its doctor: the note editor beside the call.
    note: Option<crate::records::notes::pages::NoteOnPage>,
    /// In a case review's room, for clinicians: the agenda beside the call.
    agenda: Option<Agenda>,
    /// When the host ended the call, in the viewer's zone: the page says so instead of
    /// offering to join.
    ended: Option<String>,
    /// Where the consultation's record is, for those who have an account to read it.
    record: Option<String>,
    /// For clinicians in an appointment's room: the patient a patient link would invite.
    invite_patient: Option<String>,
}

/// The agenda panel of a review's call: every case with its outcome as the reader may handle
/// it, the review's clinicians (presenter and responsible lists) and the recommendations.
struct Agenda {
    review_id: String,
    cases: Vec<crate::records::outcomes::pages::CaseView>,
    panel: Vec<(String, String)>,
    recommendations: Vec<(&'static str, &'static str)>,
    /// The panel's texts, for its script.
    i18n: String,
}

impl RoomPage {
    /// Whether the call has a side panel (the agenda or the note).
    fn has_side(&self) -> bool {
        self.agenda.is_some() || self.note.as_ref().is_some_and(|n| n.editor.is_some())
    }
}

/// The agenda of the review whose room `room_id` is, for a clinician in it (`None` for other
/// rooms and for a review with no cases yet).
async fn agenda(
    state: &AppState,
    user: &CurrentUser,
    addr: &str,
    room_id: &str,
    tr: &crate::web::i18n::Tr,
) -> Result<Option<Agenda>> {
    let Some(review_id) = crate::records::attendance::review_of_room(&state.db, room_id).await? else {
        return Ok(None);
    };
    let review = crate::scheduling::reviews::service::seen_by(&state.db, user, &review_id).await?;
    if review.cases.is_empty() {
        return Ok(None);
    }
    let cases = crate::records::outcomes::pages::cases(state, user, addr, &review, tr).await?;
    Ok(Some(Agenda {
        review_id,
        cases,
        panel: crate::records::outcomes::pages::panel(&review),
        recommendations: crate::records::outcomes::pages::recommendations(tr),
        i18n: format!("{{\"agenda\":{},\"outcome\":{}}}", tr.json("agenda."), tr.json("outcome.")),
    }))
}

/// `GET /rooms/{id}`: the consultation page (waiting room, participants, chat), for account
/// holders and for guests who opened an invite.
pub async fn page(
    State(state): State<AppState>,
    page: crate::web::PageCtx,
    user: Option<CurrentUser>,
    ClientAddr(addr): ClientAddr,
    headers: axum::http::HeaderMap,
    Path(id): Path<String>,
) -> Result<axum::response::Response> {
    let (admission::Entrant { access, .. }, _) =
        admission::entrant(&state, user.clone(), &headers, &id, &addr).await?;
    let note = match &user {
        Some(u) if access.role == access::RoomRole::Host => {
            let appointment =
                crate::scheduling::db::appointment_by_room(&mut *state.db.acquire().await?, &id).await?;
            match appointment {
                Some(a) => {
                    let on_page =
                        crate::records::notes::pages::on_page(&state, u, &addr, &a, &page.tr).await?;
                    on_page.editor.is_some().then_some(on_page)
                }
                None => None,
            }
        }
        _ => None,
    };
    let agenda = match &user {
        Some(u) if access.role.is_clinical() => agenda(&state, u, &addr, &id, &page.tr).await?,
        _ => None,
    };
    // The agenda's cases are also what a shared image can belong to.
    let cases = agenda.as_ref().map_or_else(Vec::new, |a| {
        a.cases
            .iter()
            .map(|c| {
                let short: String = c.case.question.chars().take(60).collect();
                (c.case.id.clone(), format!("{}. {short}", c.case.position))
            })
            .collect()
    });
    let img_i18n = format!(
        "{{\"img\":{},\"fact\":{},\"labels\":{}}}",
        page.tr.json("img."),
        page.tr.json("fact."),
        state.diagnosis.registry.label_names_json(page.tr.0)
    );
    let ended_ms = db::ended_at(&state.db, &id).await?;
    let tz = crate::web::time::zone(user.as_ref().map_or("UTC", |u| u.timezone.as_str()));
    let ended = ended_ms
        .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
        .map(|t| crate::web::time::moment(t, &tz, &page.tr));
    let record = match (&user, ended.is_some()) {
        (Some(_), true) => record_link(&state, &id).await?,
        _ => None,
    };
    let invite_patient = match access.role.is_clinical() {
        true => invites::room_patient(&state, &id).await?.map(|p| p.name),
        false => None,
    };
    Ok(crate::web::render(&RoomPage {
        invite_patient,
        note,
        agenda,
        cases,
        img_i18n,
        page,
        room_id: id,
        role: access.role.as_str(),
        clinical: access.role.is_clinical(),
        ended,
        record,
    }))
}

/// The page of what an ended consultation left: its appointment's or its review's.
async fn record_link(state: &AppState, room: &str) -> Result<Option<String>> {
    let mut conn = state.db.acquire().await?;
    if let Some(a) = crate::scheduling::db::appointment_by_room(&mut conn, room).await? {
        return Ok(Some(format!("/appointments/{}", a.id)));
    }
    let review = sqlx::query("SELECT id FROM reviews WHERE room_id = $1")
        .bind(room)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(review
        .map(|r| sqlx::Row::try_get::<String, _>(&r, "id"))
        .transpose()?
        .map(|id| format!("/reviews/{id}")))
}

//! Device streams: WHIP ingest (RFC 9725) at `POST /whip/rooms/{id}` and WHEP egress at
//! `POST /whep/rooms/{id}`, so a dermatoscope, an ultrasound machine, OBS or GStreamer can stream
//! into a consultation, or a recorder can watch it. Authorized by a Bearer token: a clinician's
//! own access token, or a device token a clinician made in the room for that room alone. The
//! answer is `201` with the SDP and a `Location` whose `DELETE` ends the stream. A device shows
//! up in the room as a participant with the role `device`.

use crate::web::input::Path;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use tokio::sync::mpsc;
use utoipa::ToSchema;

use super::access::RoomRole;
use super::admission::RoomClinician;
use super::hub::{Command, Conn, Outbound};
use super::protocol::{MediaState, Peer};
use crate::AppState;
use crate::auth::extract::bearer;
use crate::auth::token::{random_token, token_hash};
use crate::auth::{ClientAddr, CurrentUser};
use crate::db::{new_id, now_ms};
use crate::error::{AppError, ErrorBody, Result};
use crate::ids::{PeerId, RoomId, UserId};
use crate::media::{Direction, MediaError, Signal, SignalSink};
use crate::records::audit::{self, Actor, Event};
use crate::web::ApiJson;

/// How long a device token works.
const DEVICE_TOKEN_TTL_MS: i64 = 12 * 3_600_000;
/// Largest SDP offer accepted.
const MAX_SDP_BYTES: usize = 32 * 1024;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDeviceToken {
    /// What the others in the room see, e.g. "Dermatoscope".
    pub label: String,
}

/// A device token, shown once.
#[derive(Serialize, ToSchema)]
pub struct DeviceToken {
    pub id: String,
    /// Send as `Authorization: Bearer …`.
    pub token: String,
    pub whip_url: String,
    pub whep_url: String,
    /// RFC 3339.
    pub expires_at: String,
}

/// Create a device token for WHIP/WHEP into one room (clinicians in that room).
#[utoipa::path(post, path = "/api/v1/rooms/{id}/device-tokens", tag = "consult", params(("id" = String, Path)),
    request_body = NewDeviceToken,
    responses((status = 201, body = DeviceToken), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_token(
    State(state): State<AppState>,
    RoomClinician { user, room_id, access }: RoomClinician,
    ClientAddr(addr): ClientAddr,
    ApiJson(input): ApiJson<NewDeviceToken>,
) -> Result<(StatusCode, Json<DeviceToken>)> {
    let label = input.label.trim();
    if label.is_empty() || label.chars().count() > 80 {
        return Err(AppError::invalid("label", "a device needs a label of 1 to 80 characters"));
    }
    let (id, token, now) = (new_id(), random_token::<32>(), now_ms());
    let expires_at = now + DEVICE_TOKEN_TTL_MS;
    let mut tx = state.db.write().await?;
    sqlx::query(
        "INSERT INTO device_tokens (id, room_id, label, token_hash, created_by, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&id)
    .bind(&room_id)
    .bind(label)
    .bind(token_hash(&token))
    .bind(&user.id)
    .bind(now)
    .bind(expires_at)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        &Actor::user(&user, &addr),
        Event::new("room.device_token")
            .object("room", &room_id)
            .patient(access.patient_id.as_deref())
            .detail(label),
    )
    .await?;
    tx.commit().await?;
    let base = state.config.base_url();
    Ok((
        StatusCode::CREATED,
        Json(DeviceToken {
            id,
            token,
            whip_url: format!("{base}/whip/rooms/{room_id}"),
            whep_url: format!("{base}/whep/rooms/{room_id}"),
            expires_at: crate::scheduling::model::iso(expires_at),
        }),
    ))
}

/// Who streams: a device token's label, or a clinician.
struct Streamer {
    user_id: String,
    name: String,
    patient_id: Option<String>,
    actor: Actor,
}

/// A Bearer token for `room_id`: a clinician's access token, or that room's device token.
async fn authorize(
    state: &AppState,
    user: Option<CurrentUser>,
    headers: &HeaderMap,
    room_id: &str,
    addr: &str,
) -> Result<Streamer> {
    let token = bearer(headers).ok_or(AppError::Unauthorized)?;
    if let Some(user) = user.filter(|u| !u.via_cookie) {
        let access = super::admission::clinician(state, &user, room_id).await?;
        return Ok(Streamer {
            user_id: user.id.clone(),
            name: user.name.clone(),
            patient_id: access.patient_id,
            actor: Actor::user(&user, addr),
        });
    }
    let row = sqlx::query("SELECT id, room_id, label, expires_at FROM device_tokens WHERE token_hash = $1")
        .bind(token_hash(token))
        .fetch_optional(state.db.read())
        .await?
        .ok_or(AppError::Unauthorized)?;
    if row.try_get::<i64, _>("expires_at")? <= now_ms() {
        return Err(AppError::Unauthorized);
    }
    if row.try_get::<String, _>("room_id")? != room_id {
        return Err(AppError::Forbidden);
    }
    let id: String = row.try_get("id")?;
    let (user_id, name): (String, String) = (format!("device:{id}"), row.try_get("label")?);
    Ok(Streamer {
        actor: Actor::visitor(user_id.clone(), &name, RoomRole::Device.as_str(), addr),
        user_id,
        name,
        patient_id: None,
    })
}

/// `POST /whip/rooms/{id}`: a device's send-only offer in, our answer out.
pub async fn whip(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    ClientAddr(addr): ClientAddr,
    Path(room_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response> {
    start(state, user, addr, room_id, headers, body, Direction::Ingest).await
}

/// `POST /whep/rooms/{id}`: a viewer's receive-only offer in, our answer with the room's latest
/// camera out.
pub async fn whep(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    ClientAddr(addr): ClientAddr,
    Path(room_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response> {
    start(state, user, addr, room_id, headers, body, Direction::Egress).await
}

async fn start(
    state: AppState,
    user: Option<CurrentUser>,
    addr: String,
    room_id: String,
    headers: HeaderMap,
    body: Bytes,
    direction: Direction,
) -> Result<Response> {
    let streamer = authorize(&state, user, &headers, &room_id, &addr).await?;
    let is_sdp = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/sdp"));
    if !is_sdp {
        return Err(AppError::BadRequest("send the offer as Content-Type: application/sdp".into()));
    }
    if body.len() > MAX_SDP_BYTES {
        return Err(AppError::TooLarge(MAX_SDP_BYTES));
    }
    let offer = std::str::from_utf8(&body)
        .ok()
        .filter(|s| s.starts_with("v=0"))
        .ok_or_else(|| AppError::BadRequest("the body is not an SDP offer".into()))?
        .to_string();

    let kind = match direction {
        Direction::Ingest => "whip",
        Direction::Egress => "whep",
    };
    let peer_id = PeerId::new(new_id());
    let event = Event::new(if direction == Direction::Ingest { "room.whip" } else { "room.whep" })
        .object("room", &room_id)
        .patient(streamer.patient_id.as_deref())
        .detail(format!("{} {}", streamer.user_id, peer_id));
    audit::record_read(&state.db, &streamer.actor, event).await?;
    // The device is a participant of the room: others see it join and leave.
    let room_id = RoomId::new(room_id);
    let room = state.hub.room(&room_id).ok_or_else(super::ws::restarting)?;
    let (tx, _) = mpsc::channel::<Outbound>(1);
    let peer = Peer {
        id: peer_id.clone(),
        user_id: UserId::new(streamer.user_id),
        name: streamer.name,
        role: RoomRole::Device.as_str(),
        media: MediaState { audio: true, video: direction == Direction::Ingest, ..Default::default() },
    };
    room.send(Command::Connect(Conn { peer, role: RoomRole::Device, tx, lang: crate::web::i18n::Lang::En }))
        .await
        .map_err(|_| AppError::Unavailable("the room is closing".into()))?;
    let gone: SignalSink = {
        let (room, id) = (room.clone(), peer_id.clone());
        std::sync::Arc::new(move |signal| {
            if matches!(signal, Signal::Failed { .. }) {
                let _ = room.try_send(Command::Disconnect { id: id.clone() });
            }
        })
    };
    let answer = match state.media.stream(&room_id, &peer_id, direction, offer, gone).await {
        Ok(sdp) => sdp,
        Err(e) => {
            let _ = room.send(Command::Disconnect { id: peer_id }).await;
            return Err(match e {
                MediaError::BadSdp(m) => AppError::BadRequest(m),
                MediaError::Busy => AppError::Unavailable("the media server is busy; try again".into()),
                MediaError::Failed(m) => AppError::Conflict(m),
            });
        }
    };
    state.hub.add_device(&peer_id, &room_id);
    let location = format!("/{kind}/rooms/{room_id}/{peer_id}");
    tracing::info!(room = %room_id, kind, "device stream started");
    let mut response = (StatusCode::CREATED, answer).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/sdp"));
    if let Ok(v) = HeaderValue::from_str(&location) {
        h.insert(header::LOCATION, v);
    }
    Ok(response)
}

/// `DELETE` on a stream's `Location`: the stream ends and the device leaves the room.
pub async fn stop(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    ClientAddr(addr): ClientAddr,
    Path((room_id, session)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode> {
    authorize(&state, user, &headers, &room_id, &addr).await?;
    let (room_id, session) = (RoomId::new(room_id), PeerId::new(session));
    if !state.hub.remove_device(&session, &room_id) {
        return Err(AppError::NotFound("stream"));
    }
    if let Some(room) = state.hub.room(&room_id) {
        let _ = room.send(Command::Disconnect { id: session }).await;
    }
    Ok(StatusCode::OK)
}

/// Trickle ICE and ICE restarts are not offered: our answer carries all our candidates.
pub async fn patch() -> StatusCode {
    StatusCode::METHOD_NOT_ALLOWED
}

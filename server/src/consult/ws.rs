//! `GET /rooms/{id}/ws`: the signalling WebSocket. Authenticated by the session cookie or a
//! Bearer token at upgrade; refused across sites (Origin must match Host); every message is
//! checked against the sender's room role by the room task. Malformed messages get an error
//! reply; a flood (past 100 messages in a burst, 20 a second; joining a call sends a few dozen: offers,
//! answers, ICE candidates) closes the socket, and the room
//! lives on.

use std::num::NonZeroU32;

use crate::web::input::Path;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use governor::{DefaultDirectRateLimiter, Quota};
use tokio::sync::mpsc;

use super::access;
use super::admission::enter;
use super::hub::{Command, Conn, OUTBOUND_QUEUE, Outbound};
use super::protocol::{ClientMsg, Peer, ServerMsg};
use crate::AppState;
use crate::auth::{ClientAddr, CurrentUser};
use crate::error::{AppError, Result};
use crate::ids::{PeerId, RoomId, UserId};

/// Largest accepted frame.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;

fn same_origin(headers: &HeaderMap) -> bool {
    match (
        headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()),
        headers.get(header::HOST).and_then(|v| v.to_str().ok()),
    ) {
        (None, _) => true,
        (Some(origin), Some(host)) => {
            origin.split_once("://").is_some_and(|(_, h)| h.eq_ignore_ascii_case(host))
        }
        (Some(_), None) => false,
    }
}

/// The refusal while the server shuts down: clients try again (the next server takes them).
pub(crate) fn restarting() -> AppError {
    AppError::Unavailable("the server is restarting; try again in a moment".into())
}

pub async fn upgrade(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    ClientAddr(addr): ClientAddr,
    Path(room_id): Path<String>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Result<Response> {
    if !same_origin(&headers) {
        return Err(AppError::Forbidden);
    }
    let lang = crate::web::negotiate_headers(&headers, user.as_ref());
    let entrant = enter(&state, user, &headers, &room_id, &addr).await?;
    if super::db::ended_at(&state.db, &room_id).await?.is_some() {
        return Err(AppError::Gone("this consultation has ended".into()));
    }
    let peer = Peer {
        id: PeerId::new(crate::db::new_id()),
        user_id: UserId::new(entrant.user_id),
        name: entrant.name,
        role: entrant.access.role.as_str(),
        media: Default::default(),
    };
    let room = state.hub.room(&RoomId::new(room_id)).ok_or_else(restarting)?;
    let role = entrant.access.role;
    Ok(ws
        .max_message_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| session(socket, room, peer, role, lang)))
}

async fn session(
    socket: WebSocket,
    room: mpsc::Sender<Command>,
    peer: Peer,
    role: access::RoomRole,
    lang: crate::web::i18n::Lang,
) {
    use futures_util::{SinkExt, StreamExt};
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::channel::<Outbound>(OUTBOUND_QUEUE);
    let id = peer.id.clone();
    if room.send(Command::Connect(Conn { peer, role, tx: tx.clone(), lang })).await.is_err() {
        return;
    }
    let writer = tokio::spawn(async move {
        while let Some(out) = rx.recv().await {
            match out {
                Outbound::Msg(m) => {
                    let text = serde_json::to_string(&m).unwrap_or_default();
                    if sink.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                Outbound::Close => {
                    let _ = sink.send(Message::Close(None)).await;
                    break;
                }
                Outbound::Restart => {
                    let frame =
                        CloseFrame { code: close_code::RESTART, reason: "the server is restarting".into() };
                    let _ = sink.send(Message::Close(Some(frame))).await;
                    break;
                }
            }
        }
    });
    let limiter = DefaultDirectRateLimiter::direct(
        Quota::per_second(NonZeroU32::new(20).expect("20 > 0"))
            .allow_burst(NonZeroU32::new(100).expect("100 > 0")),
    );
    // A reply that does not fit the queue is dropped: the client is too slow to need it.
    let reply = |msg: ServerMsg| {
        let _ = tx.try_send(Outbound::Msg(msg));
    };
    while let Some(Ok(frame)) = stream.next().await {
        if limiter.check().is_err() {
            reply(ServerMsg::Error {
                code: "flood",
                message: "too many messages; the connection is closed".into(),
            });
            let _ = tx.try_send(Outbound::Close);
            break;
        }
        match frame {
            Message::Text(text) => match serde_json::from_str::<ClientMsg>(&text) {
                Ok(msg) => {
                    if room.send(Command::Message { id: id.clone(), msg }).await.is_err() {
                        break;
                    }
                }
                Err(e) => {
                    reply(ServerMsg::Error {
                        code: "bad_message",
                        message: format!("not a message this room understands: {e}"),
                    });
                }
            },
            Message::Binary(_) => {
                reply(ServerMsg::Error { code: "bad_message", message: "send JSON text frames".into() });
            }
            Message::Close(_) => break,
            Message::Ping(_) | Message::Pong(_) => {}
        }
    }
    let _ = room.send(Command::Disconnect { id }).await;
    drop(tx);
    let _ = writer.await;
}

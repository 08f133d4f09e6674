//! TURN credentials in the form coturn's REST API expects (`use-auth-secret`): the username is
//! `expiry:user`, the credential base64(HMAC-SHA1(secret, username)). They expire on their own,
//! so nothing needs revoking.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha1::Sha1;
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{AppError, ErrorBody, Result};

/// One entry of `RTCConfiguration.iceServers`.
#[derive(Serialize, ToSchema)]
pub struct IceServer {
    pub urls: Vec<String>,
    pub username: String,
    pub credential: String,
}

/// What a browser passes to `new RTCPeerConnection({iceServers})`.
#[derive(Serialize, ToSchema)]
pub struct IceConfig {
    /// Empty when no TURN server is configured (direct and STUN-less connections only).
    pub ice_servers: Vec<IceServer>,
    /// Seconds the credentials stay valid.
    pub ttl: u64,
}

/// The coturn REST-API credential for `username`.
pub fn credential(secret: &str, username: &str) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Time-limited TURN credentials for the caller (account holders and invited guests).
#[utoipa::path(get, path = "/api/v1/turn-credentials", tag = "consult",
    responses((status = 200, body = IceConfig), (status = 401, body = ErrorBody)), security(("bearer" = [])))]
pub async fn credentials(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    headers: HeaderMap,
) -> Result<Json<IceConfig>> {
    let who = match user {
        Some(u) => u.id,
        None => match super::invites::guest(&state, &headers).await? {
            Some(g) => format!("guest-{}", g.invite_id),
            None => return Err(AppError::Unauthorized),
        },
    };
    let ttl = state.config.turn_ttl.as_secs();
    let ice_servers = match (&state.config.turn_secret, state.config.turn_urls.is_empty()) {
        (Some(secret), false) => {
            let expiry = (crate::db::now_ms() / 1000).saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX));
            let username = format!("{expiry}:{who}");
            vec![IceServer {
                urls: state.config.turn_urls.clone(),
                credential: credential(secret, &username),
                username,
            }]
        }
        _ => Vec::new(),
    };
    Ok(Json(IceConfig { ice_servers, ttl }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn credentials_match_the_coturn_rest_api() {
        // RFC 2202 test case 2 for HMAC-SHA1: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(super::credential("Jefe", "what do ya want for nothing?"), "7/zfauXrL6LSdBbV8YTfnCWafHk=");
    }
}

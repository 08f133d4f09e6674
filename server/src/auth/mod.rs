//! Authentication and authorization: argon2id passwords, HS256 access tokens (Bearer header
//! or HttpOnly cookie), login throttling, request extractors, and the sign-in pages.

pub mod extract;
pub mod handlers;
pub mod pages;
pub mod password;
pub mod throttle;
pub mod token;

pub use extract::{Admins, ClientAddr, Clinicians, CurrentUser, RequireRole, SESSION_COOKIE};

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

/// `/api/v1/auth/*` and `/api/v1/me`.
pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(handlers::token))
        .routes(routes!(handlers::logout))
        .routes(routes!(handlers::me, handlers::update_me))
        .routes(routes!(handlers::update_password))
}

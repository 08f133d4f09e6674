//! Accounts: who can sign in and with which role. Admins create, list, edit and deactivate
//! users through the API and the admin pages; both go through [`service`].

pub mod db;
pub mod handlers;
pub mod model;
pub mod pages;
pub mod service;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

/// `/api/v1/users*`.
pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(handlers::list_users, handlers::create_user))
        .routes(routes!(handlers::get_user, handlers::update_user))
}

//! Multi-expert case reviews (tumour boards, MDT meetings): a coordinator names experts or
//! required specialties and a window, the time finder proposes the earliest common free times
//! in everyone's own zone, experts accept or decline, and an agenda of patient cases is kept.

pub mod db;
pub mod handlers;
pub mod model;
pub mod pages;
pub mod service;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

/// `/api/v1/reviews*`.
pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(handlers::list, handlers::create))
        .routes(routes!(handlers::get))
        .routes(routes!(handlers::add_case))
        .routes(routes!(handlers::proposals))
        .routes(routes!(handlers::schedule))
        .routes(routes!(handlers::rsvp))
        .routes(routes!(handlers::cancel))
        .routes(routes!(handlers::ics))
}

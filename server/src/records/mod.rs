//! Records: the audit log and consultation notes ([`notes`]); case-review decisions next.

pub mod audit;
pub mod handlers;
pub mod notes;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

/// `/api/v1/audit` and `/api/v1/appointments/{id}/note*`.
pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(handlers::list_audit))
        .routes(routes!(notes::handlers::read, notes::handlers::save))
        .routes(routes!(notes::handlers::sign))
        .routes(routes!(notes::handlers::add_addendum))
}

//! Records: the audit log now; consultation notes and case-review decisions later.

pub mod audit;
pub mod handlers;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

/// `/api/v1/audit`.
pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(handlers::list_audit))
}

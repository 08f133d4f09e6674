//! Records: the audit log, consultation notes ([`notes`]), case-review outcomes
//! ([`outcomes`]) with the review's attendance ([`attendance`]) and report, and the patient's
//! chart ([`chart`]).

pub mod attendance;
pub mod audit;
pub mod chart;
pub mod handlers;
pub mod leftovers;
pub mod notes;
pub mod outcomes;
pub mod report;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

/// 409 for a save or a signature made from an old version of a `what` (note, outcome): who
/// saved since, and when.
pub fn stale(
    what: &str,
    saved_by: Option<&str>,
    saved_at: Option<i64>,
    version: i64,
) -> crate::error::AppError {
    crate::error::AppError::Conflict(format!(
        "{} saved this {what} at {} (version {version}) after you opened it; reload it to see their changes",
        saved_by.unwrap_or("someone"),
        crate::scheduling::model::iso(saved_at.unwrap_or_default()),
    ))
}

/// 409 for changing a signed `what`; `instead` says what to do.
pub fn frozen(
    what: &str,
    signed_by: Option<&str>,
    signed_at: Option<i64>,
    instead: &str,
) -> crate::error::AppError {
    crate::error::AppError::Conflict(format!(
        "{} signed this {what} at {}; a signed {what} is not changed{instead}",
        signed_by.unwrap_or("someone"),
        crate::scheduling::model::iso(signed_at.unwrap_or_default()),
    ))
}

/// The SHA-256, in hex, of `value` as canonical JSON (fields in declaration order): what a
/// signature on a note, an addendum or a case outcome covers.
pub fn sha256_json(value: &impl serde::Serialize) -> String {
    use sha2::Digest;
    let json = serde_json::to_vec(value).expect("a signed record serializes");
    sha2::Sha256::digest(&json).iter().map(|b| format!("{b:02x}")).collect()
}

/// `/api/v1/audit`, `/api/v1/appointments/{id}/note*` and
/// `/api/v1/reviews/{id}/cases/{case_id}/outcome*`.
pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(handlers::list_audit))
        .routes(routes!(notes::handlers::read, notes::handlers::save))
        .routes(routes!(notes::handlers::sign))
        .routes(routes!(notes::handlers::add_addendum))
        .routes(routes!(outcomes::handlers::read, outcomes::handlers::save))
        .routes(routes!(outcomes::handlers::sign))
        .routes(routes!(attendance::read))
        .routes(routes!(attendance::put))
        .routes(routes!(report::pdf))
        .routes(routes!(chart::handlers::chart))
        .routes(routes!(chart::handlers::emergency_access))
        .routes(routes!(chart::handlers::report))
        .routes(routes!(chart::handlers::own_record))
        .routes(routes!(chart::handlers::save_demographics))
}

//! Scheduling: doctors' weekly availability (in their own time zones) and exceptions, free
//! slots, booking with no double booking under concurrency, multi-expert case reviews with a
//! time finder across zones, and iCalendar export.

pub mod db;
pub mod feed;
pub mod handlers;
pub mod ics;
pub mod messages;
pub mod model;
pub mod pages;
pub mod reminders;
pub mod reviews;
pub mod service;
pub mod slots;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

/// `/api/v1/doctors*` and `/api/v1/appointments*`.
pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(handlers::list_doctors))
        .routes(routes!(handlers::get_availability, handlers::put_availability))
        .routes(routes!(handlers::get_slots))
        .routes(routes!(handlers::list_exceptions, handlers::add_exception))
        .routes(routes!(handlers::delete_exception))
        .routes(routes!(handlers::list_appointments, handlers::book))
        .routes(routes!(handlers::get_appointment))
        .routes(routes!(handlers::cancel))
        .routes(routes!(handlers::reschedule))
        .routes(routes!(handlers::set_status))
        .routes(routes!(handlers::appointment_ics))
        .routes(routes!(feed::create_feed, feed::revoke_feed))
        .merge(reviews::api_router())
}

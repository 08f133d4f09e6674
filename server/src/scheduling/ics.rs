//! iCalendar (RFC 5545) for appointments, through the `icalendar` crate. UIDs are stable per
//! appointment; SEQUENCE rises with every reschedule or cancellation; a cancelled appointment
//! is published with STATUS:CANCELLED so calendar programs strike it through.

use chrono::{DateTime, Utc};
use icalendar::{Calendar, Component, Event, EventLike, EventStatus};

use super::model::{Appointment, Status};
use crate::accounts::model::Lang;
use crate::accounts::model::Role;
use crate::web::i18n::Tr;

fn utc(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// The stable UID of an appointment's event.
pub fn uid(a: &Appointment) -> String {
    format!("appointment-{}@consilium", a.id)
}

/// One VEVENT for an appointment, worded for the person (role, language) who reads it.
pub fn appointment_event(a: &Appointment, role: Role, lang: Option<Lang>) -> Event {
    let tr = Tr(lang.unwrap_or(Lang::En));
    let other = if role == Role::Patient { &a.doctor_name } else { &a.patient_name };
    let mut e = Event::new();
    e.uid(&uid(a))
        .summary(&format!("{}: {other}", tr.t("ics.consultation")))
        .description(&format!("{} {}", tr.t("ics.room"), a.room_id))
        .starts(utc(a.starts_ms))
        .ends(utc(a.ends_ms))
        .timestamp(utc(a.updated_ms))
        .sequence(u32::try_from(a.sequence).unwrap_or(0))
        .status(if a.status == Status::Cancelled { EventStatus::Cancelled } else { EventStatus::Confirmed });
    e.done()
}

/// The VEVENT of a scheduled review; `None` while it has no time.
pub fn review_event(r: &super::reviews::model::Review) -> Option<Event> {
    let (start, end) = r.time_ms?;
    let names: Vec<&str> = r.experts.iter().map(|e| e.name.as_str()).collect();
    let mut e = Event::new();
    e.uid(&format!("review-{}@consilium", r.id))
        .summary(&r.title)
        .description(&format!(
            "Case review ({} cases). Experts: {}. Room: {}",
            r.cases.len(),
            names.join(", "),
            r.room_id
        ))
        .starts(utc(start))
        .ends(utc(end))
        .timestamp(utc(r.updated_ms))
        .sequence(u32::try_from(r.sequence).unwrap_or(0))
        .status(if r.status == "cancelled" { EventStatus::Cancelled } else { EventStatus::Confirmed });
    Some(e.done())
}

/// A VCALENDAR around events.
pub fn calendar(events: &[Event]) -> String {
    around(Calendar::new(), events)
}

/// A VCALENDAR of `events` to attach to a mail: METHOD:PUBLISH (RFC 5546), which calendar
/// programs import, or update by UID and SEQUENCE, without an invitation's replies.
pub fn publish(events: &[Event]) -> String {
    let mut c = Calendar::new();
    c.append_property(("METHOD", "PUBLISH"));
    around(c, events)
}

fn around(mut c: Calendar, events: &[Event]) -> String {
    c.name("Consilium");
    for e in events {
        c.push(e.clone());
    }
    c.done().to_string()
}

/// A `text/calendar` download named `filename`.
pub fn download(filename: &str, events: &[Event]) -> axum::response::Response {
    use axum::http::header;
    use axum::response::IntoResponse;
    (
        [
            (header::CONTENT_TYPE, "text/calendar; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{filename}\"")),
        ],
        calendar(events),
    )
        .into_response()
}

//! Scheduling types: what the API accepts and returns, and the parsing that guards it.

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{AppError, Result};

/// Longest range a slot or agenda query may span.
pub const MAX_RANGE_DAYS: i64 = 92;
/// Longest free-text reason accepted.
pub const MAX_REASON_CHARS: usize = 500;

/// Lifecycle of an appointment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Booked,
    Cancelled,
    Completed,
    NoShow,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Booked => "booked",
            Status::Cancelled => "cancelled",
            Status::Completed => "completed",
            Status::NoShow => "no_show",
        }
    }

    pub fn parse(s: &str) -> Result<Status> {
        match s {
            "booked" => Ok(Status::Booked),
            "cancelled" => Ok(Status::Cancelled),
            "completed" => Ok(Status::Completed),
            "no_show" => Ok(Status::NoShow),
            other => Err(AppError::invalid(
                "status",
                format!("unknown status {other:?}: booked, cancelled, completed or no_show"),
            )),
        }
    }
}

/// An RFC 3339 instant with an offset, e.g. `2026-12-01T09:00:00Z` or `…+01:00`.
pub fn parse_instant(field: &str, raw: &str) -> Result<Timestamp> {
    let ts = raw.trim().parse::<Timestamp>().map_err(|_| {
        AppError::invalid(field, format!("{raw:?} is not a time with an offset, like 2026-12-01T09:00:00Z"))
    })?;
    crate::web::time::supported_instant(field, ts)
}

/// A calendar date `YYYY-MM-DD`.
pub fn parse_date(field: &str, raw: &str) -> Result<Date> {
    let date = raw
        .trim()
        .parse::<Date>()
        .map_err(|_| AppError::invalid(field, format!("{raw:?} is not a date (YYYY-MM-DD)")))?;
    crate::web::time::supported_date(field, date)
}

/// An optional free-text reason, trimmed and bounded.
pub fn parse_reason(field: &str, raw: Option<&str>, required: bool) -> Result<Option<String>> {
    let text = raw.map(str::trim).filter(|s| !s.is_empty());
    match text {
        None if required => Err(AppError::invalid(field, "please give a reason")),
        None => Ok(None),
        Some(t) if t.chars().count() > MAX_REASON_CHARS => {
            Err(AppError::invalid(field, format!("at most {MAX_REASON_CHARS} characters")))
        }
        Some(t) => Ok(Some(t.to_string())),
    }
}

/// Milliseconds since the epoch → RFC 3339 UTC.
pub fn iso(ms: i64) -> String {
    Timestamp::from_millisecond(ms).map(|t| t.to_string()).unwrap_or_default()
}

/// A doctor as patients and coordinators see them.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Doctor {
    pub id: String,
    pub name: String,
    pub specialty: Option<String>,
    /// The doctor's IANA time zone; availability rules are in this zone.
    pub timezone: String,
    /// Length of one consultation slot.
    pub consult_minutes: i64,
}

/// One weekly availability rule, in the doctor's own time zone.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RuleView {
    /// ISO weekday: 1 = Monday … 7 = Sunday.
    pub weekday: i64,
    /// Local start, `HH:MM`.
    pub start: String,
    /// Local end, `HH:MM` (`24:00` for midnight).
    pub end: String,
}

/// A doctor's weekly availability and slot length.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Availability {
    pub consult_minutes: i64,
    pub rules: Vec<RuleView>,
}

/// Parses `HH:MM` into minutes after midnight (0–1440).
pub fn parse_hhmm(field: &str, raw: &str) -> Result<i32> {
    let bad = || AppError::invalid(field, format!("{raw:?} is not a time of day like 09:30"));
    let (h, m) = raw.trim().split_once(':').ok_or_else(bad)?;
    let (h, m): (i32, i32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if !(0..=24).contains(&h) || !(0..60).contains(&m) || (h == 24 && m != 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

pub fn hhmm(minute: i64) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

/// An exception to the weekly rules: time off, or extra hours.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Exception {
    pub id: String,
    /// `off` or `extra`.
    pub kind: String,
    pub starts_at: String,
    pub ends_at: String,
    pub reason: Option<String>,
}

/// Input for a new exception.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewException {
    /// `off` or `extra`.
    pub kind: String,
    pub starts_at: String,
    pub ends_at: String,
    pub reason: Option<String>,
}

/// A bookable slot.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Slot {
    /// RFC 3339, UTC.
    pub starts_at: String,
    pub ends_at: String,
    /// The start in the time zone the caller asked for, e.g. `2026-12-01T10:00:00+01:00[Europe/Berlin]`.
    pub local_start: String,
}

/// An appointment.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Appointment {
    pub id: String,
    pub doctor_id: String,
    pub doctor_name: String,
    pub patient_id: String,
    pub patient_name: String,
    pub starts_at: String,
    pub ends_at: String,
    pub status: Status,
    /// The consultation room for the video call.
    pub room_id: String,
    /// Why the patient comes, as given at booking.
    pub reason: Option<String>,
    /// Why it was cancelled, rescheduled or marked.
    pub status_reason: Option<String>,
    /// iCalendar SEQUENCE: increases with every change of time or status.
    pub sequence: i64,
    #[serde(skip)]
    #[schema(ignore)]
    pub starts_ms: i64,
    #[serde(skip)]
    #[schema(ignore)]
    pub ends_ms: i64,
    #[serde(skip)]
    #[schema(ignore)]
    pub updated_ms: i64,
}

/// Booking input.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BookRequest {
    pub doctor_id: String,
    /// Start of a free slot, as returned by the slots endpoint.
    pub starts_at: String,
    /// Required when a doctor or admin books for a patient; a patient books for themselves.
    pub patient_id: Option<String>,
    pub reason: Option<String>,
}

/// Cancellation input.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    pub reason: String,
}

/// Move an appointment to another free slot of the same doctor.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RescheduleRequest {
    pub starts_at: String,
    pub reason: String,
}

/// Mark how an appointment ended.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusRequest {
    /// `completed` or `no_show`.
    pub status: String,
    pub reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hhmm_parses_and_rejects() {
        assert_eq!(parse_hhmm("t", "09:30").unwrap(), 570);
        assert_eq!(parse_hhmm("t", "24:00").unwrap(), 1440);
        for bad in ["9", "25:00", "24:30", "12:60", "ab:cd", ""] {
            assert!(parse_hhmm("t", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn instants_need_an_offset() {
        assert!(parse_instant("t", "2026-12-01T09:00:00Z").is_ok());
        assert!(parse_instant("t", "2026-12-01T09:00:00+08:00").is_ok());
        assert!(parse_instant("t", "2026-12-01T09:00:00").is_err());
        assert!(parse_instant("t", "tomorrow").is_err());
    }
}

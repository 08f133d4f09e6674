//! Case-review types.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A multi-expert case review.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Review {
    pub id: String,
    pub title: String,
    pub coordinator_id: String,
    pub coordinator_name: String,
    pub duration_minutes: i64,
    /// The window the review must fall in (RFC 3339, UTC).
    pub window_start: String,
    pub window_end: String,
    /// `planning`, `scheduled` or `cancelled`.
    pub status: String,
    pub starts_at: Option<String>,
    pub ends_at: Option<String>,
    pub room_id: String,
    pub sequence: i64,
    pub experts: Vec<ReviewExpert>,
    /// Specialties still to be covered by whichever doctor of that specialty is free.
    pub specialties: Vec<String>,
    pub cases: Vec<ReviewCase>,
    #[serde(skip)]
    #[schema(ignore)]
    pub window_ms: (i64, i64),
    #[serde(skip)]
    #[schema(ignore)]
    pub time_ms: Option<(i64, i64)>,
    #[serde(skip)]
    #[schema(ignore)]
    pub updated_ms: i64,
}

/// An invited expert and their answer.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ReviewExpert {
    pub expert_id: String,
    pub name: String,
    pub specialty: Option<String>,
    pub timezone: String,
    /// `pending`, `accepted` or `declined`.
    pub response: String,
    pub comment: Option<String>,
}

/// One patient case on the agenda.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ReviewCase {
    pub id: String,
    pub position: i64,
    pub patient_id: String,
    pub patient_name: String,
    pub question: String,
    pub notes: Option<String>,
    pub decision: Option<String>,
}

/// Input for a new review.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReview {
    pub title: String,
    /// Doctors who must attend.
    #[serde(default)]
    pub experts: Vec<String>,
    /// Specialties that must be present; any free doctor of each will do.
    #[serde(default)]
    pub specialties: Vec<String>,
    pub duration_minutes: i64,
    /// First day of the window, `YYYY-MM-DD`.
    pub from: String,
    /// Last day of the window, inclusive.
    pub to: String,
    /// Zone of the window's days (default: the coordinator's).
    pub tz: Option<String>,
}

/// A case to add to the agenda.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCase {
    pub patient_id: String,
    /// The clinical question for the panel.
    pub question: String,
    pub notes: Option<String>,
}

/// A proposed time, in every attendee's own zone.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Proposal {
    pub starts_at: String,
    pub ends_at: String,
    pub attendees: Vec<LocalTime>,
}

/// One attendee's local view of a proposal.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct LocalTime {
    pub expert_id: String,
    pub name: String,
    /// Set when this doctor covers a required specialty.
    pub for_specialty: Option<String>,
    pub timezone: String,
    /// e.g. `2026-12-01T16:00:00+08:00[Asia/Shanghai]`.
    pub local_start: String,
}

/// Fix the review at a proposed time.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleRequest {
    pub starts_at: String,
}

/// An expert's answer.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RsvpRequest {
    /// `accepted` or `declined`.
    pub response: String,
    pub comment: Option<String>,
}

//! What each kind of outbox row says: reminders of an appointment or a review, the notices of a
//! booking (booked, moved, cancelled) with the appointment's `.ics` attached, and the notice of
//! a signed case outcome. Each is written in the recipient's language with times in their
//! zone, from what is stored when it is sent; `None` when the news no longer holds (the
//! appointment was cancelled before its booking notice went out).

use sqlx::AnyConnection;

use super::model::{Appointment, Status};
use crate::AppState;
use crate::accounts::model::{Lang, Role};
use crate::error::Result;
use crate::web::i18n::Tr;
use crate::web::time::{moment, zone};

/// Who an outbox row is for, as the message needs them.
pub struct Recipient<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub timezone: &'a str,
    pub lang: Lang,
}

/// One message, ready to send.
pub struct Mail {
    pub subject: String,
    /// Plain text; the HTML alternative is made from it.
    pub body: String,
    /// An iCalendar file to attach (`consultation.ics`).
    pub calendar: Option<String>,
}

/// What happened to a booking, as its notice tells the patient and the doctor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice {
    Booked,
    Moved,
    Cancelled,
}

impl Notice {
    /// The outbox kind.
    pub fn kind(self) -> &'static str {
        match self {
            Notice::Booked => "booked",
            Notice::Moved => "moved",
            Notice::Cancelled => "cancelled",
        }
    }

    fn from_kind(kind: &str) -> Option<Notice> {
        [Notice::Booked, Notice::Moved, Notice::Cancelled].into_iter().find(|n| n.kind() == kind)
    }

    /// The state the appointment must still be in for the notice to be true when it is sent.
    fn holds_for(self, a: &Appointment) -> bool {
        match self {
            Notice::Booked | Notice::Moved => a.status == Status::Booked,
            Notice::Cancelled => a.status == Status::Cancelled,
        }
    }

    fn texts(self) -> (&'static str, &'static str) {
        match self {
            Notice::Booked => ("notice.booked_subject", "notice.booked_body"),
            Notice::Moved => ("notice.moved_subject", "notice.moved_body"),
            Notice::Cancelled => ("notice.cancelled_subject", "notice.cancelled_body"),
        }
    }
}

/// The message of outbox row `kind`/`object_id` for `to`.
pub async fn compose(
    state: &AppState,
    kind: &str,
    object_id: &str,
    to: &Recipient<'_>,
) -> Result<Option<Mail>> {
    let tr = Tr(to.lang);
    let base = state.config.base_url();
    let mut conn = state.db.acquire().await?;
    if kind == "outcome" {
        return outcome_notice(&mut conn, object_id, to, &tr, &base).await;
    }
    if let Some(notice) = Notice::from_kind(kind) {
        return booking_notice(&mut conn, notice, object_id, to, &base).await;
    }
    let (what, start_ms, link) = if kind == "appointment" {
        match super::db::appointment(&mut conn, object_id).await? {
            Some(a) if a.status == Status::Booked => {
                (consultation(&tr, &a), a.starts_ms, format!("{base}/appointments/{}", a.id))
            }
            _ => return Ok(None),
        }
    } else {
        match super::reviews::db::load(&mut conn, object_id).await? {
            Some(r) if r.status == "scheduled" => match r.time_ms {
                Some((start, _)) => (r.title.clone(), start, format!("{base}/reviews/{}", r.id)),
                None => return Ok(None),
            },
            _ => return Ok(None),
        }
    };
    let when = when(start_ms, to, &tr);
    Ok(Some(Mail {
        subject: format!("{}: {what}, {when}", tr.t("reminder.subject")),
        body: format!(
            "{}\n\n{what}\n{when}\n\n{} {link}\n",
            tr.t("reminder.greeting").replace("{name}", to.name),
            tr.t("reminder.join")
        ),
        calendar: None,
    }))
}

/// "Video consultation · Dr. Hart / Nora Berg".
fn consultation(tr: &Tr, a: &Appointment) -> String {
    format!("{} · {} / {}", tr.t("ics.consultation"), a.doctor_name, a.patient_name)
}

/// A moment in the recipient's zone, the zone named.
fn when(ms: i64, to: &Recipient<'_>, tr: &Tr) -> String {
    jiff::Timestamp::from_millisecond(ms).map(|t| moment(t, &zone(to.timezone), tr)).unwrap_or_default()
}

/// The notice of a booking, a move or a cancellation, with the appointment's calendar entry
/// (the same UID each time and a rising SEQUENCE, so calendar programs update one entry).
async fn booking_notice(
    conn: &mut AnyConnection,
    notice: Notice,
    id: &str,
    to: &Recipient<'_>,
    base: &str,
) -> Result<Option<Mail>> {
    let Some(a) = super::db::appointment(conn, id).await?.filter(|a| notice.holds_for(a)) else {
        return Ok(None);
    };
    let tr = Tr(to.lang);
    let (subject, line) = notice.texts();
    let what = consultation(&tr, &a);
    let when = when(a.starts_ms, to, &tr);
    let role = if to.id == a.patient_id { Role::Patient } else { Role::Doctor };
    let event = super::ics::appointment_event(&a, role, Some(to.lang));
    Ok(Some(Mail {
        subject: format!("{}: {what}, {when}", tr.t(subject)),
        body: format!(
            "{}\n\n{}\n\n{what}\n{when}\n\n{} {base}/appointments/{}\n\n{}\n",
            tr.t("notice.hello").replace("{name}", to.name),
            tr.t(line),
            tr.t(if notice == Notice::Cancelled { "notice.details" } else { "reminder.join" }),
            a.id,
            tr.t("notice.calendar"),
        ),
        calendar: Some(super::ics::publish(&[event])),
    }))
}

/// The notice of a signed case outcome to the clinician it names: the review, the
/// recommendation and a link; the patient is named only behind the link (mail is not a place
/// for patient data). `None` if the outcome is gone or not signed.
async fn outcome_notice(
    conn: &mut AnyConnection,
    id: &str,
    to: &Recipient<'_>,
    tr: &Tr,
    base: &str,
) -> Result<Option<Mail>> {
    let Some(n) = crate::records::outcomes::db::notice(conn, id).await? else {
        return Ok(None);
    };
    let recommendation =
        n.recommendation.map(|r| crate::records::outcomes::pages::label(tr, r)).unwrap_or("");
    let subject = format!("{}: {}", tr.t("notice.outcome_subject"), n.review_title);
    let body = format!(
        "{}\n\n{}\n\n{}: {}\n{}: {recommendation}\n\n{} {base}/reviews/{}#case-{}\n",
        tr.t("notice.hello").replace("{name}", to.name),
        tr.t("notice.outcome_body"),
        tr.t("notice.review"),
        n.review_title,
        tr.t("outcome.recommendation"),
        tr.t("reminder.join"),
        n.review_id,
        n.case_id,
    );
    Ok(Some(Mail { subject, body, calendar: None }))
}

//! Scheduling pages: patients book (specialty or doctor → free times in their own zone →
//! confirm) in [`booking`], everyone sees their appointments in [`appointments`], doctors keep
//! their weekly hours and exceptions in [`hours`], admins run a week grid per doctor in
//! [`grid`]. This file holds what they share: slot and appointment cells, the week builder.

pub mod appointments;
pub mod booking;
pub mod grid;
pub mod hours;

pub use appointments::{cancel, detail, list, mark, upcoming_rows};
pub use booking::{confirm, doctors, slots, submit};
pub use grid::grid;
pub use hours::{add_exception, availability, delete_exception, save_availability};

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

use super::service;
use crate::AppState;
use crate::accounts::model::Role;
use crate::auth::CurrentUser;
use crate::error::Result;
use crate::scheduling::model::{Appointment, Doctor, Status, parse_date};
use crate::web::PageCtx;
use crate::web::time::{clock, day, moment};

/// A free slot as a button.
pub struct SlotCell {
    pub starts_at: String,
    pub label: String,
}

/// One day column of free times (and, in the admin grid, appointments).
pub struct DayColumn {
    pub label: String,
    pub slots: Vec<SlotCell>,
    pub appointments: Vec<ApptRow>,
}

/// An appointment as lists show it.
pub struct ApptRow {
    pub id: String,
    pub when: String,
    pub time: String,
    pub with: String,
    pub status: &'static str,
    pub status_code: &'static str,
}

pub(crate) fn status_label(page: &PageCtx, s: Status) -> &'static str {
    match s {
        Status::Booked => page.tr.t("appt.status.booked"),
        Status::Cancelled => page.tr.t("appt.status.cancelled"),
        Status::Completed => page.tr.t("appt.status.completed"),
        Status::NoShow => page.tr.t("appt.status.no_show"),
    }
}

pub(super) fn row(page: &PageCtx, a: &Appointment, viewer: &CurrentUser, tz: &TimeZone) -> ApptRow {
    let start = Timestamp::from_millisecond(a.starts_ms).unwrap_or_default();
    ApptRow {
        id: a.id.clone(),
        when: moment(start, tz, &page.tr),
        time: clock(start, tz),
        with: if viewer.role == Role::Patient { a.doctor_name.clone() } else { a.patient_name.clone() },
        status: status_label(page, a.status),
        status_code: a.status.as_str(),
    }
}

pub(super) fn week_start(from: Option<&str>, tz: &TimeZone) -> Result<Date> {
    match from.filter(|s| !s.is_empty()) {
        Some(s) => parse_date("from", s),
        None => Ok(Timestamp::now().to_zoned(tz.clone()).date()),
    }
}

pub(super) fn instant(date: Date, tz: &TimeZone) -> Result<Timestamp> {
    Ok(date.to_zoned(tz.clone()).map_err(anyhow::Error::from)?.timestamp())
}

/// Seven day columns of free slots from `start` in `tz`.
pub(super) async fn week(
    state: &AppState,
    doctor: &Doctor,
    start: Date,
    tz: &TimeZone,
    page: &PageCtx,
) -> Result<Vec<DayColumn>> {
    let end = start.checked_add(7.days()).map_err(anyhow::Error::from)?;
    let mut conn = state.db.acquire().await?;
    let slots = service::slots(&mut conn, doctor, instant(start, tz)?, instant(end, tz)?).await?;
    let mut days = Vec::new();
    let mut d = start;
    while d < end {
        let cells = slots
            .iter()
            .filter(|s| s.start.to_zoned(tz.clone()).date() == d)
            .map(|s| SlotCell { starts_at: s.start.to_string(), label: clock(s.start, tz) })
            .collect();
        days.push(DayColumn { label: day(d, &page.tr), slots: cells, appointments: Vec::new() });
        d = d.checked_add(1.day()).map_err(anyhow::Error::from)?;
    }
    Ok(days)
}

//! Showing instants to people: in their own time zone and language.

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

use super::i18n::{Lang, Tr};

const DAYS: [&str; 7] = ["day.1", "day.2", "day.3", "day.4", "day.5", "day.6", "day.7"];

/// "Tuesday 1 December 2026" / "2026年12月1日 星期二".
pub fn day(date: Date, tr: &Tr) -> String {
    let weekday = tr.t(DAYS[usize::from(date.weekday().to_monday_one_offset().unsigned_abs()) - 1]);
    match tr.0 {
        Lang::En => format!("{weekday} {}", date.strftime("%-d %B %Y")),
        Lang::Zh => format!("{}年{}月{}日 {weekday}", date.year(), date.month(), date.day()),
    }
}

/// "09:30".
pub fn clock(ts: Timestamp, tz: &TimeZone) -> String {
    ts.to_zoned(tz.clone()).strftime("%H:%M").to_string()
}

/// Day and time with the zone's abbreviation: "Tuesday 1 December 2026, 09:30 CET".
pub fn moment(ts: Timestamp, tz: &TimeZone, tr: &Tr) -> String {
    let z = ts.to_zoned(tz.clone());
    format!("{}, {} {}", day(z.date(), tr), z.strftime("%H:%M"), z.strftime("%Z"))
}

/// The first and last day anything may be scheduled or searched on. Far wider than any
/// clinic needs, and far enough inside jiff's range (years -9999 to 9999) that adding a
/// consultation's length, a day or a time-zone offset never overflows.
pub const FIRST_DAY: Date = jiff::civil::date(1900, 1, 1);
pub const LAST_DAY: Date = jiff::civil::date(2199, 12, 31);

/// `date` itself, or a 422 naming `field` and the supported range.
pub fn supported_date(field: &str, date: Date) -> crate::error::Result<Date> {
    if (FIRST_DAY..=LAST_DAY).contains(&date) { Ok(date) } else { Err(out_of_range(field)) }
}

/// `ts` itself, or a 422 naming `field` and the supported range.
pub fn supported_instant(field: &str, ts: Timestamp) -> crate::error::Result<Timestamp> {
    supported_date(field, ts.to_zoned(TimeZone::UTC).date()).map(|_| ts)
}

fn out_of_range(field: &str) -> crate::error::AppError {
    crate::error::AppError::invalid(field, format!("dates from {FIRST_DAY} to {LAST_DAY} are supported"))
}

/// The viewer's zone, falling back to UTC for an unknown name.
pub fn zone(name: &str) -> TimeZone {
    TimeZone::get(name).unwrap_or(TimeZone::UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_moments_read_naturally_in_both_languages() {
        let d: Date = "2026-12-01".parse().unwrap();
        assert_eq!(day(d, &Tr(Lang::En)), "Tuesday 1 December 2026");
        assert_eq!(day(d, &Tr(Lang::Zh)), "2026年12月1日 星期二");
        let t: Timestamp = "2026-12-01T08:30:00Z".parse().unwrap();
        assert_eq!(moment(t, &zone("Europe/Berlin"), &Tr(Lang::En)), "Tuesday 1 December 2026, 09:30 CET");
    }
}

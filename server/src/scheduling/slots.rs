//! Pure time arithmetic: weekly rules in a doctor's own time zone become concrete windows,
//! windows become bookable slots, and the time finder intersects many people's free time.
//! No storage here; every function is deterministic in its inputs (tests pin `now`).

use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan};

/// A weekly recurring availability: ISO weekday (1 = Monday) and local minutes after midnight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    pub weekday: i8,
    pub start_minute: i32,
    pub end_minute: i32,
}

/// A half-open interval `[start, end)` of absolute time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Window {
    pub start: Timestamp,
    pub end: Timestamp,
}

impl Window {
    pub fn new(start: Timestamp, end: Timestamp) -> Window {
        Window { start, end }
    }

    pub fn overlaps(&self, other: &Window) -> bool {
        self.start < other.end && other.start < self.end
    }

    pub fn contains(&self, other: &Window) -> bool {
        self.start <= other.start && other.end <= self.end
    }
}

fn local(date: Date, minute: i32, tz: &TimeZone) -> Option<Timestamp> {
    if minute == 24 * 60 {
        let next = date.checked_add(1.day()).ok()?;
        return next.to_zoned(tz.clone()).ok().map(|z| z.timestamp());
    }
    let time = Time::new(i8::try_from(minute / 60).ok()?, i8::try_from(minute % 60).ok()?, 0, 0).ok()?;
    // "Compatible" disambiguation: a time inside a spring-forward gap moves later, a time in a
    // fall-back fold takes the earlier instant — as calendar programs do.
    date.to_datetime(time).to_zoned(tz.clone()).ok().map(|z| z.timestamp())
}

/// The concrete windows that weekly `rules` give between `from` and `to`, in `tz`.
pub fn rule_windows(rules: &[Rule], tz: &TimeZone, from: Timestamp, to: Timestamp) -> Vec<Window> {
    let mut out = Vec::new();
    let Ok(first) = from.to_zoned(tz.clone()).date().checked_sub(1.day()) else { return out };
    let last = to.to_zoned(tz.clone()).date();
    let mut day = first;
    while day <= last {
        let weekday = day.weekday().to_monday_one_offset();
        for r in rules.iter().filter(|r| r.weekday == weekday) {
            if let (Some(s), Some(e)) = (local(day, r.start_minute, tz), local(day, r.end_minute, tz))
                && e > s
                && e > from
                && s < to
            {
                out.push(Window::new(s, e));
            }
        }
        match day.checked_add(1.day()) {
            Ok(d) => day = d,
            Err(_) => break,
        }
    }
    out.sort();
    out
}

/// Slots of `length` laid from the start of each window; a slot must fit its window whole.
pub fn slots_in(windows: &[Window], length: SignedDuration) -> Vec<Window> {
    let mut out = Vec::new();
    if length <= SignedDuration::ZERO {
        return out;
    }
    for w in windows {
        let mut start = w.start;
        while let Ok(end) = start.checked_add(length) {
            if end > w.end {
                break;
            }
            out.push(Window::new(start, end));
            start = end;
        }
    }
    out.sort();
    out.dedup();
    out
}

/// What the slot search needs to know about one doctor.
#[derive(Clone, Debug)]
pub struct Calendar<'a> {
    pub tz: &'a TimeZone,
    pub rules: &'a [Rule],
    /// Extra hours outside the weekly rules.
    pub extra: &'a [Window],
    /// Time off, and anything already booked.
    pub blocked: &'a [Window],
    pub length: SignedDuration,
}

/// Bookable slots starting in `[from, to)` and not before `not_before`.
pub fn free_slots(cal: &Calendar<'_>, from: Timestamp, to: Timestamp, not_before: Timestamp) -> Vec<Window> {
    let mut windows = rule_windows(cal.rules, cal.tz, from, to);
    windows.extend(cal.extra.iter().filter(|w| w.end > from && w.start < to));
    slots_in(&windows, cal.length)
        .into_iter()
        .filter(|s| s.start >= from && s.start < to && s.start >= not_before)
        .filter(|s| !cal.blocked.iter().any(|b| b.overlaps(s)))
        .collect()
}

/// Merges overlapping or touching windows.
pub fn merge(mut windows: Vec<Window>) -> Vec<Window> {
    windows.sort();
    let mut out: Vec<Window> = Vec::with_capacity(windows.len());
    for w in windows {
        match out.last_mut() {
            Some(last) if w.start <= last.end => last.end = last.end.max(w.end),
            _ => out.push(w),
        }
    }
    out
}

/// `windows` minus `blocked`; both may be unsorted.
pub fn subtract(windows: Vec<Window>, blocked: &[Window]) -> Vec<Window> {
    let blocked = merge(blocked.to_vec());
    let mut out = Vec::new();
    for w in merge(windows) {
        let mut start = w.start;
        for b in blocked.iter().filter(|b| b.overlaps(&w)) {
            if b.start > start {
                out.push(Window::new(start, b.start));
            }
            start = start.max(b.end);
        }
        if start < w.end {
            out.push(Window::new(start, w.end));
        }
    }
    out
}

/// Time covered by both lists (each merged first).
pub fn intersect(a: &[Window], b: &[Window]) -> Vec<Window> {
    let (a, b) = (merge(a.to_vec()), merge(b.to_vec()));
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        let start = a[i].start.max(b[j].start);
        let end = a[i].end.min(b[j].end);
        if start < end {
            out.push(Window::new(start, end));
        }
        if a[i].end < b[j].end { i += 1 } else { j += 1 }
    }
    out
}

/// The earliest `limit` starts, on a `step` grid counted from the Unix epoch (so 15-minute
/// steps fall on :00/:15/:30/:45 in every zone with whole-quarter offsets), where
/// `[start, start + length)` lies inside the free time of every person in `free`.
pub fn common_starts(
    free: &[Vec<Window>],
    length: SignedDuration,
    step: SignedDuration,
    limit: usize,
) -> Vec<Window> {
    let Some((first, rest)) = free.split_first() else { return Vec::new() };
    let mut common = merge(first.clone());
    for f in rest {
        common = intersect(&common, f);
        if common.is_empty() {
            return Vec::new();
        }
    }
    let step_s = step.as_secs().max(60);
    let mut out = Vec::new();
    for w in common {
        let s = w.start.as_second();
        let aligned = s.div_euclid(step_s) * step_s + if s.rem_euclid(step_s) == 0 { 0 } else { step_s };
        let Ok(mut start) = Timestamp::from_second(aligned) else { continue };
        while let Ok(end) = start.checked_add(length) {
            if end > w.end || out.len() >= limit {
                break;
            }
            out.push(Window::new(start, end));
            match start.checked_add(step) {
                Ok(next) => start = next,
                Err(_) => break,
            }
        }
        if out.len() >= limit {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn monday_9_to_12() -> Vec<Rule> {
        vec![Rule { weekday: 1, start_minute: 9 * 60, end_minute: 12 * 60 }]
    }

    #[test]
    fn weekly_rules_follow_the_doctors_zone_across_daylight_saving() {
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        // 2026-03-23 is the Monday before, 2026-03-30 the Monday after the change (Mar 29).
        let w = rule_windows(&monday_9_to_12(), &berlin, ts("2026-03-23T00:00Z"), ts("2026-04-01T00:00Z"));
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].start, ts("2026-03-23T08:00Z"), "09:00 CET is 08:00 UTC");
        assert_eq!(w[1].start, ts("2026-03-30T07:00Z"), "09:00 CEST is 07:00 UTC");
    }

    #[test]
    fn a_rule_starting_in_the_spring_gap_moves_later() {
        let ny = TimeZone::get("America/New_York").unwrap();
        // 2026-03-08 (Sunday) 02:00–03:00 does not exist in New York.
        let rules = [Rule { weekday: 7, start_minute: 2 * 60 + 30, end_minute: 5 * 60 }];
        let w = rule_windows(&rules, &ny, ts("2026-03-08T00:00Z"), ts("2026-03-09T00:00Z"));
        assert_eq!(w, [Window::new(ts("2026-03-08T07:30Z"), ts("2026-03-08T09:00Z"))]);
    }

    #[test]
    fn slots_fill_windows_whole_and_skip_blocked_time() {
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        let blocked = [Window::new(ts("2026-01-05T08:30Z"), ts("2026-01-05T09:00Z"))];
        let cal = Calendar {
            tz: &berlin,
            rules: &[Rule { weekday: 1, start_minute: 9 * 60, end_minute: 11 * 60 + 20 }],
            extra: &[],
            blocked: &blocked,
            length: SignedDuration::from_mins(30),
        };
        let s = free_slots(&cal, ts("2026-01-05T00:00Z"), ts("2026-01-06T00:00Z"), ts("2026-01-01T00:00Z"));
        let starts: Vec<String> = s.iter().map(|w| w.start.to_string()).collect();
        // 09:00, 09:30 (blocked), 10:00, 10:30 local; 11:00–11:30 does not fit before 11:20.
        assert_eq!(starts, ["2026-01-05T08:00:00Z", "2026-01-05T09:00:00Z", "2026-01-05T09:30:00Z"]);
    }

    #[test]
    fn slots_in_the_past_are_not_offered() {
        let utc = TimeZone::UTC;
        let cal = Calendar {
            tz: &utc,
            rules: &monday_9_to_12(),
            extra: &[],
            blocked: &[],
            length: SignedDuration::from_mins(60),
        };
        let s = free_slots(&cal, ts("2026-01-05T00:00Z"), ts("2026-01-06T00:00Z"), ts("2026-01-05T10:30Z"));
        assert_eq!(s, [Window::new(ts("2026-01-05T11:00Z"), ts("2026-01-05T12:00Z"))]);
    }

    #[test]
    fn extra_hours_add_slots() {
        let utc = TimeZone::UTC;
        let extra = [Window::new(ts("2026-01-10T10:00Z"), ts("2026-01-10T11:00Z"))];
        let cal = Calendar {
            tz: &utc,
            rules: &[],
            extra: &extra,
            blocked: &[],
            length: SignedDuration::from_mins(30),
        };
        assert_eq!(
            free_slots(&cal, ts("2026-01-10T00:00Z"), ts("2026-01-11T00:00Z"), ts("2026-01-01T00:00Z")).len(),
            2
        );
    }

    #[test]
    fn subtract_and_intersect() {
        let w = |a: &str, b: &str| Window::new(ts(a), ts(b));
        let free = subtract(
            vec![w("2026-01-01T09:00Z", "2026-01-01T17:00Z")],
            &[w("2026-01-01T12:00Z", "2026-01-01T13:00Z")],
        );
        assert_eq!(
            free,
            [w("2026-01-01T09:00Z", "2026-01-01T12:00Z"), w("2026-01-01T13:00Z", "2026-01-01T17:00Z")]
        );
        let other = [w("2026-01-01T11:00Z", "2026-01-01T14:00Z")];
        assert_eq!(
            intersect(&free, &other),
            [w("2026-01-01T11:00Z", "2026-01-01T12:00Z"), w("2026-01-01T13:00Z", "2026-01-01T14:00Z")]
        );
    }

    #[test]
    fn common_starts_are_aligned_and_fit_everyone() {
        let w = |a: &str, b: &str| Window::new(ts(a), ts(b));
        let a = vec![w("2026-01-01T09:05Z", "2026-01-01T12:00Z")];
        let b =
            vec![w("2026-01-01T08:00Z", "2026-01-01T10:10Z"), w("2026-01-01T11:00Z", "2026-01-01T13:00Z")];
        let got = common_starts(&[a, b], SignedDuration::from_mins(60), SignedDuration::from_mins(15), 3);
        // Common time: 09:05–10:10 (too short for an hour from 09:15) and 11:00–12:00.
        assert_eq!(got, [w("2026-01-01T11:00Z", "2026-01-01T12:00Z")]);
        let half_hours = common_starts(
            &[vec![w("2026-01-01T09:05Z", "2026-01-01T10:10Z")]],
            SignedDuration::from_mins(30),
            SignedDuration::from_mins(15),
            10,
        );
        let starts: Vec<String> = half_hours.iter().map(|x| x.start.to_string()).collect();
        assert_eq!(starts, ["2026-01-01T09:15:00Z", "2026-01-01T09:30:00Z"]);
    }
}

//! FHIR search: the parameters every type shares, the ones a type names, dates with prefixes,
//! tokens and references, and the `searchset` Bundle with its paging links.
//!
//! Paging walks the resource's id (a UUIDv7, fixed at creation) with a cursor, never an
//! offset: a booking made while a client pages cannot shift a page, so every resource that
//! existed when the search began is seen exactly once. `total` is counted afresh per page.

use axum::http::HeaderMap;
use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

use super::model::{
    Bundle, BundleEntry, BundleEntrySearch, BundleLink, BundleType, Issue, IssueSeverity, IssueType, Meta,
    OperationOutcome, Resource, SearchMode,
};
use super::outcome::{FhirError, FhirResult};
use crate::db::{Arg, Filters, new_id, now_ms};

/// Entries per page unless `_count` says otherwise.
pub const DEFAULT_COUNT: usize = 20;
/// The most entries a page holds; a larger `_count` is lowered to it.
pub const MAX_COUNT: usize = 100;
/// Parameters every search takes.
pub const COMMON: [&str; 4] = ["_count", "_cursor", "_format", "_id"];

/// One search request: its parameters, checked against the ones the type knows.
#[derive(Debug)]
pub struct SearchQuery {
    /// In the order given, `_cursor` left out (the links add their own).
    pairs: Vec<(String, String)>,
    pub count: usize,
    pub cursor: Option<Cursor>,
    /// Parameters not understood and ignored (`Prefer: handling=lenient`, the default).
    pub ignored: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cursor {
    After(String),
    Before(String),
}

impl SearchQuery {
    /// Parses `raw` (the query string). A parameter outside `known` and [`COMMON`] is refused
    /// with 400 under `Prefer: handling=strict` and ignored (and reported) otherwise.
    pub fn parse(raw: Option<&str>, headers: &HeaderMap, known: &[&str]) -> FhirResult<SearchQuery> {
        let strict = headers
            .get_all("prefer")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.split([',', ';']).any(|p| p.trim().eq_ignore_ascii_case("handling=strict")));
        let mut pairs = Vec::new();
        let mut ignored = Vec::new();
        let mut count = DEFAULT_COUNT;
        let mut cursor = None;
        for (name, value) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            let (name, value) = (name.into_owned(), value.into_owned());
            if name.is_empty() {
                continue;
            }
            match name.as_str() {
                "_count" => {
                    let n: usize = value.trim().parse().map_err(|_| {
                        FhirError::bad_param("_count", format!("_count is a whole number, not {value:?}"))
                    })?;
                    count = n.min(MAX_COUNT);
                }
                "_cursor" => {
                    cursor = Some(parse_cursor(&value)?);
                    continue;
                }
                n if COMMON.contains(&n) || known.contains(&n) => {}
                _ => {
                    if strict {
                        return Err(FhirError::Issue {
                            status: axum::http::StatusCode::BAD_REQUEST,
                            code: IssueType::NotSupported,
                            message: format!(
                                "the search parameter {name:?} is not supported here; supported: {}",
                                known.join(", ")
                            ),
                            expression: Some(name),
                        });
                    }
                    ignored.push(name);
                    continue;
                }
            }
            pairs.push((name, value));
        }
        Ok(SearchQuery { pairs, count, cursor, ignored })
    }

    /// Every value given for `name` (repeats are ANDed), with comma-separated alternatives
    /// (ORed) left for the caller to split.
    pub fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs.iter().filter(move |(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The one value of `name`; several are refused.
    pub fn single<'a>(&'a self, name: &'a str) -> FhirResult<Option<&'a str>> {
        let mut it = self.values(name);
        let first = it.next();
        if it.next().is_some() {
            return Err(FhirError::bad_param(
                name,
                format!("give {name} once (use commas for alternatives)"),
            ));
        }
        Ok(first)
    }

    fn link(&self, base: &str, kind: &str, cursor: Option<&Cursor>) -> String {
        let mut out = form_urlencoded::Serializer::new(String::new());
        for (n, v) in &self.pairs {
            out.append_pair(n, v);
        }
        match cursor {
            Some(Cursor::After(id)) => out.append_pair("_cursor", &format!("after.{id}")),
            Some(Cursor::Before(id)) => out.append_pair("_cursor", &format!("before.{id}")),
            None => &mut out,
        };
        let q = out.finish();
        if q.is_empty() { format!("{base}/{kind}") } else { format!("{base}/{kind}?{q}") }
    }

    /// The patient ids named by `patient=` and `subject=` (all values, all alternatives).
    pub fn patient_ids(&self) -> FhirResult<Vec<String>> {
        let mut out = Vec::new();
        for name in ["patient", "subject"] {
            for raw in self.values(name) {
                for v in raw.split(',').map(str::trim).filter(|v| !v.is_empty()) {
                    out.push(reference_id("Patient", v)?);
                }
            }
        }
        Ok(out)
    }

    /// Adds `_id` (comma-separated alternatives) on `column`.
    pub fn ids(&self, f: &mut Filters, column: &str) -> FhirResult<()> {
        if let Some(raw) = self.single("_id")? {
            alternatives(f, column, raw, |v| Ok(v.to_string()))?;
        }
        Ok(())
    }
}

fn parse_cursor(raw: &str) -> FhirResult<Cursor> {
    let bad = || FhirError::bad_param("_cursor", "this page link is not one this server made; search again");
    let (dir, id) = raw.split_once('.').ok_or_else(bad)?;
    if !valid_id(id) {
        return Err(bad());
    }
    match dir {
        "after" => Ok(Cursor::After(id.to_string())),
        "before" => Ok(Cursor::Before(id.to_string())),
        _ => Err(bad()),
    }
}

/// `column = v1 OR column = v2 …` for the comma-separated alternatives of `raw`, each mapped
/// by `map`.
pub fn alternatives(
    f: &mut Filters,
    column: &str,
    raw: &str,
    map: impl Fn(&str) -> FhirResult<String>,
) -> FhirResult<()> {
    let values: Vec<Arg> = raw
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| map(v).map(Arg::Text))
        .collect::<FhirResult<_>>()?;
    f.add_any(&format!("{column} = ?"), values);
    Ok(())
}

/// Whether `id` is an R4 id: 1 to 64 letters, digits, `-` or `.`.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
}

/// The id a reference parameter names: `Patient/abc`, `abc`, or a full URL ending so.
pub fn reference_id(kind: &str, raw: &str) -> FhirResult<String> {
    let raw = raw.trim();
    let id = match raw.rsplit_once('/') {
        Some((head, id)) if head == kind || head.ends_with(&format!("/{kind}")) => id,
        Some(_) => {
            return Err(FhirError::bad_param(kind, format!("{raw:?} does not refer to a {kind}")));
        }
        None => raw,
    };
    if !valid_id(id) {
        return Err(FhirError::bad_param(kind, format!("{raw:?} is not a {kind} id")));
    }
    Ok(id.to_string())
}

/// A date search's comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prefix {
    Eq,
    Gt,
    Lt,
    Ge,
    Le,
}

/// A date or dateTime search value: its prefix and the interval `[lo, hi)` (ms) its precision
/// spans (`2026-03` is the whole month; a value without a zone is UTC).
pub fn date_value(name: &str, raw: &str) -> FhirResult<(Prefix, i64, i64)> {
    let raw = raw.trim();
    let (prefix, rest) = match raw.get(..2) {
        Some("eq") => (Prefix::Eq, &raw[2..]),
        Some("gt") => (Prefix::Gt, &raw[2..]),
        Some("lt") => (Prefix::Lt, &raw[2..]),
        Some("ge") => (Prefix::Ge, &raw[2..]),
        Some("le") => (Prefix::Le, &raw[2..]),
        Some("ne" | "sa" | "eb" | "ap") => {
            return Err(FhirError::bad_param(name, "date prefixes supported: eq, gt, lt, ge, le"));
        }
        _ => (Prefix::Eq, raw),
    };
    let bad = || {
        FhirError::bad_param(
            name,
            format!(
                "{rest:?} is not a FHIR date (YYYY, YYYY-MM, YYYY-MM-DD or a dateTime such as 2026-03-01T09:30:00Z)"
            ),
        )
    };
    let day = |d: Date| d.to_zoned(TimeZone::UTC).map(|z| z.timestamp()).map_err(|_| bad());
    let (lo, hi): (Timestamp, Timestamp) = match rest.len() {
        4 => {
            let y: i16 = rest.parse().map_err(|_| bad())?;
            let d = Date::new(y, 1, 1).map_err(|_| bad())?;
            (day(d)?, day(d.checked_add(1.year()).map_err(|_| bad())?)?)
        }
        7 => {
            let d = format!("{rest}-01").parse::<Date>().map_err(|_| bad())?;
            (day(d)?, day(d.checked_add(1.month()).map_err(|_| bad())?)?)
        }
        10 => {
            let d = rest.parse::<Date>().map_err(|_| bad())?;
            (day(d)?, day(d.tomorrow().map_err(|_| bad())?)?)
        }
        _ => {
            let ts = match rest.parse::<Timestamp>() {
                Ok(ts) => ts,
                // No zone: UTC.
                Err(_) => rest
                    .parse::<DateTime>()
                    .map_err(|_| bad())?
                    .to_zoned(TimeZone::UTC)
                    .map_err(|_| bad())?
                    .timestamp(),
            };
            // Precision of a second (a millisecond when fractions are given).
            let width = if rest.contains('.') { 1 } else { 1000 };
            (ts, ts + jiff::SignedDuration::from_millis(width))
        }
    };
    crate::web::time::supported_instant(name, lo)
        .map_err(|_| FhirError::bad_param(name, "dates from 1900 to 2199 only"))?;
    Ok((prefix, lo.as_millisecond(), hi.as_millisecond()))
}

/// Adds each `name` date value as a condition on the instant `column` (ms).
pub fn dates(q: &SearchQuery, f: &mut Filters, name: &str, column: &str) -> FhirResult<()> {
    for raw in q.values(name) {
        let (prefix, lo, hi) = date_value(name, raw)?;
        match prefix {
            Prefix::Eq => {
                f.add(&format!("{column} >= ?"), Some(Arg::Int(lo)));
                f.add(&format!("{column} < ?"), Some(Arg::Int(hi)));
            }
            Prefix::Ge => f.add(&format!("{column} >= ?"), Some(Arg::Int(lo))),
            Prefix::Gt => f.add(&format!("{column} >= ?"), Some(Arg::Int(hi))),
            Prefix::Le => f.add(&format!("{column} < ?"), Some(Arg::Int(hi))),
            Prefix::Lt => f.add(&format!("{column} < ?"), Some(Arg::Int(lo))),
        }
    }
    Ok(())
}

/// The window of one page over the id column.
pub struct Window<'a> {
    pub column: &'a str,
    pub cursor: Option<&'a Cursor>,
    pub count: usize,
}

impl Window<'_> {
    /// Adds the cursor's condition to a copy of the filters.
    pub fn filters(&self, f: &Filters) -> Filters {
        let mut f = f.clone();
        match self.cursor {
            Some(Cursor::After(id)) => f.add(&format!("{} > ?", self.column), Some(Arg::Text(id.clone()))),
            Some(Cursor::Before(id)) => f.add(&format!("{} < ?", self.column), Some(Arg::Text(id.clone()))),
            None => {}
        }
        f
    }

    /// `ORDER BY … LIMIT …`: one row more than the page, to know whether another follows.
    pub fn order_limit(&self) -> String {
        let dir = if matches!(self.cursor, Some(Cursor::Before(_))) { "DESC" } else { "ASC" };
        format!("ORDER BY {} {dir} LIMIT {}", self.column, self.count + 1)
    }

    /// The rows of `select` (its columns and `FROM`) in this window under the filters, one
    /// more than the page when another follows; none for `_count=0`.
    pub async fn rows(
        &self,
        conn: &mut sqlx::AnyConnection,
        select: &str,
        f: &Filters,
    ) -> FhirResult<Vec<sqlx::any::AnyRow>> {
        if self.count == 0 {
            return Ok(Vec::new());
        }
        let paged = self.filters(f);
        let sql = format!("{select} {} {}", paged.where_clause(), self.order_limit());
        Ok(paged.bind(sqlx::query(sqlx::AssertSqlSafe(sql))).fetch_all(conn).await?)
    }

    /// The page in id order, and whether there are pages before and after it.
    pub fn finish<T>(&self, mut rows: Vec<T>) -> (Vec<T>, bool, bool) {
        let more = rows.len() > self.count;
        rows.truncate(self.count);
        match self.cursor {
            Some(Cursor::Before(_)) => {
                rows.reverse();
                (rows, more, true)
            }
            Some(Cursor::After(_)) => (rows, true, more),
            None => (rows, false, more),
        }
    }
}

/// Everything a `searchset` Bundle is made of.
pub struct Page {
    pub kind: &'static str,
    pub total: u64,
    pub matches: Vec<Resource>,
    pub includes: Vec<Resource>,
    pub has_prev: bool,
    pub has_next: bool,
}

/// The `searchset` Bundle of a page, with `self`, `next` and `previous` links and, when
/// parameters were ignored, an `OperationOutcome` entry saying which.
pub fn bundle(base: &str, q: &SearchQuery, page: Page) -> Bundle {
    let first_id = page.matches.first().and_then(|r| r.id_and_meta()).map(|(id, _)| id.to_string());
    let last_id = page.matches.last().and_then(|r| r.id_and_meta()).map(|(id, _)| id.to_string());
    let mut link = vec![BundleLink { relation: "self", url: q.link(base, page.kind, q.cursor.as_ref()) }];
    if page.has_next
        && let Some(id) = last_id
    {
        link.push(BundleLink { relation: "next", url: q.link(base, page.kind, Some(&Cursor::After(id))) });
    }
    if page.has_prev
        && let Some(id) = first_id
    {
        link.push(BundleLink {
            relation: "previous",
            url: q.link(base, page.kind, Some(&Cursor::Before(id))),
        });
    }
    let entry_of = |mut r: Resource, mode| BundleEntry {
        full_url: r.id_and_meta().map(|(id, _)| format!("{base}/{}/{id}", r.type_name())),
        resource: {
            super::stamp(&mut r);
            r
        },
        search: Some(BundleEntrySearch { mode }),
        response: None,
    };
    let mut entry: Vec<BundleEntry> =
        page.matches.into_iter().map(|r| entry_of(r, SearchMode::Match)).collect();
    entry.extend(page.includes.into_iter().map(|r| entry_of(r, SearchMode::Include)));
    if !q.ignored.is_empty() {
        entry.push(entry_of(
            Resource::OperationOutcome(OperationOutcome {
                issue: vec![Issue {
                    severity: IssueSeverity::Warning,
                    code: IssueType::NotSupported,
                    diagnostics: format!("ignored search parameters: {}", q.ignored.join(", ")),
                    expression: q.ignored.clone(),
                }],
            }),
            SearchMode::Outcome,
        ));
    }
    let now = instant(now_ms());
    Bundle {
        id: new_id(),
        meta: Meta { version_id: None, last_updated: now.clone() },
        type_: BundleType::Searchset,
        timestamp: now,
        total: Some(page.total),
        link,
        entry,
    }
}

/// The distinct ids among `ids`, sorted: the patients a page shows, for the audit log.
pub fn distinct(ids: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = ids.into_iter().collect();
    v.sort();
    v.dedup();
    v
}

/// An epoch-millisecond time as a FHIR `instant` (UTC, milliseconds).
pub fn instant(ms: i64) -> String {
    Timestamp::from_millisecond(ms)
        .map(|ts| ts.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_else(|_| "1970-01-01T00:00:00.000Z".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_precision_spans_its_interval() {
        let (p, lo, hi) = date_value("date", "ge2026-03").unwrap();
        assert_eq!(p, Prefix::Ge);
        assert_eq!(instant(lo), "2026-03-01T00:00:00.000Z");
        assert_eq!(instant(hi), "2026-04-01T00:00:00.000Z");
        let (p, lo, hi) = date_value("date", "2026-03-01T09:30:00+02:00").unwrap();
        assert_eq!(p, Prefix::Eq);
        assert_eq!(instant(lo), "2026-03-01T07:30:00.000Z");
        assert_eq!(hi - lo, 1000);
        let (_, lo, _) = date_value("date", "lt2026-03-01T09:30").unwrap();
        assert_eq!(instant(lo), "2026-03-01T09:30:00.000Z");
        for bad in ["ne2026", "2026-13", "soon", "1850-01-01", "ge", "2026-02-30"] {
            assert!(date_value("date", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn references_name_their_type() {
        assert_eq!(reference_id("Patient", "Patient/abc-1").unwrap(), "abc-1");
        assert_eq!(reference_id("Patient", "https://h.example/fhir/r4/Patient/abc").unwrap(), "abc");
        assert_eq!(reference_id("Patient", "abc").unwrap(), "abc");
        assert!(reference_id("Patient", "Practitioner/abc").is_err());
        assert!(reference_id("Patient", "Patient/a b").is_err());
    }

    #[test]
    fn cursor_links_round_trip() {
        let q =
            SearchQuery::parse(Some("date=ge2026&_count=5&_cursor=after.x-1"), &HeaderMap::new(), &["date"])
                .unwrap();
        assert_eq!(q.cursor, Some(Cursor::After("x-1".into())));
        assert_eq!(q.count, 5);
        assert_eq!(
            q.link("http://h/fhir/r4", "Appointment", Some(&Cursor::Before("y".into()))),
            "http://h/fhir/r4/Appointment?date=ge2026&_count=5&_cursor=before.y"
        );
        assert!(SearchQuery::parse(Some("_cursor=sideways.x"), &HeaderMap::new(), &[]).is_err());
        let lenient = SearchQuery::parse(Some("colour=red"), &HeaderMap::new(), &[]).unwrap();
        assert_eq!(lenient.ignored, vec!["colour".to_string()]);
        let mut strict = HeaderMap::new();
        strict.insert("prefer", "handling=strict".parse().unwrap());
        assert!(SearchQuery::parse(Some("colour=red"), &strict, &[]).is_err());
    }
}

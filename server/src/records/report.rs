//! A case review's report: who attended, and every case on the agenda with its outcome and the
//! signed-off findings shown for it. One [`Report`] is built per request and rendered either
//! as a printable page (`/reviews/{id}/report`) or as a PDF download; both are audited, one row
//! per patient on the agenda. The review's coordinator, its experts and admins may read it.

use askama::Template;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::attendance;
use super::outcomes::model::OutcomeStatus;
use crate::AppState;
use crate::auth::{ClientAddr, CurrentUser};
use crate::diagnosis::findings::RecordEntry;
use crate::error::{ErrorBody, Result};
use crate::records::audit::{self, Actor, Event};
use crate::web::i18n::Tr;
use crate::web::input::Path;
use crate::web::pdf::{Block, Document};
use crate::web::time::{moment, zone};
use crate::web::{PageCtx, render};

/// One case as the report shows it.
pub struct ReportCase {
    pub position: i64,
    pub patient: String,
    pub question: String,
    pub presenter: Option<String>,
    pub discussion: String,
    /// The recommendation's label; empty when none is chosen.
    pub recommendation: &'static str,
    pub recommendation_text: String,
    pub responsible: Option<String>,
    /// "Signed by … · when", or that it is still a draft, or that nothing was recorded.
    pub state: String,
    pub signed: bool,
    pub content_sha256: Option<String>,
    pub findings: Vec<RecordEntry>,
}

pub struct Report {
    pub id: String,
    pub title: String,
    pub when: String,
    pub coordinator: String,
    pub attendance: Vec<attendance::Line>,
    pub cases: Vec<ReportCase>,
    /// When it was made, in the reader's zone.
    pub generated: String,
}

/// The report of review `id` for `user` (404 for anyone who may not see the review), audited.
pub async fn build(state: &AppState, user: &CurrentUser, addr: &str, id: &str, tr: &Tr) -> Result<Report> {
    let review = crate::scheduling::reviews::service::seen_by(&state.db, user, id).await?;
    let tz = zone(&user.timezone);
    let at = |ms: i64| moment(jiff::Timestamp::from_millisecond(ms).unwrap_or_default(), &tz, tr);
    let outcomes = super::outcomes::db::for_review(&mut *state.db.acquire().await?, id).await?;
    let findings = crate::diagnosis::findings::record_for_room(state, &review.room_id, &tz, tr).await?;
    let cases = review
        .cases
        .iter()
        .map(|c| {
            let o = outcomes.iter().find(|o| o.case_id == c.id);
            let state = match o {
                None => tr.t("report.no_outcome").to_string(),
                Some(o) if o.status == OutcomeStatus::Signed => format!(
                    "{} {} · {}",
                    tr.t("outcome.signed_by"),
                    o.signed_by.as_deref().unwrap_or_default(),
                    at(o.signed_at.unwrap_or_default())
                ),
                Some(_) => tr.t("report.unsigned").to_string(),
            };
            ReportCase {
                position: c.position,
                patient: c.patient_name.clone(),
                question: o.map_or_else(|| c.question.clone(), |o| o.question.clone()),
                presenter: o.and_then(|o| o.presenter.clone()),
                discussion: o.and_then(|o| o.discussion.clone()).unwrap_or_default(),
                recommendation: o
                    .and_then(|o| o.recommendation)
                    .map(|r| super::outcomes::pages::label(tr, r))
                    .unwrap_or(""),
                recommendation_text: o.map(|o| o.recommendation_text.clone()).unwrap_or_default(),
                responsible: o.and_then(|o| o.responsible.clone()),
                state,
                signed: o.is_some_and(|o| o.status == OutcomeStatus::Signed),
                content_sha256: o.and_then(|o| o.content_sha256.clone()),
                findings: findings.iter().filter(|f| f.case == Some(c.position)).cloned().collect(),
            }
        })
        .collect();
    let mut patients: Vec<&str> = review.cases.iter().map(|c| c.patient_id.as_str()).collect();
    patients.sort_unstable();
    patients.dedup();
    if !patients.is_empty() {
        let mut tx = state.db.write().await?;
        let actor = Actor::user(user, addr);
        for patient in patients {
            audit::record(
                &mut tx,
                &actor,
                Event::new("review.report").object("review", id).patient(Some(patient)),
            )
            .await?;
        }
        tx.commit().await?;
    }
    Ok(Report {
        id: review.id.clone(),
        title: review.title.clone(),
        when: crate::scheduling::reviews::pages::when(tr, &review, &tz),
        coordinator: review.coordinator_name.clone(),
        attendance: attendance::lines(&attendance::list(&state.db, id).await?, &tz, tr),
        cases,
        generated: at(crate::db::now_ms()),
    })
}

#[derive(Template)]
#[template(path = "review_report.html")]
struct ReportPage {
    page: PageCtx,
    r: Report,
}

/// `GET /reviews/{id}/report`: the printable report.
pub async fn page(
    State(state): State<AppState>,
    page: PageCtx,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
) -> Result<Response> {
    let r = build(&state, &user, &addr, &id, &page.tr).await?;
    Ok(render(&ReportPage { page, r }))
}

/// The review's report as a PDF: attendees, and every case with its outcome and the findings
/// shown (its coordinator, experts and admins; audited per patient). In the caller's language.
#[utoipa::path(get, path = "/api/v1/reviews/{id}/report.pdf", tag = "records", params(("id" = String, Path)),
    responses((status = 200, content_type = "application/pdf", body = Vec<u8>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn pdf(
    State(state): State<AppState>,
    page: PageCtx,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
) -> Result<Response> {
    let r = build(&state, &user, &addr, &id, &page.tr).await?;
    // Laying out pages is CPU work: off the async workers, with no connection held.
    let tr = page.tr;
    let doc = document(&r, &tr);
    let bytes = tokio::task::spawn_blocking(move || crate::web::pdf::render(&doc))
        .await
        .map_err(|e| crate::error::AppError::Internal(anyhow::anyhow!("laying out the report: {e}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/pdf".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"review-{}.pdf\"", r.id)),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        bytes,
    )
        .into_response())
}

/// The report as the PDF's blocks, in the order the page shows them.
fn document(r: &Report, tr: &Tr) -> Document {
    let mut b = vec![
        Block::Title(r.title.clone()),
        Block::Muted(format!("{} · {}: {}", r.when, tr.t("review.coordinator"), r.coordinator)),
        Block::Heading(tr.t("attendance.title").to_string()),
    ];
    if r.attendance.is_empty() {
        b.push(Block::Text(tr.t("attendance.none").to_string()));
    }
    for a in &r.attendance {
        let mark = if a.present { tr.t("attendance.present") } else { tr.t("attendance.absent") };
        b.push(Block::Text(format!("{} — {mark}", a.name)));
        b.push(Block::Muted(a.span.clone()));
    }
    b.push(Block::Heading(tr.t("report.cases").to_string()));
    for c in &r.cases {
        b.push(Block::Subheading(format!("{}. {}", c.position, c.patient)));
        b.push(Block::Text(format!("{}: {}", tr.t("review.question"), c.question)));
        if let Some(p) = &c.presenter {
            b.push(Block::Muted(format!("{}: {p}", tr.t("outcome.presenter"))));
        }
        if !c.discussion.is_empty() {
            b.push(Block::Text(format!("{}: {}", tr.t("outcome.discussion"), c.discussion)));
        }
        if !c.recommendation.is_empty() {
            b.push(Block::Text(format!("{}: {}", tr.t("outcome.recommendation"), c.recommendation)));
        }
        if !c.recommendation_text.is_empty() {
            b.push(Block::Text(c.recommendation_text.clone()));
        }
        if let Some(p) = &c.responsible {
            b.push(Block::Text(format!("{}: {p}", tr.t("outcome.responsible"))));
        }
        b.push(Block::Muted(c.state.clone()));
        if let Some(h) = &c.content_sha256 {
            b.push(Block::Muted(format!("{}: {h}", tr.t("note.hash"))));
        }
        b.push(Block::Text(format!("{}:", tr.t("report.findings"))));
        if c.findings.is_empty() {
            b.push(Block::Muted(tr.t("report.no_findings").to_string()));
        }
        for f in &c.findings {
            let decision = match f.outcome.as_str() {
                "accepted" => tr.t("record.accepted"),
                "amended" => tr.t("record.amended"),
                _ => tr.t("record.rejected"),
            };
            let label = if f.label.is_empty() { String::new() } else { format!(": {}", f.label) };
            let note = if f.note.is_empty() { String::new() } else { format!(" — {}", f.note) };
            b.push(Block::Text(format!("• {} · {} · {decision}{label}{note}", f.image, f.model)));
            b.push(Block::Muted(format!("{} · {}", f.by, f.at)));
        }
    }
    Document {
        title: r.title.clone(),
        blocks: b,
        footer: format!("{} · {} {}", r.title, tr.t("report.generated"), r.generated),
        page_word: tr.t("report.page").to_string(),
    }
}

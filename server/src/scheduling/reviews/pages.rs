//! Case-review planner pages: the list with a form to plan one, and the planner with experts'
//! answers, the case agenda, and "find a time" shown in every expert's own zone.

use crate::web::input::{Path, Query};
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use jiff::Timestamp;
use serde::Deserialize;

use super::model::{NewCase, NewReview, Review};
use super::service;
use crate::AppState;
use crate::accounts::model::Role;
use crate::auth::{ClientAddr, CurrentUser};
use crate::error::{AppError, Result};
use crate::scheduling::db as sdb;
use crate::scheduling::model::Doctor;
use crate::web::time::{moment, zone};
use crate::web::{PageCtx, render};

/// A review in the list.
pub struct ReviewRow {
    pub id: String,
    pub title: String,
    pub when: String,
    pub status: &'static str,
    pub experts: usize,
}

fn status_label(page: &PageCtx, s: &str) -> &'static str {
    match s {
        "scheduled" => page.tr.t("review.status.scheduled"),
        "cancelled" => page.tr.t("review.status.cancelled"),
        _ => page.tr.t("review.status.planning"),
    }
}

/// When the review takes place, in `tz`, or that it has no time yet.
pub fn when(tr: &crate::web::i18n::Tr, r: &Review, tz: &jiff::tz::TimeZone) -> String {
    r.time_ms
        .and_then(|(s, _)| Timestamp::from_millisecond(s).ok())
        .map(|t| moment(t, tz, tr))
        .unwrap_or_else(|| tr.t("review.no_time").to_string())
}

#[derive(Template)]
#[template(path = "reviews.html")]
struct ReviewsPage {
    page: PageCtx,
    reviews: Vec<ReviewRow>,
    doctors: Vec<Doctor>,
    specialties: Vec<String>,
    can_plan: bool,
    today: String,
    in_two_weeks: String,
    error: Option<String>,
}

async fn reviews_page(
    state: &AppState,
    page: PageCtx,
    user: &CurrentUser,
    error: Option<String>,
) -> Result<Response> {
    let tz = zone(&user.timezone);
    let reviews = service::list(&state.db, user, 200)
        .await?
        .iter()
        .map(|r| ReviewRow {
            id: r.id.clone(),
            title: r.title.clone(),
            when: when(&page.tr, r, &tz),
            status: status_label(&page, &r.status),
            experts: r.experts.len(),
        })
        .collect();
    let today = Timestamp::now().to_zoned(tz.clone()).date();
    let t = ReviewsPage {
        doctors: sdb::doctors(&mut *state.db.acquire().await?, None).await?,
        specialties: sdb::specialties(&mut *state.db.acquire().await?).await?,
        can_plan: user.role.is_clinician(),
        today: today.to_string(),
        in_two_weeks: today.checked_add(jiff::ToSpan::days(14)).unwrap_or(today).to_string(),
        page,
        reviews,
        error,
    };
    Ok(render(&t))
}

/// `GET /reviews`.
pub async fn list(State(state): State<AppState>, page: PageCtx, user: CurrentUser) -> Result<Response> {
    if user.role == Role::Patient {
        return Err(AppError::Forbidden);
    }
    reviews_page(&state, page, &user, None).await
}

/// `POST /reviews`: the form sends repeated `experts` and `specialties` fields.
pub async fn create(
    State(state): State<AppState>,
    page: PageCtx,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    body: axum::body::Bytes,
) -> Result<Response> {
    let mut input = NewReview {
        title: String::new(),
        experts: vec![],
        specialties: vec![],
        duration_minutes: 0,
        from: String::new(),
        to: String::new(),
        tz: None,
    };
    // Repeated `experts` and `specialties` fields: decode as pairs, not into a struct.
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
        .map_err(|_| AppError::BadRequest("the form could not be read".into()))?;
    for (k, v) in pairs {
        match k.as_str() {
            "title" => input.title = v,
            "experts" => input.experts.push(v),
            "specialties" => input.specialties.push(v),
            "duration_minutes" => input.duration_minutes = v.trim().parse().unwrap_or(0),
            "from" => input.from = v,
            "to" => input.to = v,
            _ => {}
        }
    }
    match service::create(&state.db, &user, &addr, input).await {
        Ok(r) => Ok(Redirect::to(&format!("/reviews/{}", r.id)).into_response()),
        Err(e @ AppError::Validation { .. }) => {
            let mut resp = reviews_page(&state, page, &user, Some(e.to_string())).await?;
            *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            Ok(resp)
        }
        Err(e) => Err(e),
    }
}

/// One proposal as the planner shows it.
pub struct ProposalView {
    pub starts_at: String,
    pub lines: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "review.html")]
struct ReviewPage {
    page: PageCtx,
    r: Review,
    when: String,
    status: &'static str,
    is_coordinator: bool,
    my_response: Option<String>,
    proposals: Vec<ProposalView>,
    searched: bool,
    patients: Vec<(String, String)>,
    error: Option<String>,
    findings: Vec<crate::diagnosis::findings::RecordEntry>,
    /// The agenda's cases with their outcomes.
    cases: Vec<crate::records::outcomes::pages::CaseView>,
    /// The review's clinicians (presenter and responsible lists) and the recommendations.
    panel: Vec<(String, String)>,
    recommendations: Vec<(&'static str, &'static str)>,
    /// Who attended, from the call and the coordinator's corrections.
    attendance: Vec<crate::records::attendance::Line>,
    may_correct: bool,
    /// The review has begun: the coordinator may also add panel members who never joined.
    begun: bool,
}

impl ReviewPage {
    /// Whether `user_id` is on the attendance list (the others of the panel can be added).
    fn attendance_has(&self, user_id: &str) -> bool {
        self.attendance.iter().any(|a| a.user_id == user_id)
    }
}

#[derive(Deserialize)]
pub struct FindQuery {
    find: Option<String>,
}

async fn review_page(
    state: &AppState,
    page: PageCtx,
    user: &CurrentUser,
    addr: &str,
    id: &str,
    find: bool,
    error: Option<String>,
) -> Result<Response> {
    let r = service::get(&state.db, user, addr, id).await?;
    let is_coordinator = user.role == Role::Admin || r.coordinator_id == user.id;
    let proposals = if find && is_coordinator {
        service::proposals(&state.db, user, id, 5)
            .await?
            .into_iter()
            .map(|p| {
                let start: Timestamp = p.starts_at.parse().unwrap_or_default();
                // The coordinator looking for a time sees it in their own zone too, unless they
                // are one of the experts listed anyway.
                let own = (r.coordinator_id == user.id
                    && !p.attendees.iter().any(|a| a.expert_id == user.id))
                .then(|| {
                    let who = format!("{} ({})", r.coordinator_name, page.tr.t("review.coordinator"));
                    (who, moment(start, &zone(&user.timezone), &page.tr))
                });
                let lines = own
                    .into_iter()
                    .chain(p.attendees.iter().map(|a| {
                        let who = match &a.for_specialty {
                            Some(s) => format!("{} ({s})", a.name),
                            None => a.name.clone(),
                        };
                        (who, moment(start, &zone(&a.timezone), &page.tr))
                    }))
                    .collect();
                ProposalView { starts_at: p.starts_at, lines }
            })
            .collect()
    } else {
        Vec::new()
    };
    let patients = if is_coordinator {
        crate::accounts::service::patient_choices(&state.db, &crate::records::audit::Actor::user(user, addr))
            .await?
    } else {
        Vec::new()
    };
    let tz = zone(&user.timezone);
    let findings = crate::diagnosis::findings::record_for_room(state, &r.room_id, &tz, &page.tr).await?;
    let cases = crate::records::outcomes::pages::cases(state, user, addr, &r, &page.tr).await?;
    let attendance = crate::records::attendance::lines(
        &crate::records::attendance::list(&state.db, &r.id).await?,
        &tz,
        &page.tr,
    );
    let t = ReviewPage {
        may_correct: crate::records::attendance::may_correct(user, &r) && r.status != "cancelled",
        begun: r.status == "scheduled" && r.time_ms.is_some_and(|(start, _)| start <= crate::db::now_ms()),
        attendance,
        panel: crate::records::outcomes::pages::panel(&r),
        recommendations: crate::records::outcomes::pages::recommendations(&page.tr),
        cases,
        findings,
        when: when(&page.tr, &r, &tz),
        status: status_label(&page, &r.status),
        my_response: r.experts.iter().find(|e| e.expert_id == user.id).map(|e| e.response.clone()),
        page,
        is_coordinator,
        proposals,
        searched: find,
        patients,
        error,
        r,
    };
    Ok(render(&t))
}

/// `GET /reviews/{id}` (`?find=1` runs the time finder).
pub async fn detail(
    State(state): State<AppState>,
    page: PageCtx,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
    Query(q): Query<FindQuery>,
) -> Result<Response> {
    review_page(&state, page, &user, &addr, &id, q.find.is_some(), None).await
}

/// The review page again with `e` shown, answered with `e`'s status (a refused form).
pub async fn page_with_error(
    state: &AppState,
    page: PageCtx,
    user: &CurrentUser,
    addr: &str,
    id: &str,
    e: AppError,
) -> Result<Response> {
    let status = e.status();
    let mut resp = review_page(state, page, user, addr, id, false, Some(e.to_string())).await?;
    *resp.status_mut() = status;
    Ok(resp)
}

async fn after(
    state: &AppState,
    page: PageCtx,
    user: &CurrentUser,
    addr: &str,
    id: &str,
    result: Result<Review>,
) -> Result<Response> {
    match result {
        Ok(_) => Ok(Redirect::to(&format!("/reviews/{id}")).into_response()),
        Err(e @ (AppError::Validation { .. } | AppError::Conflict(_))) => {
            page_with_error(state, page, user, addr, id, e).await
        }
        Err(e) => Err(e),
    }
}

#[derive(Deserialize)]
pub struct CaseForm {
    patient_id: String,
    question: String,
    #[serde(default)]
    notes: String,
}

/// `POST /reviews/{id}/cases`.
pub async fn add_case(
    State(state): State<AppState>,
    page: PageCtx,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
    crate::web::PageForm(f): crate::web::PageForm<CaseForm>,
) -> Result<Response> {
    let result = service::add_case(
        &state.db,
        &user,
        &addr,
        &id,
        NewCase { patient_id: f.patient_id, question: f.question, notes: Some(f.notes) },
    )
    .await;
    after(&state, page, &user, &addr, &id, result).await
}

#[derive(Deserialize)]
pub struct ScheduleForm {
    starts_at: String,
}

/// `POST /reviews/{id}/schedule`.
pub async fn schedule(
    State(state): State<AppState>,
    page: PageCtx,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
    crate::web::PageForm(f): crate::web::PageForm<ScheduleForm>,
) -> Result<Response> {
    let result = service::schedule(&state.db, &user, &addr, &id, &f.starts_at).await;
    after(&state, page, &user, &addr, &id, result).await
}

#[derive(Deserialize)]
pub struct RsvpForm {
    response: String,
    #[serde(default)]
    comment: String,
}

/// `POST /reviews/{id}/rsvp`.
pub async fn rsvp(
    State(state): State<AppState>,
    page: PageCtx,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
    crate::web::PageForm(f): crate::web::PageForm<RsvpForm>,
) -> Result<Response> {
    let result = service::rsvp(&state.db, &user, &addr, &id, &f.response, Some(&f.comment)).await;
    after(&state, page, &user, &addr, &id, result).await
}

/// `POST /reviews/{id}/cancel`.
pub async fn cancel(
    State(state): State<AppState>,
    page: PageCtx,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    Path(id): Path<String>,
) -> Result<Response> {
    let result = service::cancel(&state.db, &user, &addr, &id).await;
    after(&state, page, &user, &addr, &id, result).await
}

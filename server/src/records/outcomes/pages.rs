//! Case outcomes on the review page: a form per case for the review's clinicians (save a
//! draft; the coordinator also signs), the signed outcome read-only for everyone who sees it.

use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::model::{OutcomeInput, OutcomeStatus, OutcomeView, Recommendation, SignOutcome};
use super::service;
use crate::AppState;
use crate::accounts::model::Role;
use crate::auth::{ClientAddr, CurrentUser};
use crate::error::{AppError, Result};
use crate::scheduling::reviews::model::{Review, ReviewCase};
use crate::web::i18n::Tr;
use crate::web::input::Path;
use crate::web::{PageCtx, PageForm};

/// Every recommendation with its label, in the order the form lists them.
pub fn recommendations(tr: &Tr) -> Vec<(&'static str, &'static str)> {
    Recommendation::ALL.into_iter().map(|r| (r.as_str(), label(tr, r))).collect()
}

pub fn label(tr: &Tr, r: Recommendation) -> &'static str {
    match r {
        Recommendation::Surgery => tr.t("outcome.rec_surgery"),
        Recommendation::SystemicTherapy => tr.t("outcome.rec_systemic_therapy"),
        Recommendation::Radiotherapy => tr.t("outcome.rec_radiotherapy"),
        Recommendation::FurtherInvestigation => tr.t("outcome.rec_further_investigation"),
        Recommendation::Surveillance => tr.t("outcome.rec_surveillance"),
        Recommendation::ClinicalTrial => tr.t("outcome.rec_clinical_trial"),
        Recommendation::Other => tr.t("outcome.rec_other"),
    }
}

/// One agenda case as the review page shows it.
pub struct CaseView {
    pub case: ReviewCase,
    pub outcome: OutcomeView,
    /// The recommendation's label, empty when none is chosen.
    pub recommendation: &'static str,
    /// The caller may save a draft (and `can_sign`: sign it).
    pub editable: bool,
    pub can_sign: bool,
}

/// The agenda's cases with their outcomes, for the review page (each read is audited).
pub async fn cases(
    state: &AppState,
    user: &CurrentUser,
    addr: &str,
    r: &Review,
    tr: &Tr,
) -> Result<Vec<CaseView>> {
    let on_panel = r.coordinator_id == user.id
        || r.experts.iter().any(|e| e.expert_id == user.id && e.response != "declined");
    let open = r.status != "cancelled";
    let outcomes = service::read_review(&state.db, user, addr, r).await?;
    let standing = if r.coordinator_id == user.id && user.role == Role::Doctor {
        service::Standing::Coordinator
    } else if on_panel && user.role == Role::Doctor {
        service::Standing::Expert
    } else {
        service::Standing::Admin
    };
    let signer = service::may_sign(&state.db, r, user, standing).await?;
    Ok(r.cases
        .iter()
        .zip(outcomes)
        .map(|(case, outcome)| {
            let draft = outcome.status != OutcomeStatus::Signed;
            CaseView {
                recommendation: outcome.recommendation.map(|x| label(tr, x)).unwrap_or(""),
                editable: draft && open && on_panel && user.role == Role::Doctor,
                can_sign: draft && open && signer,
                case: case.clone(),
                outcome,
            }
        })
        .collect())
}

/// The review's clinicians, for the presenter and responsible lists.
pub fn panel(r: &Review) -> Vec<(String, String)> {
    let mut people = vec![(r.coordinator_id.clone(), r.coordinator_name.clone())];
    for e in r.experts.iter().filter(|e| e.response != "declined") {
        if !people.iter().any(|(id, _)| *id == e.expert_id) {
            people.push((e.expert_id.clone(), e.name.clone()));
        }
    }
    people
}

#[derive(Deserialize)]
pub struct OutcomeForm {
    version: i64,
    #[serde(default)]
    presenter_id: String,
    #[serde(default)]
    question: String,
    #[serde(default)]
    discussion: String,
    #[serde(default)]
    recommendation: String,
    #[serde(default)]
    recommendation_text: String,
    #[serde(default)]
    responsible_id: String,
    /// `sign` signs after saving; anything else only saves.
    #[serde(default)]
    action: String,
}

/// `POST /reviews/{id}/cases/{case_id}/outcome`: saves the draft, and signs it when asked.
pub async fn submit(
    State(state): State<AppState>,
    page: PageCtx,
    user: CurrentUser,
    ClientAddr(addr): ClientAddr,
    Path((id, case_id)): Path<(String, String)>,
    PageForm(f): PageForm<OutcomeForm>,
) -> Result<Response> {
    let result = async {
        let recommendation = match f.recommendation.trim() {
            "" => None,
            other => Some(Recommendation::parse(other).ok_or_else(|| {
                AppError::invalid("recommendation", "choose one of the listed recommendations")
            })?),
        };
        let input = OutcomeInput {
            version: f.version,
            presenter_id: Some(f.presenter_id),
            question: f.question,
            discussion: f.discussion,
            recommendation,
            recommendation_text: f.recommendation_text,
            responsible_id: Some(f.responsible_id),
        };
        let mut saved = service::save(&state.db, &user, &addr, &id, &case_id, input).await?;
        if f.action == "sign" {
            saved =
                service::sign(&state.db, &user, &addr, &id, &case_id, SignOutcome { version: saved.version })
                    .await?;
        }
        super::announce(&state, &saved).await?;
        Ok::<(), AppError>(())
    }
    .await;
    match result {
        Ok(()) => Ok(Redirect::to(&format!("/reviews/{id}#case-{case_id}")).into_response()),
        Err(e @ (AppError::Validation { .. } | AppError::Conflict(_) | AppError::TooLarge(_))) => {
            crate::scheduling::reviews::pages::page_with_error(&state, page, &user, &addr, &id, e).await
        }
        Err(e) => Err(e),
    }
}

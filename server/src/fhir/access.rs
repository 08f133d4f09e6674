//! Whose resources a caller reads on `/fhir`: the chart's rule, as SQL conditions.
//!
//! Admins read everything. A doctor reads the patients they care for (an appointment with
//! them, or a case review with them on its agenda, as [`crate::records::chart`] decides) and
//! those patients' appointments; emergency access stays on the chart page, where its reason is
//! asked. A patient reads only their own compartment. Practitioners are a directory every
//! signed-in user may read. What a caller may not read is absent: 404 on a read, not in a
//! search's results.

use crate::accounts::model::Role;
use crate::auth::CurrentUser;
use crate::db::{Arg, Filters};

/// The patients a doctor (the one bound value) cares for.
const CARED_FOR: &str = "SELECT patient_id FROM appointments WHERE doctor_id = ?
     UNION SELECT c.patient_id FROM review_cases c JOIN reviews r ON r.id = c.review_id
      WHERE r.status <> 'cancelled'
        AND (r.coordinator_id = ? OR EXISTS (SELECT 1 FROM review_experts e
             WHERE e.review_id = r.id AND e.expert_id = ? AND e.response <> 'declined'))";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    All,
    CareOf(String),
    Own(String),
}

impl Scope {
    pub fn of(user: &CurrentUser) -> Scope {
        match user.role {
            Role::Admin => Scope::All,
            Role::Doctor => Scope::CareOf(user.id.clone()),
            Role::Patient => Scope::Own(user.id.clone()),
        }
    }

    /// The scope of a search already limited to `patients` (its `patient=` values): a doctor
    /// who cares for every one of them reads their rows without the care-relationship test
    /// on every row (the search's own filter keeps to those patients), which is what makes
    /// `DiagnosticReport?patient=…` fast on a large store. Otherwise the scope as it is.
    pub async fn for_patients(&self, db: &crate::db::Db, patients: &[String]) -> crate::error::Result<Scope> {
        let Scope::CareOf(doctor) = self else { return Ok(self.clone()) };
        if patients.is_empty() {
            return Ok(self.clone());
        }
        let mut conn = db.acquire().await?;
        for p in patients {
            if !crate::records::chart::db::cares_for(&mut conn, doctor, p).await? {
                return Ok(self.clone());
            }
        }
        Ok(Scope::All)
    }

    /// Limits rows whose patient is `patient_column` to the caller's patients.
    pub fn patients(&self, f: &mut Filters, patient_column: &str) {
        self.patients_where(f, |test| format!("{patient_column} {test}"));
    }

    /// The same, for rows whose patient is found by a condition of its own: `condition` turns
    /// a test on a patient id (`= ?` or `IN (…)`) into the row's condition.
    pub fn patients_where(&self, f: &mut Filters, condition: impl Fn(&str) -> String) {
        match self {
            Scope::All => {}
            Scope::CareOf(doctor) => {
                f.add(&condition(&format!("IN ({CARED_FOR})")), Some(Arg::Text(doctor.clone())))
            }
            Scope::Own(patient) => f.add(&condition("= ?"), Some(Arg::Text(patient.clone()))),
        }
    }
}

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

    /// Limits rows whose patient is `patient_column` to the caller's patients.
    pub fn patients(&self, f: &mut Filters, patient_column: &str) {
        match self {
            Scope::All => {}
            Scope::CareOf(doctor) => {
                f.add(&format!("{patient_column} IN ({CARED_FOR})"), Some(Arg::Text(doctor.clone())))
            }
            Scope::Own(patient) => f.add(&format!("{patient_column} = ?"), Some(Arg::Text(patient.clone()))),
        }
    }
}

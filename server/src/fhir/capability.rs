//! `GET /fhir/r4/metadata`: the CapabilityStatement, stating exactly what this server does —
//! read and search of the types below with these parameters, the writes admins make, JSON
//! only. Its types are here, beside the only code that builds them.

use serde::Serialize;

use super::finding::{INCLUDES, REVINCLUDES};
use super::model::{CodeableConcept, Coding};
use super::search::instant;

// ---- the statement's types ----

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CapabilityStatement {
    pub status: &'static str,
    /// A `dateTime`.
    pub date: String,
    pub publisher: &'static str,
    pub kind: &'static str,
    pub software: Software,
    pub implementation: Implementation,
    pub fhir_version: &'static str,
    pub format: Vec<&'static str>,
    pub rest: Vec<Rest>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Software {
    pub name: &'static str,
    pub version: &'static str,
}

#[derive(Clone, Debug, Serialize)]
pub struct Implementation {
    pub description: &'static str,
    pub url: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Rest {
    pub mode: &'static str,
    pub documentation: &'static str,
    pub security: Security,
    pub resource: Vec<RestResource>,
    /// Whole-system interactions (`transaction`).
    pub interaction: Vec<Interaction>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Security {
    pub cors: bool,
    pub service: Vec<CodeableConcept>,
    pub description: &'static str,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RestResource {
    #[serde(rename = "type")]
    pub type_: &'static str,
    pub documentation: &'static str,
    pub interaction: Vec<Interaction>,
    pub versioning: &'static str,
    pub read_history: bool,
    pub update_create: bool,
    pub conditional_create: bool,
    pub conditional_update: bool,
    pub conditional_delete: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub search_include: Vec<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub search_rev_include: Vec<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub search_param: Vec<SearchParam>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Interaction {
    pub code: &'static str,
}

#[derive(Clone, Debug, Serialize)]
pub struct SearchParam {
    pub name: &'static str,
    #[serde(rename = "type")]
    pub type_: &'static str,
    pub documentation: &'static str,
}

/// The types whose searches take `_lastUpdated`.
const LAST_UPDATED: [&str; 7] =
    ["Patient", "Practitioner", "Appointment", "Composition", "CarePlan", "AuditEvent", "DiagnosticReport"];

fn param(name: &'static str, type_: &'static str, documentation: &'static str) -> SearchParam {
    SearchParam { name, type_, documentation }
}

/// A type an EHR also writes: create, update, conditional on `identifier`, `If-Match`.
fn writable(mut r: RestResource) -> RestResource {
    r.interaction.extend([Interaction { code: "create" }, Interaction { code: "update" }]);
    r.versioning = "versioned-update";
    r.conditional_create = true;
    r.conditional_update = true;
    r
}

/// A type that is read only.
fn read_only(type_: &'static str, documentation: &'static str) -> RestResource {
    let mut r = resource(type_, documentation, Vec::new());
    r.interaction.truncate(1);
    r.search_param.clear();
    r
}

fn resource(
    type_: &'static str,
    documentation: &'static str,
    search_param: Vec<SearchParam>,
) -> RestResource {
    let mut params = vec![
        param("_id", "token", "The logical id; commas for alternatives."),
        param(
            "_count",
            "number",
            "Entries per page: 20 unless given, at most 100 (larger values are lowered).",
        ),
    ];
    if LAST_UPDATED.contains(&type_) {
        params.push(param("_lastUpdated", "date", "The last change; prefixes eq, gt, lt, ge, le."));
    }
    params.extend(search_param.into_iter().filter(|p| p.name != "_lastUpdated"));
    RestResource {
        type_,
        documentation,
        interaction: vec![Interaction { code: "read" }, Interaction { code: "search-type" }],
        versioning: "versioned",
        read_history: false,
        update_create: false,
        conditional_create: false,
        conditional_update: false,
        conditional_delete: "not-supported",
        search_include: Vec::new(),
        search_rev_include: Vec::new(),
        search_param: params,
    }
}

/// What `/fhir/r4` supports, built from the same lists the handlers check parameters against.
pub fn statement(base: &str, started_ms: i64) -> CapabilityStatement {
    CapabilityStatement {
        status: "active",
        date: instant(started_ms),
        publisher: "Consilium",
        kind: "instance",
        software: Software { name: "Consilium", version: env!("CARGO_PKG_VERSION") },
        implementation: Implementation {
            description: "Consilium telemedicine consultations",
            url: base.to_string(),
        },
        fhir_version: "4.0.1",
        format: vec!["application/fhir+json", "json"],
        rest: vec![Rest {
            mode: "server",
            documentation: "Read and search; admins also write Patient and Practitioner, one at a time or in \
                            a transaction Bundle (at most 500 entries, all or none). Results page by a cursor (the `next` and `previous` links), so \
                            resources created while a client pages do not shift its pages. Unknown search \
                            parameters are ignored and listed in an OperationOutcome entry, or refused with 400 \
                            under `Prefer: handling=strict`. Every read is an audit row.",
            security: Security {
                cors: false,
                service: vec![CodeableConcept {
                    coding: vec![Coding {
                        system: Some("http://terminology.hl7.org/CodeSystem/restful-security-service".into()),
                        code: Some("OAuth".into()),
                        display: None,
                    }],
                    text: Some("Bearer tokens from POST /api/v1/auth/token, as for /api".into()),
                }],
                description: "The same tokens as /api. A patient's token reads only the patient's own resources; \
                              a doctor's, the patients they care for (an appointment, or a case review with the \
                              patient on its agenda); an admin's, everything. Practitioners are readable by \
                              every signed-in user.",
            },
            resource: vec![
                writable(resource(
                    "Patient",
                    "Patients' accounts with the demographics of their chart. Written by admins' tokens: POST \
                     (If-None-Exist: identifier=system|value), PUT by id or ?identifier=system|value; an e-mail \
                     address (telecom) is required; elements Consilium does not keep (address, contact, ...) \
                     are accepted and dropped; an element R4 does not have is refused.",
                    vec![
                        param(
                            "identifier",
                            "token",
                            "system|value, or a value: the chart's record number (urn:consilium:record-number) \
                             or an identifier an EHR gave.",
                        ),
                        param("name", "string", "Any part of the name, without regard to case."),
                        param("gender", "token", "male, female, other or unknown."),
                        param("email", "token", "The e-mail address, without regard to case."),
                    ],
                )),
                writable(resource(
                    "Practitioner",
                    "The clinic's doctors; written like Patient (a created practitioner is a doctor who can be \
                     booked; the first qualification's text is their specialty).",
                    vec![
                        param("identifier", "token", "system|value, or a value."),
                        param("name", "string", "Any part of the name, without regard to case."),
                        param("email", "token", "The e-mail address, without regard to case."),
                    ],
                )),
                resource(
                    "PractitionerRole",
                    "One per doctor (the same id as the Practitioner), with the specialty as text.",
                    vec![
                        param("practitioner", "reference", "Practitioner/{id}."),
                        param("specialty", "token", "The specialty's text, whole, without regard to case."),
                    ],
                ),
                resource(
                    "Appointment",
                    "Booked consultations. Status: booked, fulfilled (completed), cancelled, noshow.",
                    vec![
                        param("patient", "reference", "Patient/{id}; commas for alternatives."),
                        param("practitioner", "reference", "Practitioner/{id}; commas for alternatives."),
                        param("actor", "reference", "Either participant."),
                        param(
                            "date",
                            "date",
                            "The start. Prefixes eq, gt, lt, ge, le; YYYY, YYYY-MM, YYYY-MM-DD or a dateTime (UTC when no zone is given); repeat to bound both ends.",
                        ),
                        param(
                            "status",
                            "token",
                            "booked, fulfilled, cancelled, noshow (other R4 codes match nothing).",
                        ),
                        param("_lastUpdated", "date", "The last change, as date."),
                    ],
                ),
                resource(
                    "Schedule",
                    "One per doctor (the doctor's id): their bookable time, planned a month ahead.",
                    vec![param("actor", "reference", "Practitioner/{id}.")],
                ),
                resource(
                    "Slot",
                    "A doctor's free consultation times, as the booking page offers them (computed from \
                     weekly hours, time off and bookings; the id is the doctor's and the start's). Book one \
                     with POST /api/v1/appointments.",
                    vec![
                        param("schedule", "reference", "Schedule/{doctor id}: required."),
                        param(
                            "start",
                            "date",
                            "From now and at most 31 days ahead unless given; prefixes eq, gt, lt, ge, le.",
                        ),
                        param("status", "token", "free (busy slots are not listed)."),
                    ],
                ),
                resource(
                    "Encounter",
                    "A held consultation or case review call (its id is the room's; a review's, without a single \
                     patient, is read by id from its CarePlans): class VR, the period from the first join to \
                     the last leave, the clinicians and guests who joined.",
                    vec![
                        param("patient", "reference", "Patient/{id}."),
                        param("subject", "reference", "Patient/{id}."),
                        param("appointment", "reference", "Appointment/{id}."),
                        param("date", "date", "When the call began."),
                        param("status", "token", "in-progress or finished."),
                    ],
                ),
                resource(
                    "Composition",
                    "A signed consultation note: one section per SOAP part (LOINC codes), attested by its \
                     signer, identified by the sha256 it was signed with. Each signed addendum is a Composition \
                     that appends the note (relatesTo) and comes along in searches as an included entry. A \
                     patient's token reads it without the subjective and objective sections.",
                    vec![
                        param("patient", "reference", "Patient/{id}."),
                        param("subject", "reference", "Patient/{id}."),
                        param("encounter", "reference", "Encounter/{id}."),
                        param("date", "date", "When it was signed."),
                    ],
                ),
                resource(
                    "CarePlan",
                    "A case review's signed recommendation for one patient, after the MII molecular tumour \
                     board module (MII_PR_MTB_Therapieplan): intent plan, the review's call as encounter, the \
                     signing coordinator as author, the clinicians present as contributors, the recommendation \
                     as an activity with the doctor responsible for the next step.",
                    vec![
                        param("patient", "reference", "Patient/{id}."),
                        param("subject", "reference", "Patient/{id}."),
                        param("encounter", "reference", "Encounter/{id}: the review's call."),
                        param("date", "date", "When it was signed."),
                    ],
                ),
                resource(
                    "AuditEvent",
                    "The audit log, for admins' tokens: every read and change of patient data with its actor \
                     (the action as type, system urn:consilium:audit-action), the patient and the object.",
                    vec![
                        param("patient", "reference", "Patient/{id}."),
                        param("agent", "reference", "Practitioner/{id} or Patient/{id}: who acted."),
                        param("date", "date", "When."),
                        param("type", "token", "The action, e.g. fhir.read or chart.read."),
                    ],
                ),
                RestResource {
                    search_include: INCLUDES.to_vec(),
                    search_rev_include: REVINCLUDES.to_vec(),
                    ..resource(
                        "DiagnosticReport",
                        "An AI finding on an image shared in a consultation: preliminary while it awaits a \
                         clinician (never shown to the patient), final when accepted, amended when the clinician \
                         chose another label, cancelled when rejected; conclusion from the clinician.",
                        vec![
                            param("patient", "reference", "Patient/{id}."),
                            param("subject", "reference", "Patient/{id}."),
                            param("status", "token", "registered, preliminary, final, amended, cancelled."),
                            param("date", "date", "When the image was analysed."),
                            param("issued", "date", "When the finding was last decided or made."),
                        ],
                    )
                },
                read_only(
                    "Observation",
                    "One per label the model reported, its probability as a quantity of unit 1.",
                ),
                read_only(
                    "Media",
                    "The image a finding was made on, named by its sha256 (urn:ietf:rfc:6920).",
                ),
                read_only("Device", "The diagnosis model: name, version and the sha256 of its model file."),
                RestResource {
                    search_include: vec!["Provenance:target"],
                    ..resource(
                        "Provenance",
                        "Where a finding came from: the model (author), the clinician (verifier), the image (source).",
                        vec![
                            param("target", "reference", "DiagnosticReport/{id}."),
                            param("patient", "reference", "Patient/{id}."),
                        ],
                    )
                },
            ],
            interaction: vec![Interaction { code: "transaction" }],
        }],
    }
}

//! FHIR R4 (4.0.1) datatypes and resources: the part of the specification Consilium serves, as
//! typed serde models. Codes with a required binding are enums; everything is serialized, never
//! assembled as JSON text.
//!
//! Why our own types and not the `fhir` crate (4.1.2, feature `r4`): measured on this 2-core
//! machine it took the dev build of the server from about one minute to 10 min 2 s (199 000
//! generated lines), and it switches on serde_json's `arbitrary_precision` for every crate in the
//! build, which changes how numbers parse everywhere (internally tagged enums with numbers, such
//! as the room's WebSocket messages, stop deserializing). A few hundred lines for the resources
//! we emit cost neither.

use serde::Serialize;

/// `resourceType`-tagged: what a read answers and what a Bundle entry holds.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "resourceType")]
pub enum Resource {
    Patient(Patient),
    Practitioner(Practitioner),
    PractitionerRole(PractitionerRole),
    Appointment(Appointment),
    Encounter(super::encounter::Encounter),
    Composition(super::composition::Composition),
    CarePlan(super::care_plan::CarePlan),
    AuditEvent(super::audit_event::AuditEvent),
    Schedule(super::schedule::Schedule),
    Slot(super::schedule::Slot),
    DiagnosticReport(super::finding::report::DiagnosticReport),
    Observation(super::finding::observation::Observation),
    Media(super::finding::media::Media),
    Device(super::finding::device::Device),
    Provenance(super::finding::provenance::Provenance),
    Bundle(Bundle),
    OperationOutcome(OperationOutcome),
    CapabilityStatement(Box<super::capability::CapabilityStatement>),
}

impl Resource {
    pub fn type_name(&self) -> &'static str {
        match self {
            Resource::Patient(_) => "Patient",
            Resource::Practitioner(_) => "Practitioner",
            Resource::PractitionerRole(_) => "PractitionerRole",
            Resource::Appointment(_) => "Appointment",
            Resource::Encounter(_) => "Encounter",
            Resource::Composition(_) => "Composition",
            Resource::CarePlan(_) => "CarePlan",
            Resource::AuditEvent(_) => "AuditEvent",
            Resource::Schedule(_) => "Schedule",
            Resource::Slot(_) => "Slot",
            Resource::DiagnosticReport(_) => "DiagnosticReport",
            Resource::Observation(_) => "Observation",
            Resource::Media(_) => "Media",
            Resource::Device(_) => "Device",
            Resource::Provenance(_) => "Provenance",
            Resource::Bundle(_) => "Bundle",
            Resource::OperationOutcome(_) => "OperationOutcome",
            Resource::CapabilityStatement(_) => "CapabilityStatement",
        }
    }

    /// The `meta` to stamp a version on.
    pub fn meta_mut(&mut self) -> Option<&mut Meta> {
        match self {
            Resource::Patient(r) => Some(&mut r.meta),
            Resource::Practitioner(r) => Some(&mut r.meta),
            Resource::PractitionerRole(r) => Some(&mut r.meta),
            Resource::Appointment(r) => Some(&mut r.meta),
            Resource::Encounter(r) => Some(&mut r.meta),
            Resource::Composition(r) => Some(&mut r.meta),
            Resource::CarePlan(r) => Some(&mut r.meta),
            Resource::AuditEvent(r) => Some(&mut r.meta),
            Resource::Schedule(r) => Some(&mut r.meta),
            Resource::Slot(r) => Some(&mut r.meta),
            Resource::DiagnosticReport(r) => Some(&mut r.meta),
            Resource::Observation(r) => Some(&mut r.meta),
            Resource::Media(r) => Some(&mut r.meta),
            Resource::Device(r) => Some(&mut r.meta),
            Resource::Provenance(r) => Some(&mut r.meta),
            _ => None,
        }
    }

    /// The logical id and `meta`, for `Bundle.entry.fullUrl`, `ETag` and `Last-Modified`.
    pub fn id_and_meta(&self) -> Option<(&str, &Meta)> {
        match self {
            Resource::Patient(r) => Some((&r.id, &r.meta)),
            Resource::Practitioner(r) => Some((&r.id, &r.meta)),
            Resource::PractitionerRole(r) => Some((&r.id, &r.meta)),
            Resource::Appointment(r) => Some((&r.id, &r.meta)),
            Resource::Encounter(r) => Some((&r.id, &r.meta)),
            Resource::Composition(r) => Some((&r.id, &r.meta)),
            Resource::CarePlan(r) => Some((&r.id, &r.meta)),
            Resource::AuditEvent(r) => Some((&r.id, &r.meta)),
            Resource::Schedule(r) => Some((&r.id, &r.meta)),
            Resource::Slot(r) => Some((&r.id, &r.meta)),
            Resource::DiagnosticReport(r) => Some((&r.id, &r.meta)),
            Resource::Observation(r) => Some((&r.id, &r.meta)),
            Resource::Media(r) => Some((&r.id, &r.meta)),
            Resource::Device(r) => Some((&r.id, &r.meta)),
            Resource::Provenance(r) => Some((&r.id, &r.meta)),
            _ => None,
        }
    }
}

// ---- datatypes ----

#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// An `instant`: `2026-03-01T09:30:00.000Z`.
    pub last_updated: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Identifier {
    #[serde(rename = "use", skip_serializing_if = "Option::is_none")]
    pub use_: Option<&'static str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<CodeableConcept>,
    pub system: String,
    pub value: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Coding {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct CodeableConcept {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub coding: Vec<Coding>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

impl CodeableConcept {
    pub fn text(text: impl Into<String>) -> CodeableConcept {
        CodeableConcept { coding: Vec::new(), text: Some(text.into()) }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct HumanName {
    /// Consilium keeps one name as the person typed it, so it is the name's `text`.
    pub text: String,
}

#[derive(Clone, Copy, Debug, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ContactSystem {
    Phone,
    Email,
}

#[derive(Clone, Debug, Serialize)]
pub struct ContactPoint {
    pub system: ContactSystem,
    pub value: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Reference {
    /// `Patient/{id}`: relative to this server's base. None for someone without an account
    /// (a guest), who is named by `display` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

impl Reference {
    pub fn to(kind: &str, id: &str, display: Option<&str>) -> Reference {
        Reference { reference: Some(format!("{kind}/{id}")), display: display.map(str::to_string) }
    }
}

// ---- Patient, Practitioner, PractitionerRole ----

#[derive(Clone, Copy, Debug, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Gender {
    Male,
    Female,
    Other,
    Unknown,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Patient {
    pub id: String,
    pub meta: Meta,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub identifier: Vec<Identifier>,
    pub active: bool,
    pub name: Vec<HumanName>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub telecom: Vec<ContactPoint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gender: Option<Gender>,
    /// `YYYY-MM-DD`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub communication: Vec<PatientCommunication>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PatientCommunication {
    pub language: CodeableConcept,
    pub preferred: bool,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Practitioner {
    pub id: String,
    pub meta: Meta,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub identifier: Vec<Identifier>,
    pub active: bool,
    pub name: Vec<HumanName>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub telecom: Vec<ContactPoint>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PractitionerRole {
    pub id: String,
    pub meta: Meta,
    pub active: bool,
    pub practitioner: Reference,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub specialty: Vec<CodeableConcept>,
}

// ---- Appointment ----

/// R4 `AppointmentStatus` (required binding); Consilium's statuses map onto four of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AppointmentStatus {
    Booked,
    Fulfilled,
    Cancelled,
    Noshow,
}

impl AppointmentStatus {
    pub const ALL: [AppointmentStatus; 4] = [
        AppointmentStatus::Booked,
        AppointmentStatus::Fulfilled,
        AppointmentStatus::Cancelled,
        AppointmentStatus::Noshow,
    ];

    pub fn code(self) -> &'static str {
        match self {
            AppointmentStatus::Booked => "booked",
            AppointmentStatus::Fulfilled => "fulfilled",
            AppointmentStatus::Cancelled => "cancelled",
            AppointmentStatus::Noshow => "noshow",
        }
    }
}

/// R4 `ParticipationStatus`.
#[derive(Clone, Copy, Debug, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ParticipationStatus {
    Accepted,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppointmentParticipant {
    pub actor: Reference,
    pub status: ParticipationStatus,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Appointment {
    pub id: String,
    pub meta: Meta,
    pub status: AppointmentStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancelation_reason: Option<CodeableConcept>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reason_code: Vec<CodeableConcept>,
    /// `instant`s.
    pub start: String,
    pub end: String,
    pub minutes_duration: i64,
    /// A `dateTime`: when it was booked.
    pub created: String,
    pub participant: Vec<AppointmentParticipant>,
}

// ---- Bundle ----

#[derive(Clone, Copy, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BundleType {
    Searchset,
    TransactionResponse,
    Collection,
}

#[derive(Clone, Copy, Debug, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchMode {
    Match,
    Include,
    Outcome,
}

#[derive(Clone, Debug, Serialize)]
pub struct BundleLink {
    pub relation: &'static str,
    pub url: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct BundleEntrySearch {
    pub mode: SearchMode,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleEntry {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_url: Option<String>,
    pub resource: Resource,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search: Option<BundleEntrySearch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<BundleEntryResponse>,
}

/// What one entry of a transaction did.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleEntryResponse {
    /// `201 Created`, `200 OK`.
    pub status: String,
    pub location: String,
    pub etag: String,
    /// An `instant`.
    pub last_modified: String,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Bundle {
    pub id: String,
    pub meta: Meta,
    #[serde(rename = "type")]
    pub type_: BundleType,
    /// An `instant`: when the bundle was assembled.
    pub timestamp: String,
    /// Searches only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub link: Vec<BundleLink>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub entry: Vec<BundleEntry>,
}

// ---- OperationOutcome ----

#[derive(Clone, Copy, Debug, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IssueSeverity {
    Error,
    Warning,
}

/// R4 `IssueType`: the codes Consilium answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IssueType {
    Invalid,
    Structure,
    Required,
    Value,
    Login,
    Forbidden,
    NotFound,
    NotSupported,
    Conflict,
    Duplicate,
    TooLong,
    Throttled,
    Transient,
    Exception,
    Processing,
}

#[derive(Clone, Debug, Serialize)]
pub struct Issue {
    pub severity: IssueSeverity,
    pub code: IssueType,
    /// A sentence a person understands.
    pub diagnostics: String,
    /// The element or parameter at fault, when known.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub expression: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct OperationOutcome {
    pub issue: Vec<Issue>,
}

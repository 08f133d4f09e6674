//! FHIR R4 at `/fhir/r4`: what a hospital's system reads, checked against the R4 specification
//! by `fhir.resources` (tests/tools/fhir_validate.py, a validator nobody here wrote), who may
//! read what, bad searches, and paging while bookings land.

use std::collections::HashSet;

use consilium::accounts::model::Role;
use consilium_tests::{TestApp, TestUser, spawn_app};
use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};

use crate::scheduling::{book_next_slot, open_every_day, slots};

/// Validates resources with the pinned `fhir.resources` (`CONSILIUM_FHIR_PYTHON` names the
/// Python that has it; .ci/run installs it). Skipped, with a line saying so, outside CI.
pub(crate) fn validate_r4(resources: &[Value]) {
    let Ok(python) = std::env::var("CONSILIUM_FHIR_PYTHON") else {
        assert!(std::env::var("CI").is_err(), "CI runs the FHIR tests with CONSILIUM_FHIR_PYTHON set");
        eprintln!("SKIPPED R4 validation: set CONSILIUM_FHIR_PYTHON to a Python with fhir.resources==6.5.0");
        return;
    };
    let dir = tempfile_dir();
    let paths: Vec<String> = resources
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let p = dir.join(format!("{i:03}-{}.json", r["resourceType"].as_str().unwrap_or("x")));
            std::fs::write(&p, serde_json::to_vec(r).unwrap()).unwrap();
            p.display().to_string()
        })
        .collect();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tools/fhir_validate.py");
    let out = std::process::Command::new(python).arg(script).args(&paths).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "R4 validation failed:\n{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains(&format!("validated {} resources, 0 invalid", resources.len())), "{text}");
    let _ = std::fs::remove_dir_all(dir);
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("consilium-fhir-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A GET on `/fhir/r4…`: status, content type, JSON body.
pub(crate) async fn fhir(app: &TestApp, path: &str, token: Option<&str>) -> (u16, String, Value) {
    let r = app.request(Method::GET, &format!("/fhir/r4{path}"), token).send().await.unwrap();
    let status = r.status().as_u16();
    let kind = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (status, kind, r.json().await.unwrap_or(Value::Null))
}

pub(crate) fn ids(bundle: &Value) -> Vec<String> {
    bundle["entry"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|e| e["search"]["mode"] == "match")
                .map(|e| e["resource"]["id"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn link<'a>(bundle: &'a Value, relation: &str) -> Option<&'a str> {
    bundle["link"].as_array()?.iter().find(|l| l["relation"] == relation)?["url"].as_str()
}

pub(crate) struct Clinic {
    pub(crate) app: TestApp,
    pub(crate) admin: TestUser,
    pub(crate) doctor: TestUser,
    pub(crate) other_doctor: TestUser,
    pub(crate) patient: TestUser,
    pub(crate) other_patient: TestUser,
    pub(crate) appointment: String,
    pub(crate) other_appointment: String,
}

pub(crate) async fn clinic() -> Clinic {
    let app = spawn_app().await;
    let admin = app.create_user(Role::Admin).await;
    let doctor = app.create_user(Role::Doctor).await;
    let other_doctor = app.create_user(Role::Doctor).await;
    let patient = app.create_user(Role::Patient).await;
    let other_patient = app.create_user(Role::Patient).await;
    let appointment = book_next_slot(&app, &admin.token, &doctor.user.id, &patient.user.id).await;
    let other_appointment =
        book_next_slot(&app, &admin.token, &other_doctor.user.id, &other_patient.user.id).await;
    Clinic { app, admin, doctor, other_doctor, patient, other_patient, appointment, other_appointment }
}

#[tokio::test]
async fn what_an_ehr_reads_is_valid_r4() {
    let c = clinic().await;
    let (app, admin) = (&c.app, c.admin.token.as_str());
    let demographics = json!({"birth_date": "1980-02-29", "sex": "female", "phone": "+49 30 1234567",
                              "record_number": "MRN-0042", "preferred_language": "de"});
    let path = format!("/api/v1/patients/{}/demographics", c.patient.user.id);
    assert_eq!(app.send_json(Method::PUT, &path, Some(admin), &demographics).await.0, 200);
    let mut seen = Vec::new();

    // The CapabilityStatement needs no token.
    let (s, kind, cap) = fhir(app, "/metadata", None).await;
    assert_eq!(s, 200);
    assert!(kind.starts_with("application/fhir+json"), "{kind}");
    assert_eq!(cap["resourceType"], "CapabilityStatement");
    assert_eq!(cap["fhirVersion"], "4.0.1");
    let types: Vec<&str> =
        cap["rest"][0]["resource"].as_array().unwrap().iter().map(|r| r["type"].as_str().unwrap()).collect();
    assert_eq!(types, consilium::fhir::TYPES);
    // Every type the statement names is served: an unknown id is "not found", not "not supported".
    for kind in &types {
        let (s, _, o) = fhir(app, &format!("/{kind}/no-such-id"), Some(admin)).await;
        assert_eq!((s, o["issue"][0]["code"].as_str()), (404, Some("not-found")), "{kind}");
    }
    seen.push(cap);

    let (s, _, p) = fhir(app, &format!("/Patient/{}", c.patient.user.id), Some(admin)).await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["identifier"][0]["system"], "urn:consilium:record-number");
    assert_eq!(p["identifier"][0]["value"], "MRN-0042");
    assert_eq!(p["identifier"][0]["type"]["coding"][0]["code"], "MR");
    assert_eq!(p["gender"], "female");
    assert_eq!(p["birthDate"], "1980-02-29");
    assert_eq!(p["communication"][0]["language"]["coding"][0]["code"], "de");
    assert_eq!(p["name"][0]["text"], c.patient.user.name);
    seen.push(p);

    let (s, _, a) = fhir(app, &format!("/Appointment/{}", c.appointment), Some(admin)).await;
    assert_eq!(s, 200, "{a}");
    assert_eq!(a["status"], "booked");
    assert_eq!(a["minutesDuration"], 30);
    let actors: Vec<&str> = a["participant"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["actor"]["reference"].as_str().unwrap())
        .collect();
    assert_eq!(
        actors,
        [format!("Patient/{}", c.patient.user.id), format!("Practitioner/{}", c.doctor.user.id)]
    );
    seen.push(a);

    for path in
        [format!("/Practitioner/{}", c.doctor.user.id), format!("/PractitionerRole/{}", c.doctor.user.id)]
    {
        let (s, _, r) = fhir(app, &path, Some(admin)).await;
        assert_eq!(s, 200, "{path}: {r}");
        seen.push(r);
    }

    // Searches: identifier with and without its system, dates, statuses, paging links.
    let searches = [
        ("/Patient?identifier=urn:consilium:record-number|MRN-0042", 1),
        ("/Patient?identifier=MRN-0042", 1),
        ("/Patient?identifier=http://other.example/mrn|MRN-0042", 0),
        ("/Patient?gender=female,male", 1),
        ("/Patient?_count=1", 2),
        (&*format!("/Appointment?patient=Patient/{}", c.patient.user.id), 1),
        (&*format!("/Appointment?actor=Practitioner/{}", c.other_doctor.user.id), 1),
        ("/Appointment?status=booked,fulfilled&date=ge2000-01-01&date=lt2199-01-01", 2),
        ("/Appointment?status=proposed", 0),
        ("/Appointment?date=lt2000", 0),
        ("/Practitioner?name=", 2),
        ("/PractitionerRole?_count=0", 2),
        ("/Patient?colour=red", 2),
    ];
    for (path, total) in searches {
        let (s, kind, b) = fhir(app, path, Some(admin)).await;
        assert_eq!(s, 200, "{path}: {b}");
        assert!(kind.starts_with("application/fhir+json"));
        assert_eq!(b["type"], "searchset");
        assert_eq!(b["total"], total, "{path}: {b}");
        assert!(link(&b, "self").is_some_and(|u| u.contains("/fhir/r4/")), "{b}");
        seen.push(b);
    }
    // `_count=1` over two patients links to the next page; an ignored parameter is reported.
    let (_, _, b) = fhir(app, "/Patient?_count=1", Some(admin)).await;
    assert!(link(&b, "next").is_some() && link(&b, "previous").is_none(), "{b}");
    let (_, _, b) = fhir(app, "/Patient?colour=red", Some(admin)).await;
    let outcome = b["entry"].as_array().unwrap().iter().find(|e| e["search"]["mode"] == "outcome").unwrap();
    assert_eq!(outcome["resource"]["issue"][0]["expression"][0], "colour");

    // Errors are OperationOutcomes too.
    let (s, _, o) = fhir(app, "/Patient/not-there", Some(admin)).await;
    assert_eq!(s, 404);
    seen.push(o);
    validate_r4(&seen);
}

#[tokio::test]
async fn each_token_reads_only_what_its_holder_may() {
    let c = clinic().await;
    let app = &c.app;
    let (me, other) = (&c.patient.user.id, &c.other_patient.user.id);

    // No token: 401, as an OperationOutcome with the challenge.
    let r = app.request(Method::GET, &format!("/fhir/r4/Patient/{me}"), None).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["resourceType"], "OperationOutcome");
    assert_eq!(body["issue"][0]["code"], "login");

    // The patient: their own compartment only.
    let p = c.patient.token.as_str();
    assert_eq!(fhir(app, &format!("/Patient/{me}"), Some(p)).await.0, 200);
    assert_eq!(fhir(app, &format!("/Patient/{other}"), Some(p)).await.0, 404);
    assert_eq!(fhir(app, &format!("/Appointment/{}", c.other_appointment), Some(p)).await.0, 404);
    let (_, _, b) = fhir(app, "/Patient", Some(p)).await;
    assert_eq!(ids(&b), vec![me.to_string()]);
    let (_, _, b) = fhir(app, &format!("/Appointment?patient={other}"), Some(p)).await;
    assert_eq!(b["total"], 0, "{b}");
    let (_, _, b) = fhir(app, "/Appointment", Some(p)).await;
    assert_eq!(ids(&b), vec![c.appointment.to_string()]);
    // The directory of practitioners is open to every signed-in user.
    let (_, _, b) = fhir(app, "/Practitioner", Some(p)).await;
    assert_eq!(b["total"], 2);

    // A doctor: the patients they care for; another doctor's patient is not there.
    let d = c.doctor.token.as_str();
    assert_eq!(fhir(app, &format!("/Patient/{me}"), Some(d)).await.0, 200);
    assert_eq!(fhir(app, &format!("/Patient/{other}"), Some(d)).await.0, 404);
    let (_, _, b) = fhir(app, "/Patient", Some(d)).await;
    assert_eq!(ids(&b), vec![me.to_string()]);
    let (_, _, b) = fhir(app, "/Appointment", Some(d)).await;
    assert_eq!(ids(&b), vec![c.appointment.to_string()]);
    assert_eq!(fhir(app, &format!("/Patient/{me}"), Some(&c.other_doctor.token)).await.0, 404);

    // An admin: everyone.
    let (_, _, b) = fhir(app, "/Patient", Some(&c.admin.token)).await;
    assert_eq!(b["total"], 2);

    // Every read is an audit row naming the reader and the patient.
    let rows = app.audit_actions().await;
    let reads = rows
        .iter()
        .filter(|r| r["action"] == "fhir.read" && r["patient_id"] == *me && r["actor_id"] == c.doctor.user.id)
        .count();
    assert_eq!(reads, 1, "{rows:?}");
    assert!(rows.iter().any(|r| r["action"] == "fhir.search"
        && r["actor_id"] == c.patient.user.id
        && r["patient_id"] == *me
        && r["object_type"] == "Appointment"));

    // The audit log as AuditEvents, for admins only.
    let (s, _, log) =
        fhir(app, &format!("/AuditEvent?patient={me}&type=fhir.read"), Some(&c.admin.token)).await;
    assert_eq!(s, 200, "{log}");
    let event = &log["entry"][0]["resource"];
    assert_eq!(event["action"], "R");
    assert_eq!(event["entity"][0]["what"]["reference"], format!("Patient/{me}"));
    assert!(log["total"].as_u64().unwrap() >= 2);
    assert_eq!(fhir(app, "/AuditEvent", Some(d)).await.0, 403);
    validate_r4(&[log]);

    // Fifty readers at once: all answered, one audit row each.
    let before = app.audit_actions().await.len();
    let answers = join_all((0..50).map(|_| fhir(app, "/Appointment?_count=5", Some(d)))).await;
    assert!(
        answers.iter().all(|(s, _, _)| *s == 200),
        "{:?}",
        answers.iter().map(|a| a.0).collect::<Vec<_>>()
    );
    assert_eq!(app.audit_actions().await.len(), before + 50);
}

#[tokio::test]
async fn bad_searches_answer_operation_outcomes() {
    let c = clinic().await;
    let (app, t) = (&c.app, c.admin.token.as_str());
    let cases: &[(&str, u16, &str)] = &[
        ("/Appointment?_count=lots", 400, "value"),
        ("/Appointment?_count=-1", 400, "value"),
        ("/Appointment?date=ne2026", 400, "value"),
        ("/Appointment?date=2026-13", 400, "value"),
        ("/Appointment?date=ge1850-01-01", 400, "value"),
        ("/Appointment?date=tomorrow", 400, "value"),
        ("/Appointment?status=sleeping", 400, "value"),
        ("/Appointment?patient=Practitioner/abc", 400, "value"),
        ("/Appointment?_cursor=sideways.abc", 400, "value"),
        ("/Patient?gender=robot", 400, "value"),
        ("/Patient?_id=a&_id=b", 400, "value"),
        ("/Patient/has%20space", 400, "value"),
        ("/Patient?name=%00", 422, "processing"),
        ("/Observation", 404, "not-supported"),
        ("/Patient/x/y/z", 404, "not-found"),
        ("/Patient?_format=xml", 406, "not-supported"),
    ];
    let mut outcomes = Vec::new();
    for (path, status, code) in cases {
        let (s, kind, body) = fhir(app, path, Some(t)).await;
        assert_eq!(s, *status, "{path}: {body}");
        assert!(kind.starts_with("application/fhir+json"), "{path}: {kind}");
        assert_eq!(body["resourceType"], "OperationOutcome", "{path}");
        assert_eq!(body["issue"][0]["code"], *code, "{path}: {body}");
        assert!(body["issue"][0]["diagnostics"].as_str().is_some_and(|d| d.len() > 10), "{path}: {body}");
        outcomes.push(body);
    }
    // XML asked for in Accept; strict handling of an unknown parameter; a write (none yet).
    let r = app.request(Method::GET, "/fhir/r4/Patient", Some(t)).header("accept", "application/fhir+xml");
    assert_eq!(r.send().await.unwrap().status(), 406);
    let r =
        app.request(Method::GET, "/fhir/r4/Patient?colour=red", Some(t)).header("prefer", "handling=strict");
    let r = r.send().await.unwrap();
    assert_eq!(r.status(), 400);
    outcomes.push(r.json().await.unwrap());
    let r = app.request(Method::DELETE, &format!("/fhir/r4/Patient/{}", c.patient.user.id), Some(t));
    let r = r.send().await.unwrap();
    assert_eq!(r.status(), 405);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["resourceType"], "OperationOutcome");
    outcomes.push(body);
    validate_r4(&outcomes);
}

/// An EHR pages through 250 appointments, 20 at a time, while 24 more are booked: it sees each
/// of the 250 exactly once, forwards and back.
#[tokio::test]
async fn paging_sees_each_appointment_once_while_bookings_land() {
    let app = spawn_app().await;
    let admin = app.create_user(Role::Admin).await;
    let mut pairs = Vec::new();
    for _ in 0..3 {
        let doctor = app.create_user(Role::Doctor).await;
        let patient = app.create_user(Role::Patient).await;
        open_every_day(&app, &admin.token, &doctor.user.id).await;
        let free = slots(&app, &admin.token, &doctor.user.id, "UTC").await;
        pairs.push((doctor, patient, free));
    }
    let book = |i: usize, offset: usize| {
        let (doctor, patient, free) = &pairs[i % 3];
        let body = json!({"doctor_id": doctor.user.id, "patient_id": patient.user.id,
                          "starts_at": free[offset + i / 3]["starts_at"]});
        let app = &app;
        let token = admin.token.clone();
        async move {
            let (s, b) = app.send_json(Method::POST, "/api/v1/appointments", Some(&token), &body).await;
            assert_eq!(s, 201, "{b}");
            b["id"].as_str().unwrap().to_string()
        }
    };
    let mut booked = HashSet::new();
    for i in 0..250 {
        booked.insert(book(i, 0).await);
    }

    let walk = async {
        let mut seen = Vec::new();
        let mut pages = Vec::new();
        let mut next = Some("/fhir/r4/Appointment?_count=20".to_string());
        while let Some(url) = next {
            let path = url.split_once("/fhir/r4").map(|(_, p)| p.to_string()).unwrap();
            let (s, _, b) = fhir(&app, &path, Some(&admin.token)).await;
            assert_eq!(s, 200, "{b}");
            assert!(ids(&b).len() <= 20);
            seen.extend(ids(&b));
            next = link(&b, "next").map(str::to_string);
            pages.push(b);
        }
        (seen, pages)
    };
    // 24 more bookings land while the client pages.
    let more = async {
        let mut ids = Vec::new();
        for i in 250..274 {
            ids.push(book(i, 0).await);
        }
        ids
    };
    let ((seen, pages), more) = tokio::join!(walk, more);
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "an appointment was on two pages");
    assert!(booked.iter().all(|id| unique.contains(id)), "an appointment was skipped");
    assert!(seen.iter().all(|id| booked.contains(id) || more.contains(id)));

    // Back from the last page by `previous`: the same appointments.
    let mut back = Vec::new();
    let mut prev = link(pages.last().unwrap(), "self").map(str::to_string);
    while let Some(url) = prev {
        let path = url.split_once("/fhir/r4").map(|(_, p)| p.to_string()).unwrap();
        let (s, _, b) = fhir(&app, &path, Some(&admin.token)).await;
        assert_eq!(s, 200, "{b}");
        back.extend(ids(&b));
        prev = link(&b, "previous").map(str::to_string);
    }
    let back: HashSet<&String> = back.iter().collect();
    assert!(booked.iter().all(|id| back.contains(id)));

    // `_count` is capped at 100.
    let (_, _, b) = fhir(&app, "/Appointment?_count=1000", Some(&admin.token)).await;
    assert_eq!(ids(&b).len(), 100);
    assert_eq!(b["total"], 274);
    validate_r4(&pages[..2]);
}

/// A doctor's free times are the Slots of their Schedule, the same the booking page offers; a
/// slot booked is no longer one.
#[tokio::test]
async fn free_times_are_slots_of_the_doctors_schedule() {
    let c = clinic().await;
    let (app, p) = (&c.app, c.patient.token.as_str());
    let doctor = &c.doctor.user.id;
    let (s, _, schedules) = fhir(app, &format!("/Schedule?actor=Practitioner/{doctor}"), Some(p)).await;
    assert_eq!((s, &schedules["total"]), (200, &json!(1)), "{schedules}");
    let (s, _, slots) = fhir(app, &format!("/Slot?schedule=Schedule/{doctor}&_count=5"), Some(p)).await;
    assert_eq!(s, 200, "{slots}");
    let starts: Vec<String> = slots["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"]["start"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(starts.len(), 5);
    assert!(link(&slots, "next").is_some());
    // The same times as the booking API's, to the millisecond.
    let offered = crate::scheduling::slots(app, p, doctor, "UTC").await;
    let first: jiff::Timestamp = offered[0]["starts_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(starts[0].parse::<jiff::Timestamp>().unwrap(), first);
    let (_, _, booked) = fhir(app, &format!("/Appointment/{}", c.appointment), Some(p)).await;
    let all = fhir(app, &format!("/Slot?schedule=Schedule/{doctor}&_count=100"), Some(p)).await.2;
    assert!(!all.to_string().contains(&format!("\"start\":\"{}\"", booked["start"].as_str().unwrap())));

    // Read one, book it, and it is gone.
    let id = slots["entry"][0]["resource"]["id"].as_str().unwrap().to_string();
    let (s, _, slot) = fhir(app, &format!("/Slot/{id}"), Some(p)).await;
    assert_eq!((s, slot["status"].as_str()), (200, Some("free")));
    let (s, b) = app
        .send_json(
            Method::POST,
            "/api/v1/appointments",
            Some(p),
            &json!({"doctor_id": doctor, "patient_id": c.patient.user.id, "starts_at": offered[0]["starts_at"]}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(fhir(app, &format!("/Slot/{id}"), Some(p)).await.0, 404);

    for (bad, why) in [
        ("/Slot".to_string(), "no schedule"),
        (format!("/Slot?schedule=Schedule/{doctor}&start=ge2030-01-01&start=lt2030-06-01"), "five months"),
        (format!("/Slot?schedule=Schedule/{doctor}&status=maybe"), "no such status"),
    ] {
        assert_eq!(fhir(app, &bad, Some(p)).await.0, 400, "{why}");
    }
    validate_r4(&[schedules, slots, slot]);
}

/// `_lastUpdated` narrows every type whose CapabilityStatement entry names it, and each one the
/// statement names is accepted under strict handling (the statement and the handlers agree).
#[tokio::test]
async fn the_capability_statement_and_the_searches_agree() {
    let c = clinic().await;
    let (app, t) = (&c.app, c.admin.token.as_str());
    let (_, _, cap) = fhir(app, "/metadata", None).await;
    for r in cap["rest"][0]["resource"].as_array().unwrap() {
        let kind = r["type"].as_str().unwrap();
        let Some(params) = r["searchParam"].as_array() else { continue };
        for p in params {
            let name = p["name"].as_str().unwrap();
            let value = match p["type"].as_str().unwrap() {
                "date" => "ge2000-01-01".to_string(),
                "number" => "5".to_string(),
                "reference" if name == "schedule" => format!("Schedule/{}", c.doctor.user.id),
                "reference" => format!(
                    "{}/x",
                    if ["practitioner", "agent"].contains(&name) {
                        "Practitioner"
                    } else if name == "encounter" {
                        "Encounter"
                    } else if name == "target" {
                        "DiagnosticReport"
                    } else if name == "appointment" {
                        "Appointment"
                    } else {
                        "Patient"
                    }
                ),
                _ => "x".to_string(),
            };
            let value = if kind == "Slot" && name == "status" { "free".to_string() } else { value };
            let path = if kind == "Slot" && name != "schedule" {
                format!("/fhir/r4/Slot?schedule=Schedule/{}&{name}={value}", c.doctor.user.id)
            } else {
                format!("/fhir/r4/{kind}?{name}={value}")
            };
            let r = app
                .request(Method::GET, &path, Some(t))
                .header("prefer", "handling=strict")
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap();
            assert!(status == 200 || body["issue"][0]["code"] == "value", "{path}: {status} {body}");
        }
    }
    let (_, _, later) = fhir(app, "/Appointment?_lastUpdated=ge2199-01-01", Some(t)).await;
    assert_eq!(later["total"], 0);
    let (_, _, since) = fhir(app, "/Patient?_lastUpdated=ge2000-01-01", Some(t)).await;
    assert_eq!(since["total"], 2);
}

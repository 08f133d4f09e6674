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
async fn fhir(app: &TestApp, path: &str, token: Option<&str>) -> (u16, String, Value) {
    let r = app.request(Method::GET, &format!("/fhir/r4{path}"), token).send().await.unwrap();
    let status = r.status().as_u16();
    let kind = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (status, kind, r.json().await.unwrap_or(Value::Null))
}

fn ids(bundle: &Value) -> Vec<String> {
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

fn link<'a>(bundle: &'a Value, relation: &str) -> Option<&'a str> {
    bundle["link"].as_array()?.iter().find(|l| l["relation"] == relation)?["url"].as_str()
}

struct Clinic {
    app: TestApp,
    admin: TestUser,
    doctor: TestUser,
    other_doctor: TestUser,
    patient: TestUser,
    other_patient: TestUser,
    appointment: String,
    other_appointment: String,
}

async fn clinic() -> Clinic {
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

/// An AI finding as an EHR fetches it: the report with its observations, image, model and
/// provenance in one search; preliminary until signed off, and hidden from the patient until then.
#[tokio::test]
async fn an_ai_finding_is_a_traceable_diagnostic_report() {
    let c = crate::rooms::consult().await;
    let (mut doctor, _patient) = crate::imaging::in_call(&c).await;
    let (s, image) =
        crate::imaging::share(&c, &c.patient.token, "lesion.jpg", consilium_tests::test_data("lesion.jpg"))
            .await;
    assert_eq!(s, 201);
    let path = format!("/api/v1/images/{}/findings", image["id"].as_str().unwrap());
    let (s, started) =
        c.app.send_json(Method::POST, &path, Some(&c.doctor.token), &json!({"model": "sklesion"})).await;
    assert_eq!(s, 202, "{started}");
    let id = started["id"].as_str().unwrap().to_string();
    let done = crate::diagnosis::finished(&mut doctor, &id).await;
    assert_eq!(done["status"], "ready");
    let (app, d, p) = (&c.app, c.doctor.token.as_str(), c.patient.token.as_str());
    let me = &c.patient.user.id;
    let mut seen = Vec::new();

    // Awaiting sign-off: preliminary for the clinician, absent for the patient.
    let (s, _, report) = fhir(app, &format!("/DiagnosticReport/{id}"), Some(d)).await;
    assert_eq!(s, 200, "{report}");
    assert_eq!(report["status"], "preliminary");
    assert_eq!(report["subject"]["reference"], format!("Patient/{me}"));
    assert_eq!(report["result"].as_array().unwrap().len(), 7);
    assert_eq!(report["encounter"]["reference"], format!("Encounter/{}", c.room));
    seen.push(report);
    for path in
        [format!("/DiagnosticReport/{id}"), format!("/Observation/{id}-0"), format!("/Provenance/{id}")]
    {
        assert_eq!(fhir(app, &path, Some(p)).await.0, 404, "{path}");
    }
    let (_, _, b) = fhir(app, &format!("/DiagnosticReport?patient={me}"), Some(p)).await;
    assert_eq!(b["total"], 0, "a patient never reads a preliminary finding: {b}");

    // Signed off: final, with the clinician as verifier.
    let decide = format!("/api/v1/findings/{id}/decision");
    let (s, _) = app.send_json(Method::POST, &decide, Some(d), &json!({"decision": "accept"})).await;
    assert_eq!(s, 200);
    let everything = format!(
        "/DiagnosticReport?patient=Patient/{me}&_include=DiagnosticReport:result&_include=DiagnosticReport:media\
         &_include=Observation:device&_revinclude=Provenance:target"
    );
    for token in [d, p] {
        let (s, _, b) = fhir(app, &everything, Some(token)).await;
        assert_eq!(s, 200, "{b}");
        assert_eq!(b["total"], 1);
        let of = |kind: &str| -> Vec<Value> {
            b["entry"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["resource"]["resourceType"] == kind)
                .map(|e| e["resource"].clone())
                .collect()
        };
        let report = &of("DiagnosticReport")[0];
        assert_eq!(report["status"], "final");
        assert!(report["conclusion"].as_str().unwrap().contains("accepted by"), "{report}");
        let observations = of("Observation");
        assert_eq!(observations.len(), 7);
        let sum: f64 = observations.iter().map(|o| o["valueQuantity"]["value"].as_f64().unwrap()).sum();
        assert!((sum - 1.0).abs() < 1e-3, "probabilities sum to one: {sum}");
        assert!(observations.iter().all(|o| o["status"] == "final"));
        let media = &of("Media")[0];
        assert_eq!(media["id"], image["id"]);
        assert!(media["identifier"][0]["value"].as_str().unwrap().starts_with("ni:///sha-256;"));
        let device = &of("Device")[0];
        assert_eq!(device["deviceName"][0]["name"], "sklesion");
        assert_eq!(device["version"][0]["value"], done["model_version"]);
        let provenance = &of("Provenance")[0];
        let agents: Vec<&str> = provenance["agent"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["who"]["reference"].as_str().unwrap())
            .collect();
        assert_eq!(
            agents,
            [
                format!("Device/{}", device["id"].as_str().unwrap()),
                format!("Practitioner/{}", c.doctor.user.id)
            ]
        );
        assert_eq!(provenance["agent"][1]["type"]["coding"][0]["code"], "verifier");
        assert!(
            provenance["entity"][0]["what"]["display"]
                .as_str()
                .unwrap()
                .contains(image["sha256"].as_str().unwrap())
        );
        seen.push(b.clone());
    }
    // Each part reads on its own; the Provenance search brings its targets along.
    let (_, _, report) = fhir(app, &format!("/DiagnosticReport/{id}"), Some(d)).await;
    let device_ref = report["result"][0]["reference"].as_str().unwrap().to_string();
    for path in [
        format!("/{device_ref}"),
        format!("/Media/{}", image["id"].as_str().unwrap()),
        format!("/Provenance/{id}"),
    ] {
        let (s, _, r) = fhir(app, &path, Some(d)).await;
        assert_eq!(s, 200, "{path}: {r}");
        seen.push(r);
    }
    let (_, _, obs) = fhir(app, &format!("/{device_ref}"), Some(d)).await;
    let (s, _, device) =
        fhir(app, &format!("/{}", obs["device"]["reference"].as_str().unwrap()), Some(d)).await;
    assert_eq!(s, 200);
    seen.push(device);
    let (s, _, b) =
        fhir(app, &format!("/Provenance?target=DiagnosticReport/{id}&_include=Provenance:target"), Some(d))
            .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["total"], 1);
    assert!(
        b["entry"].as_array().unwrap().iter().any(|e| e["resource"]["resourceType"] == "DiagnosticReport")
    );
    seen.push(b);
    let (s, _, o) = fhir(app, "/DiagnosticReport?_include=Patient:link", Some(d)).await;
    assert_eq!((s, o["issue"][0]["code"].as_str()), (400, Some("value")));
    let (_, _, b) = fhir(app, "/DiagnosticReport?status=preliminary", Some(d)).await;
    assert_eq!(b["total"], 0);
    validate_r4(&seen);
}

/// A consultation that was held is an Encounter: open while the call runs, finished with its
/// period once everyone has left, with the clinician as participant and the patient as subject.
#[tokio::test]
async fn a_held_consultation_is_an_encounter() {
    let c = crate::rooms::consult().await;
    let (app, d, p) = (&c.app, c.doctor.token.as_str(), c.patient.token.as_str());
    let me = &c.patient.user.id;
    let (_, _, b) = fhir(app, &format!("/Encounter?patient={me}"), Some(d)).await;
    assert_eq!(b["total"], 0, "not held yet: {b}");

    let (doctor, patient) = crate::imaging::in_call(&c).await;
    let (s, _, e) = fhir(app, &format!("/Encounter/{}", c.room), Some(d)).await;
    assert_eq!(s, 200, "{e}");
    assert_eq!(e["status"], "in-progress");
    assert_eq!(e["class"]["code"], "VR");
    assert!(e["period"]["start"].is_string() && e["period"]["end"].is_null(), "{e}");
    let mut seen = vec![e];

    drop(patient);
    drop(doctor);
    let mut finished = Value::Null;
    for _ in 0..100 {
        let (_, _, e) = fhir(app, &format!("/Encounter?patient=Patient/{me}&status=finished"), Some(p)).await;
        if e["total"] == 1 {
            finished = e;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let e = &finished["entry"][0]["resource"];
    assert_eq!(e["status"], "finished", "{finished}");
    assert!(e["period"]["end"].as_str().unwrap() >= e["period"]["start"].as_str().unwrap());
    assert_eq!(e["subject"]["reference"], format!("Patient/{me}"));
    let individuals: Vec<&str> = e["participant"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["individual"]["reference"].as_str().unwrap())
        .collect();
    assert_eq!(individuals, [format!("Practitioner/{}", c.doctor.user.id)]);
    assert!(e["appointment"][0]["reference"].as_str().unwrap().starts_with("Appointment/"));
    seen.push(finished.clone());

    // Another doctor does not see it; bad statuses are refused.
    let stranger = app.create_user(Role::Doctor).await;
    assert_eq!(fhir(app, &format!("/Encounter/{}", c.room), Some(&stranger.token)).await.0, 404);
    let (s, _, o) = fhir(app, "/Encounter?status=asleep", Some(d)).await;
    assert_eq!(s, 400);
    seen.push(o);
    validate_r4(&seen);
}

/// A signed note is a Composition, SOAP sections coded, attested by its signer; its addendum a
/// Composition that appends it. Drafts are not served; the patient reads no S or O.
#[tokio::test]
async fn a_signed_note_is_a_composition_and_its_addenda_append_it() {
    let c = clinic().await;
    let (app, d, p) = (&c.app, c.doctor.token.as_str(), c.patient.token.as_str());
    let me = &c.patient.user.id;
    let note = format!("/api/v1/appointments/{}/note", c.appointment);
    let body = json!({"version": 0, "subjective": "Itchy rash since Monday", "objective": "Erythema <2 cm> & scaling",
                      "assessment": "Contact dermatitis", "plan": "Avoid nickel", "instructions": "Emollient twice daily",
                      "diagnoses": [{"text": "Contact dermatitis", "system": "icd10", "code": "L25.9"}]});
    let (s, saved) = app.send_json(Method::PUT, &note, Some(d), &body).await;
    assert_eq!(s, 200, "{saved}");
    let (_, _, b) = fhir(app, &format!("/Composition?patient={me}"), Some(d)).await;
    assert_eq!(b["total"], 0, "a draft is not served: {b}");
    assert_eq!(
        app.send_json(Method::POST, &format!("{note}/sign"), Some(d), &json!({"version": 1})).await.0,
        200
    );
    let (s, _) = app
        .send_json(
            Method::POST,
            &format!("{note}/addenda"),
            Some(d),
            &json!({"text": "Patch test positive for nickel."}),
        )
        .await;
    assert_eq!(s, 201);

    let (s, _, b) = fhir(app, &format!("/Composition?patient=Patient/{me}"), Some(d)).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["total"], 1);
    let entries = b["entry"].as_array().unwrap();
    let (n, a) = (&entries[0]["resource"], &entries[1]["resource"]);
    assert_eq!(entries[1]["search"]["mode"], "include");
    let titles: Vec<&str> =
        n["section"].as_array().unwrap().iter().map(|s| s["title"].as_str().unwrap()).collect();
    assert_eq!(
        titles,
        ["Subjective", "Objective", "Assessment", "Diagnoses", "Plan", "Patient instructions"]
    );
    assert_eq!(n["section"][1]["code"]["coding"][0]["code"], "61149-1");
    assert!(
        n["section"][1]["text"]["div"].as_str().unwrap().contains("Erythema &lt;2 cm&gt; &amp; scaling"),
        "{n}"
    );
    assert!(n["section"][3]["text"]["div"].as_str().unwrap().contains("L25.9"));
    assert_eq!(n["attester"][0]["party"]["reference"], format!("Practitioner/{}", c.doctor.user.id));
    assert!(n["identifier"]["value"].as_str().unwrap().starts_with("ni:///sha-256;"));
    assert_eq!(a["relatesTo"][0]["code"], "appends");
    assert_eq!(
        a["relatesTo"][0]["targetReference"]["reference"],
        format!("Composition/{}", n["id"].as_str().unwrap())
    );
    let mut seen = vec![b.clone()];

    // The patient: no subjective or objective section; another doctor: nothing.
    let (s, _, own) = fhir(app, &format!("/Composition/{}", n["id"].as_str().unwrap()), Some(p)).await;
    assert_eq!(s, 200);
    let titles: Vec<&str> =
        own["section"].as_array().unwrap().iter().map(|s| s["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["Assessment", "Diagnoses", "Plan", "Patient instructions"]);
    assert!(!own.to_string().contains("Itchy"));
    assert_eq!(
        fhir(app, &format!("/Composition/{}", n["id"].as_str().unwrap()), Some(&c.other_doctor.token))
            .await
            .0,
        404
    );
    let (s, _, addendum) = fhir(app, &format!("/Composition/{}", a["id"].as_str().unwrap()), Some(d)).await;
    assert_eq!(s, 200, "{addendum}");
    seen.extend([own, addendum]);
    validate_r4(&seen);
}

/// A case review's signed recommendation is a CarePlan (as the MII tumour board module models
/// a board's decision), linked to the review's call as an Encounter and to who attended.
#[tokio::test]
async fn a_signed_case_outcome_is_a_care_plan_linked_to_the_review_call() {
    let b = crate::outcomes::board().await;
    let (_, r) = b.app.get_json(&format!("/api/v1/reviews/{}", b.review), Some(&b.coordinator.token)).await;
    let room = r["room_id"].as_str().unwrap().to_string();
    let mut coordinator = crate::rooms::connect(&b.app, &room, &b.coordinator.token).await.unwrap();
    crate::rooms::until(&mut coordinator, "welcome").await;
    let mut expert = crate::rooms::connect(&b.app, &room, &b.expert.token).await.unwrap();
    crate::rooms::until(&mut expert, "welcome").await;
    assert_eq!(b.save(&b.coordinator.token, b.outcome(0)).await.0, 200);
    let (s, signed) = b.sign(&b.coordinator.token, 1).await;
    assert_eq!(s, 200, "{signed}");
    let (app, c) = (&b.app, b.coordinator.token.as_str());
    let me = &b.patient.user.id;

    let (s, _, bundle) = fhir(app, &format!("/CarePlan?patient=Patient/{me}"), Some(c)).await;
    assert_eq!(s, 200, "{bundle}");
    assert_eq!(bundle["total"], 1);
    let plan = &bundle["entry"][0]["resource"];
    assert_eq!(plan["intent"], "plan");
    assert_eq!(plan["activity"][0]["detail"]["kind"], "MedicationRequest");
    assert_eq!(
        plan["activity"][0]["detail"]["performer"][0]["reference"],
        format!("Practitioner/{}", b.coordinator.user.id)
    );
    assert_eq!(plan["author"]["reference"], format!("Practitioner/{}", b.coordinator.user.id));
    assert_eq!(plan["encounter"]["reference"], format!("Encounter/{room}"));
    let contributors: Vec<&str> =
        plan["contributor"].as_array().unwrap().iter().map(|c| c["reference"].as_str().unwrap()).collect();
    assert!(contributors.contains(&format!("Practitioner/{}", b.expert.user.id).as_str()), "{plan}");
    assert!(plan["note"].to_string().contains("neoadjuvant"));
    let mut seen = vec![bundle.clone()];

    let (s, _, call) = fhir(app, &format!("/Encounter/{room}"), Some(c)).await;
    assert_eq!(s, 200, "{call}");
    assert!(call["subject"].is_null());
    assert_eq!(call["participant"].as_array().unwrap().len(), 2);
    seen.push(call);
    // The expert who declined, and the patient, do not read the call; the patient reads the
    // plan without the panel's discussion.
    assert_eq!(fhir(app, &format!("/Encounter/{room}"), Some(&b.declined.token)).await.0, 404);
    assert_eq!(fhir(app, &format!("/Encounter/{room}"), Some(&b.patient.token)).await.0, 404);
    let (s, _, own) =
        fhir(app, &format!("/CarePlan/{}", plan["id"].as_str().unwrap()), Some(&b.patient.token)).await;
    assert_eq!(s, 200);
    assert!(!own.to_string().contains("neoadjuvant treatment"), "{own}");
    seen.push(own);
    validate_r4(&seen);
}

/// The patient's record page offers their record as a FHIR collection another clinic imports:
/// everything released to them, nothing of another patient, valid R4.
#[tokio::test]
async fn a_patient_downloads_their_record_as_a_fhir_collection() {
    let c = clinic().await;
    let app = &c.app;
    let note = format!("/api/v1/appointments/{}/note", c.appointment);
    let body = json!({"version": 0, "subjective": "Private working note", "assessment": "Eczema", "plan": "Emollient"});
    assert_eq!(app.send_json(Method::PUT, &note, Some(&c.doctor.token), &body).await.0, 200);
    assert_eq!(
        app.send_json(Method::POST, &format!("{note}/sign"), Some(&c.doctor.token), &json!({"version": 1}))
            .await
            .0,
        200
    );

    let session = app.browser_login(&c.patient.user.email, &c.patient.password).await;
    assert!(app.page_as("/record", &session).await.contains("/record/fhir"));
    let r = app
        .request(Method::GET, "/record/fhir", None)
        .header("cookie", format!("consilium_session={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
    let bundle: Value = r.json().await.unwrap();
    assert_eq!(bundle["type"], "collection");
    let kinds: HashSet<&str> = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"]["resourceType"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, HashSet::from(["Patient", "Appointment", "Composition"]));
    let text = bundle.to_string();
    assert!(!text.contains(&c.other_patient.user.id) && !text.contains("Private working note"));
    // The same through the API; not for someone else's record, nor for a doctor on the page.
    let path = format!("/Patient/{}/$export", c.patient.user.id);
    assert_eq!(fhir(app, &path, Some(&c.patient.token)).await.0, 200);
    assert_eq!(
        fhir(app, &format!("/Patient/{}/$export", c.other_patient.user.id), Some(&c.patient.token)).await.0,
        404
    );
    let r = app.request(Method::GET, "/record/fhir", Some(&c.doctor.token)).send().await.unwrap();
    assert_eq!(r.status(), 403);
    validate_r4(&[bundle]);
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

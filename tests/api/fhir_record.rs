//! FHIR R4 over the record: what a consultation leaves (its Encounter, the signed note as a
//! Composition, a case review's recommendation as a CarePlan, an AI finding as a DiagnosticReport
//! with its provenance) and the patient's own download, each valid R4 and read by the right
//! tokens only.

use std::collections::HashSet;

use consilium::accounts::model::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::fhir::{clinic, fhir, validate_r4};

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

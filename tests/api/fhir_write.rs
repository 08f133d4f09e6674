//! What an EHR writes on `/fhir/r4`: its patients and practitioners, by identifier, twice
//! without duplicates, at once from many connections, in transaction Bundles that land whole
//! or not at all, with versions that refuse a stale update, and bad input refused whole.

use consilium::accounts::model::Role;
use consilium_tests::{TestApp, spawn_app};
use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};

use crate::fhir::validate_r4;

const MRN: &str = "http://hospital.example/mrn";

fn patient(i: usize) -> Value {
    json!({
        "resourceType": "Patient",
        "identifier": [{"system": MRN, "value": format!("H{i:04}")}],
        "name": [{"use": "official", "family": "Doe", "given": [format!("Jane{i}")]}],
        "telecom": [{"system": "email", "value": format!("pushed{i}@example.org")}, {"system": "phone", "value": "+41 44 123 45 67"}],
        "gender": "female",
        "birthDate": "1970-01-31",
        "address": [{"city": "Zürich"}],
        "communication": [{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "de"}]}, "preferred": true}]
    })
}

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: &Value,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut rb = app
        .request(method, &format!("/fhir/r4{path}"), token)
        .header("content-type", "application/fhir+json")
        .body(serde_json::to_vec(body).unwrap());
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let h = r.headers().clone();
    (status, h, r.json().await.unwrap_or(Value::Null))
}

async fn patients(app: &TestApp, token: &str) -> u64 {
    let (_, b) = app.get_json("/fhir/r4/Patient?_count=0", Some(token)).await;
    b["total"].as_u64().unwrap()
}

#[tokio::test]
async fn an_ehr_pushes_its_patients_twice_and_has_them_once() {
    let app = spawn_app().await;
    let admin = app.create_user(Role::Admin).await;
    let t = admin.token.as_str();
    let put = |i: usize| {
        let (app, body) = (&app, patient(i));
        async move {
            send(app, Method::PUT, &format!("/Patient?identifier={MRN}|H{i:04}"), Some(t), &body, &[]).await
        }
    };
    // 50 at once, twice: created, then found and updated.
    for expected in [201, 200] {
        let answers = join_all((0..50).map(put)).await;
        let statuses: Vec<u16> = answers.iter().map(|a| a.0).collect();
        assert!(
            statuses.iter().all(|s| *s == expected),
            "{statuses:?} {:?}",
            answers.iter().find(|a| a.0 != expected).map(|a| &a.2)
        );
    }
    assert_eq!(patients(&app, t).await, 50);
    let (_, found) = app.get_json(&format!("/fhir/r4/Patient?identifier={MRN}|H0007"), Some(t)).await;
    assert_eq!(found["total"], 1, "{found}");
    let p = &found["entry"][0]["resource"];
    assert_eq!(p["name"][0]["text"], "Jane7 Doe");
    assert_eq!(p["gender"], "female");
    assert!(p["identifier"].as_array().unwrap().iter().any(|i| i["system"] == MRN && i["value"] == "H0007"));
    assert_eq!(p["communication"][0]["language"]["coding"][0]["code"], "de");

    // 20 conditional creates of one new person at once: one person.
    let body = patient(900);
    let answers = join_all((0..20).map(|_| {
        send(
            &app,
            Method::POST,
            "/Patient",
            Some(t),
            &body,
            &[("if-none-exist", "identifier=http://hospital.example/mrn|H0900")],
        )
    }))
    .await;
    assert!(
        answers.iter().all(|a| a.0 == 201 || a.0 == 200),
        "{:?}",
        answers.iter().map(|a| (a.0, &a.2)).collect::<Vec<_>>()
    );
    assert_eq!(answers.iter().filter(|a| a.0 == 201).count(), 1);
    let ids: std::collections::HashSet<&str> = answers.iter().map(|a| a.2["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(patients(&app, t).await, 51);

    // Versions: a stale If-Match is refused, the current one taken.
    let id = ids.into_iter().next().unwrap().to_string();
    let r = app.request(Method::GET, &format!("/fhir/r4/Patient/{id}"), Some(t)).send().await.unwrap();
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    let read: Value = r.json().await.unwrap();
    assert_eq!(etag, format!("W/\"{}\"", read["meta"]["versionId"].as_str().unwrap()));
    let mut changed = patient(900);
    changed["id"] = json!(id);
    changed["gender"] = json!("other");
    let (s, h, after) =
        send(&app, Method::PUT, &format!("/Patient/{id}"), Some(t), &changed, &[("if-match", &etag)]).await;
    assert_eq!(s, 200, "{after}");
    assert_eq!(after["gender"], "other");
    assert_ne!(h["etag"].to_str().unwrap(), etag);
    let (s, _, o) =
        send(&app, Method::PUT, &format!("/Patient/{id}"), Some(t), &changed, &[("if-match", &etag)]).await;
    assert_eq!((s, o["issue"][0]["code"].as_str()), (412, Some("conflict")));

    // A pushed patient has no password yet: signing in fails as for a wrong one.
    let (s, _) = app
        .send_json(
            Method::POST,
            "/api/v1/auth/token",
            None,
            &json!({"email": "pushed3@example.org", "password": "!no-password (created through FHIR)"}),
        )
        .await;
    assert_eq!(s, 401);
    for (action, n) in [("fhir.create", 51), ("fhir.update", 51)] {
        let q = consilium::records::audit::AuditQuery {
            action: Some(action.into()),
            limit: Some(500),
            ..Default::default()
        };
        let rows = consilium::records::audit::search(&app.state.db, &q).await.unwrap();
        assert_eq!(rows.len(), n, "{action}");
        assert!(rows.iter().all(|r| r.actor_id.as_deref() == Some(admin.user.id.as_str())));
    }
    validate_r4(&[read, after, o]);
}

#[tokio::test]
async fn practitioners_are_pushed_the_same_way() {
    let app = spawn_app().await;
    let admin = app.create_user(Role::Admin).await;
    let t = admin.token.as_str();
    let body = json!({
        "resourceType": "Practitioner",
        "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567893"}],
        "name": [{"family": "Osei", "given": ["Kwame"], "prefix": ["Dr."]}],
        "telecom": [{"system": "email", "value": "k.osei@hospital.example"}],
        "qualification": [{"code": {"text": "Dermatology"}}]
    });
    let cond = [("if-none-exist", "identifier=http://hl7.org/fhir/sid/us-npi|1234567893")];
    let (s, h, first) = send(&app, Method::POST, "/Practitioner", Some(t), &body, &cond).await;
    assert_eq!(s, 201, "{first}");
    assert!(
        h["location"]
            .to_str()
            .unwrap()
            .ends_with(&format!("/fhir/r4/Practitioner/{}", first["id"].as_str().unwrap()))
    );
    let (s, _, again) = send(&app, Method::POST, "/Practitioner", Some(t), &body, &cond).await;
    assert_eq!((s, &again["id"]), (200, &first["id"]));
    let (_, role) =
        app.get_json(&format!("/fhir/r4/PractitionerRole/{}", first["id"].as_str().unwrap()), Some(t)).await;
    assert_eq!(role["specialty"][0]["text"], "Dermatology");
    let (_, found) = app.get_json("/fhir/r4/Practitioner?identifier=1234567893", Some(t)).await;
    assert_eq!(found["total"], 1);
    // The new doctor can be booked: they have a schedule of their own.
    let (s, _) =
        app.get_json(&format!("/api/v1/doctors/{}/slots", first["id"].as_str().unwrap()), Some(t)).await;
    assert_eq!(s, 200);
    validate_r4(&[first, role, found]);
}

#[tokio::test]
async fn a_transaction_lands_whole_or_not_at_all() {
    let app = spawn_app().await;
    let admin = app.create_user(Role::Admin).await;
    let t = admin.token.as_str();
    let entry = |i: usize| json!({"resource": patient(i), "request": {"method": "PUT", "url": format!("Patient?identifier={MRN}|H{i:04}")}});
    let bundle =
        |entries: Vec<Value>| json!({"resourceType": "Bundle", "type": "transaction", "entry": entries});
    let (s, _, out) = send(&app, Method::POST, "", Some(t), &bundle((0..3).map(entry).collect()), &[]).await;
    assert_eq!(s, 200, "{out}");
    assert_eq!(out["type"], "transaction-response");
    let statuses: Vec<&str> =
        out["entry"].as_array().unwrap().iter().map(|e| e["response"]["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["201 Created"; 3]);
    assert_eq!(patients(&app, t).await, 3);

    // The third entry is not R4: nothing of the first two (new) lands.
    let mut bad = patient(12);
    bad["colour"] = json!("red");
    let entries =
        vec![entry(10), entry(11), json!({"resource": bad, "request": {"method": "POST", "url": "Patient"}})];
    let (s, _, o) = send(&app, Method::POST, "", Some(t), &bundle(entries), &[]).await;
    assert_eq!(s, 400, "{o}");
    assert_eq!(o["issue"][0]["expression"][0], "Bundle.entry[2]");
    let said = o["issue"][0]["diagnostics"].as_str().unwrap();
    assert!(said.contains("unknown field `colour`") && !said.contains("expected one of"), "{o}");
    assert_eq!(patients(&app, t).await, 3);

    // Too many entries, a batch, a read inside: refused whole.
    let (s, _, _) = send(&app, Method::POST, "", Some(t), &bundle((0..501).map(entry).collect()), &[]).await;
    assert_eq!(s, 413);
    let (s, _, _) = send(
        &app,
        Method::POST,
        "",
        Some(t),
        &json!({"resourceType": "Bundle", "type": "batch", "entry": []}),
        &[],
    )
    .await;
    assert_eq!(s, 422);
    let read = json!({"resource": patient(1), "request": {"method": "GET", "url": "Patient/x"}});
    let (s, _, o2) = send(&app, Method::POST, "", Some(t), &bundle(vec![read]), &[]).await;
    assert_eq!(s, 400);
    assert_eq!(patients(&app, t).await, 3);
    validate_r4(&[out, o, o2]);
}

#[tokio::test]
async fn bad_writes_are_refused_whole_with_an_operation_outcome() {
    let app = spawn_app().await;
    let admin = app.create_user(Role::Admin).await;
    let doctor = app.create_user(Role::Doctor).await;
    let patient_user = app.create_user(Role::Patient).await;
    let t = admin.token.as_str();
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut p = patient(1);
        edit(&mut p);
        p
    };
    let cases: Vec<(&str, Value, u16, &str)> = vec![
        ("wrong type", json!({"resourceType": "Observation", "status": "final"}), 400, "structure"),
        ("unknown element", with(&|p| p["colour"] = json!("red")), 400, "structure"),
        ("unknown element inside", with(&|p| p["name"][0]["nickname"] = json!("JJ")), 400, "structure"),
        ("no e-mail", with(&|p| p["telecom"] = json!([])), 422, "invalid"),
        ("bad e-mail", with(&|p| p["telecom"][0]["value"] = json!("not-an-address")), 422, "invalid"),
        ("no name", with(&|p| p["name"] = json!([])), 422, "invalid"),
        ("overlong name", with(&|p| p["name"][0]["family"] = json!("x".repeat(5000))), 422, "invalid"),
        ("NUL in the name", with(&|p| p["name"][0]["family"] = json!("Do\u{0}e")), 422, "processing"),
        ("robot gender", with(&|p| p["gender"] = json!("robot")), 422, "invalid"),
        ("born in 1850", with(&|p| p["birthDate"] = json!("1850-01-01")), 422, "processing"),
        ("born tomorrow", with(&|p| p["birthDate"] = json!("2199-12-31")), 422, "processing"),
        (
            "modifier extension",
            with(&|p| p["modifierExtension"] = json!([{"url": "http://x.example/m", "valueBoolean": true}])),
            422,
            "not-supported",
        ),
        ("identifier without system", with(&|p| p["identifier"] = json!([{"value": "H1"}])), 422, "invalid"),
    ];
    for (what, body, status, code) in &cases {
        let (s, h, o) = send(&app, Method::POST, "/Patient", Some(t), body, &[]).await;
        assert_eq!(s, *status, "{what}: {o}");
        assert!(h["content-type"].to_str().unwrap().starts_with("application/fhir+json"), "{what}");
        assert_eq!(o["issue"][0]["code"], *code, "{what}: {o}");
    }
    // Not JSON, not JSON's media type, not an admin, no id to update, a read-only type.
    let r = app
        .request(Method::POST, "/fhir/r4/Patient", Some(t))
        .header("content-type", "application/fhir+json")
        .body("{not json");
    assert_eq!(r.send().await.unwrap().status(), 400);
    let r = app
        .request(Method::POST, "/fhir/r4/Patient", Some(t))
        .header("content-type", "text/plain")
        .body("{}");
    assert_eq!(r.send().await.unwrap().status(), 415);
    for (token, status) in
        [(Some(doctor.token.as_str()), 403), (Some(patient_user.token.as_str()), 403), (None, 401)]
    {
        let (s, _, o) = send(&app, Method::POST, "/Patient", token, &patient(1), &[]).await;
        assert_eq!((s, o["resourceType"].as_str()), (status, Some("OperationOutcome")));
    }
    assert_eq!(send(&app, Method::PUT, "/Patient/no-such-id", Some(t), &patient(1), &[]).await.0, 404);
    assert_eq!(send(&app, Method::PUT, "/Patient", Some(t), &patient(1), &[]).await.0, 400);
    assert_eq!(send(&app, Method::PUT, "/Patient?name=Jane", Some(t), &patient(1), &[]).await.0, 400);
    assert_eq!(
        send(&app, Method::POST, "/Appointment", Some(t), &json!({"resourceType": "Appointment"}), &[])
            .await
            .0,
        405
    );
    // Nothing of it was kept: the one patient is the test's own.
    assert_eq!(patients(&app, t).await, 1);
    // Two people cannot share an identifier or an e-mail address.
    assert_eq!(send(&app, Method::POST, "/Patient", Some(t), &patient(1), &[]).await.0, 201);
    let mut twin = patient(2);
    twin["identifier"] = patient(1)["identifier"].clone();
    assert_eq!(send(&app, Method::POST, "/Patient", Some(t), &twin, &[]).await.0, 409);
    let mut same_mail = patient(3);
    same_mail["telecom"] = patient(1)["telecom"].clone();
    assert_eq!(send(&app, Method::POST, "/Patient", Some(t), &same_mail, &[]).await.0, 409);
    assert_eq!(patients(&app, t).await, 2);
}

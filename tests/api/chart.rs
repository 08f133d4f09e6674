//! The patient's chart: who may open it (care relationship, admins, emergency access with a
//! reason), what it gathers, filters, bad input, and many readers at once.

use consilium::accounts::model::Role;
use consilium_tests::{TestApp, TestUser, spawn_app};
use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};

struct Clinic {
    app: TestApp,
    admin: TestUser,
    doctor: TestUser,
    patient: TestUser,
    appointment: String,
}

async fn clinic() -> Clinic {
    let app = spawn_app().await;
    let admin = app.create_user(Role::Admin).await;
    let doctor = app.create_user(Role::Doctor).await;
    let patient = app.create_user(Role::Patient).await;
    let appointment =
        crate::scheduling::book_next_slot(&app, &admin.token, &doctor.user.id, &patient.user.id).await;
    Clinic { app, admin, doctor, patient, appointment }
}

impl Clinic {
    async fn chart(&self, token: &str, query: &str) -> (u16, Value) {
        self.app
            .get_json(&format!("/api/v1/patients/{}/chart{query}", self.patient.user.id), Some(token))
            .await
    }
    async fn emergency(&self, token: &str, reason: &str) -> (u16, Value) {
        let path = format!("/api/v1/patients/{}/emergency-access", self.patient.user.id);
        self.app.send_json(Method::POST, &path, Some(token), &json!({"reason": reason})).await
    }
    async fn signed_note(&self) {
        let path = format!("/api/v1/appointments/{}/note", self.appointment);
        let body =
            json!({"version": 0, "assessment": "Contact dermatitis", "plan": "Avoid nickel; emollient."});
        assert_eq!(self.app.send_json(Method::PUT, &path, Some(&self.doctor.token), &body).await.0, 200);
        let (s, _) = self
            .app
            .send_json(
                Method::POST,
                &format!("{path}/sign"),
                Some(&self.doctor.token),
                &json!({"version": 1}),
            )
            .await;
        assert_eq!(s, 200);
        let (s, _) = self
            .app
            .send_json(
                Method::POST,
                &format!("{path}/addenda"),
                Some(&self.doctor.token),
                &json!({"text": "Patch test positive for nickel."}),
            )
            .await;
        assert_eq!(s, 201);
    }
}

fn kinds(chart: &Value) -> Vec<String> {
    chart["entries"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn the_treating_doctor_and_admins_open_the_chart_and_nobody_else() {
    let c = clinic().await;
    c.signed_note().await;
    let (s, chart) = c.chart(&c.doctor.token, "").await;
    assert_eq!(s, 200, "{chart}");
    assert_eq!(chart["basis"], "care");
    assert_eq!(chart["patient"]["id"], c.patient.user.id.as_str());
    let mut k = kinds(&chart);
    k.sort();
    assert_eq!(k, ["addendum", "appointment", "note"], "{chart}");
    let note = chart["entries"].as_array().unwrap().iter().find(|e| e["kind"] == "note").unwrap();
    assert_eq!(
        (note["title"].as_str(), note["link"].as_str()),
        (Some("Contact dermatitis"), Some(format!("/appointments/{}", c.appointment).as_str()))
    );
    assert_eq!(c.chart(&c.admin.token, "").await.1["basis"], "admin");

    let stranger = c.app.create_user(Role::Doctor).await;
    let other_patient = c.app.create_user(Role::Patient).await;
    for (who, token) in [
        ("a stranger doctor", &stranger.token),
        ("the patient", &c.patient.token),
        ("another patient", &other_patient.token),
    ] {
        assert_eq!(c.chart(token, "").await.0, 404, "{who}");
    }
    // Ids reveal nothing: no such patient, or a doctor's id, is the same 404, even for admins.
    for id in ["no-such-patient".to_string(), c.doctor.user.id.clone()] {
        let (s, _) = c.app.get_json(&format!("/api/v1/patients/{id}/chart"), Some(&c.admin.token)).await;
        assert_eq!(s, 404);
    }
    let reads = c.app.audit_actions().await.iter().filter(|r| r["action"] == "chart.read").count();
    assert_eq!(reads, 2, "every opening is audited, refusals are not readings");
}

#[tokio::test]
async fn another_doctor_opens_it_only_by_emergency_access_which_the_admin_report_shows() {
    let c = clinic().await;
    let stranger = c.app.create_user(Role::Doctor).await;
    for (reason, status) in [("", 422), ("because", 422), (&"x".repeat(501)[..], 422)] {
        let (s, e) = c.emergency(&stranger.token, reason).await;
        assert_eq!((s, e["error"]["field"].as_str()), (status, Some("reason")), "{reason:?}: {e}");
    }
    assert_eq!(c.emergency(&c.patient.token, "I want to see my chart").await.0, 403);
    assert_eq!(c.emergency(&c.admin.token, "admins do not need this").await.0, 403);
    assert_eq!(c.emergency(&c.doctor.token, "already treating this patient").await.0, 409);
    let path = "/api/v1/patients/no-such-patient/emergency-access";
    let (s, _) = c
        .app
        .send_json(Method::POST, path, Some(&stranger.token), &json!({"reason": "unconscious, no records"}))
        .await;
    assert_eq!(s, 404);
    assert_eq!(c.chart(&stranger.token, "").await.0, 404, "nothing granted by refusals");

    let (s, g) = c.emergency(&stranger.token, "  Unconscious in the emergency room  ").await;
    assert_eq!(s, 201, "{g}");
    assert_eq!(g["reason"], "Unconscious in the emergency room");
    assert_eq!(g["expires_at"].as_i64().unwrap() - g["granted_at"].as_i64().unwrap(), 12 * 3_600_000);
    let (s, chart) = c.chart(&stranger.token, "").await;
    assert_eq!((s, chart["basis"].as_str()), (200, Some("emergency")));

    let (s, report) = c.app.get_json("/api/v1/emergency-access", Some(&c.admin.token)).await;
    assert_eq!(s, 200);
    assert_eq!(report[0]["user_name"], stranger.user.name.as_str());
    assert_eq!(report[0]["reason"], "Unconscious in the emergency room");
    assert_eq!(c.app.get_json("/api/v1/emergency-access", Some(&stranger.token)).await.0, 403);
    assert_eq!(c.app.get_json("/api/v1/emergency-access?days=0", Some(&c.admin.token)).await.0, 422);
    let audit = c.app.audit_actions().await;
    let has = |a: &str| audit.iter().any(|r| r["action"] == a && r["actor_id"] == stranger.user.id.as_str());
    assert!(has("chart.emergency_access") && has("chart.read_emergency"));
}

#[tokio::test]
async fn filters_by_kind_and_date_and_refuses_bad_ones() {
    let c = clinic().await;
    c.signed_note().await;
    let (_, notes) = c.chart(&c.doctor.token, "?kind=note,addendum").await;
    let mut k = kinds(&notes);
    k.sort();
    assert_eq!(k, ["addendum", "note"]);
    let (_, none) = c.chart(&c.doctor.token, "?from=2000-01-01&to=2000-12-31").await;
    assert!(none["entries"].as_array().unwrap().is_empty());
    for (query, field) in [
        ("?kind=note,x-ray", "kind"),
        ("?from=2031-13-01", "from"),
        ("?from=2031-02-01&to=2031-01-01", "to"),
        ("?to=1066-10-14", "to"),
    ] {
        let (s, e) = c.chart(&c.doctor.token, query).await;
        assert_eq!((s, e["error"]["field"].as_str()), (422, Some(field)), "{query}: {e}");
    }
}

#[tokio::test]
async fn a_review_expert_opens_the_chart_of_a_patient_on_the_agenda() {
    let c = clinic().await;
    let expert = c.app.create_user(Role::Doctor).await;
    assert_eq!(c.chart(&expert.token, "").await.0, 404);
    let (s, r) = c
        .app
        .send_json(
            Method::POST,
            "/api/v1/reviews",
            Some(&c.doctor.token),
            &json!({"title": "Board", "experts": [expert.user.id], "duration_minutes": 60, "from": "2031-01-01", "to": "2031-01-05"}),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    let path = format!("/api/v1/reviews/{}/cases", r["id"].as_str().unwrap());
    let (s, _) = c
        .app
        .send_json(
            Method::POST,
            &path,
            Some(&c.doctor.token),
            &json!({"patient_id": c.patient.user.id, "question": "q"}),
        )
        .await;
    assert_eq!(s, 201);
    assert_eq!(c.chart(&expert.token, "").await.1["basis"], "care");
}

#[tokio::test]
async fn many_readers_and_grants_at_once_get_no_5xx() {
    let c = clinic().await;
    c.signed_note().await;
    let reads = join_all((0..50).map(|_| c.chart(&c.doctor.token, ""))).await;
    assert!(
        reads.iter().all(|(s, _)| *s == 200 || *s == 503),
        "{:?}",
        reads.iter().map(|r| r.0).collect::<Vec<_>>()
    );
    let stranger = c.app.create_user(Role::Doctor).await;
    let reasons: Vec<String> = (0..20).map(|i| format!("emergency number {i:02}")).collect();
    let grants = join_all(reasons.iter().map(|r| c.emergency(&stranger.token, r))).await;
    assert!(
        grants.iter().all(|(s, _)| *s == 201 || *s == 503),
        "{:?}",
        grants.iter().map(|r| r.0).collect::<Vec<_>>()
    );
    assert!(grants.iter().any(|(s, _)| *s == 201));
}

#[tokio::test]
async fn images_shared_in_the_call_and_signed_review_outcomes_are_in_the_chart() {
    let c = clinic().await;
    let (_, a) =
        c.app.get_json(&format!("/api/v1/appointments/{}", c.appointment), Some(&c.doctor.token)).await;
    let room = a["room_id"].as_str().unwrap();
    let r = c
        .app
        .request(
            Method::POST,
            &format!("/api/v1/rooms/{room}/images?filename=forearm.jpg"),
            Some(&c.doctor.token),
        )
        .body(consilium_tests::test_data("photo.jpg"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // A review with the patient's case and a signed outcome.
    let (_, review) = c
        .app
        .send_json(
            Method::POST,
            "/api/v1/reviews",
            Some(&c.doctor.token),
            &json!({"title": "Skin board", "experts": [c.doctor.user.id], "duration_minutes": 60, "from": "2031-01-01", "to": "2031-01-05"}),
        )
        .await;
    let review_id = review["id"].as_str().unwrap();
    let (_, review) = c
        .app
        .send_json(
            Method::POST,
            &format!("/api/v1/reviews/{review_id}/cases"),
            Some(&c.doctor.token),
            &json!({"patient_id": c.patient.user.id, "question": "Biopsy?"}),
        )
        .await;
    let case = review["cases"][0]["id"].as_str().unwrap();
    let outcome = format!("/api/v1/reviews/{review_id}/cases/{case}/outcome");
    let body = json!({"version": 0, "recommendation": "further_investigation", "recommendation_text": "Punch biopsy."});
    assert_eq!(c.app.send_json(Method::PUT, &outcome, Some(&c.doctor.token), &body).await.0, 200);
    let (s, e) = c
        .app
        .send_json(Method::POST, &format!("{outcome}/sign"), Some(&c.doctor.token), &json!({"version": 1}))
        .await;
    assert_eq!(s, 200, "{e}");

    let (s, chart) = c.chart(&c.doctor.token, "").await;
    assert_eq!(s, 200, "{chart}");
    let entries = chart["entries"].as_array().unwrap();
    let image = entries.iter().find(|e| e["kind"] == "image").expect("the shared image");
    assert_eq!(
        (image["title"].as_str(), image["link"].as_str()),
        (Some("forearm.jpg"), Some(format!("/appointments/{}", c.appointment).as_str()))
    );
    let o = entries.iter().find(|e| e["kind"] == "outcome").expect("the signed outcome");
    assert_eq!(o["detail"], "Punch biopsy.");
    assert_eq!(o["link"], format!("/reviews/{review_id}"));
    // The page renders the same timeline.
    let jar = c.app.browser_login(&c.doctor.email, &c.doctor.password).await;
    let html = c
        .app
        .http
        .get(c.app.url(&format!("/patients/{}", c.patient.user.id)))
        .header("cookie", format!("consilium_session={jar}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("forearm.jpg") && html.contains("Punch biopsy."), "the chart page lists them");
}

#[tokio::test]
async fn a_patient_reads_and_downloads_their_own_record_with_released_parts_only() {
    let c = clinic().await;
    let path = format!("/api/v1/appointments/{}/note", c.appointment);
    let draft = json!({"version": 0, "subjective": "Private working note", "assessment": "Contact dermatitis", "plan": "Avoid nickel.", "instructions": "Wear cotton gloves."});
    assert_eq!(c.app.send_json(Method::PUT, &path, Some(&c.doctor.token), &draft).await.0, 200);
    let (s, mine) = c.app.get_json("/api/v1/me/record", Some(&c.patient.token)).await;
    assert_eq!(s, 200, "{mine}");
    assert!(mine["notes"].as_array().unwrap().is_empty(), "a draft is not released");
    assert!(!kinds(&mine).contains(&"note".to_string()));
    let (s, _) = c
        .app
        .send_json(Method::POST, &format!("{path}/sign"), Some(&c.doctor.token), &json!({"version": 1}))
        .await;
    assert_eq!(s, 200);
    let r = c.app.request(Method::GET, "/api/v1/me/record", Some(&c.patient.token)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
    let mine: Value = r.json().await.unwrap();
    let note = &mine["notes"][0];
    assert_eq!(note["instructions"], "Wear cotton gloves.");
    assert!(note.get("subjective").is_none() && !mine.to_string().contains("Private working note"), "{mine}");
    for token in [&c.doctor.token, &c.admin.token] {
        assert_eq!(c.app.get_json("/api/v1/me/record", Some(token)).await.0, 403);
    }
    let jar = c.app.browser_login(&c.patient.email, &c.patient.password).await;
    let html = c
        .app
        .http
        .get(c.app.url("/record"))
        .header("cookie", format!("consilium_session={jar}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Wear cotton gloves.") && !html.contains("Private working note"));
    let reads = c.app.audit_actions().await.iter().filter(|r| r["action"] == "record.read_own").count();
    assert_eq!(reads, 3);
}

#[tokio::test]
async fn the_patients_clinicians_keep_the_demographics_and_bad_ones_are_refused() {
    let c = clinic().await;
    let path = format!("/api/v1/patients/{}/demographics", c.patient.user.id);
    let good = json!({"birth_date": "1980-02-29", "sex": "female", "phone": "+49 (30) 123-4567", "record_number": "MRN-0042", "preferred_language": "de"});
    let (s, d) = c.app.send_json(Method::PUT, &path, Some(&c.doctor.token), &good).await;
    assert_eq!(s, 200, "{d}");
    let (_, chart) = c.chart(&c.admin.token, "").await;
    assert_eq!(chart["demographics"]["record_number"], "MRN-0042");
    assert_eq!(chart["demographics"]["sex"], "female");
    assert_eq!(
        c.app.send_json(Method::PUT, &path, Some(&c.admin.token), &json!({"record_number": "MRN-7"})).await.0,
        200
    );
    assert_eq!(
        c.chart(&c.doctor.token, "").await.1["demographics"]["phone"],
        Value::Null,
        "a PUT replaces all"
    );

    let stranger = c.app.create_user(Role::Doctor).await;
    assert_eq!(c.app.send_json(Method::PUT, &path, Some(&stranger.token), &good).await.0, 404);
    assert_eq!(c.app.send_json(Method::PUT, &path, Some(&c.patient.token), &good).await.0, 404);
    assert_eq!(c.emergency(&stranger.token, "unconscious, no history").await.0, 201);
    assert_eq!(
        c.app.send_json(Method::PUT, &path, Some(&stranger.token), &good).await.0,
        403,
        "emergency access reads only"
    );

    let tomorrow = jiff::Zoned::now().date().tomorrow().unwrap().to_string();
    for (body, field) in [
        (json!({"birth_date": tomorrow}), "birth_date"),
        (json!({"birth_date": "1899-12-31"}), "birth_date"),
        (json!({"birth_date": "29.02.1980"}), "birth_date"),
        (json!({"phone": "call me"}), "phone"),
        (json!({"phone": "12"}), "phone"),
        (json!({"record_number": "x".repeat(65)}), "record_number"),
        (json!({"preferred_language": "english!"}), "preferred_language"),
        (json!({"record_number": "MRN\u{0}1"}), "record_number"),
    ] {
        let (s, e) = c.app.send_json(Method::PUT, &path, Some(&c.doctor.token), &body).await;
        assert_eq!((s, e["error"]["field"].as_str()), (422, Some(field)), "{body}: {e}");
    }
    assert_eq!(c.app.send_json(Method::PUT, &path, Some(&c.doctor.token), &json!({"sex": "x"})).await.0, 422);
    assert_eq!(
        c.chart(&c.doctor.token, "").await.1["demographics"]["record_number"],
        "MRN-7",
        "nothing stored by refusals"
    );

    let answers =
        join_all((0..20).map(|_| c.app.send_json(Method::PUT, &path, Some(&c.doctor.token), &good))).await;
    assert!(
        answers.iter().all(|(s, _)| *s == 200 || *s == 503),
        "{:?}",
        answers.iter().map(|a| a.0).collect::<Vec<_>>()
    );
}

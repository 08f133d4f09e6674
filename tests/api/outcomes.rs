//! Case-review outcomes: drafted by the review's clinicians, signed by its coordinator only,
//! frozen after; the patient reads the signed recommendation without the discussion.

use consilium::accounts::model::Role;
use consilium_tests::{TestApp, TestUser, spawn_app};
use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};

pub(crate) struct Board {
    pub(crate) app: TestApp,
    pub(crate) admin: TestUser,
    pub(crate) coordinator: TestUser,
    pub(crate) expert: TestUser,
    pub(crate) declined: TestUser,
    pub(crate) patient: TestUser,
    pub(crate) review: String,
    pub(crate) case: String,
}

pub(crate) async fn board() -> Board {
    let app = spawn_app().await;
    let admin = app.create_user(Role::Admin).await;
    let coordinator = app.create_user(Role::Doctor).await;
    let expert = app.create_user(Role::Doctor).await;
    let declined = app.create_user(Role::Doctor).await;
    let patient = app.create_user(Role::Patient).await;
    let (s, r) = app
        .send_json(
            Method::POST,
            "/api/v1/reviews",
            Some(&coordinator.token),
            &json!({"title": "Tumour board", "experts": [expert.user.id, declined.user.id], "duration_minutes": 60, "from": "2031-01-01", "to": "2031-01-05"}),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    let review = r["id"].as_str().unwrap().to_string();
    let (s, r) = app
        .send_json(
            Method::POST,
            &format!("/api/v1/reviews/{review}/cases"),
            Some(&coordinator.token),
            &json!({"patient_id": patient.user.id, "question": "Resect or treat first?"}),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    let case = r["cases"][0]["id"].as_str().unwrap().to_string();
    // Scheduled at the first common free time, so that experts can answer.
    for d in [&coordinator, &expert, &declined] {
        crate::scheduling::open_every_day(&app, &admin.token, &d.user.id).await;
    }
    let (s, p) =
        app.get_json(&format!("/api/v1/reviews/{review}/proposals?limit=1"), Some(&coordinator.token)).await;
    assert_eq!(s, 200, "{p}");
    let (s, r) = app
        .send_json(
            Method::POST,
            &format!("/api/v1/reviews/{review}/schedule"),
            Some(&coordinator.token),
            &json!({"starts_at": p[0]["starts_at"]}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    let (s, r) = app
        .send_json(
            Method::POST,
            &format!("/api/v1/reviews/{review}/rsvp"),
            Some(&declined.token),
            &json!({"response": "declined"}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    Board { app, admin, coordinator, expert, declined, patient, review, case }
}

impl Board {
    pub(crate) fn path(&self, tail: &str) -> String {
        format!("/api/v1/reviews/{}/cases/{}/outcome{tail}", self.review, self.case)
    }
    pub(crate) async fn save(&self, token: &str, body: Value) -> (u16, Value) {
        self.app.send_json(Method::PUT, &self.path(""), Some(token), &body).await
    }
    pub(crate) async fn sign(&self, token: &str, version: i64) -> (u16, Value) {
        self.app.send_json(Method::POST, &self.path("/sign"), Some(token), &json!({"version": version})).await
    }
    async fn read(&self, token: &str) -> (u16, Value) {
        self.app.get_json(&self.path(""), Some(token)).await
    }
    pub(crate) fn outcome(&self, version: i64) -> Value {
        json!({
            "version": version,
            "presenter_id": self.expert.user.id,
            "discussion": "Borderline resectable; the panel favours neoadjuvant treatment.",
            "recommendation": "systemic_therapy",
            "recommendation_text": "Neoadjuvant chemotherapy, then restage.",
            "responsible_id": self.coordinator.user.id
        })
    }
}

#[tokio::test]
async fn the_panel_drafts_the_coordinator_signs_and_the_patient_reads_the_recommendation() {
    let b = board().await;
    let (s, empty) = b.read(&b.expert.token).await;
    assert_eq!(
        (s, empty["version"].as_i64(), empty["question"].as_str()),
        (200, Some(0), Some("Resect or treat first?"))
    );
    assert_eq!(b.read(&b.patient.token).await.0, 404, "nothing for the patient before signing");

    let (s, o) = b.save(&b.expert.token, b.outcome(0)).await;
    assert_eq!((s, o["version"].as_i64()), (200, Some(1)), "{o}");
    assert_eq!(o["presenter"], b.expert.user.name.as_str());
    assert_eq!(o["question"], "Resect or treat first?", "an empty question keeps the case's");
    // A second save from the stale version names who saved.
    let (s, e) = b.save(&b.coordinator.token, b.outcome(0)).await;
    assert_eq!(s, 409, "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains(&b.expert.user.name));
    // Only the coordinator signs.
    assert_eq!(b.sign(&b.expert.token, 1).await.0, 403);
    let (s, signed) = b.sign(&b.coordinator.token, 1).await;
    assert_eq!((s, signed["status"].as_str()), (200, Some("signed")), "{signed}");
    assert_eq!(signed["content_sha256"].as_str().map(str::len), Some(64));
    assert_eq!(b.save(&b.expert.token, b.outcome(1)).await.0, 409, "a signed outcome is frozen");
    assert_eq!(b.sign(&b.coordinator.token, 1).await.0, 409);

    let (s, mine) = b.read(&b.patient.token).await;
    assert_eq!(s, 200, "{mine}");
    assert_eq!(mine["recommendation"], "systemic_therapy");
    assert!(mine.get("discussion").is_none(), "{mine}");
    let actions: Vec<String> =
        b.app.audit_actions().await.iter().map(|r| r["action"].as_str().unwrap().to_string()).collect();
    assert!(actions.iter().any(|a| a == "outcome.sign") && actions.iter().any(|a| a == "outcome.save"));

    // The database refuses to change it.
    let mut tx = b.app.state.db.write().await.unwrap();
    let r = sqlx::query("UPDATE case_outcomes SET discussion = 'x' WHERE case_id = $1")
        .bind(&b.case)
        .execute(&mut *tx)
        .await;
    assert!(r.is_err());
}

#[tokio::test]
async fn who_may_write_read_and_sign_and_what_bad_input_gets() {
    let b = board().await;
    let stranger = b.app.create_user(Role::Doctor).await;
    let other_patient = b.app.create_user(Role::Patient).await;
    for (who, token, save, read) in [
        ("an admin", &b.admin.token, 403, 200),
        ("an expert who declined", &b.declined.token, 404, 404),
        ("a stranger doctor", &stranger.token, 404, 404),
        ("the patient", &b.patient.token, 403, 404),
        ("another patient", &other_patient.token, 404, 404),
    ] {
        assert_eq!(b.save(token, b.outcome(0)).await.0, save, "{who} saving");
        assert_eq!(b.sign(token, 1).await.0, save, "{who} signing");
        assert_eq!(b.read(token).await.0, read, "{who} reading");
    }
    let wrong_case = format!("/api/v1/reviews/{}/cases/no-such-case/outcome", b.review);
    assert_eq!(b.app.get_json(&wrong_case, Some(&b.coordinator.token)).await.0, 404);

    let mut bad = b.outcome(0);
    bad["presenter_id"] = json!(stranger.user.id);
    assert_eq!(b.save(&b.coordinator.token, bad).await.1["error"]["field"], "presenter_id");
    let mut bad = b.outcome(0);
    bad["responsible_id"] = json!(b.patient.user.id);
    assert_eq!(b.save(&b.coordinator.token, bad).await.1["error"]["field"], "responsible_id");
    let mut bad = b.outcome(0);
    bad["recommendation"] = json!("homeopathy");
    assert_eq!(b.save(&b.coordinator.token, bad).await.0, 422);
    let mut bad = b.outcome(0);
    bad["discussion"] = json!("x".repeat(40_000));
    assert_eq!(b.save(&b.coordinator.token, bad).await.0, 413);
    let mut bad = b.outcome(0);
    bad["discussion"] = json!("NUL\u{0}");
    assert_eq!(b.save(&b.coordinator.token, bad).await.1["error"]["field"], "discussion");
    // Nothing was stored by any of that; signing without a recommendation is 422.
    assert_eq!(b.read(&b.coordinator.token).await.1["version"], 0);
    assert_eq!(b.save(&b.coordinator.token, json!({"version": 0, "discussion": "started"})).await.0, 200);
    let (s, e) = b.sign(&b.coordinator.token, 1).await;
    assert_eq!((s, e["error"]["field"].as_str()), (422, Some("recommendation")), "{e}");
}

#[tokio::test]
async fn saves_at_once_let_exactly_one_through_and_a_cancelled_review_takes_none() {
    let b = board().await;
    let answers = join_all((0..24).map(|i| {
        let token = if i % 2 == 0 { &b.coordinator.token } else { &b.expert.token };
        b.save(token, b.outcome(0))
    }))
    .await;
    let statuses: Vec<u16> = answers.iter().map(|(s, _)| *s).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 200 || *s == 409), "{statuses:?}");
    let (s, _) = b
        .app
        .send_json(
            Method::POST,
            &format!("/api/v1/reviews/{}/cancel", b.review),
            Some(&b.coordinator.token),
            &json!({}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(b.save(&b.coordinator.token, b.outcome(1)).await.0, 409);
}

#[tokio::test]
async fn the_review_page_form_saves_a_draft_then_signs_it() {
    let b = board().await;
    let jar = b.app.browser_login(&b.coordinator.email, &b.coordinator.password).await;
    let post = |form: Vec<(&str, String)>| {
        b.app
            .http
            .post(b.app.url(&format!("/reviews/{}/cases/{}/outcome", b.review, b.case)))
            .header("cookie", format!("consilium_session={jar}"))
            .form(&form)
            .send()
    };
    let page = || async {
        let r = b
            .app
            .http
            .get(b.app.url(&format!("/reviews/{}", b.review)))
            .header("cookie", format!("consilium_session={jar}"))
            .send()
            .await
            .unwrap();
        r.text().await.unwrap()
    };
    let form = |version: &str, action: &str| {
        vec![
            ("version", version.to_string()),
            ("presenter_id", b.expert.user.id.clone()),
            ("question", String::new()),
            ("discussion", "Node-positive on imaging.".to_string()),
            ("recommendation", "radiotherapy".to_string()),
            ("recommendation_text", "Short-course radiotherapy.".to_string()),
            ("responsible_id", b.coordinator.user.id.clone()),
            ("action", action.to_string()),
        ]
    };
    let r = post(form("0", "save")).await.unwrap();
    assert_eq!(r.status(), 303);
    assert!(page().await.contains("Node-positive on imaging."));
    // A stale form is refused on the page, with who saved.
    let r = post(form("0", "save")).await.unwrap();
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains(&b.coordinator.user.name));
    let mut bad = form("1", "save");
    bad[4].1 = "homeopathy".into();
    assert_eq!(post(bad).await.unwrap().status(), 422);
    let r = post(form("1", "sign")).await.unwrap();
    assert_eq!(r.status(), 303);
    let html = page().await;
    assert!(html.contains("Signed by") && html.contains("Radiotherapy"), "the signed outcome shows");
    assert!(!html.contains("name=\"recommendation\""), "and no form for it any more");
}

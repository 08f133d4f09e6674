//! Multi-expert case reviews: the time finder across zones, scheduling, answers, the agenda.

use consilium::accounts::model::Role;
use consilium_tests::{TestApp, TestUser, spawn_app};
use reqwest::Method;
use serde_json::{Value, json};

/// A doctor in `tz` working `start`–`end` local time Monday to Friday.
async fn expert(
    app: &TestApp,
    admin: &TestUser,
    tz: &str,
    specialty: &str,
    start: &str,
    end: &str,
) -> TestUser {
    let d = app.create_user(Role::Doctor).await;
    let (s, _) = app
        .send_json(
            Method::PATCH,
            &format!("/api/v1/users/{}", d.user.id),
            Some(&admin.token),
            &json!({"timezone": tz, "specialty": specialty}),
        )
        .await;
    assert_eq!(s, 200);
    let rules: Vec<Value> = (1..=5).map(|day| json!({"weekday": day, "start": start, "end": end})).collect();
    let (s, b) = app
        .send_json(
            Method::PUT,
            &format!("/api/v1/doctors/{}/availability", d.user.id),
            Some(&admin.token),
            &json!({"consult_minutes": 30, "rules": rules}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    d
}

fn window() -> (String, String) {
    let now = jiff::Zoned::now().with_time_zone(jiff::tz::TimeZone::UTC);
    let from = now.date().checked_add(jiff::ToSpan::days(1)).unwrap();
    (from.to_string(), from.checked_add(jiff::ToSpan::days(13)).unwrap().to_string())
}

async fn create(app: &TestApp, token: &str, body: Value) -> (u16, Value) {
    app.send_json(Method::POST, "/api/v1/reviews", Some(token), &body).await
}

struct Board {
    app: TestApp,
    admin: TestUser,
    berlin: TestUser,
    shanghai: TestUser,
    new_york: TestUser,
    review: Value,
}

/// Three experts whose working hours overlap only briefly in UTC.
async fn board() -> Board {
    let app = spawn_app().await;
    let admin = app.create_user(Role::Admin).await;
    let berlin = expert(&app, &admin, "Europe/Berlin", "Dermatology", "08:00", "18:00").await;
    let shanghai = expert(&app, &admin, "Asia/Shanghai", "Oncology", "14:00", "22:00").await;
    let new_york = expert(&app, &admin, "America/New_York", "Radiology", "07:00", "12:00").await;
    let (from, to) = window();
    let (s, review) = create(
        &app,
        &berlin.token,
        json!({"title": "Melanoma board", "experts": [berlin.user.id, shanghai.user.id, new_york.user.id], "duration_minutes": 60, "from": from, "to": to, "tz": "UTC"}),
    )
    .await;
    assert_eq!(s, 201, "{review}");
    Board { app, admin, berlin, shanghai, new_york, review }
}

fn local_minutes(local: &str) -> i32 {
    let z: jiff::Zoned = local.parse().unwrap();
    z.hour() as i32 * 60 + z.minute() as i32
}

#[tokio::test]
async fn the_time_finder_proposes_times_inside_every_experts_own_hours() {
    let b = board().await;
    let id = b.review["id"].as_str().unwrap();
    let (s, proposals) =
        b.app.get_json(&format!("/api/v1/reviews/{id}/proposals?limit=10"), Some(&b.berlin.token)).await;
    assert_eq!(s, 200, "{proposals}");
    let proposals = proposals.as_array().unwrap();
    assert_eq!(proposals.len(), 10);
    let hours = [
        ("Europe/Berlin", 8 * 60, 18 * 60),
        ("Asia/Shanghai", 14 * 60, 22 * 60),
        ("America/New_York", 7 * 60, 12 * 60),
    ];
    let mut previous = String::new();
    for p in proposals {
        assert!(p["starts_at"].as_str().unwrap() > previous.as_str(), "earliest first");
        previous = p["starts_at"].as_str().unwrap().to_string();
        let attendees = p["attendees"].as_array().unwrap();
        assert_eq!(attendees.len(), 3);
        for a in attendees {
            let (tz, start, end) = hours.iter().find(|h| h.0 == a["timezone"]).unwrap();
            let local = a["local_start"].as_str().unwrap();
            assert!(local.ends_with(&format!("[{tz}]")), "{local}");
            let m = local_minutes(local);
            assert!(m >= *start && m + 60 <= *end, "{local} is inside {tz} working hours");
            assert_eq!(m % 15, 0, "quarter-hour grid");
        }
    }
}

#[tokio::test]
async fn scheduling_blocks_the_experts_and_they_answer() {
    let b = board().await;
    let id = b.review["id"].as_str().unwrap();
    let (_, proposals) =
        b.app.get_json(&format!("/api/v1/reviews/{id}/proposals"), Some(&b.berlin.token)).await;
    let start = proposals[0]["starts_at"].clone();
    let (s, r) = b
        .app
        .send_json(
            Method::POST,
            &format!("/api/v1/reviews/{id}/rsvp"),
            Some(&b.shanghai.token),
            &json!({"response": "accepted"}),
        )
        .await;
    assert_eq!(s, 409, "answers wait for a time: {r}");
    let (s, r) = b
        .app
        .send_json(
            Method::POST,
            &format!("/api/v1/reviews/{id}/schedule"),
            Some(&b.berlin.token),
            &json!({"starts_at": start}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["status"], "scheduled");
    assert_eq!(r["starts_at"], start);
    assert_eq!(r["sequence"], 1);
    assert!(r["experts"].as_array().unwrap().iter().all(|e| e["response"] == "pending"));
    // The review's hour is no longer bookable with the Berlin expert.
    let (_, slots) = b
        .app
        .get_json(
            &format!("/api/v1/doctors/{}/slots?tz=UTC&to={}", b.berlin.user.id, window().1),
            Some(&b.admin.token),
        )
        .await;
    assert!(!slots.as_array().unwrap().iter().any(|s| s["starts_at"] == start));
    let (s, r) = b
        .app
        .send_json(
            Method::POST,
            &format!("/api/v1/reviews/{id}/rsvp"),
            Some(&b.shanghai.token),
            &json!({"response": "accepted"}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    let (_, r) = b
        .app
        .send_json(
            Method::POST,
            &format!("/api/v1/reviews/{id}/rsvp"),
            Some(&b.new_york.token),
            &json!({"response": "declined", "comment": "in theatre"}),
        )
        .await;
    let by_id = |who: &TestUser| {
        r["experts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["expert_id"] == who.user.id.as_str())
            .unwrap()
            .clone()
    };
    assert_eq!(by_id(&b.shanghai)["response"], "accepted");
    assert_eq!(by_id(&b.new_york)["response"], "declined");
    assert_eq!(by_id(&b.new_york)["comment"], "in theatre");
    assert_eq!(by_id(&b.berlin)["response"], "pending");
    let (s, _) = b
        .app
        .send_json(
            Method::POST,
            &format!("/api/v1/reviews/{id}/rsvp"),
            Some(&b.shanghai.token),
            &json!({"response": "maybe"}),
        )
        .await;
    assert_eq!(s, 422);
    let r = b
        .app
        .request(Method::GET, &format!("/api/v1/reviews/{id}/ics"), Some(&b.new_york.token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let ics = r.text().await.unwrap();
    assert!(ics.contains(&format!("UID:review-{id}@consilium")) && ics.contains("SEQUENCE:1"), "{ics}");
    // A time that was never proposed is refused.
    let (s, _) = b
        .app
        .send_json(
            Method::POST,
            &format!("/api/v1/reviews/{id}/schedule"),
            Some(&b.berlin.token),
            &json!({"starts_at": "2031-01-01T03:07:00Z"}),
        )
        .await;
    assert_eq!(s, 422);
}

#[tokio::test]
async fn a_required_specialty_is_covered_by_whichever_doctor_is_free() {
    let app = spawn_app().await;
    let admin = app.create_user(Role::Admin).await;
    let lead = expert(&app, &admin, "Europe/London", "Oncology", "09:00", "17:00").await;
    let radiologist = expert(&app, &admin, "Europe/Paris", "Radiology", "10:00", "16:00").await;
    let (from, to) = window();
    let (s, r) = create(&app, &lead.token, json!({"title": "Chest CT board", "experts": [lead.user.id], "specialties": ["radiology"], "duration_minutes": 45, "from": from, "to": to})).await;
    assert_eq!(s, 201, "{r}");
    let id = r["id"].as_str().unwrap();
    let (_, proposals) = app.get_json(&format!("/api/v1/reviews/{id}/proposals"), Some(&lead.token)).await;
    let first = &proposals[0];
    let covered = first["attendees"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["for_specialty"] == "radiology")
        .expect("a radiologist");
    assert_eq!(covered["expert_id"], radiologist.user.id.as_str());
    let (s, r) = app
        .send_json(
            Method::POST,
            &format!("/api/v1/reviews/{id}/schedule"),
            Some(&lead.token),
            &json!({"starts_at": first["starts_at"]}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["experts"].as_array().unwrap().len(), 2, "the radiologist joined");
    assert!(r["specialties"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn bad_review_input_gets_422_and_roles_are_enforced() {
    let b = board().await;
    let (from, to) = window();
    let base =
        json!({"title": "T", "experts": [b.berlin.user.id], "duration_minutes": 60, "from": from, "to": to});
    let with = |k: &str, v: Value| {
        let mut x = base.clone();
        x[k] = v;
        x
    };
    for (body, field) in [
        (with("title", json!("  ")), "title"),
        (with("duration_minutes", json!(5)), "duration_minutes"),
        (with("experts", json!([])), "experts"),
        (with("experts", json!(["nobody"])), "experts"),
        (with("specialties", json!(["Astrology"])), "specialties"),
        (with("to", json!("2020-01-01")), "to"),
        (with("from", json!("soon")), "from"),
    ] {
        let (s, r) = create(&b.app, &b.berlin.token, body.clone()).await;
        assert_eq!(s, 422, "{body}: {r}");
        assert_eq!(r["error"]["field"], field, "{r}");
    }
    let patient = b.app.create_user(Role::Patient).await;
    assert_eq!(create(&b.app, &patient.token, base.clone()).await.0, 403);
    let id = b.review["id"].as_str().unwrap();
    let outsider = b.app.create_user(Role::Doctor).await;
    assert_eq!(b.app.get_json(&format!("/api/v1/reviews/{id}"), Some(&outsider.token)).await.0, 404);
    assert_eq!(b.app.get_json(&format!("/api/v1/reviews/{id}"), Some(&patient.token)).await.0, 404);
    assert_eq!(
        b.app.get_json(&format!("/api/v1/reviews/{id}/proposals"), Some(&b.shanghai.token)).await.0,
        403,
        "experts do not plan"
    );
    let (_, list) = b.app.get_json("/api/v1/reviews", Some(&outsider.token)).await;
    assert!(list.as_array().unwrap().is_empty());
    let (_, list) = b.app.get_json("/api/v1/reviews", Some(&b.new_york.token)).await;
    assert_eq!(list.as_array().unwrap().len(), 1, "an invited expert sees it");
}

#[tokio::test]
async fn the_case_agenda_is_kept_and_every_read_is_audited() {
    let b = board().await;
    let id = b.review["id"].as_str().unwrap();
    let patient = b.app.create_user(Role::Patient).await;
    let (s, r) = b.app.send_json(Method::POST, &format!("/api/v1/reviews/{id}/cases"), Some(&b.berlin.token), &json!({"patient_id": patient.user.id, "question": "Excise or observe?", "notes": "Lesion 7 mm, irregular border"})).await;
    assert_eq!(s, 201, "{r}");
    assert_eq!(r["cases"][0]["question"], "Excise or observe?");
    assert_eq!(r["cases"][0]["position"], 1);
    let (s, _) = b
        .app
        .send_json(
            Method::POST,
            &format!("/api/v1/reviews/{id}/cases"),
            Some(&b.shanghai.token),
            &json!({"patient_id": patient.user.id, "question": "x"}),
        )
        .await;
    assert_eq!(s, 403, "only the coordinator adds cases");
    let (s, r) = b
        .app
        .send_json(
            Method::POST,
            &format!("/api/v1/reviews/{id}/cases"),
            Some(&b.berlin.token),
            &json!({"patient_id": b.shanghai.user.id, "question": "x"}),
        )
        .await;
    assert_eq!((s, r["error"]["field"].as_str()), (422, Some("patient_id")));
    let (s, r) = b
        .app
        .send_json(
            Method::POST,
            &format!("/api/v1/reviews/{id}/cases"),
            Some(&b.berlin.token),
            &json!({"patient_id": patient.user.id, "question": ""}),
        )
        .await;
    assert_eq!((s, r["error"]["field"].as_str()), (422, Some("question")));
    b.app.get_json(&format!("/api/v1/reviews/{id}"), Some(&b.new_york.token)).await;
    let rows = b.app.audit_actions().await;
    assert!(
        rows.iter().any(|r| r["action"] == "review.case_add" && r["patient_id"] == patient.user.id.as_str())
    );
    assert!(rows.iter().any(|r| r["action"] == "review.case_read"
        && r["actor_id"] == b.new_york.user.id.as_str()
        && r["patient_id"] == patient.user.id.as_str()));
}

#[tokio::test]
async fn an_image_shared_in_the_review_call_belongs_to_a_case_of_its_agenda() {
    let b = board().await;
    let id = b.review["id"].as_str().unwrap();
    let room = b.review["room_id"].as_str().unwrap();
    let patient = b.app.create_user(Role::Patient).await;
    let (_, r) = b
        .app
        .send_json(
            Method::POST,
            &format!("/api/v1/reviews/{id}/cases"),
            Some(&b.berlin.token),
            &json!({"patient_id": patient.user.id, "question": "Excise or observe?"}),
        )
        .await;
    let case = r["cases"][0]["id"].as_str().unwrap().to_string();
    let share = |token: String, case: String| {
        let app = &b.app;
        async move {
            let r = app
                .request(
                    Method::POST,
                    &format!("/api/v1/rooms/{room}/images?filename=ct.dcm&case_id={case}"),
                    Some(&token),
                )
                .body(consilium_tests::test_data("ct_native.dcm"))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (s, image) = share(b.shanghai.token.clone(), case.clone()).await;
    assert_eq!(s, 201, "{image}");
    assert_eq!(image["case_id"], case.as_str());
    let (s, body) = share(b.shanghai.token.clone(), "another-review-case".into()).await;
    assert_eq!((s, body["error"]["field"].as_str()), (422, Some("case_id")));
    let outsider = b.app.create_user(Role::Doctor).await;
    let (s, _) = share(outsider.token.clone(), case.clone()).await;
    assert_eq!(s, 404);
    // Reading the case's image is an audit row about the case's patient.
    let (s, _) = b.app.get_json(image["url"].as_str().unwrap(), Some(&b.new_york.token)).await;
    assert_ne!(s, 403);
    let audit = b.app.audit_actions().await;
    assert!(
        audit.iter().any(|a| a["action"] == "image.share" && a["patient_id"] == patient.user.id.as_str()),
        "the share is recorded against the case's patient"
    );
}

/// The time finder on the review page lists the coordinator's own local time beside the
/// experts' (it showed only the experts').
#[tokio::test]
async fn the_time_finder_shows_the_coordinators_own_time() {
    let b = crate::outcomes::board().await;
    b.app
        .send_json(
            Method::PATCH,
            "/api/v1/me",
            Some(&b.coordinator.token),
            &json!({"timezone": "Asia/Shanghai"}),
        )
        .await;
    let jar = b.app.browser_login(&b.coordinator.email, &b.coordinator.password).await;
    let html = b.app.page_as(&format!("/reviews/{}?find=1", b.review), &jar).await;
    let proposal =
        html.split("class=\"proposal\"").nth(1).expect("a proposal").split("</form>").next().unwrap();
    let own = format!("{} (Coordinator)", b.coordinator.user.name);
    assert!(proposal.contains(&own) && proposal.contains("CST"), "{proposal}");
}

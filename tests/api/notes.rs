//! Consultation notes: drafts with optimistic versions, signing, addenda, who may read and
//! write, bad input, saves at once, and the database refusing changes to what is signed.

use consilium::accounts::model::Role;
use consilium_tests::{TestApp, TestUser, spawn_app};
use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};

struct Visit {
    app: TestApp,
    admin: TestUser,
    doctor: TestUser,
    patient: TestUser,
    appointment: String,
}

async fn visit() -> Visit {
    let app = spawn_app().await;
    let admin = app.create_user(Role::Admin).await;
    let doctor = app.create_user(Role::Doctor).await;
    let patient = app.create_user(Role::Patient).await;
    let appointment =
        crate::scheduling::book_next_slot(&app, &admin.token, &doctor.user.id, &patient.user.id).await;
    Visit { app, admin, doctor, patient, appointment }
}

impl Visit {
    fn path(&self, tail: &str) -> String {
        format!("/api/v1/appointments/{}/note{tail}", self.appointment)
    }

    async fn save(&self, token: &str, body: Value) -> (u16, Value) {
        self.app.send_json(Method::PUT, &self.path(""), Some(token), &body).await
    }

    async fn post(&self, tail: &str, token: &str, body: Value) -> (u16, Value) {
        self.app.send_json(Method::POST, &self.path(tail), Some(token), &body).await
    }

    async fn read(&self, token: &str) -> (u16, Value) {
        self.app.get_json(&self.path(""), Some(token)).await
    }
}

fn soap(version: i64, assessment: &str) -> Value {
    json!({
        "version": version,
        "subjective": "Cough for two weeks, worse at night.",
        "objective": "Wheeze on expiration; SpO2 97 %.",
        "assessment": assessment,
        "plan": "Inhaled salbutamol as needed; review in four weeks.",
        "instructions": "Use the inhaler when short of breath; come back if it gets worse.",
        "diagnoses": [
            {"text": "Asthma", "system": "icd10", "code": "J45.9", "display": "Asthma, unspecified"},
            {"text": "Asthma", "system": "snomed", "code": "195967001"},
            {"text": "Night cough"}
        ]
    })
}

#[tokio::test]
async fn a_doctor_drafts_signs_and_amends_and_the_patient_sees_only_the_released_parts() {
    let v = visit().await;
    // Nothing saved yet: an empty draft for the doctor, nothing for the patient.
    let (s, empty) = v.read(&v.doctor.token).await;
    assert_eq!((s, empty["status"].as_str(), empty["version"].as_i64()), (200, Some("empty"), Some(0)));
    assert_eq!(v.read(&v.patient.token).await.0, 404);

    let (s, first) = v.save(&v.doctor.token, soap(0, "Probably asthma")).await;
    assert_eq!(s, 200, "{first}");
    assert_eq!((first["status"].as_str(), first["version"].as_i64()), (Some("draft"), Some(1)));
    let (s, second) = v.save(&v.doctor.token, soap(1, "Asthma, mild intermittent")).await;
    assert_eq!((s, second["version"].as_i64()), (200, Some(2)), "{second}");
    assert_eq!(second["diagnoses"][0]["code"], "J45.9");
    // A draft stays with the clinicians.
    assert_eq!(v.read(&v.patient.token).await.0, 404);
    // An addendum goes on a signed note only.
    let (s, e) = v.post("/addenda", &v.doctor.token, json!({"text": "too early"})).await;
    assert_eq!((s, e["error"]["code"].as_str()), (422, Some("invalid")), "{e}");

    let (s, signed) = v.post("/sign", &v.doctor.token, json!({"version": 2})).await;
    assert_eq!(s, 200, "{signed}");
    assert_eq!(signed["status"], "signed");
    assert_eq!(signed["signed_by"], v.doctor.user.name.as_str());
    assert_eq!(signed["content_sha256"].as_str().map(str::len), Some(64));
    assert_eq!(signed["assessment"], "Asthma, mild intermittent");

    // Signed: no edit and no second signature, also not by an admin.
    let (s, e) = v.save(&v.doctor.token, soap(2, "changed my mind")).await;
    assert_eq!(s, 409, "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("addendum"), "{e}");
    assert_eq!(v.post("/sign", &v.doctor.token, json!({"version": 2})).await.0, 409);
    assert_eq!(v.save(&v.admin.token, soap(2, "admin edit")).await.0, 403);

    let (s, a1) = v.post("/addenda", &v.doctor.token, json!({"text": "Spirometry booked."})).await;
    assert_eq!((s, a1["position"].as_i64()), (201, Some(1)), "{a1}");
    let (s, a2) = v.post("/addenda", &v.doctor.token, json!({"text": "  Reversibility 14 %.  "})).await;
    assert_eq!(
        (s, a2["position"].as_i64(), a2["text"].as_str()),
        (201, Some(2), Some("Reversibility 14 %."))
    );
    assert_ne!(a1["content_sha256"], a2["content_sha256"]);

    // The patient: the plan and instructions, the addenda, not the working sections.
    let (s, mine) = v.read(&v.patient.token).await;
    assert_eq!(s, 200, "{mine}");
    assert_eq!(mine["plan"], "Inhaled salbutamol as needed; review in four weeks.");
    assert!(mine["instructions"].as_str().unwrap().starts_with("Use the inhaler"));
    assert!(mine.get("subjective").is_none() && mine.get("objective").is_none(), "{mine}");
    assert_eq!(mine["addenda"].as_array().unwrap().len(), 2);
    // The doctor and the admin read everything, the content unchanged since signing.
    let (_, full) = v.read(&v.admin.token).await;
    assert_eq!(full["subjective"], "Cough for two weeks, worse at night.");
    assert_eq!(full["content_sha256"], signed["content_sha256"]);

    let actions: Vec<(String, Option<String>)> = v
        .app
        .audit_actions()
        .await
        .iter()
        .filter(|r| r["action"].as_str().unwrap().starts_with("note."))
        .map(|r| (r["action"].as_str().unwrap().to_string(), r["actor_id"].as_str().map(str::to_string)))
        .collect();
    let count = |a: &str| actions.iter().filter(|(x, _)| x == a).count();
    assert_eq!((count("note.save"), count("note.sign"), count("note.addendum")), (2, 1, 2), "{actions:?}");
    assert!(count("note.read") >= 3, "{actions:?}");
    let doctor_id = Some(v.doctor.user.id.clone());
    assert!(actions.iter().filter(|(a, _)| a != "note.read").all(|(_, who)| *who == doctor_id));
}

#[tokio::test]
async fn a_save_from_a_stale_tab_is_409_naming_who_saved_last() {
    let v = visit().await;
    assert_eq!(v.save(&v.doctor.token, soap(0, "tab one")).await.0, 200);
    // Both tabs opened version 1; the first saves, the second is refused, with a name.
    assert_eq!(v.save(&v.doctor.token, soap(1, "tab one again")).await.0, 200);
    let (s, e) = v.save(&v.doctor.token, soap(1, "tab two")).await;
    assert_eq!(s, 409, "{e}");
    let message = e["error"]["message"].as_str().unwrap();
    assert!(message.contains(&v.doctor.user.name) && message.contains("version 2"), "{message}");
    // A first save when one exists already, a version from the future, a negative one.
    assert_eq!(v.save(&v.doctor.token, soap(0, "new tab")).await.0, 409);
    assert_eq!(v.save(&v.doctor.token, soap(7, "future")).await.0, 409);
    assert_eq!(v.save(&v.doctor.token, soap(-1, "negative")).await.0, 422);
    let (_, n) = v.read(&v.doctor.token).await;
    assert_eq!((n["version"].as_i64(), n["assessment"].as_str()), (Some(2), Some("tab one again")));
    // Signing a version other than the current one is refused the same way.
    assert_eq!(v.post("/sign", &v.doctor.token, json!({"version": 1})).await.0, 409);
}

#[tokio::test]
async fn only_the_treating_doctor_writes_and_strangers_learn_nothing() {
    let v = visit().await;
    let other_doctor = v.app.create_user(Role::Doctor).await;
    let other_patient = v.app.create_user(Role::Patient).await;
    for (who, token, write, read) in [
        ("the patient", &v.patient.token, 403, 404),
        ("an admin", &v.admin.token, 403, 200),
        ("another doctor", &other_doctor.token, 404, 404),
        ("another patient", &other_patient.token, 404, 404),
    ] {
        assert_eq!(v.save(token, soap(0, "x")).await.0, write, "{who} saving");
        assert_eq!(v.post("/sign", token, json!({"version": 1})).await.0, write, "{who} signing");
        assert_eq!(v.post("/addenda", token, json!({"text": "x"})).await.0, write, "{who} adding");
        assert_eq!(v.read(token).await.0, read, "{who} reading");
    }
    let r = v.app.request(Method::GET, &v.path(""), None).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let missing = "/api/v1/appointments/no-such-appointment/note";
    assert_eq!(v.app.get_json(missing, Some(&v.doctor.token)).await.0, 404);
}

#[tokio::test]
async fn bad_drafts_are_refused_with_the_field_and_leave_nothing_behind() {
    let v = visit().await;
    let with = |change: &dyn Fn(&mut Value)| {
        let mut body = soap(0, "a");
        change(&mut body);
        body
    };
    let cases: Vec<(&str, Value, u16, Option<&str>)> = vec![
        ("bad icd10", with(&|b| b["diagnoses"][0]["code"] = json!("J45-9")), 422, Some("diagnoses[0].code")),
        (
            "bad snomed check digit",
            with(&|b| b["diagnoses"][1]["code"] = json!("195967002")),
            422,
            Some("diagnoses[1].code"),
        ),
        (
            "code without system",
            with(&|b| b["diagnoses"][2]["code"] = json!("J45")),
            422,
            Some("diagnoses[2].system"),
        ),
        (
            "system without code",
            with(&|b| b["diagnoses"][2]["system"] = json!("icd10")),
            422,
            Some("diagnoses[2].code"),
        ),
        ("unknown system", with(&|b| b["diagnoses"][0]["system"] = json!("loinc")), 422, None),
        (
            "empty diagnosis",
            with(&|b| b["diagnoses"][2]["text"] = json!("  ")),
            422,
            Some("diagnoses[2].text"),
        ),
        (
            "long diagnosis",
            with(&|b| b["diagnoses"][2]["text"] = json!("x".repeat(501))),
            422,
            Some("diagnoses[2].text"),
        ),
        (
            "too many diagnoses",
            with(&|b| b["diagnoses"] = json!(vec![json!({"text": "d"}); 31])),
            422,
            Some("diagnoses"),
        ),
        ("NUL in a section", with(&|b| b["plan"] = json!("rest\u{0}")), 422, Some("plan")),
        ("escape in a section", with(&|b| b["subjective"] = json!("a\u{1b}[2J")), 422, Some("subjective")),
        ("unknown field", with(&|b| b["signed"] = json!(true)), 422, None),
        ("text past 48 KiB", with(&|b| b["objective"] = json!("é".repeat(25_000))), 413, None),
        ("body past 64 KiB", with(&|b| b["objective"] = json!("x".repeat(70_000))), 413, None),
        ("no version", json!({"plan": "x"}), 422, None),
    ];
    for (what, body, status, field) in cases {
        let (s, e) = v.save(&v.doctor.token, body).await;
        assert_eq!(s, status, "{what}: {e}");
        assert!(e["error"]["code"].is_string(), "{what}: the error shape: {e}");
        if let Some(field) = field {
            assert_eq!(e["error"]["field"], field, "{what}: {e}");
        }
    }
    // Multi-line sections keep their newlines and tabs; nothing was stored before this.
    let (s, n) = v.save(&v.doctor.token, with(&|b| b["plan"] = json!("1.\tRest\n2.\tFluids"))).await;
    assert_eq!((s, n["version"].as_i64(), n["plan"].as_str()), (200, Some(1), Some("1.\tRest\n2.\tFluids")));
    // Nothing to sign in an empty note; an empty or oversized addendum.
    let fresh = visit().await;
    assert_eq!(fresh.post("/sign", &fresh.doctor.token, json!({"version": 0})).await.0, 422);
    assert_eq!(fresh.save(&fresh.doctor.token, json!({"version": 0})).await.0, 200);
    assert_eq!(fresh.post("/sign", &fresh.doctor.token, json!({"version": 1})).await.0, 422);
    assert_eq!(v.post("/sign", &v.doctor.token, json!({"version": 1})).await.0, 200);
    assert_eq!(v.post("/addenda", &v.doctor.token, json!({"text": " \n "})).await.0, 422);
    assert_eq!(v.post("/addenda", &v.doctor.token, json!({"text": "x".repeat(17_000)})).await.0, 413);
    assert_eq!(v.post("/addenda", &v.doctor.token, json!({"text": "ok\u{7}"})).await.0, 422);
}

#[tokio::test]
async fn a_cancelled_appointment_takes_no_note() {
    let v = visit().await;
    let (s, _) = v
        .app
        .send_json(
            Method::POST,
            &format!("/api/v1/appointments/{}/cancel", v.appointment),
            Some(&v.admin.token),
            &json!({"reason": "patient unwell"}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, e) = v.save(&v.doctor.token, soap(0, "x")).await;
    assert_eq!(s, 409, "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("cancelled"));
}

#[tokio::test]
async fn saves_at_once_from_one_version_let_exactly_one_through() {
    let v = visit().await;
    assert_eq!(v.save(&v.doctor.token, soap(0, "start")).await.0, 200);
    let saves = (0..32).map(|i| v.save(&v.doctor.token, soap(1, &format!("tab {i}"))));
    let answers = join_all(saves).await;
    let ok = answers.iter().filter(|(s, _)| *s == 200).count();
    let conflicts = answers.iter().filter(|(s, _)| *s == 409).count();
    assert_eq!((ok, conflicts), (1, 31), "{:?}", answers.iter().map(|(s, _)| s).collect::<Vec<_>>());
    let winner = answers.iter().find(|(s, _)| *s == 200).unwrap().1["assessment"].clone();
    let (_, n) = v.read(&v.doctor.token).await;
    assert_eq!((n["version"].as_i64(), &n["assessment"]), (Some(2), &winner));

    // First saves of a fresh note at once: one insert wins, the rest are told why.
    let fresh = visit().await;
    let answers =
        join_all((0..16).map(|i| fresh.save(&fresh.doctor.token, soap(0, &format!("first {i}"))))).await;
    let statuses: Vec<u16> = answers.iter().map(|(s, _)| *s).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 200 || *s == 409), "{statuses:?}");

    // Addenda at once: all kept, numbered 1..=20 without a gap or a repeat.
    assert_eq!(v.post("/sign", &v.doctor.token, json!({"version": 2})).await.0, 200);
    let answers = join_all(
        (0..20).map(|i| v.post("/addenda", &v.doctor.token, json!({"text": format!("addendum {i}")}))),
    )
    .await;
    assert!(answers.iter().all(|(s, _)| *s == 201), "{answers:?}");
    let mut positions: Vec<i64> = answers.iter().map(|(_, a)| a["position"].as_i64().unwrap()).collect();
    positions.sort_unstable();
    assert_eq!(positions, (1..=20).collect::<Vec<_>>());
}

#[tokio::test]
async fn the_database_itself_refuses_to_change_or_delete_what_is_signed() {
    let v = visit().await;
    assert_eq!(v.save(&v.doctor.token, soap(0, "draft")).await.0, 200);
    let db = &v.app.state.db;
    // A draft may still be changed by the flows (this is what a save does).
    let mut tx = db.write().await.unwrap();
    let r = sqlx::query("UPDATE notes SET saved_at = saved_at WHERE appointment_id = $1")
        .bind(&v.appointment)
        .execute(&mut *tx)
        .await;
    assert!(r.is_ok(), "{r:?}");
    drop(tx);
    assert_eq!(v.post("/sign", &v.doctor.token, json!({"version": 1})).await.0, 200);
    assert_eq!(v.post("/addenda", &v.doctor.token, json!({"text": "later"})).await.0, 201);
    for statement in [
        "UPDATE notes SET plan = 'tampered' WHERE appointment_id = $1",
        "DELETE FROM notes WHERE appointment_id = $1",
        "UPDATE note_addenda SET body = 'tampered' WHERE note_id IN (SELECT id FROM notes WHERE appointment_id = $1)",
        "DELETE FROM note_addenda WHERE note_id IN (SELECT id FROM notes WHERE appointment_id = $1)",
    ] {
        let mut tx = db.write().await.unwrap();
        let r = sqlx::query(statement).bind(&v.appointment).execute(&mut *tx).await;
        assert!(r.is_err(), "{statement} went through");
        drop(tx);
    }
    let (_, n) = v.read(&v.doctor.token).await;
    assert_eq!(
        (n["plan"].as_str().unwrap().contains("salbutamol"), n["addenda"].as_array().unwrap().len()),
        (true, 1)
    );
}

/// kill -9 while eight doctors' tabs save drafts: after the restart every note is one whole
/// save (all its sections from the same save), at least as new as the last one acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draft_saved_during_kill_9_is_there_whole_or_not_at_all() {
    let dir = std::env::temp_dir().join(format!("consilium-note-crash-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = match consilium_tests::test_postgres() {
        Some(server) => Some(consilium_tests::fresh_postgres_database(&server).await.unwrap()),
        None => None,
    };
    let (mut child, base) = crate::storage::start_child(&dir, db.as_deref()).await;
    let admin = std::fs::read_to_string(dir.join("admin-token")).unwrap();
    let http = reqwest::Client::new();
    let send = |token: &str, m: Method, path: &str, body: Value| {
        http.request(m, format!("{base}{path}")).bearer_auth(token).json(&body).send()
    };
    let json_of = |r: reqwest::Response| async move { r.json::<Value>().await.unwrap() };
    let user = json_of(
        send(&admin, Method::POST, "/api/v1/users", json!({"email": "doc@crash.example", "name": "Dr Crash", "role": "doctor", "password": "long enough password", "timezone": "UTC"}))
            .await
            .unwrap(),
    )
    .await;
    let doctor_id = user["id"].as_str().unwrap().to_string();
    let patient = json_of(
        send(&admin, Method::POST, "/api/v1/users", json!({"email": "pat@crash.example", "name": "Pat", "role": "patient", "password": "long enough password", "timezone": "UTC"}))
            .await
            .unwrap(),
    )
    .await;
    let rules: Vec<_> = (1..=7).map(|d| json!({"weekday": d, "start": "00:00", "end": "23:30"})).collect();
    let r = send(
        &admin,
        Method::PUT,
        &format!("/api/v1/doctors/{doctor_id}/availability"),
        json!({"consult_minutes": 30, "rules": rules}),
    );
    assert_eq!(r.await.unwrap().status(), 200);
    let login = json_of(
        send(
            "",
            Method::POST,
            "/api/v1/auth/token",
            json!({"email": "doc@crash.example", "password": "long enough password"}),
        )
        .await
        .unwrap(),
    )
    .await;
    let doctor = login["access_token"].as_str().unwrap().to_string();
    let mut appointments = Vec::new();
    for day in 1..=8 {
        let at = format!("2031-02-{day:02}T10:00:00Z");
        let a = json_of(
            send(
                &admin,
                Method::POST,
                "/api/v1/appointments",
                json!({"doctor_id": doctor_id, "patient_id": patient["id"], "starts_at": at}),
            )
            .await
            .unwrap(),
        )
        .await;
        appointments.push(a["id"].as_str().unwrap().to_string());
    }
    // Each writer saves its appointment's note over and over; every section says which save.
    let acked =
        std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashMap::<String, (i64, String)>::new()));
    let writers = appointments.iter().map(|a| {
        let (send, acked, doctor) = (&send, acked.clone(), &doctor);
        async move {
            let mut version = 0;
            for k in 0.. {
                let marker = format!("save {k} ").repeat(200);
                let body = json!({"version": version, "subjective": marker, "objective": marker, "assessment": marker, "plan": marker, "instructions": marker});
                let Ok(r) = send(doctor, Method::PUT, &format!("/api/v1/appointments/{a}/note"), body).await else { break };
                if r.status() != 200 {
                    break;
                }
                let Ok(n) = r.json::<Value>().await else { break };
                version = n["version"].as_i64().unwrap();
                acked.lock().unwrap().insert(a.clone(), (version, marker));
            }
        }
    });
    let killer = async {
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        child.start_kill().unwrap(); // SIGKILL
        child.wait().await.unwrap();
    };
    tokio::join!(join_all(writers), killer);
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() == appointments.len(), "every writer had a save acknowledged: {}", acked.len());
    let (_child, base) = crate::storage::start_child(&dir, db.as_deref()).await;
    for (a, (version, marker)) in &acked {
        let n: Value = http
            .get(format!("{base}/api/v1/appointments/{a}/note"))
            .bearer_auth(&doctor)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let stored = n["version"].as_i64().unwrap();
        assert!(stored >= *version, "acknowledged version {version} of {a} is lost (found {stored})");
        let sections: Vec<&str> = ["subjective", "objective", "assessment", "plan", "instructions"]
            .iter()
            .map(|s| n[s].as_str().unwrap())
            .collect();
        assert!(sections.iter().all(|s| *s == sections[0]), "a half-written note for {a}");
        if stored == *version {
            assert_eq!(sections[0], marker.trim(), "the acknowledged save of {a}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The call's chat and shared images appear in the consultation's record, with authors, and
/// reading them is audited.
#[tokio::test]
async fn the_chat_and_images_of_the_call_are_in_the_consultation_record() {
    let v = visit().await;
    let (_, a) =
        v.app.get_json(&format!("/api/v1/appointments/{}", v.appointment), Some(&v.doctor.token)).await;
    let room = a["room_id"].as_str().unwrap().to_string();
    let mut doctor = crate::rooms::connect(&v.app, &room, &v.doctor.token).await.unwrap();
    crate::rooms::until(&mut doctor, "welcome").await;
    crate::rooms::send(&mut doctor, json!({"type": "chat", "text": "Please show me the rash."})).await;
    crate::rooms::until(&mut doctor, "chat").await;
    let r = v
        .app
        .request(
            Method::POST,
            &format!("/api/v1/rooms/{room}/images?filename=rash.jpg"),
            Some(&v.doctor.token),
        )
        .body(consilium_tests::test_data("photo.jpg"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    for who in [&v.doctor, &v.patient] {
        let jar = v.app.browser_login(&who.email, &who.password).await;
        let html = v
            .app
            .http
            .get(v.app.url(&format!("/appointments/{}", v.appointment)))
            .header("cookie", format!("consilium_session={jar}"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(html.contains("Please show me the rash.") && html.contains("rash.jpg"), "{}", who.email);
    }
    let reads = v.app.audit_actions().await.iter().filter(|r| r["action"] == "room.record_read").count();
    assert_eq!(reads, 2);
}

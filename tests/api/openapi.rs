//! The OpenAPI document lists every /api route, and a table walks every route with every role.

use std::collections::BTreeSet;

use consilium::accounts::model::Role;
use consilium_tests::{TestApp, spawn_app};
use reqwest::Method;
use serde_json::{Value, json};

/// What a caller of one role should get.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Expect {
    /// Anything but 401/403/404/405 and 5xx: the route let them through.
    Ok,
    /// 401: no session.
    Unauth,
    /// 403: signed in, wrong role.
    Deny,
    /// 404: the object exists but is not theirs, and ids reveal nothing.
    Hidden,
}

use Expect::*;

/// Ids of objects the table's paths refer to.
pub(crate) struct Ids {
    pub(crate) patient: String,
    pub(crate) doctor: String,
    pub(crate) appointment: String,
    pub(crate) exception: String,
    pub(crate) review: String,
    pub(crate) case: String,
    pub(crate) room: String,
}

/// Expectations for callers: no session, a patient, a doctor, an admin (none of them owns
/// the objects in the paths).
pub(crate) type Row = (Method, &'static str, Option<Value>, [Expect; 4]);

pub(crate) fn routes(ids: &Ids, email: &str) -> Vec<Row> {
    let any = [Unauth, Ok, Ok, Ok];
    let admin = [Unauth, Deny, Deny, Ok];
    let owner = [Unauth, Hidden, Hidden, Ok];
    vec![
        (Method::GET, "/api/openapi.json", None, [Ok, Ok, Ok, Ok]),
        (
            Method::POST,
            "/api/v1/auth/token",
            Some(json!({"email": email, "password": "correct horse battery staple"})),
            [Ok, Ok, Ok, Ok],
        ),
        (Method::POST, "/api/v1/auth/logout", None, any),
        (Method::GET, "/api/v1/me", None, any),
        (Method::PATCH, "/api/v1/me", Some(json!({})), any),
        (
            Method::POST,
            "/api/v1/me/password",
            Some(json!({"current_password": "wrong", "new_password": "x"})),
            any,
        ),
        (Method::GET, "/api/v1/users", None, admin),
        (
            Method::POST,
            "/api/v1/users",
            Some(
                json!({"email": "m@test.example", "name": "M", "role": "patient", "password": "long enough password"}),
            ),
            admin,
        ),
        (Method::GET, "/api/v1/users/{id}", None, admin),
        (Method::PATCH, "/api/v1/users/{id}", Some(json!({})), admin),
        (Method::GET, "/api/v1/audit", None, admin),
        (Method::GET, "/api/v1/doctors", None, any),
        (Method::GET, "/api/v1/doctors/{id}/availability", None, admin),
        (
            Method::PUT,
            "/api/v1/doctors/{id}/availability",
            Some(json!({"consult_minutes": 30, "rules": [{"weekday": 1, "start": "09:00", "end": "12:00"}]})),
            admin,
        ),
        (Method::GET, "/api/v1/doctors/{id}/slots", None, any),
        (Method::GET, "/api/v1/doctors/{id}/exceptions", None, admin),
        (
            Method::POST,
            "/api/v1/doctors/{id}/exceptions",
            Some(
                json!({"kind": "off", "starts_at": "2031-01-01T00:00:00Z", "ends_at": "2031-01-02T00:00:00Z"}),
            ),
            admin,
        ),
        (Method::DELETE, "/api/v1/doctors/{id}/exceptions/{exception_id}", None, admin),
        (Method::GET, "/api/v1/turn-credentials", None, any),
        (Method::POST, "/api/v1/rooms", None, [Unauth, Deny, Ok, Ok]),
        (Method::GET, "/api/v1/rooms/{id}", None, owner),
        (
            Method::POST,
            "/api/v1/rooms/{id}/invites",
            Some(json!({"kind": "guest", "name": "Interpreter"})),
            owner,
        ),
        (Method::POST, "/api/v1/rooms/{id}/device-tokens", Some(json!({"label": "Dermatoscope"})), owner),
        // Before the cancellations below close the room.
        (Method::POST, "/api/v1/rooms/{id}/images", None, owner),
        (Method::GET, "/api/v1/rooms/{id}/images", None, owner),
        (Method::GET, "/api/v1/rooms/{id}/findings", None, owner),
        (Method::GET, "/api/v1/appointments", None, any),
        (
            Method::POST,
            "/api/v1/appointments",
            Some(
                json!({"doctor_id": ids.doctor, "starts_at": "2031-01-01T09:07:00Z", "patient_id": ids.patient}),
            ),
            [Unauth, Deny, Deny, Ok],
        ),
        (Method::GET, "/api/v1/appointments/{id}", None, owner),
        (Method::GET, "/api/v1/appointments/{id}/ics", None, owner),
        (
            Method::POST,
            "/api/v1/appointments/{id}/reschedule",
            Some(json!({"starts_at": "2031-01-01T09:00:00Z", "reason": "r"})),
            owner,
        ),
        (
            Method::POST,
            "/api/v1/appointments/{id}/status",
            Some(json!({"status": "completed"})),
            [Unauth, Deny, Hidden, Ok],
        ),
        // Notes: admins read, only the appointment's doctor writes.
        (Method::GET, "/api/v1/appointments/{id}/note", None, owner),
        (
            Method::PUT,
            "/api/v1/appointments/{id}/note",
            Some(json!({"version": 0})),
            [Unauth, Hidden, Hidden, Deny],
        ),
        (
            Method::POST,
            "/api/v1/appointments/{id}/note/sign",
            Some(json!({"version": 1})),
            [Unauth, Hidden, Hidden, Deny],
        ),
        (
            Method::POST,
            "/api/v1/appointments/{id}/note/addenda",
            Some(json!({"text": "x"})),
            [Unauth, Hidden, Hidden, Deny],
        ),
        (Method::POST, "/api/v1/appointments/{id}/cancel", Some(json!({"reason": "r"})), owner),
        (Method::POST, "/api/v1/me/calendar-feed", None, any),
        (Method::DELETE, "/api/v1/me/calendar-feed", None, any),
        (Method::GET, "/api/v1/reviews", None, any),
        (
            Method::POST,
            "/api/v1/reviews",
            Some(
                json!({"title": "T", "experts": [ids.doctor], "duration_minutes": 60, "from": "2031-01-01", "to": "2031-01-05"}),
            ),
            [Unauth, Deny, Ok, Ok],
        ),
        (Method::GET, "/api/v1/reviews/{id}", None, owner),
        (
            Method::POST,
            "/api/v1/reviews/{id}/cases",
            Some(json!({"patient_id": ids.patient, "question": "q"})),
            owner,
        ),
        (Method::GET, "/api/v1/reviews/{id}/proposals", None, owner),
        (
            Method::POST,
            "/api/v1/reviews/{id}/schedule",
            Some(json!({"starts_at": "2031-01-01T03:07:00Z"})),
            owner,
        ),
        (
            Method::POST,
            "/api/v1/reviews/{id}/rsvp",
            Some(json!({"response": "accepted"})),
            [Unauth, Hidden, Hidden, Deny],
        ),
        (Method::GET, "/api/v1/reviews/{id}/cases/{case_id}/outcome", None, owner),
        (
            Method::PUT,
            "/api/v1/reviews/{id}/cases/{case_id}/outcome",
            Some(json!({"version": 0})),
            [Unauth, Hidden, Hidden, Deny],
        ),
        (
            Method::POST,
            "/api/v1/reviews/{id}/cases/{case_id}/outcome/sign",
            Some(json!({"version": 1})),
            [Unauth, Hidden, Hidden, Deny],
        ),
        (Method::GET, "/api/v1/reviews/{id}/attendance", None, owner),
        (Method::PUT, "/api/v1/reviews/{id}/attendance/{user_id}", Some(json!({"present": true})), owner),
        (Method::GET, "/api/v1/reviews/{id}/report.pdf", None, owner),
        (Method::GET, "/api/v1/reviews/{id}/ics", None, owner),
        (Method::POST, "/api/v1/reviews/{id}/cancel", None, owner),
        (Method::GET, "/api/v1/patients/{id}/chart", None, owner),
        // Before the emergency access below, which would let the doctor read (but not write).
        (Method::PUT, "/api/v1/patients/{id}/demographics", Some(json!({})), owner),
        (
            Method::POST,
            "/api/v1/patients/{id}/emergency-access",
            Some(json!({"reason": "unconscious in the emergency room"})),
            [Unauth, Deny, Ok, Deny],
        ),
        (Method::GET, "/api/v1/emergency-access", None, admin),
        (Method::GET, "/api/v1/me/record", None, [Unauth, Ok, Deny, Deny]),
        (Method::GET, "/api/v1/models", None, any),
        // Image and finding ids that do not exist: 401 first, then 404 for everyone.
        (Method::GET, "/api/v1/images/{id}/display", None, [Unauth, Hidden, Hidden, Hidden]),
        (
            Method::POST,
            "/api/v1/images/{id}/findings",
            Some(json!({"model": "diagnosisnet"})),
            [Unauth, Hidden, Hidden, Hidden],
        ),
        (Method::GET, "/api/v1/findings/{id}", None, [Unauth, Hidden, Hidden, Hidden]),
        (Method::GET, "/api/v1/findings/{id}/heatmap", None, [Unauth, Hidden, Hidden, Hidden]),
        (
            Method::POST,
            "/api/v1/findings/{id}/decision",
            Some(json!({"decision": "accept"})),
            [Unauth, Hidden, Hidden, Hidden],
        ),
    ]
}

pub(crate) fn concrete(template: &str, ids: &Ids) -> String {
    let id = if template.starts_with("/api/v1/users/") || template.starts_with("/api/v1/patients/") {
        &ids.patient
    } else if template.starts_with("/api/v1/doctors/") {
        &ids.doctor
    } else if template.starts_with("/api/v1/reviews/") {
        &ids.review
    } else if template.starts_with("/api/v1/rooms/") {
        &ids.room
    } else {
        &ids.appointment
    };
    template
        .replace("{exception_id}", &ids.exception)
        .replace("{case_id}", &ids.case)
        .replace("{user_id}", &ids.doctor)
        .replace("{id}", id)
}

#[tokio::test]
async fn the_document_lists_exactly_the_routes_of_the_table() {
    let app = spawn_app().await;
    let (s, doc) = app.get_json("/api/openapi.json", None).await;
    assert_eq!(s, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "patch", "delete"] {
            if let Some(op) = item.get(method) {
                documented.insert(format!("{} {path}", method.to_uppercase()));
                assert!(op.get("responses").is_some(), "{method} {path} has no responses");
            }
        }
    }
    let ids = Ids {
        patient: String::new(),
        doctor: String::new(),
        appointment: String::new(),
        exception: String::new(),
        review: String::new(),
        case: String::new(),
        room: String::new(),
    };
    let tabled: BTreeSet<String> =
        routes(&ids, "x@y.org").iter().map(|(m, p, _, _)| format!("{m} {p}")).collect();
    assert_eq!(documented, tabled, "a route is missing from the OpenAPI document or from this table");
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in [
        "User",
        "NewUser",
        "UserPatch",
        "TokenRequest",
        "TokenResponse",
        "ErrorBody",
        "AuditEntry",
        "Appointment",
        "Slot",
        "Availability",
        "Review",
        "Proposal",
    ] {
        assert!(schemas.contains_key(name), "schema {name} missing");
    }
}

pub(crate) async fn fixture(app: &TestApp) -> Ids {
    let admin = app.create_user(Role::Admin).await;
    let patient = app.create_user(Role::Patient).await;
    let doctor = app.create_user(Role::Doctor).await;
    let appointment =
        crate::scheduling::book_next_slot(app, &admin.token, &doctor.user.id, &patient.user.id).await;
    let (s, e) = app
        .send_json(
            Method::POST,
            &format!("/api/v1/doctors/{}/exceptions", doctor.user.id),
            Some(&admin.token),
            &json!({"kind": "off", "starts_at": "2032-01-01T00:00:00Z", "ends_at": "2032-01-02T00:00:00Z"}),
        )
        .await;
    assert_eq!(s, 201, "{e}");
    let (s, r) = app
        .send_json(
            Method::POST,
            "/api/v1/reviews",
            Some(&doctor.token),
            &json!({"title": "Board", "experts": [doctor.user.id], "duration_minutes": 60, "from": "2031-01-01", "to": "2031-01-05"}),
        )
        .await;
    assert_eq!(s, 201, "{r}");
    let review = r["id"].as_str().unwrap().to_string();
    let (s, c) = app
        .send_json(
            Method::POST,
            &format!("/api/v1/reviews/{review}/cases"),
            Some(&doctor.token),
            &json!({"patient_id": patient.user.id, "question": "Which treatment?"}),
        )
        .await;
    assert_eq!(s, 201, "{c}");
    let (_, a) = app.get_json(&format!("/api/v1/appointments/{appointment}"), Some(&admin.token)).await;
    let room = a["room_id"].as_str().unwrap().to_string();
    Ids {
        patient: patient.user.id,
        doctor: doctor.user.id,
        appointment,
        exception: e["id"].as_str().unwrap().into(),
        review,
        case: c["cases"][0]["id"].as_str().unwrap().into(),
        room,
    }
}

#[tokio::test]
async fn every_route_answers_every_role_as_the_table_says() {
    let app = spawn_app().await;
    let ids = fixture(&app).await;
    let target = app.create_user(Role::Patient).await;
    let mut failures = Vec::new();
    for (i, role) in
        [None, Some(Role::Patient), Some(Role::Doctor), Some(Role::Admin)].into_iter().enumerate()
    {
        let caller = match role {
            Some(r) => Some(app.create_user(r).await),
            None => None,
        };
        for (method, template, body, expect) in routes(&ids, &target.email) {
            let path = concrete(template, &ids);
            let token = caller.as_ref().map(|c| app.token_for(&c.user));
            let mut rb = app.request(method.clone(), &path, token.as_deref());
            if let Some(b) = &body {
                rb = rb.json(b);
            }
            let status = rb.send().await.unwrap().status().as_u16();
            let ok = match expect[i] {
                Ok => !matches!(status, 401 | 403 | 404 | 405) && status < 500,
                Unauth => status == 401,
                Deny => status == 403,
                Hidden => status == 404,
            };
            if !ok {
                failures.push(format!("{role:?} {method} {template} -> {status}, expected {:?}", expect[i]));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test]
async fn unknown_api_paths_are_json_404() {
    let app = spawn_app().await;
    let (s, body) = app.get_json("/api/v1/nothing-here", None).await;
    assert_eq!(s, 404);
    assert_eq!(body["error"]["code"], "not_found");
}

//! Scheduling pages over HTTP: conflicts, the hours form, time off, the dashboard.

use super::*;

async fn cookie(app: &TestApp, u: &TestUser) -> String {
    format!("consilium_session={}", app.browser_login(&u.email, &u.password).await)
}

#[tokio::test]
async fn a_slot_taken_meanwhile_brings_the_week_back_with_a_409() {
    let c = clinic().await;
    let free = slots(&c.app, &c.patient.token, &c.doctor.user.id, "UTC").await;
    let other = c.app.create_user(Role::Patient).await;
    assert_eq!(book(&c, &other, &free[0]["starts_at"]).await.0, 201);
    let jar = cookie(&c.app, &c.patient).await;
    let r = c
        .app
        .http
        .post(c.app.url(&format!("/book/{}", c.doctor.user.id)))
        .header("cookie", &jar)
        .form(&[("starts_at", free[0]["starts_at"].as_str().unwrap()), ("reason", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 409);
    let html = r.text().await.unwrap();
    assert!(html.contains("just been booked") && html.contains("class=\"slot\""), "the week is shown again");
}

#[tokio::test]
async fn consultation_hours_are_edited_in_a_form_and_bad_ranges_come_back() {
    let c = clinic().await;
    let path = format!("/schedule/{}/availability", c.doctor.user.id);
    let jar = cookie(&c.app, &c.doctor).await;
    let r = c
        .app
        .http
        .post(c.app.url(&path))
        .header("cookie", &jar)
        .form(&[("consult_minutes", "20"), ("day1", "08:00-12:00, 13:00-16:00"), ("day3", "09:00-11:00")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let (_, avail) = c
        .app
        .get_json(&format!("/api/v1/doctors/{}/availability", c.doctor.user.id), Some(&c.doctor.token))
        .await;
    assert_eq!(avail["consult_minutes"], 20);
    assert_eq!(avail["rules"].as_array().unwrap().len(), 3);
    let r = c
        .app
        .http
        .post(c.app.url(&path))
        .header("cookie", &jar)
        .form(&[("consult_minutes", "20"), ("day2", "nine to five")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    assert!(r.text().await.unwrap().contains("nine to five"), "the text is kept for correction");
    let patient_jar = cookie(&c.app, &c.patient).await;
    let r = c.app.http.get(c.app.url(&path)).header("cookie", &patient_jar).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let r = c.app.http.get(c.app.url("/admin/schedule")).header("cookie", &patient_jar).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
}

#[tokio::test]
async fn time_off_is_entered_in_the_doctors_local_time() {
    let c = clinic().await;
    let jar = cookie(&c.app, &c.doctor).await;
    let day = jiff::Zoned::now().date().checked_add(jiff::ToSpan::days(3)).unwrap();
    let path = format!("/schedule/{}/exceptions", c.doctor.user.id);
    let r = c
        .app
        .http
        .post(c.app.url(&path))
        .header("cookie", &jar)
        .form(&[
            ("kind", "off"),
            ("starts", &format!("{day}T09:00")),
            ("ends", &format!("{day}T12:00")),
            ("reason", "training"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let (_, list) = c
        .app
        .get_json(
            &format!("/api/v1/doctors/{}/exceptions?from={day}&to={day}", c.doctor.user.id),
            Some(&c.doctor.token),
        )
        .await;
    let start: jiff::Timestamp = list[0]["starts_at"].as_str().unwrap().parse().unwrap();
    let berlin = start.to_zoned(jiff::tz::TimeZone::get("Europe/Berlin").unwrap());
    assert_eq!((berlin.hour(), berlin.minute()), (9, 0), "09:00 in the doctor's zone (Europe/Berlin)");
    let html = c
        .app
        .http
        .get(c.app.url(&format!("/schedule/{}/availability", c.doctor.user.id)))
        .header("cookie", &jar)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("training"));
    let r = c
        .app
        .http
        .post(c.app.url(&path))
        .header("cookie", &jar)
        .form(&[("kind", "off"), ("starts", "whenever"), ("ends", &format!("{day}T12:00"))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    let id = list[0]["id"].as_str().unwrap();
    let r = c
        .app
        .http
        .post(c.app.url(&format!("{path}/{id}/delete")))
        .header("cookie", &jar)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let (_, list) = c
        .app
        .get_json(
            &format!("/api/v1/doctors/{}/exceptions?from={day}&to={day}", c.doctor.user.id),
            Some(&c.doctor.token),
        )
        .await;
    assert!(list.as_array().unwrap().is_empty());
}

#[tokio::test]
async fn the_patient_dashboard_lists_the_next_appointment() {
    let c = clinic().await;
    let free = slots(&c.app, &c.patient.token, &c.doctor.user.id, "UTC").await;
    book(&c, &c.patient, &free[0]["starts_at"]).await;
    let jar = cookie(&c.app, &c.patient).await;
    let html =
        c.app.http.get(c.app.url("/")).header("cookie", &jar).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Test doctor") && html.contains("/appointments/"), "{html}");
}

//! Calendar subscription feeds.

use super::*;

#[tokio::test]
async fn a_secret_feed_url_serves_the_calendar_until_replaced_or_revoked() {
    let c = clinic().await;
    let free = slots(&c.app, &c.patient.token, &c.doctor.user.id, "UTC").await;
    let (_, appt) = book(&c, &c.patient, &free[0]["starts_at"]).await;
    let (s, body) =
        c.app.send_json(Method::POST, "/api/v1/me/calendar-feed", Some(&c.doctor.token), &json!({})).await;
    assert_eq!(s, 201, "{body}");
    let url = body["url"].as_str().unwrap().to_string();
    let path = url.split_once("/calendar/").map(|(_, t)| format!("/calendar/{t}")).unwrap();
    let r = c.app.http.get(c.app.url(&path)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let text = r.text().await.unwrap();
    let parsed: icalendar::Calendar = text.parse().expect("valid iCalendar");
    assert_eq!(parsed.components.len(), 1);
    assert!(text.contains(&format!("UID:appointment-{}@consilium", appt["id"].as_str().unwrap())));
    let stored: Vec<String> = sqlx::query_scalar("SELECT token_hash FROM calendar_feeds")
        .fetch_all(c.app.state.db.read())
        .await
        .unwrap();
    assert!(!url.contains(&stored[0]), "only a hash of the token is stored");
    // A new address replaces the old one.
    let (_, again) =
        c.app.send_json(Method::POST, "/api/v1/me/calendar-feed", Some(&c.doctor.token), &json!({})).await;
    assert_ne!(again["url"], body["url"]);
    assert_eq!(c.app.http.get(c.app.url(&path)).send().await.unwrap().status().as_u16(), 404);
    let r = c
        .app
        .request(Method::DELETE, "/api/v1/me/calendar-feed", Some(&c.doctor.token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let new_path = again["url"]
        .as_str()
        .unwrap()
        .split_once("/calendar/")
        .map(|(_, t)| format!("/calendar/{t}"))
        .unwrap();
    assert_eq!(c.app.http.get(c.app.url(&new_path)).send().await.unwrap().status().as_u16(), 404);
    assert_eq!(c.app.http.get(c.app.url("/calendar/guess.ics")).send().await.unwrap().status().as_u16(), 404);
    assert!(c.app.audit_actions().await.iter().any(|r| r["action"] == "calendar.feed_read"));
}

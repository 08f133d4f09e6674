//! Reminders and notices through a transactional outbox. Booking, moving and cancelling write
//! or cancel rows in the same transaction as the change, as signing a case outcome writes a
//! notice for the clinician it names (kind `outcome`, due at once); a background worker claims due rows one at a
//! time (`pending` → `sending`, so two workers never send the same one), emails them over SMTP
//! when `CONSILIUM_SMTP_URL` is set or records them (`logged`) otherwise, and retries failures
//! with back-off, giving up after [`MAX_ATTEMPTS`].

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sqlx::{AnyConnection, Row};

use crate::AppState;
use crate::accounts::model::Lang;
use crate::db::{new_id, now_ms};
use crate::error::Result;
use crate::web::i18n::Tr;
use crate::web::time::{moment, zone};

/// Minutes before the start at which reminders go out: 24 hours and 15 minutes.
pub const OFFSETS: [i64; 2] = [24 * 60, 15];
/// Sending attempts before a reminder is marked failed.
pub const MAX_ATTEMPTS: i64 = 5;
/// Reminders handled per worker pass (the rest wait for the next pass).
const BATCH: i64 = 50;

/// Queues reminders for each recipient at each offset that is still in the future, in one
/// statement.
pub async fn queue(
    conn: &mut AnyConnection,
    kind: &str,
    object_id: &str,
    recipients: &[&str],
    start_ms: i64,
) -> Result<()> {
    let now = now_ms();
    let rows: Vec<(&str, i64, i64)> = recipients
        .iter()
        .flat_map(|r| OFFSETS.iter().map(move |o| (*r, *o, start_ms - o * 60_000)))
        .filter(|(_, _, due)| *due > now)
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    // Seven placeholders a row; kind, object and creation time repeat per row for portability.
    let values: Vec<String> = (0..rows.len())
        .map(|i| {
            let b = i * 7;
            format!(
                "(${}, ${}, ${}, ${}, ${}, ${}, 'pending', 0, ${})",
                b + 1,
                b + 2,
                b + 3,
                b + 4,
                b + 5,
                b + 6,
                b + 7
            )
        })
        .collect();
    let sql = format!(
        "INSERT INTO reminders (id, kind, object_id, recipient_id, offset_minutes, due_at, status, attempts, created_at)
         VALUES {} ON CONFLICT (object_id, recipient_id, offset_minutes, due_at) DO NOTHING",
        values.join(", ")
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for (recipient, offset, due) in rows {
        q = q.bind(new_id()).bind(kind).bind(object_id).bind(recipient).bind(offset).bind(due).bind(now);
    }
    q.execute(conn).await?;
    Ok(())
}

/// Queues one notice due now: `kind` `outcome` tells `recipient` of the signed case outcome
/// `object_id`. Written in the caller's transaction.
pub async fn notify(conn: &mut AnyConnection, kind: &str, object_id: &str, recipient: &str) -> Result<()> {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO reminders (id, kind, object_id, recipient_id, offset_minutes, due_at, status, attempts, created_at)
         VALUES ($1, $2, $3, $4, 0, $5, 'pending', 0, $5)
         ON CONFLICT (object_id, recipient_id, offset_minutes, due_at) DO NOTHING",
    )
    .bind(new_id())
    .bind(kind)
    .bind(object_id)
    .bind(recipient)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Cancels every reminder of an object not sent yet (on cancel, and before re-queueing on a move).
pub async fn cancel(conn: &mut AnyConnection, object_id: &str) -> Result<()> {
    sqlx::query("UPDATE reminders SET status = 'cancelled' WHERE object_id = $1 AND status = 'pending'")
        .bind(object_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Where reminders go.
pub enum Mailer {
    Smtp {
        transport: Box<AsyncSmtpTransport<Tokio1Executor>>,
        from: Mailbox,
    },
    /// No mail server configured: reminders are recorded as `logged`.
    Record,
}

impl Mailer {
    pub fn from_config(config: &crate::config::Config) -> anyhow::Result<Mailer> {
        match &config.smtp_url {
            None => Ok(Mailer::Record),
            Some(url) => Ok(Mailer::Smtp {
                transport: Box::new(
                    AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                        .map_err(|e| anyhow::anyhow!("CONSILIUM_SMTP_URL: {e}"))?
                        .timeout(Some(Duration::from_secs(20)))
                        .build(),
                ),
                from: config.smtp_from.parse().map_err(|e| anyhow::anyhow!("CONSILIUM_SMTP_FROM: {e}"))?,
            }),
        }
    }
}

/// Runs passes every `interval` for the life of the process.
/// It ends when `stop` turns true (the server is shutting down), after the pass in progress,
/// and lets go of the state it holds (the database among it).
pub fn spawn_worker(
    state: AppState,
    mailer: Mailer,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(state.config.reminder_interval);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.wait_for(|stopped| *stopped) => break,
            }
            if let Err(e) = run_due(&state, &mailer).await {
                tracing::warn!(error = %e, "reminder pass failed");
            }
        }
    })
}

/// A due reminder with what the message needs.
struct Due {
    id: String,
    kind: String,
    object_id: String,
    attempts: i64,
    email: String,
    name: String,
    timezone: String,
    locale: Option<String>,
}

/// Sends (or records) every due reminder once; returns how many were handled.
pub async fn run_due(state: &AppState, mailer: &Mailer) -> Result<usize> {
    let rows = sqlx::query(
        "SELECT r.id, r.kind, r.object_id, r.attempts, u.email, u.name, u.timezone, u.locale
         FROM reminders r JOIN users u ON u.id = r.recipient_id
         WHERE r.status = 'pending' AND r.due_at <= $1 ORDER BY r.due_at LIMIT $2",
    )
    .bind(now_ms())
    .bind(BATCH)
    .fetch_all(state.db.read())
    .await?;
    let mut handled = 0;
    for r in rows {
        let due = Due {
            id: r.try_get("id")?,
            kind: r.try_get("kind")?,
            object_id: r.try_get("object_id")?,
            attempts: r.try_get("attempts")?,
            email: r.try_get("email")?,
            name: r.try_get("name")?,
            timezone: r.try_get("timezone")?,
            locale: r.try_get("locale")?,
        };
        // Claim it: only one worker moves it out of `pending`.
        let claimed = state
            .db
            .execute(
                sqlx::query("UPDATE reminders SET status = 'sending', attempts = attempts + 1 WHERE id = $1 AND status = 'pending'")
                    .bind(&due.id),
            )
            .await?;
        if claimed.rows_affected() != 1 {
            continue;
        }
        handled += 1;
        let outcome = match compose(state, &due).await? {
            None => Outcome::Obsolete,
            Some((subject, body)) => deliver(mailer, &due, subject, body).await,
        };
        finish(state, &due, outcome).await?;
    }
    Ok(handled)
}

enum Outcome {
    Sent,
    Logged,
    Obsolete,
    Failed(String),
}

async fn deliver(mailer: &Mailer, due: &Due, subject: String, body: String) -> Outcome {
    match mailer {
        Mailer::Record => {
            tracing::info!(reminder = %due.id, kind = %due.kind, "reminder recorded (no SMTP configured)");
            Outcome::Logged
        }
        Mailer::Smtp { transport, from } => {
            let to: Mailbox =
                match format!("{} <{}>", due.name.replace(['<', '>', '"'], ""), due.email).parse() {
                    Ok(m) => m,
                    Err(e) => return Outcome::Failed(format!("recipient address: {e}")),
                };
            let lang = Lang::from_code(due.locale.as_deref().unwrap_or("en")).unwrap_or(Lang::En);
            // MIME: a plain-text and an HTML alternative, both UTF-8 (lettre writes
            // MIME-Version, the charset and a transfer encoding mail programs decode).
            let built = Message::builder()
                .from(from.clone())
                .to(to)
                .subject(subject)
                .header(ContentLanguage(Tr(lang).html_lang().to_string()))
                .multipart(MultiPart::alternative_plain_html(body.clone(), html_of(&body)));
            let message = match built {
                Ok(m) => m,
                Err(e) => return Outcome::Failed(format!("building the message: {e}")),
            };
            match transport.send(message).await {
                Ok(_) => Outcome::Sent,
                Err(e) => Outcome::Failed(e.to_string()),
            }
        }
    }
}

/// The `Content-Language` of a message: the recipient's language.
#[derive(Clone)]
struct ContentLanguage(String);

impl lettre::message::header::Header for ContentLanguage {
    fn name() -> lettre::message::header::HeaderName {
        lettre::message::header::HeaderName::new_from_ascii_str("Content-Language")
    }

    fn parse(s: &str) -> std::result::Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ContentLanguage(s.to_string()))
    }

    fn display(&self) -> lettre::message::header::HeaderValue {
        lettre::message::header::HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// The HTML alternative of a plain-text message: escaped, a paragraph per block, links made
/// clickable.
fn html_of(text: &str) -> String {
    let escape =
        |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
    let mut out = String::from("<!doctype html><html><body>");
    for block in text.split("\n\n").map(str::trim).filter(|b| !b.is_empty()) {
        out.push_str("<p>");
        let lines: Vec<String> = block
            .lines()
            .map(|line| {
                line.split(' ')
                    .map(|w| {
                        if w.starts_with("https://") || w.starts_with("http://") {
                            format!("<a href=\"{}\">{}</a>", escape(w), escape(w))
                        } else {
                            escape(w)
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        out.push_str(&lines.join("<br>"));
        out.push_str("</p>");
    }
    out.push_str("</body></html>");
    out
}

async fn finish(state: &AppState, due: &Due, outcome: Outcome) -> Result<()> {
    let now = now_ms();
    let q = match outcome {
        Outcome::Sent | Outcome::Logged => {
            let status = if matches!(outcome, Outcome::Sent) { "sent" } else { "logged" };
            sqlx::query("UPDATE reminders SET status = $2, sent_at = $3, last_error = NULL WHERE id = $1")
                .bind(&due.id)
                .bind(status)
                .bind(now)
        }
        Outcome::Obsolete => {
            sqlx::query("UPDATE reminders SET status = 'cancelled' WHERE id = $1").bind(&due.id)
        }
        Outcome::Failed(error) => {
            let attempts = due.attempts + 1;
            tracing::warn!(reminder = %due.id, attempts, error = %error, "reminder not sent");
            let error: String = error.chars().take(500).collect();
            if attempts >= MAX_ATTEMPTS {
                sqlx::query("UPDATE reminders SET status = 'failed', last_error = $2 WHERE id = $1")
                    .bind(&due.id)
                    .bind(error)
            } else {
                let retry = now + 60_000 * (1 << attempts.min(10));
                sqlx::query(
                    "UPDATE reminders SET status = 'pending', due_at = $2, last_error = $3 WHERE id = $1",
                )
                .bind(&due.id)
                .bind(retry)
                .bind(error)
            }
        }
    };
    state.db.execute(q).await?;
    Ok(())
}

/// Subject and body in the recipient's language and zone; `None` if the appointment or review
/// no longer takes place.
async fn compose(state: &AppState, due: &Due) -> Result<Option<(String, String)>> {
    let tr = Tr(due.locale.as_deref().and_then(Lang::from_code).unwrap_or(Lang::En));
    let tz = zone(&due.timezone);
    let base = state.config.base_url();
    let mut conn = state.db.acquire().await?;
    if due.kind == "outcome" {
        return outcome_notice(&mut conn, due, &tr, &base).await;
    }
    let (what, start_ms, link) = if due.kind == "appointment" {
        match super::db::appointment(&mut conn, &due.object_id).await? {
            Some(a) if a.status == super::model::Status::Booked => (
                format!("{} · {} / {}", tr.t("ics.consultation"), a.doctor_name, a.patient_name),
                a.starts_ms,
                format!("{base}/appointments/{}", a.id),
            ),
            _ => return Ok(None),
        }
    } else {
        match super::reviews::db::load(&mut conn, &due.object_id).await? {
            Some(r) if r.status == "scheduled" => match r.time_ms {
                Some((start, _)) => (r.title.clone(), start, format!("{base}/reviews/{}", r.id)),
                None => return Ok(None),
            },
            _ => return Ok(None),
        }
    };
    let when = jiff::Timestamp::from_millisecond(start_ms).map(|t| moment(t, &tz, &tr)).unwrap_or_default();
    let subject = format!("{}: {what}, {when}", tr.t("reminder.subject"));
    let body = format!(
        "{}\n\n{what}\n{when}\n\n{} {link}\n",
        tr.t("reminder.greeting").replace("{name}", &due.name),
        tr.t("reminder.join")
    );
    Ok(Some((subject, body)))
}

/// The notice of a signed case outcome to the clinician it names: the review, the
/// recommendation and a link; the patient is named only behind the link (mail is not a place
/// for patient data). `None` if the outcome is gone or not signed.
async fn outcome_notice(
    conn: &mut AnyConnection,
    due: &Due,
    tr: &Tr,
    base: &str,
) -> Result<Option<(String, String)>> {
    let Some(n) = crate::records::outcomes::db::notice(conn, &due.object_id).await? else {
        return Ok(None);
    };
    let recommendation =
        n.recommendation.map(|r| crate::records::outcomes::pages::label(tr, r)).unwrap_or("");
    let subject = format!("{}: {}", tr.t("notice.outcome_subject"), n.review_title);
    let body = format!(
        "{}\n\n{}\n\n{}: {}\n{}: {recommendation}\n\n{} {base}/reviews/{}#case-{}\n",
        tr.t("reminder.greeting").replace("{name}", &due.name),
        tr.t("notice.outcome_body"),
        tr.t("notice.review"),
        n.review_title,
        tr.t("outcome.recommendation"),
        tr.t("reminder.join"),
        n.review_id,
        n.case_id,
    );
    Ok(Some((subject, body)))
}

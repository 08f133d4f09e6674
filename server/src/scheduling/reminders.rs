//! Reminders and notices through a transactional outbox. Booking, moving and cancelling write
//! or cancel rows in the same transaction as the change: reminders before the start, and a
//! notice due at once for the patient and the doctor ([`tell`]); signing a case outcome writes
//! a notice for the clinician it names (kind `outcome`). A background worker claims due rows
//! one at a time (`pending` → `sending`, so two workers never send the same one), emails them
//! over SMTP when `CONSILIUM_SMTP_URL` is set or records them (`logged`) otherwise, and retries
//! failures with back-off, giving up after [`MAX_ATTEMPTS`]. What each kind says is in
//! [`super::messages`].

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sqlx::{AnyConnection, Row};

use crate::AppState;
use crate::accounts::model::Lang;
use crate::db::{new_id, now_ms};
use crate::error::Result;
use crate::web::i18n::Tr;

use super::messages::{self, Mail, Notice, Recipient};

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
         VALUES {} ON CONFLICT (kind, object_id, recipient_id, offset_minutes, due_at) DO NOTHING",
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
    notify_all(conn, kind, object_id, &[recipient]).await
}

/// Tells the patient and the doctor of appointment `id` that it was booked, moved or
/// cancelled (with the calendar entry attached). Call after [`cancel`] on a move or a
/// cancellation, which withdraws notices not sent yet.
pub async fn tell(conn: &mut AnyConnection, notice: Notice, id: &str, people: [&str; 2]) -> Result<()> {
    notify_all(conn, notice.kind(), id, &people).await
}

/// Notices due now for each of `recipients`, in one statement. The same notice queued again
/// in the same millisecond after it was cancelled (moved, then moved back) is revived, not
/// lost.
async fn notify_all(
    conn: &mut AnyConnection,
    kind: &str,
    object_id: &str,
    recipients: &[&str],
) -> Result<()> {
    let now = now_ms();
    // Four placeholders a row: id, kind, object, recipient; the time is the last one.
    let time = recipients.len() * 4 + 1;
    let values: Vec<String> = (0..recipients.len())
        .map(|i| {
            let b = i * 4;
            format!("(${}, ${}, ${}, ${}, 0, ${time}, 'pending', 0, ${time})", b + 1, b + 2, b + 3, b + 4)
        })
        .collect();
    let sql = format!(
        "INSERT INTO reminders (id, kind, object_id, recipient_id, offset_minutes, due_at, status, attempts, created_at)
         VALUES {}
         ON CONFLICT (kind, object_id, recipient_id, offset_minutes, due_at)
         DO UPDATE SET status = 'pending' WHERE reminders.status = 'cancelled'",
        values.join(", ")
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for recipient in recipients {
        q = q.bind(new_id()).bind(kind).bind(object_id).bind(*recipient);
    }
    q.bind(now).execute(conn).await?;
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
    recipient_id: String,
    attempts: i64,
    email: String,
    name: String,
    timezone: String,
    locale: Option<String>,
}

/// Sends (or records) every due reminder once; returns how many were handled.
pub async fn run_due(state: &AppState, mailer: &Mailer) -> Result<usize> {
    let rows = sqlx::query(
        "SELECT r.id, r.kind, r.object_id, r.recipient_id, r.attempts, u.email, u.name, u.timezone, u.locale
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
            recipient_id: r.try_get("recipient_id")?,
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
        let to =
            Recipient { id: &due.recipient_id, name: &due.name, timezone: &due.timezone, lang: due.lang() };
        let outcome = match messages::compose(state, &due.kind, &due.object_id, &to).await? {
            None => Outcome::Obsolete,
            Some(mail) => deliver(mailer, &due, mail).await,
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

impl Due {
    fn lang(&self) -> Lang {
        self.locale.as_deref().and_then(Lang::from_code).unwrap_or(Lang::En)
    }
}

async fn deliver(mailer: &Mailer, due: &Due, mail: Mail) -> Outcome {
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
            // MIME: a plain-text and an HTML alternative, both UTF-8 (lettre writes
            // MIME-Version, the charset and a transfer encoding mail programs decode), and
            // beside them the calendar file when there is one.
            let text = MultiPart::alternative_plain_html(mail.body.clone(), html_of(&mail.body));
            let content = match mail.calendar {
                None => text,
                Some(ics) => MultiPart::mixed()
                    .multipart(text)
                    .singlepart(Attachment::new("consultation.ics".into()).body(ics, calendar_type())),
            };
            let built = Message::builder()
                .from(from.clone())
                .to(to)
                .subject(mail.subject)
                .header(ContentLanguage(Tr(due.lang()).html_lang().to_string()))
                .multipart(content);
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

/// `text/calendar` as RFC 6047 attaches it: the method named, UTF-8.
fn calendar_type() -> ContentType {
    ContentType::parse("text/calendar; charset=utf-8; method=PUBLISH").unwrap_or(ContentType::TEXT_PLAIN)
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

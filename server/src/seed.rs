//! The demo clinic: one admin, three doctors of different specialties and time zones with
//! weekly consultation hours, two patients. Seeded into an empty embedded database at first start (never into PostgreSQL
//! unless asked with `consilium seed-demo`); passwords are random and printed once.

use rand::Rng;

use crate::accounts::model::NewUser;
use crate::accounts::{db as users, service};
use crate::db::Db;
use crate::error::AppError;
use crate::records::audit::Actor;
use crate::scheduling;
use crate::scheduling::slots::Rule;

/// One demo account's sign-in.
#[derive(Debug, Clone)]
pub struct DemoLogin {
    pub role: &'static str,
    pub name: &'static str,
    pub email: &'static str,
    pub password: String,
}

/// role, name, email, time zone, specialty, preferred language.
type Person =
    (&'static str, &'static str, &'static str, &'static str, Option<&'static str>, Option<&'static str>);

const PEOPLE: &[Person] = &[
    ("admin", "Clinic Admin", "admin@consilium.demo", "Europe/Berlin", None, None),
    ("doctor", "Dr. Amelia Hart", "amelia.hart@consilium.demo", "Europe/London", Some("Dermatology"), None),
    ("doctor", "Dr. Wei Zhang", "wei.zhang@consilium.demo", "Asia/Shanghai", Some("Oncology"), Some("zh")),
    (
        "doctor",
        "Dr. Lucas Moreno",
        "lucas.moreno@consilium.demo",
        "America/New_York",
        Some("Radiology"),
        None,
    ),
    ("patient", "Nora Berg", "nora.berg@consilium.demo", "Europe/Berlin", None, None),
    ("patient", "Li Na", "li.na@consilium.demo", "Asia/Shanghai", None, Some("zh")),
];

/// A demo doctor's working week, in their own time zone.
struct Week {
    rules: Vec<Rule>,
    consult_minutes: i64,
}

fn demo_week(email: &str) -> Option<Week> {
    let hours: &[(i32, i32)] = match email {
        "amelia.hart@consilium.demo" => &[(9 * 60, 12 * 60), (13 * 60, 17 * 60)],
        // The evening session lets boards with London and New York meet (13:00–14:00 UTC).
        "wei.zhang@consilium.demo" => {
            &[(8 * 60 + 30, 11 * 60 + 30), (14 * 60, 17 * 60 + 30), (19 * 60, 22 * 60)]
        }
        "lucas.moreno@consilium.demo" => &[(8 * 60, 16 * 60)],
        _ => return None,
    };
    let days = if email.starts_with("lucas") { 1..=4 } else { 1..=5 };
    let rules = days
        .flat_map(|weekday| {
            hours.iter().map(move |(start, end)| Rule { weekday, start_minute: *start, end_minute: *end })
        })
        .collect();
    Some(Week { rules, consult_minutes: if email.starts_with("lucas") { 20 } else { 30 } })
}

fn random_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    (0..14).map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char).collect()
}

/// Creates the demo accounts that do not exist yet; returns the ones created.
pub async fn seed_demo(db: &Db) -> anyhow::Result<Vec<DemoLogin>> {
    let mut created = Vec::new();
    for (role, name, email, tz, specialty, locale) in PEOPLE {
        let password = random_password();
        let input = NewUser {
            email: email.to_string(),
            name: name.to_string(),
            role: role.to_string(),
            password: password.clone(),
            timezone: Some(tz.to_string()),
            specialty: specialty.map(str::to_string),
            locale: locale.map(str::to_string),
        };
        match service::create(db, &Actor::cli(), input).await {
            Ok(user) => {
                if let Some(week) = demo_week(email) {
                    let mut tx = db.write().await?;
                    scheduling::db::replace_rules(&mut tx, &user.id, &week.rules, week.consult_minutes)
                        .await?;
                    tx.commit().await?;
                }
                created.push(DemoLogin { role, name, email, password })
            }
            Err(AppError::Conflict(_)) => {}
            Err(e) => return Err(anyhow::anyhow!("seeding {email}: {e}")),
        }
    }
    Ok(created)
}

/// First start on the embedded database: seed when there are no accounts at all.
/// Returns `None` when nothing was seeded (PostgreSQL, demo disabled, or accounts exist).
pub async fn seed_on_first_start(state: &crate::AppState) -> anyhow::Result<Option<Vec<DemoLogin>>> {
    if !state.config.is_embedded() || !state.config.demo_on_first_start {
        return Ok(None);
    }
    if users::count(&state.db).await? > 0 {
        return Ok(None);
    }
    seed_demo(&state.db).await.map(Some)
}

/// The message printed once with the demo sign-ins.
pub fn describe(logins: &[DemoLogin], base_url: &str) -> String {
    let mut out = format!("\nDemo clinic created. Sign in at {base_url}/login with:\n\n");
    for l in logins {
        out.push_str(&format!("  {:<8} {:<30} {}   ({})\n", l.role, l.email, l.password, l.name));
    }
    out.push_str("\nThese passwords are shown only now. Change them under Users once signed in as admin.\n");
    out
}

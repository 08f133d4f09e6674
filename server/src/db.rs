//! Storage: one sqlx `Any` pool over SQLite (embedded default) or PostgreSQL, the embedded
//! migrations, and the small conventions every query module shares (ids, timestamps, booleans).

use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, Executor, SqlSafeStr};

/// The pool every domain module queries through.
pub type Db = AnyPool;

/// Which engine is behind the pool; a few statements differ (e.g. `PRAGMA`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    pub fn of_url(url: &str) -> anyhow::Result<Engine> {
        if url.starts_with("sqlite:") {
            Ok(Engine::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Engine::Postgres)
        } else {
            anyhow::bail!("CONSILIUM_DATABASE_URL must start with postgres:// or sqlite:")
        }
    }
}

/// Opens the pool (creating the SQLite file if needed) and applies pending migrations.
pub async fn connect(url: &str) -> anyhow::Result<(Db, Engine)> {
    sqlx::any::install_default_drivers();
    let engine = Engine::of_url(url)?;
    let options = AnyConnectOptions::from_str(url).context("reading the database URL")?;
    let pool = AnyPoolOptions::new()
        .max_connections(if engine == Engine::Sqlite { 8 } else { 16 })
        .acquire_timeout(Duration::from_secs(5))
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                if engine == Engine::Sqlite {
                    // WAL is a property of the file; synchronous=NORMAL is safe under WAL.
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA synchronous = NORMAL").await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                }
                Ok(())
            })
        })
        .connect_with(options)
        .await
        .with_context(|| format!("connecting to {}", crate::config::redact_url(url)))?;
    migrator().run(&pool).await.context("applying migrations")?;
    Ok((pool, engine))
}

/// The migrations compiled into the binary, so a deployment needs no files beside it.
pub fn migrator() -> Migrator {
    let sources: [(i64, &str, &'static str); 9] = [
        (1, "foundation", include_str!("../../migrations/0001_foundation.sql")),
        (2, "scheduling", include_str!("../../migrations/0002_scheduling.sql")),
        (3, "reviews", include_str!("../../migrations/0003_reviews.sql")),
        (4, "reminders_feeds", include_str!("../../migrations/0004_reminders_feeds.sql")),
        (5, "consult", include_str!("../../migrations/0005_consult.sql")),
        (6, "invites", include_str!("../../migrations/0006_invites.sql")),
        (7, "device_tokens", include_str!("../../migrations/0007_device_tokens.sql")),
        (8, "imaging", include_str!("../../migrations/0008_imaging.sql")),
        (9, "finding_frame", include_str!("../../migrations/0009_finding_frame.sql")),
    ];
    Migrator::with_migrations(
        sources
            .into_iter()
            .map(|(version, name, sql)| {
                Migration::new(version, name.into(), MigrationType::Simple, sql.into_sql_str(), false)
            })
            .collect(),
    )
}

/// A write transaction. On SQLite, which admits one writer at a time and makes the others
/// poll with sleeps of growing length (1, 2, 5 … 100 ms), writers first queue here in FIFO
/// order, so contention costs a place in line rather than a sleep; on PostgreSQL (row locks)
/// no gate is taken.
pub struct WriteTx {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    _gate: Option<tokio::sync::MutexGuard<'static, ()>>,
}

impl std::ops::Deref for WriteTx {
    type Target = sqlx::AnyConnection;
    fn deref(&self) -> &sqlx::AnyConnection {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.tx
    }
}

impl WriteTx {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}

/// Begins a write transaction, queueing behind other writers on SQLite.
pub async fn begin_write(db: &Db) -> Result<WriteTx, sqlx::Error> {
    static SQLITE_WRITERS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let gate = if db.connect_options().database_url.scheme().starts_with("sqlite") {
        Some(SQLITE_WRITERS.lock().await)
    } else {
        None
    };
    Ok(WriteTx { tx: db.begin().await?, _gate: gate })
}

/// Milliseconds since the Unix epoch, UTC: the one timestamp representation in storage.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// A new time-ordered primary key.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Booleans are stored as INTEGER 0/1 on both engines.
pub fn flag(b: bool) -> i64 {
    i64::from(b)
}

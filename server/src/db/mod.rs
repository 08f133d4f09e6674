//! Storage: the one way in. [`Db`] owns a pool of read connections, the write path and the
//! engine behind them (SQLite, the embedded default, or PostgreSQL), the embedded migrations,
//! and the conventions every query module shares (ids, timestamps, booleans).
//!
//! Reads go through [`Db::read`] (one statement) or [`Db::acquire`] (several statements on one
//! connection). Every change goes through [`Db::write`], which answers a [`WriteTx`]: read
//! connections refuse writes (`query_only` on SQLite, `default_transaction_read_only` on
//! PostgreSQL), so a write that bypasses this path fails in every test instead of colliding
//! under load.
//!
//! - **SQLite** admits one writer at a time. Writers queue in process, first come first served,
//!   for the one write connection ([`sqlite_writer`]), so none ever meets `SQLITE_BUSY`; readers
//!   use their own connections and never wait behind a writer (WAL). Queued writers of
//!   independent requests share one commit (group commit): each runs in its own savepoint, and
//!   each is answered only once the commit that holds its data has reached the disk
//!   (`synchronous = FULL`).
//! - **PostgreSQL** gives each writer a pooled connection and a transaction. Row locks are taken
//!   in one order everywhere (doctor rows by ascending id, then patient rows, then the rest), so
//!   two writers cannot deadlock.
//!
//! Waiting is bounded: a request that cannot get a connection or its turn to write within
//! `CONSILIUM_DB_ACQUIRE_TIMEOUT_MS` is answered 503 with `Retry-After`, never 500.

mod migrations;
mod sqlite_writer;

pub use migrations::migrator;

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, Executor};

use crate::error::{AppError, Result};

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

/// Pool sizes and waiting bounds (`CONSILIUM_DB_*`).
#[derive(Clone, Copy, Debug)]
pub struct DbSettings {
    /// Read connections (`CONSILIUM_DB_POOL_SIZE`; unset: 8 on SQLite, 16 on PostgreSQL). On
    /// PostgreSQL the write pool has as many again.
    pub pool_size: Option<u32>,
    /// Longest wait for a connection or for the turn to write (`CONSILIUM_DB_ACQUIRE_TIMEOUT_MS`,
    /// 3000); past it the request is answered 503.
    pub acquire_timeout: Duration,
    /// Writers that may wait for SQLite's write connection (`CONSILIUM_DB_WRITE_QUEUE`, 1024);
    /// one more is answered 503 at once.
    pub write_queue: usize,
    /// Most write transactions one SQLite commit may hold (`CONSILIUM_DB_GROUP_COMMIT`, 64; 1
    /// commits each on its own).
    pub group_commit: usize,
}

impl Default for DbSettings {
    fn default() -> Self {
        DbSettings {
            pool_size: None,
            acquire_timeout: Duration::from_secs(3),
            write_queue: 1024,
            group_commit: 64,
        }
    }
}

/// The database: read pool, write path, engine. Cheap to clone.
#[derive(Clone)]
pub struct Db(Arc<Inner>);

struct Inner {
    engine: Engine,
    reads: AnyPool,
    writes: Writes,
    acquire_timeout: Duration,
}

enum Writes {
    Sqlite(sqlite_writer::Writer),
    Postgres(AnyPool),
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("engine", &self.0.engine).finish_non_exhaustive()
    }
}

impl Db {
    /// Opens the database (creating the SQLite file if needed) and applies pending migrations.
    pub async fn connect(url: &str, settings: DbSettings) -> anyhow::Result<Db> {
        sqlx::any::install_default_drivers();
        let engine = Engine::of_url(url)?;
        let options = AnyConnectOptions::from_str(url).context("reading the database URL")?;
        let size = settings.pool_size.unwrap_or(if engine == Engine::Sqlite { 8 } else { 16 });
        let connecting = || format!("connecting to {}", crate::config::redact_url(url));
        let pool = |max: u32, read_only: bool| {
            AnyPoolOptions::new()
                .max_connections(max)
                .acquire_timeout(settings.acquire_timeout)
                .after_connect(move |conn, _meta| Box::pin(prepare(conn, engine, read_only)))
        };
        // The write side first: it creates the file and migrates before any reader opens it.
        let write_pool = open(&options, || pool(if engine == Engine::Sqlite { 1 } else { size }, false))
            .await
            .with_context(connecting)?;
        migrator(engine).run(&write_pool).await.context("applying migrations")?;
        let reads = open(&options, || pool(size, true)).await.with_context(connecting)?;
        let writes = match engine {
            Engine::Sqlite => Writes::Sqlite(sqlite_writer::Writer::start(write_pool, settings)),
            Engine::Postgres => Writes::Postgres(write_pool),
        };
        Ok(Db(Arc::new(Inner { engine, reads, writes, acquire_timeout: settings.acquire_timeout })))
    }

    pub fn engine(&self) -> Engine {
        self.0.engine
    }

    /// The read pool, for single statements: `query(..).fetch_all(db.read())`.
    pub fn read(&self) -> &AnyPool {
        &self.0.reads
    }

    /// A read connection for several statements in a row. Hold it briefly: never across
    /// rendering, hashing, image work or network calls.
    pub async fn acquire(&self) -> Result<PoolConnection<Any>> {
        let started = Instant::now();
        let conn = self.0.reads.acquire().await;
        metrics::histogram!("db_wait_seconds", "kind" => "read").record(started.elapsed().as_secs_f64());
        conn.map_err(AppError::from)
    }

    /// Begins a write transaction: on SQLite, a place in the writers' queue; on PostgreSQL, a
    /// pooled connection. The changes land on [`WriteTx::commit`], or not at all.
    pub async fn write(&self) -> Result<WriteTx> {
        let started = Instant::now();
        let tx = match &self.0.writes {
            Writes::Sqlite(writer) => writer.lease(self.0.acquire_timeout).await.map(WriteTx::Sqlite),
            Writes::Postgres(pool) => pool.begin().await.map(WriteTx::Postgres).map_err(AppError::from),
        };
        metrics::histogram!("db_wait_seconds", "kind" => "write").record(started.elapsed().as_secs_f64());
        tx
    }

    /// Runs one writing statement in a transaction of its own.
    pub async fn execute(
        &self,
        statement: sqlx::query::Query<'_, Any, sqlx::any::AnyArguments>,
    ) -> Result<sqlx::any::AnyQueryResult> {
        let mut tx = self.write().await?;
        let done = statement.execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(done)
    }

    /// Publishes the pools' state and the write queue's length to `/metrics`.
    pub fn report_metrics(&self) {
        let pools: [(&str, &AnyPool); 2] = [
            ("read", &self.0.reads),
            (
                "write",
                match &self.0.writes {
                    Writes::Sqlite(w) => w.pool(),
                    Writes::Postgres(p) => p,
                },
            ),
        ];
        for (name, pool) in pools {
            let idle = pool.num_idle() as f64;
            metrics::gauge!("db_pool_connections", "pool" => name, "state" => "idle").set(idle);
            metrics::gauge!("db_pool_connections", "pool" => name, "state" => "in_use")
                .set(f64::from(pool.size()) - idle);
        }
        let queued = match &self.0.writes {
            Writes::Sqlite(w) => w.queued(),
            Writes::Postgres(_) => 0,
        };
        metrics::gauge!("db_write_queue_length").set(queued as f64);
    }

    /// Closes every connection (the command line, before the process ends).
    pub async fn close(&self) {
        self.0.reads.close().await;
        match &self.0.writes {
            Writes::Sqlite(w) => w.pool().close().await,
            Writes::Postgres(p) => p.close().await,
        }
    }
}

/// Settings every new connection gets.
async fn prepare(conn: &mut AnyConnection, engine: Engine, read_only: bool) -> Result<(), sqlx::Error> {
    match engine {
        Engine::Sqlite => {
            // WAL is a property of the file: readers never wait for the writer. FULL makes a
            // commit durable before it is acknowledged; group commit pays its fsync once for many.
            conn.execute("PRAGMA journal_mode = WAL").await?;
            conn.execute("PRAGMA synchronous = FULL").await?;
            conn.execute("PRAGMA foreign_keys = ON").await?;
            if read_only {
                conn.execute("PRAGMA query_only = ON").await?;
            }
        }
        Engine::Postgres => {
            if read_only {
                conn.execute("SET default_transaction_read_only = on").await?;
            }
        }
    }
    Ok(())
}

/// Opens a pool, trying again a few times while the database is slow to give its first
/// connection (a busy disk, a machine under load): starting is not a request, and may wait
/// longer than the acquire timeout that bounds one.
async fn open(
    options: &AnyConnectOptions,
    pool: impl Fn() -> AnyPoolOptions,
) -> std::result::Result<sqlx::AnyPool, sqlx::Error> {
    const TRIES: u32 = 5;
    for attempt in 1.. {
        match pool().connect_with(options.clone()).await {
            Err(sqlx::Error::PoolTimedOut) if attempt < TRIES => {
                tracing::warn!(attempt, "the database is slow to open; trying again");
            }
            other => return other,
        }
    }
    unreachable!("the loop returns by its last attempt")
}

/// A write transaction from [`Db::write`]. Dropped without [`WriteTx::commit`], it is rolled
/// back.
pub enum WriteTx {
    Sqlite(sqlite_writer::Lease),
    Postgres(sqlx::Transaction<'static, Any>),
}

impl std::fmt::Debug for WriteTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WriteTx")
    }
}

impl std::ops::Deref for WriteTx {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        match self {
            WriteTx::Sqlite(lease) => lease,
            WriteTx::Postgres(tx) => tx,
        }
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match self {
            WriteTx::Sqlite(lease) => lease,
            WriteTx::Postgres(tx) => tx,
        }
    }
}

impl WriteTx {
    /// Whether row locks mean anything here: on PostgreSQL writers run side by side and lock
    /// rows (doctors by ascending id, then patients, then the rest); on SQLite the one writer
    /// already excludes every other, so lock statements would only cost time.
    pub fn locks_rows(&self) -> bool {
        matches!(self, WriteTx::Postgres(_))
    }

    /// Makes the changes durable; returns once they are.
    pub async fn commit(self) -> Result<()> {
        match self {
            WriteTx::Sqlite(lease) => lease.commit().await,
            WriteTx::Postgres(tx) => tx.commit().await.map_err(AppError::from),
        }
    }
}

/// For `.map_err(..)` on a query: a violation of the UNIQUE constraint `name` becomes `err`,
/// anything else the usual mapping. PostgreSQL reports the constraint's name; SQLite reports
/// only its columns (`UNIQUE constraint failed: users.email`), given as `sqlite_columns`.
pub fn on_unique(
    name: &'static str,
    sqlite_columns: &'static str,
    err: impl FnOnce() -> AppError,
) -> impl FnOnce(sqlx::Error) -> AppError {
    move |e| match &e {
        sqlx::Error::Database(d)
            if d.is_unique_violation()
                && (d.constraint() == Some(name) || d.message().contains(sqlite_columns)) =>
        {
            err()
        }
        _ => AppError::from(e),
    }
}

/// Runs a whole write flow (`attempt` opens, checks, writes and commits) and, on PostgreSQL,
/// runs it again after a serialization failure or a deadlock, three times at most in all; past
/// that the caller answers 503 with `Retry-After`. The lock order (doctors by id, then
/// patients) should rule deadlocks out; this is the net under it.
pub async fn retry_contended<T, F, Fut>(mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    const ATTEMPTS: u64 = 3;
    for n in 1..ATTEMPTS {
        match attempt().await {
            Err(AppError::Contended) => {
                metrics::counter!("db_retries_total").increment(1);
                // A short, growing pause lets the transaction that won finish first.
                tokio::time::sleep(Duration::from_millis(2 * n)).await;
            }
            other => return other,
        }
    }
    attempt().await
}

/// Milliseconds since the Unix epoch, UTC: the one timestamp representation in storage.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A new time-ordered primary key.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Booleans are stored as INTEGER 0/1 on both engines.
pub fn flag(b: bool) -> i64 {
    i64::from(b)
}

/// A value for a [`Filters`] condition.
#[derive(Clone, Debug)]
pub enum Arg {
    Text(String),
    Int(i64),
}

/// The WHERE clause of a search, holding only the filters given, with their values in
/// placeholder order. `($1 IS NULL OR col = $1)` would read more simply, but keeps both
/// engines off the column's index: every search would scan and sort the whole table.
#[derive(Clone, Default)]
pub struct Filters {
    sql: String,
    args: Vec<Arg>,
}

impl Filters {
    /// Adds the condition `test`, its `?` standing for the value (e.g. `"a.doctor_id = ?"`),
    /// when `value` is given.
    pub fn add(&mut self, test: &str, value: Option<Arg>) {
        if let Some(v) = value {
            self.args.push(v);
            self.sql.push_str(" AND ");
            self.sql.push_str(&test.replace('?', &format!("${}", self.args.len())));
        }
    }

    /// Adds a condition that binds no value (it is written by the code, never from input).
    pub fn add_sql(&mut self, test: &str) {
        self.sql.push_str(" AND ");
        self.sql.push_str(test);
    }

    /// Adds `(test OR test …)` with one placeholder per value (`"a.status = ?"` for any of
    /// several statuses); nothing when there are no values.
    pub fn add_any(&mut self, test: &str, values: Vec<Arg>) {
        self.add_or(values.into_iter().map(|v| (test.to_string(), v)).collect());
    }

    /// Adds `(test1 OR test2 …)`, each test with its own value (its `?`s all stand for it).
    pub fn add_or(&mut self, tests: Vec<(String, Arg)>) {
        if tests.is_empty() {
            return;
        }
        let mut parts = Vec::with_capacity(tests.len());
        for (test, v) in tests {
            self.args.push(v);
            parts.push(test.replace('?', &format!("${}", self.args.len())));
        }
        self.sql.push_str(" AND (");
        self.sql.push_str(&parts.join(" OR "));
        self.sql.push(')');
    }

    /// `WHERE …` for the filters added (`WHERE 1 = 1` for none).
    pub fn where_clause(&self) -> String {
        format!("WHERE 1 = 1{}", self.sql)
    }

    /// The placeholder that comes after the filters' own, e.g. for `LIMIT`.
    pub fn next(&self) -> usize {
        self.args.len() + 1
    }

    /// Binds the filters' values to a query written with [`Filters::where_clause`].
    pub fn bind(
        self,
        mut q: sqlx::query::Query<'_, Any, sqlx::any::AnyArguments>,
    ) -> sqlx::query::Query<'_, Any, sqlx::any::AnyArguments> {
        for a in self.args {
            q = match a {
                Arg::Text(s) => q.bind(s),
                Arg::Int(n) => q.bind(n),
            };
        }
        q
    }
}

/// Escapes `%`, `_` and `\` so that user text matches itself inside a `LIKE … ESCAPE '\'`
/// pattern.
pub fn like_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

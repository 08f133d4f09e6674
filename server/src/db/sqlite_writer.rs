//! SQLite's write path: one task owns the one write connection and lends it to writers in
//! the order they asked, each inside a savepoint of a shared transaction (group commit).
//!
//! The loop, per writer: `SAVEPOINT`, lend the connection, take it back with the writer's
//! verdict (`RELEASE` on commit, `ROLLBACK TO` on anything else: an error, a dropped future).
//! When no writer is waiting, or the batch is full, one `COMMIT` (one fsync) makes every
//! released savepoint durable, and only then is each of those writers told it committed. If
//! that commit fails, each of them is told so; nothing of theirs remains. A writer that stops
//! waiting (timeout, client gone) simply loses its place.
//!
//! Throughput therefore rises with concurrency: the more writers queue behind one, the more
//! share its commit.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, Executor};
use tokio::sync::{mpsc, oneshot};

use super::DbSettings;
use crate::error::{AppError, Result};

/// A writer's request for the connection.
type Ask = oneshot::Sender<Lease>;

/// The writer's verdict, sent back with the connection.
enum Verdict {
    /// Keep my changes; tell me when they are durable.
    Commit(oneshot::Sender<std::result::Result<(), String>>),
    /// Undo my changes.
    Abort,
}

struct Returned {
    conn: PoolConnection<Any>,
    verdict: Verdict,
}

/// The handle [`super::Db`] keeps.
pub struct Writer {
    asks: mpsc::Sender<Ask>,
    queued: Arc<AtomicUsize>,
    pool: AnyPool,
}

impl Writer {
    /// Spawns the task that owns the write connection of `pool` (a pool of one). The task ends
    /// when the last handle is dropped.
    pub fn start(pool: AnyPool, settings: DbSettings) -> Writer {
        let (asks, rx) = mpsc::channel(settings.write_queue.max(1));
        let queued = Arc::new(AtomicUsize::new(0));
        tokio::spawn(run(pool.clone(), rx, queued.clone(), settings.group_commit.max(1)));
        Writer { asks, queued, pool }
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Writers waiting for their turn.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Waits for the write connection, at most `timeout`.
    pub async fn lease(&self, timeout: Duration) -> Result<Lease> {
        let (tx, rx) = oneshot::channel();
        if self.asks.try_send(tx).is_err() {
            metrics::counter!("db_busy_total", "reason" => "write_queue_full").increment(1);
            return Err(busy());
        }
        self.queued.fetch_add(1, Ordering::Relaxed);
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(lease)) => Ok(lease),
            // The task could not open the connection or a transaction; it logged why.
            Ok(Err(_)) => {
                Err(AppError::Unavailable("the database is not available; try again shortly".into()))
            }
            Err(_) => {
                metrics::counter!("db_busy_total", "reason" => "write_wait").increment(1);
                Err(busy())
            }
        }
    }
}

fn busy() -> AppError {
    AppError::Unavailable("the server is busy; try again shortly".into())
}

/// The write connection, lent to one writer inside its own savepoint.
pub struct Lease {
    conn: Option<PoolConnection<Any>>,
    back: Option<oneshot::Sender<Returned>>,
}

impl Lease {
    /// Releases the savepoint and waits until the commit that holds it is durable.
    pub async fn commit(mut self) -> Result<()> {
        let (done, verdict) = oneshot::channel();
        self.give_back(Verdict::Commit(done));
        match verdict.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(AppError::Internal(anyhow::anyhow!("committing: {e}"))),
            Err(_) => Err(AppError::Internal(anyhow::anyhow!("the write task stopped before committing"))),
        }
    }

    fn give_back(&mut self, verdict: Verdict) {
        if let (Some(conn), Some(back)) = (self.conn.take(), self.back.take()) {
            // The task waits for exactly this message; it cannot be gone while a lease is out.
            let _ = back.send(Returned { conn, verdict });
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.give_back(Verdict::Abort);
    }
}

impl std::ops::Deref for Lease {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        self.conn.as_ref().expect("a lease holds the connection until it is given back")
    }
}

impl std::ops::DerefMut for Lease {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        self.conn.as_mut().expect("a lease holds the connection until it is given back")
    }
}

/// The writers whose savepoints the open transaction holds, waiting for its commit.
#[derive(Default)]
struct Batch {
    open: bool,
    waiting: Vec<oneshot::Sender<std::result::Result<(), String>>>,
}

async fn run(pool: AnyPool, mut asks: mpsc::Receiver<Ask>, queued: Arc<AtomicUsize>, max_batch: usize) {
    let mut conn: Option<PoolConnection<Any>> = None;
    let mut batch = Batch::default();
    loop {
        let ask = match asks.try_recv() {
            Ok(ask) => ask,
            Err(mpsc::error::TryRecvError::Empty) => {
                // Nobody else is waiting: commit what the batch holds before sleeping.
                if batch.open {
                    finish(&mut conn, &mut batch).await;
                }
                match asks.recv().await {
                    Some(ask) => ask,
                    None => break,
                }
            }
            Err(mpsc::error::TryRecvError::Disconnected) => break,
        };
        queued.fetch_sub(1, Ordering::Relaxed);
        if ask.is_closed() {
            continue; // that writer stopped waiting
        }
        let Some(c) = connection(&pool, &mut conn).await else {
            continue; // dropping the ask tells the writer
        };
        if !batch.open {
            if let Err(e) = c.execute("BEGIN IMMEDIATE").await {
                tracing::error!(error = %e, "sqlite writer: cannot begin a transaction");
                conn = None;
                continue;
            }
            batch.open = true;
        }
        if let Err(e) = c.execute("SAVEPOINT lease").await {
            fail(&mut conn, &mut batch, &e.to_string()).await;
            continue;
        }
        let (back, returned) = oneshot::channel();
        let lease = Lease { conn: conn.take(), back: Some(back) };
        // If the writer has just stopped waiting, the lease comes straight back as an abort.
        drop(ask.send(lease));
        let Ok(Returned { conn: c, verdict }) = returned.await else {
            // Unreachable: a lease always sends itself back, on commit or on drop.
            tracing::error!("sqlite writer: a lease was lost");
            fail(&mut conn, &mut batch, "a lease was lost").await;
            continue;
        };
        let c = conn.insert(c);
        match verdict {
            Verdict::Commit(done) => match c.execute("RELEASE lease").await {
                Ok(_) => batch.waiting.push(done),
                Err(e) => {
                    let _ = done.send(Err(e.to_string()));
                    fail(&mut conn, &mut batch, &e.to_string()).await;
                    continue;
                }
            },
            Verdict::Abort => {
                let undone = match c.execute("ROLLBACK TO lease").await {
                    Ok(_) => c.execute("RELEASE lease").await,
                    Err(e) => Err(e),
                };
                if let Err(e) = undone {
                    fail(&mut conn, &mut batch, &e.to_string()).await;
                    continue;
                }
            }
        }
        if batch.waiting.len() >= max_batch {
            finish(&mut conn, &mut batch).await;
        }
    }
    if batch.open {
        finish(&mut conn, &mut batch).await;
    }
}

/// The write connection, opened again if an error closed it.
async fn connection<'c>(
    pool: &AnyPool,
    conn: &'c mut Option<PoolConnection<Any>>,
) -> Option<&'c mut PoolConnection<Any>> {
    if conn.is_none() {
        match pool.acquire().await {
            Ok(c) => *conn = Some(c),
            Err(e) => {
                tracing::error!(error = %e, "sqlite writer: cannot open the write connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                return None;
            }
        }
    }
    conn.as_mut()
}

/// Commits the batch and tells each writer in it.
async fn finish(conn: &mut Option<PoolConnection<Any>>, batch: &mut Batch) {
    let Some(c) = conn.as_mut() else {
        return fail(conn, batch, "the write connection was lost").await;
    };
    match c.execute("COMMIT").await {
        Ok(_) => {
            metrics::histogram!("db_group_commit_size").record(batch.waiting.len() as f64);
            for done in batch.waiting.drain(..) {
                let _ = done.send(Ok(()));
            }
            batch.open = false;
        }
        Err(e) => fail(conn, batch, &e.to_string()).await,
    }
}

/// Rolls the whole transaction back and tells every writer in it that it did not commit.
async fn fail(conn: &mut Option<PoolConnection<Any>>, batch: &mut Batch, why: &str) {
    tracing::error!(error = why, writers = batch.waiting.len(), "sqlite writer: transaction rolled back");
    for done in batch.waiting.drain(..) {
        let _ = done.send(Err(why.to_string()));
    }
    batch.open = false;
    if let Some(c) = conn.as_mut()
        && c.execute("ROLLBACK").await.is_err()
    {
        // No transaction was open (SQLite had already rolled it back) or the connection is
        // broken: open a fresh one for the next writer.
        if let Some(mut c) = conn.take() {
            c.close_on_drop();
        }
    }
}

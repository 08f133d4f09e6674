//! Password hashing with argon2id on a small pool of dedicated threads.
//!
//! Parameters follow OWASP's argon2id option of m=9 MiB, t=4, p=1 (equivalent strength to
//! m=19 MiB, t=2). Hashing runs on [`WORKERS`] threads fed by a bounded queue: a burst of
//! logins can neither stall the async runtime nor grow memory without limit, and a full queue
//! answers 503. Each worker keeps one argon2 working buffer and reuses it, so memory stays at
//! `WORKERS` × 9 MiB however many sign-ins happen (allocating it afresh per hash left glibc
//! holding ~20 MiB per thread, measured with scripts/bench-startup.sh).

use std::sync::OnceLock;
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};

use argon2::password_hash::{self, Output, ParamsString, PasswordHash, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::oneshot;

use crate::error::{AppError, Result};

/// Shortest password accepted for an account.
pub const MIN_PASSWORD_LEN: usize = 10;
/// Longest password accepted (argon2 copes, but unbounded input is a denial-of-service lever).
pub const MAX_PASSWORD_LEN: usize = 256;
/// Threads that hash; also the most argon2 memory blocks alive at once.
pub const WORKERS: usize = 2;
/// Hash or verify requests waiting beyond the ones in progress.
pub const QUEUE: usize = 64;

/// Checks length rules; the message is meant for the person choosing the password.
pub fn validate(password: &str) -> Result<()> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_LEN {
        return Err(AppError::invalid(
            "password",
            format!("password must be at least {MIN_PASSWORD_LEN} characters"),
        ));
    }
    if n > MAX_PASSWORD_LEN {
        return Err(AppError::invalid(
            "password",
            format!("password must be at most {MAX_PASSWORD_LEN} characters"),
        ));
    }
    Ok(())
}

fn argon2() -> Argon2<'static> {
    let params = Params::new(9 * 1024, 4, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

enum Job {
    Hash(String, oneshot::Sender<Result<String, String>>),
    /// Password and stored PHC string (`None`: unknown account, verify against a dummy).
    Verify(String, Option<String>, oneshot::Sender<bool>),
}

/// Largest argon2 memory cost accepted from a stored hash (64 MiB), so a planted hash with
/// huge parameters cannot exhaust memory.
const MAX_BLOCKS: usize = 64 * 1024;

fn run(job: Job, memory: &mut Vec<Block>) {
    match job {
        Job::Hash(password, reply) => {
            let _ = reply.send(hash_with(memory, password.as_bytes()).map_err(|e| e.to_string()));
        }
        Job::Verify(password, stored, reply) => {
            let known = stored.is_some();
            let phc = match stored {
                Some(phc) => phc,
                None => dummy_hash(memory).to_string(),
            };
            let ok = verify_with(memory, password.as_bytes(), &phc).unwrap_or(false);
            let _ = reply.send(known && ok);
        }
    }
}

/// The worker's buffer, grown to `n` blocks if needed.
fn blocks(memory: &mut Vec<Block>, n: usize) -> &mut [Block] {
    if memory.len() < n {
        memory.resize(n, Block::default());
    }
    &mut memory[..n]
}

fn hash_with(memory: &mut Vec<Block>, password: &[u8]) -> Result<String, password_hash::Error> {
    let a = argon2();
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_buf)?;
    let mut out = [0u8; 32];
    a.hash_password_into_with_memory(
        password,
        salt_bytes,
        &mut out,
        blocks(memory, a.params().block_count()),
    )?;
    let phc = PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(a.params())?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out)?),
    };
    Ok(phc.to_string())
}

/// Recomputes the hash with the stored parameters (so older hashes keep working) and compares
/// in constant time.
fn verify_with(memory: &mut Vec<Block>, password: &[u8], phc: &str) -> Result<bool, password_hash::Error> {
    let parsed = PasswordHash::new(phc)?;
    let algorithm = Algorithm::try_from(parsed.algorithm)?;
    let version = parsed.version.map(Version::try_from).transpose()?.unwrap_or_default();
    let params = Params::try_from(&parsed)?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Ok(false);
    };
    if params.block_count() > MAX_BLOCKS {
        return Ok(false);
    }
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_buf)?;
    let mut out = vec![0u8; expected.len()];
    let n = params.block_count();
    Argon2::new(algorithm, version, params).hash_password_into_with_memory(
        password,
        salt_bytes,
        &mut out,
        blocks(memory, n),
    )?;
    // `Output` equality is constant-time.
    Ok(Output::new(&out)? == expected)
}

/// A hash of a random string, made once with the current parameters, so that checking an
/// unknown email costs the same time as checking a known one.
fn dummy_hash(memory: &mut Vec<Block>) -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_with(memory, uuid::Uuid::now_v7().as_bytes()).expect("hashing a dummy"))
}

fn pool() -> &'static SyncSender<Job> {
    static POOL: OnceLock<SyncSender<Job>> = OnceLock::new();
    POOL.get_or_init(|| {
        let (tx, rx) = sync_channel::<Job>(QUEUE);
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        for i in 0..WORKERS {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    let mut memory = Vec::new();
                    loop {
                        // The lock is held only while waiting for the next job.
                        let job = match rx.lock() {
                            Ok(guard) => guard.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => run(job, &mut memory),
                            Err(_) => return,
                        }
                    }
                })
                .expect("starting a password hashing thread");
        }
        tx
    })
}

fn submit(job: Job) -> Result<()> {
    pool().try_send(job).map_err(|e| match e {
        TrySendError::Full(_) => {
            AppError::Unavailable("too many sign-ins at once; try again in a moment".into())
        }
        TrySendError::Disconnected(_) => AppError::Internal(anyhow::anyhow!("password workers stopped")),
    })
}

/// Hashes a password into a PHC string.
pub async fn hash(password: String) -> Result<String> {
    let (tx, rx) = oneshot::channel();
    submit(Job::Hash(password, tx))?;
    let out = rx.await.map_err(|_| anyhow::anyhow!("password worker dropped a job"))?;
    out.map_err(|e| AppError::Internal(anyhow::anyhow!("hashing password: {e}")))
}

/// Verifies a password against a stored PHC string. With `None` (unknown account) it still
/// spends the same work on a dummy hash, so response time does not reveal which emails exist.
pub async fn verify(password: String, stored: Option<String>) -> Result<bool> {
    let (tx, rx) = oneshot::channel();
    submit(Job::Verify(password, stored, tx))?;
    Ok(rx.await.map_err(|_| anyhow::anyhow!("password worker dropped a job"))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::PasswordHasher;

    #[tokio::test]
    async fn a_hash_verifies_only_its_own_password() {
        let h = hash("correct horse battery".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=9216,t=4,p=1$"), "{h}");
        assert!(verify("correct horse battery".into(), Some(h.clone())).await.unwrap());
        assert!(!verify("wrong horse battery".into(), Some(h)).await.unwrap());
        assert!(!verify("anything".into(), None).await.unwrap());
    }

    #[tokio::test]
    async fn hashes_made_with_other_parameters_still_verify() {
        let salt = SaltString::generate(&mut OsRng);
        let old = Argon2::default().hash_password(b"an older password", &salt).unwrap().to_string();
        assert!(old.contains("m=19456"));
        assert!(verify("an older password".into(), Some(old)).await.unwrap());
    }

    #[tokio::test]
    async fn stored_hashes_with_absurd_memory_costs_are_refused_not_computed() {
        let planted = "$argon2id$v=19$m=4194304,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$2Ljd0UjSTtJf0IrC9BfOeXYWYUPuv9GTJN5rKjIRoB8";
        assert!(!verify("anything at all".into(), Some(planted.into())).await.unwrap());
        assert!(!verify("anything at all".into(), Some("not a phc string".into())).await.unwrap());
    }

    #[test]
    fn length_rules() {
        assert!(validate("short").is_err());
        assert!(validate(&"x".repeat(300)).is_err());
        assert!(validate("long enough pw").is_ok());
    }
}

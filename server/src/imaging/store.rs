//! The blob store: files named by the sha256 of their bytes under `<data>/blobs/ab/abcdef…`.
//! The same bytes are stored once; a write lands whole or not at all (temporary file, then
//! rename), so a crash never leaves half an image under a real name.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::diagnosis::hex;

#[derive(Clone, Debug)]
pub struct Blobs {
    dir: PathBuf,
}

impl Blobs {
    pub fn new(dir: impl Into<PathBuf>) -> Blobs {
        Blobs { dir: dir.into() }
    }

    fn path(&self, sha256: &str) -> Option<PathBuf> {
        // Names come from our own database, but a path is built only from a real digest.
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
            return None;
        }
        Some(self.dir.join(&sha256[..2]).join(sha256))
    }

    /// Stores `bytes` (blocking) and returns their sha256.
    pub fn put(&self, bytes: &[u8]) -> std::io::Result<String> {
        let sha = hex(&Sha256::digest(bytes));
        let path = self.path(&sha).expect("a fresh digest is valid");
        if path.is_file() {
            return Ok(sha);
        }
        let parent = path.parent().expect("blob paths have a parent");
        std::fs::create_dir_all(parent)?;
        let tmp = parent.join(format!(".tmp-{}", uuid::Uuid::now_v7()));
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path).inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })?;
        Ok(sha)
    }

    /// Reads a blob (blocking).
    pub fn get(&self, sha256: &str) -> std::io::Result<Vec<u8>> {
        let path = self.path(sha256).ok_or_else(|| std::io::Error::other("not a sha256"))?;
        std::fs::read(path)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_bytes_are_stored_once_under_their_digest() {
        let dir = std::env::temp_dir().join(format!("blobs-{}", uuid::Uuid::now_v7()));
        let blobs = Blobs::new(&dir);
        let a = blobs.put(b"x-ray").unwrap();
        let b = blobs.put(b"x-ray").unwrap();
        assert_eq!(a, b);
        assert_eq!(blobs.get(&a).unwrap(), b"x-ray");
        assert!(blobs.get("../../etc/passwd").is_err());
        let files: usize = std::fs::read_dir(dir.join(&a[..2])).unwrap().count();
        assert_eq!(files, 1, "no temporary files remain");
        std::fs::remove_dir_all(dir).unwrap();
    }
}

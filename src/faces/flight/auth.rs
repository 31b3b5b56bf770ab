//! Who is calling: the tokens file (hashes, tenants, Teleport-style rules), its safe writing
//! (0600, exclusive temp file then rename, under a lock), and the bearer/Basic check. A caller
//! who fails it learns only that it failed; why is in the server log.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::Digest;
use tonic::Status;
use tonic::metadata::MetadataMap;

use crate::error::{Error, Result};

/// What every unauthenticated caller is told, whatever the reason (no header, unknown,
/// expired or revoked token, wrong user): the reason would help an attacker, not a user.
pub const AUTH_FAILED: &str = "authentication failed: a valid token is required";

/// What callers are told when the tokens file cannot be read: no path, no parser message.
const AUTH_UNAVAILABLE: &str = "the server cannot check credentials now; try again later";

/// One token's entry in the tokens file: a hash, never the token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenEntry {
    pub name: String,
    pub tenant: String,
    pub sha256: String,
    /// When the token stops working (RFC 3339, UTC); absent: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    #[serde(default)]
    pub rules: Vec<Rule>,
}

/// Teleport-style permission: verbs on resources (`audit_query`, `security_report`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rule {
    pub resources: Vec<String>,
    pub verbs: Vec<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct TokensFile {
    pub tokens: Vec<TokenEntry>,
}

pub fn sha256_hex(s: &str) -> String {
    sha2::Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl TokenEntry {
    pub fn allows(&self, resource: &str, verb: &str) -> bool {
        self.rules.iter().any(|r| {
            r.resources.iter().any(|x| x == resource || x == "*")
                && r.verbs.iter().any(|v| v == verb || v == "*")
        })
    }

    /// `PermissionDenied` unless the token may `verb` the `resource`.
    pub fn require(&self, resource: &str, verb: &str) -> std::result::Result<(), Status> {
        if self.allows(resource, verb) {
            Ok(())
        } else {
            Err(Status::permission_denied(format!(
                "token '{}' may not {verb} {resource}",
                self.name
            )))
        }
    }
}

fn read_tokens(path: &Path) -> Result<TokensFile> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e))?;
    serde_yaml::from_str(&text).map_err(|e| Error::Yaml {
        what: format!("the tokens file {}", path.display()),
        source: e,
    })
}

/// Holds an exclusive `flock` on `<tokens>.lock` while alive, so two `token add|rm` never
/// interleave their read-modify-write (the tokens file itself is replaced by rename, so its
/// own inode cannot carry the lock).
struct FileLock(std::fs::File);

impl FileLock {
    fn take(tokens: &Path) -> Result<FileLock> {
        let path = sibling(tokens, ".lock");
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| Error::io("create", &path, e))?;
        use std::os::fd::AsRawFd;
        // SAFETY: flock on a file descriptor we own for the lock's lifetime.
        let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
        if rc != 0 {
            return Err(Error::io("lock", &path, std::io::Error::last_os_error()));
        }
        Ok(FileLock(f))
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        // SAFETY: as above; closing the file would release it too.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

/// `<dir>/<name><suffix>`: beside the tokens file, so a rename stays on one filesystem.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// Writes the file readable by its owner only, atomically: an exclusive temp file with an
/// unpredictable name in the same directory, flushed to disk, then renamed over the old one
/// (the server re-reads the file on every call and must never see half of it).
fn write_tokens(path: &Path, file: &TokensFile) -> Result<()> {
    let text = serde_yaml::to_string(file).map_err(|e| Error::Yaml {
        what: "the tokens file".into(),
        source: e,
    })?;
    let tmp = sibling(path, &format!(".{}.tmp", uuid::Uuid::new_v4().simple()));
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| Error::io("create", &tmp, e))?;
        f.write_all(text.as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(|e| Error::io("write", &tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io("rename", path, e))
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// `auditlake token rm`: removes an entry (the token stops working at the next call).
pub fn remove_token(path: &Path, name: &str) -> Result<()> {
    let _lock = FileLock::take(path)?;
    let mut file = read_tokens(path)?;
    let before = file.tokens.len();
    file.tokens.retain(|t| t.name != name);
    if file.tokens.len() == before {
        return Err(Error::Config(format!("no token named '{name}'")));
    }
    write_tokens(path, &file)
}

/// `auditlake token ls`: the entries (names, tenants, expiry; hashes are not secrets but are
/// not shown).
pub fn list_tokens(path: &Path) -> Result<Vec<TokenEntry>> {
    Ok(read_tokens(path)?.tokens)
}

/// `auditlake token add`: appends an entry and returns the new token (shown once). `ttl`:
/// the token expires that long from now.
pub fn add_token(
    path: &Path,
    name: &str,
    tenant: &str,
    ttl: Option<std::time::Duration>,
) -> Result<String> {
    crate::tenant::check(tenant)?;
    let expires = ttl
        .map(|d| {
            chrono::Duration::from_std(d)
                .ok()
                .and_then(|d| chrono::Utc::now().checked_add_signed(d))
                .map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .ok_or_else(|| Error::Config(format!("token ttl {d:?} is out of range")))
        })
        .transpose()?;
    let _lock = FileLock::take(path)?;
    let mut file = if path.exists() {
        read_tokens(path)?
    } else {
        TokensFile::default()
    };
    if file.tokens.iter().any(|t| t.name == name) {
        return Err(Error::Config(format!("a token named '{name}' exists")));
    }
    let token = format!(
        "al_{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    file.tokens.push(TokenEntry {
        name: name.into(),
        tenant: tenant.into(),
        sha256: sha256_hex(&token),
        expires,
        rules: vec![Rule {
            resources: vec!["audit_query".into(), "security_report".into()],
            verbs: vec!["list".into(), "read".into(), "use".into()],
        }],
    });
    write_tokens(path, &file)?;
    Ok(token)
}

/// Checks callers against the tokens file, re-read on every call so a removed token stops
/// working at once.
#[derive(Debug, Clone)]
pub struct Auth {
    tokens: PathBuf,
}

/// Why a call was refused, for the server log only.
fn refuse(reason: &str, name: Option<&str>) -> Status {
    tracing::warn!(
        reason,
        token = name.unwrap_or("-"),
        "flight call unauthenticated"
    );
    Status::unauthenticated(AUTH_FAILED)
}

impl Auth {
    pub fn new(tokens: PathBuf) -> Self {
        Auth { tokens }
    }

    /// Warns (log and stderr) when the tokens file can be read by others than its owner.
    pub fn check_permissions(&self) {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(m) = std::fs::metadata(&self.tokens)
            && m.permissions().mode() & 0o077 != 0
        {
            let msg = format!(
                "the tokens file {} is readable by other users (mode {:o}); `chmod 600` it",
                self.tokens.display(),
                m.permissions().mode() & 0o777
            );
            tracing::warn!("{msg}");
            eprintln!("warning: {msg}");
        }
    }

    /// The caller's token from `authorization: Bearer <token>`.
    pub fn bearer(&self, md: &MetadataMap) -> std::result::Result<TokenEntry, Status> {
        let header = md
            .get("authorization")
            .ok_or_else(|| refuse("no authorization header", None))?
            .to_str()
            .map_err(|_| refuse("unreadable authorization header", None))?;
        let token = header
            .strip_prefix("Bearer ")
            .ok_or_else(|| refuse("authorization is not `Bearer <token>`", None))?;
        self.lookup(token)
    }

    /// Basic (user = the token's name, password = the token) or Bearer: the token to hand
    /// back as the session's bearer.
    pub fn handshake(&self, md: &MetadataMap) -> std::result::Result<String, Status> {
        let header = md
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| refuse("no readable authorization header", None))?;
        if let Some(b) = header.strip_prefix("Basic ") {
            let text =
                base64_decode(b).ok_or_else(|| refuse("malformed Basic credentials", None))?;
            let (user, pass) = text
                .split_once(':')
                .ok_or_else(|| refuse("malformed Basic credentials", None))?;
            let entry = self.lookup(pass)?;
            if entry.name != user {
                return Err(refuse(
                    "Basic user is not the token's name",
                    Some(&entry.name),
                ));
            }
            Ok(pass.to_string())
        } else if let Some(t) = header.strip_prefix("Bearer ") {
            self.lookup(t)?;
            Ok(t.to_string())
        } else {
            Err(refuse("authorization is neither Basic nor Bearer", None))
        }
    }

    fn lookup(&self, token: &str) -> std::result::Result<TokenEntry, Status> {
        let file = read_tokens(&self.tokens).map_err(|e| {
            tracing::error!(error = %e.chain(": "), "cannot read the tokens file");
            Status::unavailable(AUTH_UNAVAILABLE)
        })?;
        let h = sha256_hex(token.trim());
        let t = file
            .tokens
            .into_iter()
            .find(|t| t.sha256 == h)
            .ok_or_else(|| refuse("unknown or revoked token", None))?;
        if let Some(exp) = &t.expires {
            // An unreadable expiry fails closed.
            let at = chrono::DateTime::parse_from_rfc3339(exp)
                .map_err(|_| refuse("the token's expiry is unreadable", Some(&t.name)))?;
            if at <= chrono::Utc::now() {
                return Err(refuse(&format!("token expired at {exp}"), Some(&t.name)));
            }
        }
        Ok(t)
    }
}

/// Minimal base64 decoding for Basic auth (the only place we need it).
fn base64_decode(s: &str) -> Option<String> {
    let mut out = Vec::new();
    let mut buf = 0u32;
    let mut bits = 0;
    for c in s.trim().bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => return None,
        } as u32;
        buf = (buf << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
            buf &= (1 << bits) - 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn tokens_file_is_owner_only_and_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.yaml");
        // An old world-readable file becomes owner-only on the next write.
        std::fs::write(&path, "tokens: []\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        add_token(&path, "a", "acme", None).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        remove_token(&path, "a").unwrap();
        assert!(list_tokens(&path).unwrap().is_empty());
        // No temp file is left behind.
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn concurrent_adds_lose_no_token() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.yaml");
        let threads: Vec<_> = (0..16)
            .map(|i| {
                let p = path.clone();
                std::thread::spawn(move || add_token(&p, &format!("t{i}"), "acme", None).unwrap())
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(list_tokens(&path).unwrap().len(), 16);
    }

    #[test]
    fn basic_credentials_decode() {
        assert_eq!(
            base64_decode("YWxpY2U6czNjcmV0").as_deref(),
            Some("alice:s3cret")
        );
        assert_eq!(base64_decode("not base64!"), None);
    }
}

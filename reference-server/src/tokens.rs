//! Token authorization, on by default as in TorchServe 0.12 (contract §0): three keys in
//! `key_file.json` (mode 0600) in the working folder: `management` and `inference` (which expire
//! after `token_expiration_min` minutes) and `API` (for `/token`, never expires).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Inference,
    Management,
    Api,
}

#[derive(Debug)]
struct Key {
    key: String,
    expires: Option<SystemTime>,
}

pub struct Tokens {
    path: PathBuf,
    lifetime: Duration,
    keys: Mutex<[Key; 3]>, // inference, management, api
}

impl Tokens {
    /// Generates the three keys and writes the key file.
    pub fn init(path: &Path, expiration_min: f64) -> std::io::Result<Tokens> {
        let lifetime = Duration::from_secs_f64((expiration_min * 60.0).max(0.0));
        let expires = Some(SystemTime::now() + lifetime);
        let t = Tokens {
            path: path.to_path_buf(),
            lifetime,
            keys: Mutex::new([
                Key {
                    key: new_key(),
                    expires,
                },
                Key {
                    key: new_key(),
                    expires,
                },
                Key {
                    key: new_key(),
                    expires: None,
                },
            ]),
        };
        t.write()?;
        Ok(t)
    }

    fn idx(kind: TokenKind) -> usize {
        match kind {
            TokenKind::Inference => 0,
            TokenKind::Management => 1,
            TokenKind::Api => 2,
        }
    }

    /// Checks an `Authorization` header value (`Bearer <key>`) for this kind of key.
    pub fn check(&self, header: Option<&str>, kind: TokenKind) -> bool {
        let Some(token) = header.and_then(parse_bearer) else {
            return false;
        };
        let keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        let k = &keys[Self::idx(kind)];
        constant_time_eq(token.as_bytes(), k.key.as_bytes())
            && k.expires.is_none_or(|e| SystemTime::now() < e)
    }

    /// Replaces the inference or management key (`/token?type=...`) and rewrites the file.
    pub fn rotate(&self, kind: TokenKind) -> std::io::Result<()> {
        {
            let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
            keys[Self::idx(kind)] = Key {
                key: new_key(),
                expires: Some(SystemTime::now() + self.lifetime),
            };
        }
        self.write()
    }

    pub fn key(&self, kind: TokenKind) -> String {
        self.keys.lock().unwrap_or_else(|p| p.into_inner())[Self::idx(kind)]
            .key
            .clone()
    }

    fn write(&self) -> std::io::Result<()> {
        let keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        let stamp = |k: &Key| {
            k.expires
                .map(|e| {
                    chrono::DateTime::<chrono::Utc>::from(e)
                        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
                })
                .unwrap_or_default()
        };
        let text = format!(
            "{{\n  \"management\": {{\n    \"key\": {},\n    \"expiration time\": \"{}\"\n  }},\n  \"inference\": {{\n    \"key\": {},\n    \"expiration time\": \"{}\"\n  }},\n  \"API\": {{\n    \"key\": {}\n  }}\n}}",
            serde_json::Value::from(keys[1].key.as_str()),
            stamp(&keys[1]),
            serde_json::Value::from(keys[0].key.as_str()),
            stamp(&keys[0]),
            serde_json::Value::from(keys[2].key.as_str()),
        );
        let tmp = self.path.with_extension("json.tmp");
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &self.path)
    }
}

/// TorchServe's pattern `^Bearer\s+(\S+)$`.
fn parse_bearer(h: &str) -> Option<&str> {
    let rest = h.strip_prefix("Bearer")?;
    if !rest.starts_with(char::is_whitespace) {
        return None;
    }
    let token = rest.trim_start();
    (!token.is_empty() && !token.contains(char::is_whitespace)).then_some(token)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// 6 random bytes, base64url: 8 characters, like TorchServe's keys.
fn new_key() -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let mut out = String::with_capacity(8);
    for chunk in bytes[..6].chunks(3) {
        let n = (u32::from(chunk[0]) << 16) | (u32::from(chunk[1]) << 8) | u32::from(chunk[2]);
        for shift in [18, 12, 6, 0] {
            out.push(ALPHABET[((n >> shift) & 63) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_check_rotate_and_expire() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key_file.json");
        let t = Tokens::init(&path, 60.0).unwrap();
        let file: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let inf = file["inference"]["key"].as_str().unwrap().to_string();
        assert_eq!(inf.len(), 8);
        assert!(
            file["management"]["expiration time"]
                .as_str()
                .unwrap()
                .ends_with('Z')
        );
        assert!(t.check(Some(&format!("Bearer {inf}")), TokenKind::Inference));
        assert!(!t.check(Some(&format!("Bearer {inf}")), TokenKind::Management));
        assert!(
            !t.check(Some(&inf), TokenKind::Inference),
            "the Bearer prefix is required"
        );
        assert!(!t.check(None, TokenKind::Inference));
        t.rotate(TokenKind::Inference).unwrap();
        assert!(!t.check(Some(&format!("Bearer {inf}")), TokenKind::Inference));
        let mode = std::fs::metadata(&path).unwrap().permissions();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(mode.mode() & 0o777, 0o600);
        let expired = Tokens::init(&dir.path().join("k2.json"), 0.0).unwrap();
        let k = expired.key(TokenKind::Inference);
        assert!(!expired.check(Some(&format!("Bearer {k}")), TokenKind::Inference));
    }
}

//! Secrets at rest: the values that must stay usable (certificate and cluster CA
//! private keys, JWT HMAC secrets, plugin secrets) are encrypted with
//! ChaCha20-Poly1305 under the platform's secret key before they reach the
//! database, the change log included. The key comes from `PORTICO_SECRET_KEY`
//! (32 bytes, base64) or from a key file created on first start with mode 0600.
//! The database remembers a check value of its key, so a replica started with
//! another key stops with a clear error instead of sealing with the wrong one.
//!
//! A sealed value is the string `penc:v1:<base64url(nonce || ciphertext)>` of the
//! value's JSON text; values without the prefix are read as they are (rows written
//! before sealing existed are sealed on the next start).

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use graphql_schema::sync::Kind;
use ring::aead::{CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::Value;

const PREFIX: &str = "penc:v1:";
/// The file the key is kept in when `PORTICO_SECRET_KEY` is not set.
pub const KEY_FILE: &str = "secret.key";
/// The environment variable that gives the key.
pub const KEY_ENV: &str = "PORTICO_SECRET_KEY";

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("a sealed value is malformed")]
    Malformed,
    #[error("a sealed value does not open with this secret key")]
    WrongKey,
    #[error("the system random number generator failed")]
    NoRandomness,
}

/// The platform's secret key, ready to seal and open values.
pub struct Sealer {
    key: LessSafeKey,
    check: String,
    rng: SystemRandom,
    /// Where the key came from, for error messages.
    pub source: String,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealer({})", self.source)
    }
}

fn decode_key(text: &str) -> Option<[u8; 32]> {
    let t = text.trim();
    let bytes = STANDARD
        .decode(t)
        .or_else(|_| URL_SAFE_NO_PAD.decode(t.trim_end_matches('=')))
        .ok()?;
    bytes.try_into().ok()
}

impl Sealer {
    pub fn new(key: [u8; 32], source: impl Into<String>) -> anyhow::Result<Sealer> {
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, &key)
            .map_err(|_| anyhow::anyhow!("cannot use the secret key"))?;
        // a check value that reveals nothing of the key: a MAC of a constant
        let mac = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key),
            b"portico secret key check v1",
        );
        Ok(Sealer {
            key: LessSafeKey::new(unbound),
            check: graphql_schema::entity::consumer::hex(mac.as_ref()),
            rng: SystemRandom::new(),
            source: source.into(),
        })
    }

    /// The key from `PORTICO_SECRET_KEY`, else from `<data_dir>/secret.key`
    /// (created with 32 random bytes, mode 0600, on first start).
    pub fn load(data_dir: &Path) -> anyhow::Result<Sealer> {
        if let Ok(v) = std::env::var(KEY_ENV)
            && !v.trim().is_empty()
        {
            let key = decode_key(&v).ok_or_else(|| {
                anyhow::anyhow!(
                    "{KEY_ENV} must be 32 bytes in base64 (make one with `openssl rand -base64 32`)"
                )
            })?;
            return Sealer::new(key, KEY_ENV);
        }
        let path: PathBuf = data_dir.join(KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let key = decode_key(&text).ok_or_else(|| {
                    anyhow::anyhow!("{} does not hold a 32-byte base64 key", path.display())
                })?;
                Sealer::new(key, path.display().to_string())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                SystemRandom::new()
                    .fill(&mut key)
                    .map_err(|_| anyhow::anyhow!("no randomness for a secret key"))?;
                crate::files::write_private(&path, &STANDARD.encode(key))?;
                tracing::info!("created the secret key {}", path.display());
                Sealer::new(key, path.display().to_string())
            }
            Err(e) => Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
        }
    }

    /// A value derived from the key that shows whether two keys are the same.
    pub fn check_value(&self) -> &str {
        &self.check
    }

    pub fn seal_str(&self, clear: &str) -> Result<String, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| SealError::NoRandomness)?;
        let mut buf = clear.as_bytes().to_vec();
        // sealing in place only fails for inputs over 256 GiB
        let _ = self.key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            ring::aead::Aad::empty(),
            &mut buf,
        );
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(out)))
    }

    pub fn open_str(&self, sealed: &str) -> Result<String, SealError> {
        let body = sealed.strip_prefix(PREFIX).ok_or(SealError::Malformed)?;
        let raw = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| SealError::Malformed)?;
        if raw.len() < NONCE_LEN {
            return Err(SealError::Malformed);
        }
        let (n, ct) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(n).map_err(|_| SealError::Malformed)?;
        let mut buf = ct.to_vec();
        let clear = self
            .key
            .open_in_place(nonce, ring::aead::Aad::empty(), &mut buf)
            .map_err(|_| SealError::WrongKey)?;
        String::from_utf8(clear.to_vec()).map_err(|_| SealError::Malformed)
    }

    pub fn is_sealed(v: &Value) -> bool {
        v.as_str().is_some_and(|s| s.starts_with(PREFIX))
    }

    /// A JSON value sealed: a string holding its encrypted JSON text.
    pub fn seal_value(&self, v: &Value) -> Result<Value, SealError> {
        if Sealer::is_sealed(v) {
            return Ok(v.clone());
        }
        Ok(Value::String(self.seal_str(&v.to_string())?))
    }

    /// A sealed value opened; a value that is not sealed is returned as it is.
    pub fn open_value(&self, v: &Value) -> Result<Value, SealError> {
        match v.as_str() {
            Some(s) if s.starts_with(PREFIX) => {
                serde_json::from_str(&self.open_str(s)?).map_err(|_| SealError::Malformed)
            }
            _ => Ok(v.clone()),
        }
    }

    /// An entity as it is stored: its sealed secrets encrypted.
    pub fn seal_entity(&self, kind: Kind, data: &Value) -> Result<Value, SealError> {
        let mut d = data.clone();
        graphql_schema::secrets::map_sealed(kind, &mut d, |v| self.seal_value(v))?;
        Ok(d)
    }

    /// A stored entity with its sealed secrets opened.
    pub fn open_entity(&self, kind: Kind, data: &Value) -> Result<Value, SealError> {
        let mut d = data.clone();
        graphql_schema::secrets::map_sealed(kind, &mut d, |v| self.open_value(v))?;
        Ok(d)
    }
}

/// Opens every sealed value in a document (a dump made with its secrets) in
/// place; the paths of those that do not open with this key, with why.
pub fn open_document(sealer: &Sealer, doc: &mut Value) -> Vec<(String, String)> {
    fn walk(v: &mut Value, path: String, sealer: &Sealer, problems: &mut Vec<(String, String)>) {
        match v {
            Value::String(_) if Sealer::is_sealed(v) => match sealer.open_value(v) {
                Ok(clear) => *v = clear,
                Err(e) => problems.push((
                    path,
                    format!(
                        "{e}: a sealed value opens only on the platform (and with the secret key) that dumped it; give the value itself"
                    ),
                )),
            },
            Value::Array(a) => {
                for (i, x) in a.iter_mut().enumerate() {
                    walk(x, format!("{path}[{i}]"), sealer, problems);
                }
            }
            Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(x, p, sealer, problems);
                }
            }
            _ => {}
        }
    }
    let mut problems = Vec::new();
    walk(doc, String::new(), sealer, &mut problems);
    problems
}

/// The setting that holds [`Sealer::check_value`].
const CHECK_SETTING: &str = "secret_key_check";

/// Binds the database to this key: a new database records the key's check
/// value; a database written before secrets were sealed has its entity rows and
/// cluster CA keys sealed (and credentials hashed) once; a database sealed with
/// another key is refused.
pub async fn bind(db: &sea_orm::DatabaseConnection, sealer: &Sealer) -> anyhow::Result<()> {
    use crate::store::{cluster, control_planes, settings};
    match settings::setting(db, CHECK_SETTING).await? {
        Some(c) if c == sealer.check_value() => return Ok(()),
        Some(_) => anyhow::bail!(
            "the secret key ({}) is not the one this database's secrets were sealed with; \
             start with the same {KEY_ENV} (or key file) as before",
            sealer.source
        ),
        None => {}
    }
    let mut entities = Vec::new();
    for mut row in control_planes::all_entities(db).await? {
        let Some(kind) = Kind::parse(&row.kind) else {
            continue;
        };
        let Ok(mut data) = serde_json::from_str::<Value>(&row.data) else {
            continue;
        };
        graphql_schema::secrets::hash(kind, &mut data);
        let sealed = sealer.seal_entity(kind, &data)?.to_string();
        if sealed != row.data {
            row.data = sealed;
            entities.push(row);
        }
    }
    let mut certs = Vec::new();
    for mut c in cluster::cluster_certs(db).await? {
        if let Some(k) = c.key_pem.as_deref().filter(|k| !k.starts_with(PREFIX)) {
            c.key_pem = Some(sealer.seal_str(k)?);
            certs.push(c);
        }
    }
    if !entities.is_empty() || !certs.is_empty() {
        tracing::info!(
            entities = entities.len(),
            certificates = certs.len(),
            "sealing the secrets of a database written before secrets were sealed"
        );
        control_planes::reseal(db, entities, certs).await?;
    }
    if let Err(e) = settings::insert_setting(db, CHECK_SETTING, sealer.check_value()).await {
        // another replica bound it first: it must have used the same key
        match settings::setting(db, CHECK_SETTING).await? {
            Some(c) if c == sealer.check_value() => {}
            _ => anyhow::bail!("cannot record the secret key check: {e}"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_round_trip_and_other_keys_cannot_open_them() {
        let a = Sealer::new([7; 32], "test").expect("key");
        let b = Sealer::new([8; 32], "test").expect("key");
        let v = json!({"X-Token": "s3cret"});
        let s = a.seal_value(&v).expect("sealed");
        assert!(Sealer::is_sealed(&s));
        assert!(!s.to_string().contains("s3cret"));
        assert_eq!(a.open_value(&s).ok(), Some(v.clone()));
        assert!(matches!(b.open_value(&s), Err(SealError::WrongKey)));
        // the same clear text seals differently each time
        assert_ne!(a.seal_value(&v).ok(), a.seal_value(&v).ok());
        assert_ne!(a.check_value(), b.check_value());
    }

    #[test]
    fn entities_seal_only_their_secrets() {
        let s = Sealer::new([1; 32], "test").expect("key");
        let cert = json!({"cert": "C", "key": "K", "tags": []});
        let sealed = s.seal_entity(Kind::Certificate, &cert).expect("sealed");
        assert_eq!(sealed["cert"], "C");
        assert!(Sealer::is_sealed(&sealed["key"]));
        assert_eq!(s.open_entity(Kind::Certificate, &sealed).ok(), Some(cert));
    }
}

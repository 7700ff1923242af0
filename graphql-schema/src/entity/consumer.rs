//! Consumers (who calls the APIs), consumer groups, and the credentials decK nests
//! under a consumer. Secrets are kept only as SHA-256 digests once validated: the
//! node hashes what a client presents and compares digests.

use serde::{Deserialize, Serialize};
use sha2::Digest;
use uuid::Uuid;

use super::{derive_id, parse_id};
use crate::error::{Errors, Path};

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConsumerConfig {
    pub id: Option<String>,
    pub username: Option<String>,
    pub custom_id: Option<String>,
    pub tags: Option<Vec<String>>,
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Consumer {
    pub id: Uuid,
    pub username: Option<String>,
    pub custom_id: Option<String>,
    pub tags: Vec<String>,
    /// Consumer groups this consumer belongs to.
    pub groups: Vec<Uuid>,
    #[serde(skip)]
    pub source: String,
}

impl ConsumerConfig {
    pub fn validate(&self, path: &Path, errors: &mut Errors) -> Option<Consumer> {
        let before = errors.list.len();
        let id = parse_id(&self.id, path, errors);
        if self.username.is_none() && self.custom_id.is_none() {
            errors.add(
                path.to_string(),
                "at least one of these fields must be non-empty: 'custom_id', 'username'",
            );
        }
        if errors.list.len() > before {
            return None;
        }
        let key = self
            .username
            .clone()
            .or_else(|| self.custom_id.clone().map(|c| format!("custom:{c}")))
            .unwrap_or_default();
        Some(Consumer {
            id: id.unwrap_or_else(|| derive_id("consumer", &key)),
            username: self.username.clone(),
            custom_id: self.custom_id.clone(),
            tags: self.tags.clone().unwrap_or_default(),
            groups: Vec::new(),
            source: path.to_string(),
        })
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConsumerGroupConfig {
    pub id: Option<String>,
    pub name: Option<String>,
    pub tags: Option<Vec<String>>,
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConsumerGroup {
    pub id: Uuid,
    pub name: String,
    pub tags: Vec<String>,
    #[serde(skip)]
    pub source: String,
}

impl ConsumerGroupConfig {
    pub fn validate(&self, path: &Path, errors: &mut Errors) -> Option<ConsumerGroup> {
        let id = parse_id(&self.id, path, errors);
        let Some(name) = self.name.clone() else {
            errors.add(path.field("name"), "required field missing");
            return None;
        };
        Some(ConsumerGroup {
            id: id.unwrap_or_else(|| derive_id("consumer_group", &name)),
            name,
            tags: self.tags.clone().unwrap_or_default(),
            source: path.to_string(),
        })
    }
}

/// A `keyauth_credentials` entry as decK writes it.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KeyAuthCredentialConfig {
    pub id: Option<String>,
    pub key: Option<String>,
    /// The key's SHA-256 (hex) instead of the key: how the platform stores and
    /// sends keys, and how keys made elsewhere are imported without their clear form.
    pub key_sha256: Option<String>,
    pub ttl: Option<i64>,
    pub tags: Option<Vec<String>>,
    pub consumer: Option<serde_json::Value>,
    pub created_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyAuthCredential {
    pub id: Uuid,
    pub consumer_id: Uuid,
    /// SHA-256 (hex) of the key; the key itself is not kept.
    pub key_sha256: String,
    pub tags: Vec<String>,
    #[serde(skip)]
    pub source: String,
}

/// A SHA-256 digest in hex (any case), lower-cased; `None` when it is not one.
pub fn sha256_hex(h: &str) -> Option<String> {
    (h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit())).then(|| h.to_ascii_lowercase())
}

/// SHA-256 hex digest of a secret.
pub fn digest(secret: &str) -> String {
    hex(&sha2::Sha256::digest(secret.as_bytes()))
}

/// Lower-case hex of `bytes` (on the request path: no formatting machinery).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

impl KeyAuthCredentialConfig {
    pub fn validate(
        &self,
        consumer: &Consumer,
        path: &Path,
        errors: &mut Errors,
    ) -> Option<KeyAuthCredential> {
        let id = parse_id(&self.id, path, errors);
        let key_sha256 = match (&self.key, &self.key_sha256) {
            (Some(_), Some(_)) => {
                errors.add(
                    path.field("key_sha256"),
                    "only one of these fields may be set: 'key', 'key_sha256'",
                );
                return None;
            }
            (Some(k), None) if !k.is_empty() => digest(k),
            (Some(_), None) => {
                errors.add(path.field("key"), "length must be at least 1");
                return None;
            }
            (None, Some(h)) => match sha256_hex(h) {
                Some(h) => h,
                None => {
                    errors.add(
                        path.field("key_sha256"),
                        "expected a SHA-256 digest: 64 hexadecimal characters",
                    );
                    return None;
                }
            },
            (None, None) => {
                // Kong generates a key when none is given; a declarative file that
                // nobody can read the generated key from would be useless.
                errors.add(
                    path.field("key"),
                    "required field missing (Portico does not generate keys in declarative files)",
                );
                return None;
            }
        };
        if self.ttl.is_some_and(|t| t > 0) {
            errors.add(
                path.field("ttl"),
                "credentials with a ttl are not supported by Portico yet",
            );
            return None;
        }
        Some(KeyAuthCredential {
            id: id.unwrap_or_else(|| {
                derive_id(
                    "keyauth_credential",
                    &format!("{}:{key_sha256}", consumer.id),
                )
            }),
            consumer_id: consumer.id,
            key_sha256,
            tags: self.tags.clone().unwrap_or_default(),
            source: path.to_string(),
        })
    }
}

/// A `basicauth_credentials` entry as decK writes it.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuthCredentialConfig {
    pub id: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    /// [`password_digest`] of the password instead of the password: how the
    /// platform stores and sends passwords.
    pub password_sha256: Option<String>,
    /// Kong's stored form (SHA-1 of the password followed by the consumer id,
    /// hex), as a `_transform: false` file (`kong config db_export`) holds it in
    /// `password`.
    pub password_sha1: Option<String>,
    pub tags: Option<Vec<String>>,
    pub consumer: Option<serde_json::Value>,
    pub created_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BasicAuthCredential {
    pub id: Uuid,
    pub consumer_id: Uuid,
    pub username: String,
    /// How the password is checked; the password itself is not kept.
    pub password: PasswordDigest,
    pub tags: Vec<String>,
    #[serde(skip)]
    pub source: String,
}

/// The digest basic-auth keeps of a password (salted with the consumer id).
pub fn password_digest(consumer: Uuid, password: &str) -> String {
    digest(&format!("{consumer}:{password}"))
}

/// A basic-auth password as it is kept: a digest salted with the consumer id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PasswordDigest {
    /// Portico's: SHA-256 of `<consumer id>:<password>` (hex).
    Sha256(String),
    /// Kong's: SHA-1 of `<password><consumer id>` (hex).
    KongSha1(String),
}

impl PasswordDigest {
    /// Whether `password` is the one this digest was made from.
    pub fn matches(&self, consumer: Uuid, password: &str) -> bool {
        let (want, got) = match self {
            PasswordDigest::Sha256(d) => (d, password_digest(consumer, password)),
            PasswordDigest::KongSha1(d) => {
                use sha1::Digest as _;
                let mut h = sha1::Sha1::new();
                h.update(password.as_bytes());
                h.update(consumer.to_string().as_bytes());
                (d, hex(&h.finalize()))
            }
        };
        // both are hex of a fixed length: compare without an early exit
        want.len() == got.len()
            && want
                .bytes()
                .zip(got.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

impl BasicAuthCredentialConfig {
    pub fn validate(
        &self,
        consumer: &Consumer,
        path: &Path,
        errors: &mut Errors,
    ) -> Option<BasicAuthCredential> {
        let id = parse_id(&self.id, path, errors);
        let given = [
            self.password.is_some(),
            self.password_sha256.is_some(),
            self.password_sha1.is_some(),
        ]
        .iter()
        .filter(|g| **g)
        .count();
        let password = match (&self.password, &self.password_sha256, &self.password_sha1) {
            _ if given > 1 => {
                errors.add(
                    path.field("password"),
                    "only one of these fields may be set: 'password', 'password_sha256', 'password_sha1'",
                );
                None
            }
            (Some(p), _, _) => Some(PasswordDigest::Sha256(password_digest(consumer.id, p))),
            (_, Some(h), _) => {
                let h = sha256_hex(h);
                if h.is_none() {
                    errors.add(
                        path.field("password_sha256"),
                        "expected a SHA-256 digest: 64 hexadecimal characters",
                    );
                }
                h.map(PasswordDigest::Sha256)
            }
            (_, _, Some(h)) => {
                let ok = h.len() == 40 && h.bytes().all(|b| b.is_ascii_hexdigit());
                if !ok {
                    errors.add(
                        path.field("password_sha1"),
                        "expected Kong's stored password hash (a SHA-1 digest: 40 hexadecimal characters); is '_transform: false' meant?",
                    );
                }
                ok.then(|| PasswordDigest::KongSha1(h.to_ascii_lowercase()))
            }
            (None, None, None) => {
                errors.add(path.field("password"), "required field missing");
                None
            }
        };
        let Some(username) = &self.username else {
            errors.add(path.field("username"), "required field missing");
            return None;
        };
        let password = password?;
        Some(BasicAuthCredential {
            id: id.unwrap_or_else(|| derive_id("basicauth_credential", username)),
            consumer_id: consumer.id,
            username: username.clone(),
            password,
            tags: self.tags.clone().unwrap_or_default(),
            source: path.to_string(),
        })
    }
}

/// An `acls` entry: a consumer's membership of an ACL group.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AclGroupConfig {
    pub id: Option<String>,
    pub group: Option<String>,
    pub tags: Option<Vec<String>>,
    pub consumer: Option<serde_json::Value>,
    pub created_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AclGroup {
    pub id: Uuid,
    pub consumer_id: Uuid,
    pub group: String,
    pub tags: Vec<String>,
    #[serde(skip)]
    pub source: String,
}

impl AclGroupConfig {
    pub fn validate(
        &self,
        consumer: &Consumer,
        path: &Path,
        errors: &mut Errors,
    ) -> Option<AclGroup> {
        let id = parse_id(&self.id, path, errors);
        let Some(group) = self.group.clone().filter(|g| !g.is_empty()) else {
            errors.add(path.field("group"), "required field missing");
            return None;
        };
        Some(AclGroup {
            id: id.unwrap_or_else(|| derive_id("acl", &format!("{}:{group}", consumer.id))),
            consumer_id: consumer.id,
            group,
            tags: self.tags.clone().unwrap_or_default(),
            source: path.to_string(),
        })
    }
}

/// Algorithms a `jwt_secrets` entry may use.
pub const JWT_ALGORITHMS: &[&str] = &[
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "PS256", "PS384",
    "PS512", "EdDSA",
];

/// A `jwt_secrets` entry as decK writes it.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JwtSecretConfig {
    pub id: Option<String>,
    pub key: Option<String>,
    pub secret: Option<String>,
    pub algorithm: Option<String>,
    pub rsa_public_key: Option<String>,
    pub tags: Option<Vec<String>>,
    pub consumer: Option<serde_json::Value>,
    pub created_at: Option<i64>,
}

/// A JWT credential. The HMAC secret must stay usable to verify signatures, so it
/// is kept (it is never exposed back through any API).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JwtSecret {
    pub id: Uuid,
    pub consumer_id: Uuid,
    pub key: String,
    pub algorithm: String,
    pub secret: Option<String>,
    pub rsa_public_key: Option<String>,
    pub tags: Vec<String>,
    #[serde(skip)]
    pub source: String,
}

impl JwtSecretConfig {
    pub fn validate(
        &self,
        consumer: &Consumer,
        path: &Path,
        errors: &mut Errors,
    ) -> Option<JwtSecret> {
        let before = errors.list.len();
        let id = parse_id(&self.id, path, errors);
        let algorithm = self.algorithm.clone().unwrap_or_else(|| "HS256".into());
        if !JWT_ALGORITHMS.contains(&algorithm.as_str()) {
            errors.add(
                path.field("algorithm"),
                format!(
                    "expected one of: {}; got '{algorithm}'",
                    JWT_ALGORITHMS.join(", ")
                ),
            );
        }
        let key = match &self.key {
            Some(k) if !k.is_empty() => k.clone(),
            _ => {
                errors.add(
                    path.field("key"),
                    "required field missing (Portico does not generate keys in declarative files)",
                );
                String::new()
            }
        };
        if algorithm.starts_with("HS") && self.secret.as_deref().is_none_or(str::is_empty) {
            errors.add(
                path.field("secret"),
                "required field missing for an HMAC algorithm",
            );
        }
        if !algorithm.starts_with("HS")
            && self
                .rsa_public_key
                .as_deref()
                .is_none_or(|k| !k.contains("PUBLIC KEY"))
        {
            errors.add(
                path.field("rsa_public_key"),
                format!("a PEM public key is required when 'algorithm' is '{algorithm}'"),
            );
        }
        if errors.list.len() > before {
            return None;
        }
        Some(JwtSecret {
            id: id.unwrap_or_else(|| derive_id("jwt_secret", &key)),
            consumer_id: consumer.id,
            key,
            algorithm,
            secret: self.secret.clone(),
            rsa_public_key: self.rsa_public_key.clone(),
            tags: self.tags.clone().unwrap_or_default(),
            source: path.to_string(),
        })
    }
}

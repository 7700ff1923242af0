//! Certificates (with their SNIs) that the proxy serves, and CA certificates that
//! services verify upstream TLS against. Key material stays opaque here; the node
//! parses it when it compiles the config and reports problems with the same paths.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{derive_id, parse_id};
use crate::error::{Errors, Path};

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateConfig {
    pub id: Option<String>,
    pub cert: Option<String>,
    pub key: Option<String>,
    pub cert_alt: Option<String>,
    pub key_alt: Option<String>,
    pub tags: Option<Vec<String>>,
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
}

/// decK nests SNIs under their certificate, as names or as objects.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum SniConfig {
    Name(String),
    Object(SniObject),
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SniObject {
    pub id: Option<String>,
    pub name: String,
    pub tags: Option<Vec<String>>,
    pub certificate: Option<serde_json::Value>,
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Certificate {
    pub id: Uuid,
    pub cert: String,
    pub key: String,
    pub cert_alt: Option<String>,
    pub key_alt: Option<String>,
    pub tags: Vec<String>,
    #[serde(skip)]
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sni {
    pub id: Uuid,
    /// Lower-cased; may start with `*.` or end with `.*`.
    pub name: String,
    pub certificate_id: Uuid,
    pub tags: Vec<String>,
    #[serde(skip)]
    pub source: String,
}

fn check_pem(
    v: &Option<String>,
    what: &str,
    marker: &str,
    path: Path,
    errors: &mut Errors,
) -> String {
    match v {
        None => {
            errors.add(path, "required field missing");
            String::new()
        }
        Some(s) if !s.contains(marker) => {
            errors.add(
                path,
                format!("invalid {what}: expected PEM data ({marker})"),
            );
            s.clone()
        }
        Some(s) => s.clone(),
    }
}

impl CertificateConfig {
    pub fn validate(&self, index: usize, path: &Path, errors: &mut Errors) -> Option<Certificate> {
        let before = errors.list.len();
        let id = parse_id(&self.id, path, errors);
        let cert = check_pem(
            &self.cert,
            "certificate",
            "-----BEGIN CERTIFICATE-----",
            path.field("cert"),
            errors,
        );
        let key = check_pem(
            &self.key,
            "key",
            "PRIVATE KEY-----",
            path.field("key"),
            errors,
        );
        if self.cert_alt.is_some() != self.key_alt.is_some() {
            errors.add(
                path.field("cert_alt"),
                "all or none of these fields must be set: 'cert_alt', 'key_alt'",
            );
        }
        if errors.list.len() > before {
            return None;
        }
        Some(Certificate {
            id: id.unwrap_or_else(|| {
                derive_id("certificate", &format!("#{index}:{}", short_digest(&cert)))
            }),
            cert,
            key,
            cert_alt: self.cert_alt.clone(),
            key_alt: self.key_alt.clone(),
            tags: self.tags.clone().unwrap_or_default(),
            source: path.to_string(),
        })
    }
}

fn short_digest(s: &str) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(s.as_bytes());
    d.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

impl SniConfig {
    pub fn validate(&self, cert: &Certificate, path: &Path, errors: &mut Errors) -> Option<Sni> {
        let (id, name, tags) = match self {
            SniConfig::Name(n) => (None, n.clone(), Vec::new()),
            SniConfig::Object(o) => (
                parse_id(&o.id, path, errors),
                o.name.clone(),
                o.tags.clone().unwrap_or_default(),
            ),
        };
        let name = name.to_ascii_lowercase();
        let npath = match self {
            SniConfig::Name(_) => path.clone(),
            SniConfig::Object(_) => path.field("name"),
        };
        if let Err(m) = super::route::check_route_host(&name) {
            errors.add(npath, m);
            return None;
        }
        if name.contains(':') {
            errors.add(
                npath,
                format!("invalid value '{name}': must not have a port"),
            );
            return None;
        }
        Some(Sni {
            id: id.unwrap_or_else(|| derive_id("sni", &name)),
            name,
            certificate_id: cert.id,
            tags,
            source: path.to_string(),
        })
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CaCertificateConfig {
    pub id: Option<String>,
    pub cert: Option<String>,
    pub cert_digest: Option<String>,
    pub tags: Option<Vec<String>>,
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaCertificate {
    pub id: Uuid,
    pub cert: String,
    pub tags: Vec<String>,
    #[serde(skip)]
    pub source: String,
}

impl CaCertificateConfig {
    pub fn validate(
        &self,
        index: usize,
        path: &Path,
        errors: &mut Errors,
    ) -> Option<CaCertificate> {
        let before = errors.list.len();
        let id = parse_id(&self.id, path, errors);
        let cert = check_pem(
            &self.cert,
            "certificate",
            "-----BEGIN CERTIFICATE-----",
            path.field("cert"),
            errors,
        );
        if errors.list.len() > before {
            return None;
        }
        Some(CaCertificate {
            id: id.unwrap_or_else(|| {
                derive_id(
                    "ca_certificate",
                    &format!("#{index}:{}", short_digest(&cert)),
                )
            }),
            cert,
            tags: self.tags.clone().unwrap_or_default(),
            source: path.to_string(),
        })
    }
}

//! Certificates (with their SNIs) that the proxy serves, and CA certificates that
//! services verify upstream TLS against. Certificates and keys are parsed here with
//! the node's own TLS code ([`crate::tls`]), so nothing a node cannot serve is
//! ever accepted.

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

/// A required PEM field: present and not empty.
fn required(v: &Option<String>, path: Path, errors: &mut Errors) -> Option<String> {
    match v {
        None => {
            errors.add(path, "required field missing");
            None
        }
        Some(s) => Some(s.clone()),
    }
}

/// Parses one certificate/key pair the way the node will serve it; problems go to
/// the field they are about.
fn check_pair(
    cert: &str,
    key: &str,
    path: &Path,
    (cf, kf): (&str, &str),
    errors: &mut Errors,
) -> Option<rustls::SignatureAlgorithm> {
    match crate::tls::certified_key(cert, key) {
        Ok(ck) => Some(crate::tls::key_family(&ck)),
        Err(crate::tls::InvalidPair::Cert(m)) => {
            errors.add(path.field(cf), m);
            None
        }
        Err(crate::tls::InvalidPair::Key(m)) => {
            errors.add(path.field(kf), m);
            None
        }
    }
}

impl CertificateConfig {
    pub fn validate(&self, index: usize, path: &Path, errors: &mut Errors) -> Option<Certificate> {
        let before = errors.list.len();
        let id = parse_id(&self.id, path, errors);
        let cert = required(&self.cert, path.field("cert"), errors);
        let key = required(&self.key, path.field("key"), errors);
        let main = match (&cert, &key) {
            (Some(c), Some(k)) => check_pair(c, k, path, ("cert", "key"), errors),
            _ => None,
        };
        match (&self.cert_alt, &self.key_alt) {
            (Some(c), Some(k)) => {
                let alt = check_pair(c, k, path, ("cert_alt", "key_alt"), errors);
                if let (Some(m), Some(a)) = (main, alt)
                    && m == a
                {
                    errors.add(
                        path.field("cert_alt"),
                        "certificate and alternative certificate need to have different type (e.g. RSA and ECDSA), the provided certificates were both of the same type",
                    );
                }
            }
            (None, None) => {}
            _ => errors.add(
                path.field("cert_alt"),
                "all or none of these fields must be set: 'cert_alt', 'key_alt'",
            ),
        }
        if errors.list.len() > before {
            return None;
        }
        let (cert, key) = (cert?, key?);
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
        let cert = required(&self.cert, path.field("cert"), errors)?;
        if let Err(m) = crate::tls::check_ca(&cert) {
            errors.add(path.field("cert"), m);
        }
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

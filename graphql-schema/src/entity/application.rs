//! Dev Portal applications as gateway config: an application (its developer and
//! portal, and the APIs it is registered for, each with the plan's limits) and
//! its credentials (API keys kept as SHA-256, with an optional expiry, so a
//! rotated key keeps working until its grace ends). The platform writes these
//! into the control planes that implement the APIs; the `portal-auth` plugin
//! finds a request's application with one hash probe.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::consumer::{digest, sha256_hex};
use super::{derive_id, parse_id};
use crate::error::{Errors, Path};

/// An `applications` entry.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationConfig {
    pub id: Option<String>,
    pub name: Option<String>,
    pub developer_id: Option<String>,
    pub portal_id: Option<String>,
    pub registrations: Option<Vec<RegistrationConfig>>,
    pub tags: Option<Vec<String>>,
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
}

/// An API the application may call, with its plan's limits.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrationConfig {
    pub api_id: Option<String>,
    pub plan: Option<PlanLimits>,
}

/// A plan's limits: requests per period, and a monthly quota.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PlanLimits {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub second: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minute: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hour: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub month: Option<f64>,
    /// Requests per calendar month.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<f64>,
}

impl PlanLimits {
    /// (period, limit) pairs, the monthly quota folded into the month's limit.
    pub fn windows(&self) -> Vec<(&'static str, f64)> {
        let month = match (self.month, self.quota) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        [
            ("second", self.second),
            ("minute", self.minute),
            ("hour", self.hour),
            ("day", self.day),
            ("month", month),
        ]
        .into_iter()
        .filter_map(|(p, l)| l.map(|l| (p, l)))
        .collect()
    }

    pub fn check(&self, path: &Path, errors: &mut Errors) {
        for (f, v) in [
            ("second", self.second),
            ("minute", self.minute),
            ("hour", self.hour),
            ("day", self.day),
            ("month", self.month),
            ("quota", self.quota),
        ] {
            if v.is_some_and(|v| !(v >= 1.0 && v.is_finite())) {
                errors.add(path.field(f), "must be 1 or more");
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Registration {
    pub api_id: Uuid,
    pub plan: Option<PlanLimits>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Application {
    pub id: Uuid,
    pub name: String,
    pub developer_id: Option<Uuid>,
    pub portal_id: Option<Uuid>,
    pub registrations: Vec<Registration>,
    pub tags: Vec<String>,
    #[serde(skip)]
    pub source: String,
}

fn opt_uuid(v: &Option<String>, field: &str, path: &Path, errors: &mut Errors) -> Option<Uuid> {
    let s = v.as_ref()?;
    match Uuid::parse_str(s) {
        Ok(u) => Some(u),
        Err(_) => {
            errors.add(path.field(field), format!("expected a UUID, got '{s}'"));
            None
        }
    }
}

impl ApplicationConfig {
    pub fn validate(&self, path: &Path, errors: &mut Errors) -> Option<Application> {
        let before = errors.list.len();
        let id = parse_id(&self.id, path, errors);
        let name = match &self.name {
            Some(n) if !n.is_empty() && n.chars().count() <= 255 => n.clone(),
            Some(_) => {
                errors.add(path.field("name"), "1 to 255 characters");
                String::new()
            }
            None => {
                errors.add(path.field("name"), "required field missing");
                String::new()
            }
        };
        let developer_id = opt_uuid(&self.developer_id, "developer_id", path, errors);
        let portal_id = opt_uuid(&self.portal_id, "portal_id", path, errors);
        let mut registrations = Vec::new();
        for (i, r) in self.registrations.iter().flatten().enumerate() {
            let rp = path.field("registrations").index(i);
            let Some(api) = &r.api_id else {
                errors.add(rp.field("api_id"), "required field missing");
                continue;
            };
            let Some(api_id) = opt_uuid(&Some(api.clone()), "api_id", &rp, errors) else {
                continue;
            };
            if let Some(p) = &r.plan {
                p.check(&rp.field("plan"), errors);
            }
            if registrations
                .iter()
                .any(|x: &Registration| x.api_id == api_id)
            {
                errors.add(rp.field("api_id"), "registered twice");
                continue;
            }
            registrations.push(Registration {
                api_id,
                plan: r.plan.clone(),
            });
        }
        if errors.list.len() > before {
            return None;
        }
        Some(Application {
            id: id.unwrap_or_else(|| derive_id("application", &name)),
            name,
            developer_id,
            portal_id,
            registrations,
            tags: self.tags.clone().unwrap_or_default(),
            source: path.to_string(),
        })
    }
}

/// An `application_credentials` entry.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationCredentialConfig {
    pub id: Option<String>,
    pub application: Option<serde_json::Value>,
    pub key: Option<String>,
    /// The key's SHA-256 (hex): how the platform stores and sends keys.
    pub key_sha256: Option<String>,
    pub display_name: Option<String>,
    /// The key's first characters, to recognise it (not a secret).
    pub prefix: Option<String>,
    /// Unix seconds after which the key no longer works.
    pub expires_at: Option<i64>,
    pub tags: Option<Vec<String>>,
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApplicationCredential {
    pub id: Uuid,
    pub application_id: Uuid,
    pub key_sha256: String,
    pub expires_at: Option<i64>,
    pub tags: Vec<String>,
    #[serde(skip)]
    pub source: String,
}

impl ApplicationCredentialConfig {
    pub fn validate(
        &self,
        app: &Application,
        path: &Path,
        errors: &mut Errors,
    ) -> Option<ApplicationCredential> {
        let id = parse_id(&self.id, path, errors);
        let key_sha256 = match (&self.key, &self.key_sha256) {
            (Some(_), Some(_)) => {
                errors.add(
                    path.field("key_sha256"),
                    "only one of these fields may be set: 'key', 'key_sha256'",
                );
                return None;
            }
            (Some(k), None) if k.len() >= 8 => digest(k),
            (Some(_), None) => {
                errors.add(path.field("key"), "at least 8 characters");
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
                errors.add(path.field("key"), "required field missing");
                return None;
            }
        };
        if self.expires_at.is_some_and(|e| e <= 0) {
            errors.add(path.field("expires_at"), "Unix seconds");
            return None;
        }
        Some(ApplicationCredential {
            id: id.unwrap_or_else(|| {
                derive_id(
                    "application_credential",
                    &format!("{}:{key_sha256}", app.id),
                )
            }),
            application_id: app.id,
            key_sha256,
            expires_at: self.expires_at,
            tags: self.tags.clone().unwrap_or_default(),
            source: path.to_string(),
        })
    }
}

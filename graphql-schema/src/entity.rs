//! Config entities as in Kong: what a user writes (`FooConfig`, Kong's field names,
//! every field optional so defaults are ours to apply) and its validated form (`Foo`).

pub mod application;
pub mod certificate;
pub mod consumer;
pub mod plugin;
pub mod route;
pub mod service;
pub mod upstream;

pub use application::{
    Application, ApplicationConfig, ApplicationCredential, ApplicationCredentialConfig, PlanLimits,
    Registration,
};
pub use certificate::{CaCertificate, CaCertificateConfig, Certificate, CertificateConfig, Sni};
pub use consumer::{
    AclGroup, AclGroupConfig, BasicAuthCredential, BasicAuthCredentialConfig, Consumer,
    ConsumerConfig, ConsumerGroup, ConsumerGroupConfig, JwtSecret, JwtSecretConfig,
    KeyAuthCredential, KeyAuthCredentialConfig,
};
pub use plugin::{Plugin, PluginConfig, PluginScope};
pub use route::{PathHandling, Route, RouteConfig};
pub use service::{Protocol, Service, ServiceConfig};
pub use upstream::{
    Algorithm, HashOn, Healthchecks, Target, TargetConfig, Upstream, UpstreamConfig,
};

use regex::Regex;
use std::sync::LazyLock;
use uuid::Uuid;

use crate::error::{Errors, Path};

/// Namespace for ids derived from names when a file gives none, so the same file
/// always yields the same ids (and the same config hash).
const ID_NAMESPACE: Uuid = Uuid::from_u128(0x6f0c_1a2e_5b7d_4e44_9a0b_7c3d_2e1f_0a99);

pub(crate) fn derive_id(kind: &str, key: &str) -> Uuid {
    Uuid::new_v5(&ID_NAMESPACE, format!("{kind}:{key}").as_bytes())
}

pub(crate) fn parse_id(id: &Option<String>, path: &Path, errors: &mut Errors) -> Option<Uuid> {
    let s = id.as_deref()?;
    match Uuid::parse_str(s) {
        Ok(u) => Some(u),
        Err(_) => {
            errors.add(
                path.field("id"),
                format!("expected a valid UUID, got '{s}'"),
            );
            None
        }
    }
}

static NAME_RE: LazyLock<Regex> = LazyLock::new(|| {
    #[allow(clippy::unwrap_used)] // a literal, checked by the tests
    Regex::new(r"^[A-Za-z0-9.\-_~]+$").unwrap()
});

/// Kong's `name` type: letters, digits and `.-_~`.
pub(crate) fn check_name(name: &Option<String>, path: &Path, errors: &mut Errors) {
    if let Some(n) = name
        && !NAME_RE.is_match(n)
    {
        errors.add(
            path.field("name"),
            format!(
                "invalid value '{n}': it must only contain alphanumerics and '.', '-', '_', '~'"
            ),
        );
    }
}

static HOSTNAME_RE: LazyLock<Regex> = LazyLock::new(|| {
    #[allow(clippy::unwrap_used)] // a literal, checked by the tests
    Regex::new(r"^([A-Za-z0-9_]([A-Za-z0-9_\-]{0,61}[A-Za-z0-9_])?)(\.[A-Za-z0-9_]([A-Za-z0-9_\-]{0,61}[A-Za-z0-9_])?)*\.?$").unwrap()
});

/// A hostname or an IP address (IPv6 with or without brackets).
pub fn is_valid_host(h: &str) -> bool {
    if h.is_empty() || h.len() > 253 {
        return false;
    }
    let bare = h
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(h);
    bare.parse::<std::net::IpAddr>().is_ok() || HOSTNAME_RE.is_match(h)
}

/// Splits `host[:port]` (IPv6 in brackets when a port follows).
pub fn split_host_port(s: &str) -> Result<(String, Option<u16>), String> {
    if let Some(rest) = s.strip_prefix('[') {
        let Some(end) = rest.find(']') else {
            return Err(format!("invalid IPv6 address '{s}'"));
        };
        let host = &rest[..end];
        let after = &rest[end + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some(parse_port(p)?),
            None if after.is_empty() => None,
            None => return Err(format!("invalid value '{s}'")),
        };
        return Ok((format!("[{host}]"), port));
    }
    if s.matches(':').count() > 1 {
        // bare IPv6 without a port
        return Ok((format!("[{s}]"), None));
    }
    match s.split_once(':') {
        Some((h, p)) => Ok((h.to_string(), Some(parse_port(p)?))),
        None => Ok((s.to_string(), None)),
    }
}

fn parse_port(p: &str) -> Result<u16, String> {
    p.parse::<u16>()
        .map_err(|_| format!("invalid port number '{p}': must be an integer between 0 and 65535"))
}

pub(crate) fn int_in_range(
    v: Option<i64>,
    default: i64,
    lo: i64,
    hi: i64,
    path: Path,
    errors: &mut Errors,
) -> i64 {
    match v {
        None => default,
        Some(x) if x < lo || x > hi => {
            errors.add(path, format!("value should be between {lo} and {hi}"));
            default
        }
        Some(x) => x,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        for ok in [
            "example.com",
            "a",
            "10.0.0.1",
            "::1",
            "[::1]",
            "my_host.internal",
            "x-1.y",
        ] {
            assert!(is_valid_host(ok), "{ok}");
        }
        for bad in ["", "-a.com", "a..b", "a b", "*.x.com", "http://x"] {
            assert!(!is_valid_host(bad), "{bad}");
        }
    }

    #[test]
    fn host_port() {
        assert_eq!(
            split_host_port("a.com:81").ok(),
            Some(("a.com".into(), Some(81)))
        );
        assert_eq!(split_host_port("a.com").ok(), Some(("a.com".into(), None)));
        assert_eq!(
            split_host_port("[::1]:8").ok(),
            Some(("[::1]".into(), Some(8)))
        );
        assert_eq!(split_host_port("::1").ok(), Some(("[::1]".into(), None)));
        assert!(split_host_port("a.com:99999").is_err());
        assert!(split_host_port("a.com:x").is_err());
    }

    #[test]
    fn names() {
        let mut e = Errors::default();
        check_name(&Some("good-name_1.x~".into()), &Path::root(), &mut e);
        assert!(e.is_empty());
        check_name(&Some("bad name".into()), &Path::root(), &mut e);
        assert_eq!(e.list.len(), 1);
    }
}

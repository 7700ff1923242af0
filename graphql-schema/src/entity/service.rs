//! Service: where traffic goes (`url` shorthand or protocol/host/port/path), with
//! Kong's defaults (port 80, retries 5, 60 s timeouts).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{check_name, derive_id, int_in_range, is_valid_host, parse_id};
use crate::error::{Errors, Path};

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    pub id: Option<String>,
    pub name: Option<String>,
    pub url: Option<String>,
    pub protocol: Option<String>,
    pub host: Option<String>,
    pub port: Option<i64>,
    pub path: Option<String>,
    pub retries: Option<i64>,
    pub connect_timeout: Option<i64>,
    pub write_timeout: Option<i64>,
    pub read_timeout: Option<i64>,
    pub tags: Option<Vec<String>>,
    pub enabled: Option<bool>,
    pub tls_verify: Option<bool>,
    pub tls_verify_depth: Option<i64>,
    pub ca_certificates: Option<Vec<String>>,
    pub client_certificate: Option<serde_json::Value>,
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Http,
    Https,
    Grpc,
    Grpcs,
}

impl Protocol {
    pub fn parse(s: &str) -> Option<Protocol> {
        Some(match s {
            "http" => Protocol::Http,
            "https" => Protocol::Https,
            "grpc" => Protocol::Grpc,
            "grpcs" => Protocol::Grpcs,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Https => "https",
            Protocol::Grpc => "grpc",
            Protocol::Grpcs => "grpcs",
        }
    }

    pub fn is_tls(self) -> bool {
        matches!(self, Protocol::Https | Protocol::Grpcs)
    }

    pub fn is_grpc(self) -> bool {
        matches!(self, Protocol::Grpc | Protocol::Grpcs)
    }
}

/// Protocols Kong knows but Portico does not proxy yet: named in errors as such.
pub(crate) const STREAM_PROTOCOLS: &[&str] = &["tcp", "tls", "udp", "tls_passthrough", "ws", "wss"];

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Service {
    pub id: Uuid,
    pub name: Option<String>,
    pub protocol: Protocol,
    pub host: String,
    pub port: u16,
    pub path: Option<String>,
    pub retries: u32,
    pub connect_timeout_ms: u64,
    pub write_timeout_ms: u64,
    pub read_timeout_ms: u64,
    pub tls_verify: Option<bool>,
    pub tls_verify_depth: Option<u32>,
    pub ca_certificates: Vec<Uuid>,
    pub enabled: bool,
    pub tags: Vec<String>,
    /// Where the entity was written (`services[3]`), for errors found later.
    #[serde(skip)]
    pub source: String,
}

const MAX_TIMEOUT: i64 = 2_147_483_646;

impl ServiceConfig {
    pub fn validate(&self, index: usize, path: &Path, errors: &mut Errors) -> Option<Service> {
        let before = errors.list.len();
        let id = parse_id(&self.id, path, errors);
        check_name(&self.name, path, errors);

        let mut protocol = self.protocol.clone();
        let mut host = self.host.clone();
        let mut port = self.port;
        let mut svc_path = self.path.clone();
        if let Some(url) = &self.url {
            match parse_url(url) {
                Ok(u) => {
                    protocol = Some(u.scheme);
                    host = Some(u.host);
                    port = Some(u.port);
                    svc_path = u.path;
                }
                Err(m) => errors.add(path.field("url"), m),
            }
        }

        let protocol = match protocol.as_deref() {
            None => Protocol::Http,
            Some(p) => match Protocol::parse(p) {
                Some(p) => p,
                None if STREAM_PROTOCOLS.contains(&p) => {
                    errors.add(
                        path.field("protocol"),
                        format!("protocol '{p}' is not supported by Portico yet"),
                    );
                    Protocol::Http
                }
                None => {
                    errors.add(
                        path.field("protocol"),
                        format!("expected one of: grpc, grpcs, http, https; got '{p}'"),
                    );
                    Protocol::Http
                }
            },
        };

        let host = match host {
            None => {
                errors.add(path.field("host"), "required field missing");
                String::new()
            }
            Some(h) if !is_valid_host(&h) => {
                errors.add(
                    path.field("host"),
                    format!("invalid value '{h}': must be a hostname or an IP address"),
                );
                h
            }
            Some(h) => h.to_ascii_lowercase(),
        };
        let port = int_in_range(port, 80, 0, 65535, path.field("port"), errors) as u16;

        if let Some(p) = &svc_path {
            if protocol.is_grpc() {
                errors.add(
                    path.field("path"),
                    format!(
                        "value must be null when 'protocol' is '{}'",
                        protocol.as_str()
                    ),
                );
            } else if !p.starts_with('/') {
                errors.add(path.field("path"), "should start with: /");
            } else if p.contains("//") {
                errors.add(path.field("path"), "must not have empty segments");
            }
        }

        let retries = int_in_range(self.retries, 5, 0, 32767, path.field("retries"), errors) as u32;
        let connect = int_in_range(
            self.connect_timeout,
            60000,
            1,
            MAX_TIMEOUT,
            path.field("connect_timeout"),
            errors,
        ) as u64;
        let write = int_in_range(
            self.write_timeout,
            60000,
            1,
            MAX_TIMEOUT,
            path.field("write_timeout"),
            errors,
        ) as u64;
        let read = int_in_range(
            self.read_timeout,
            60000,
            1,
            MAX_TIMEOUT,
            path.field("read_timeout"),
            errors,
        ) as u64;
        let depth = self.tls_verify_depth.map(|d| {
            int_in_range(Some(d), 0, 0, 64, path.field("tls_verify_depth"), errors) as u32
        });

        let mut cas = Vec::new();
        for (i, c) in self.ca_certificates.iter().flatten().enumerate() {
            match Uuid::parse_str(c) {
                Ok(u) => cas.push(u),
                Err(_) => errors.add(
                    path.field("ca_certificates").index(i),
                    format!("expected a valid UUID, got '{c}'"),
                ),
            }
        }
        if self.client_certificate.is_some() {
            errors.add(
                path.field("client_certificate"),
                "upstream client certificates are not supported by Portico yet",
            );
        }

        if errors.list.len() > before {
            return None;
        }
        let id = id.unwrap_or_else(|| {
            derive_id(
                "service",
                self.name.as_deref().unwrap_or(&format!("#{index}")),
            )
        });
        Some(Service {
            id,
            name: self.name.clone(),
            protocol,
            host,
            port,
            path: svc_path,
            retries,
            connect_timeout_ms: connect,
            write_timeout_ms: write,
            read_timeout_ms: read,
            tls_verify: self.tls_verify,
            tls_verify_depth: depth,
            ca_certificates: cas,
            enabled: self.enabled.unwrap_or(true),
            tags: self.tags.clone().unwrap_or_default(),
            source: path.to_string(),
        })
    }
}

struct ParsedUrl {
    scheme: String,
    host: String,
    port: i64,
    path: Option<String>,
}

/// Kong's `url` shorthand: `scheme://host[:port][/path]`; the port defaults to the
/// scheme's (443 for https/grpcs, 80 otherwise).
fn parse_url(url: &str) -> Result<ParsedUrl, String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!("invalid url '{url}': missing scheme"));
    };
    let scheme = scheme.to_ascii_lowercase();
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(i) => {
            let p = &rest[i..];
            if !p.starts_with('/') {
                return Err(format!(
                    "invalid url '{url}': query strings and fragments are not allowed"
                ));
            }
            (&rest[..i], Some(p.to_string()))
        }
        None => (rest, None),
    };
    if authority.is_empty() {
        return Err(format!("invalid url '{url}': missing host"));
    }
    let (host, port) =
        super::split_host_port(authority).map_err(|m| format!("invalid url '{url}': {m}"))?;
    let default_port = if scheme == "https" || scheme == "grpcs" {
        443
    } else {
        80
    };
    Ok(ParsedUrl {
        scheme,
        host: host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
        port: port.map(i64::from).unwrap_or(default_port),
        path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(json: serde_json::Value) -> Result<Service, Vec<String>> {
        let cfg: ServiceConfig = serde_json::from_value(json).map_err(|e| vec![e.to_string()])?;
        let mut e = Errors::default();
        let r = cfg.validate(0, &Path::root().field("services").index(0), &mut e);
        r.ok_or_else(|| e.list.iter().map(|x| x.to_string()).collect())
    }

    #[test]
    fn url_shorthand_and_defaults() {
        let s = v(serde_json::json!({"name":"a","url":"https://Example.com/api"}))
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            (s.protocol, s.host.as_str(), s.port, s.path.as_deref()),
            (Protocol::Https, "example.com", 443, Some("/api"))
        );
        assert_eq!(
            (s.retries, s.connect_timeout_ms, s.read_timeout_ms),
            (5, 60000, 60000)
        );
        let s = v(serde_json::json!({"host":"x"})).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!((s.protocol, s.port, s.path), (Protocol::Http, 80, None));
        let s = v(serde_json::json!({"url":"http://x:8080"})).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(s.port, 8080);
    }

    #[test]
    fn errors_have_paths() {
        let e = v(serde_json::json!({"protocol":"ftp","port":70000,"retries":-1,"path":"x","read_timeout":0})).err().unwrap_or_default();
        for want in [
            "services[0].protocol: expected one of",
            "services[0].host: required field missing",
            "services[0].port: value should be between 0 and 65535",
            "services[0].retries: value should be between 0 and 32767",
            "services[0].path: should start with: /",
            "services[0].read_timeout: value should be between 1 and",
        ] {
            assert!(
                e.iter().any(|m| m.starts_with(want)),
                "missing {want} in {e:?}"
            );
        }
        let e = v(serde_json::json!({"protocol":"tcp","host":"x"}))
            .err()
            .unwrap_or_default();
        assert!(e[0].contains("not supported by Portico yet"), "{e:?}");
        let e = v(serde_json::json!({"protocol":"grpc","host":"x","path":"/a"}))
            .err()
            .unwrap_or_default();
        assert!(
            e[0].starts_with("services[0].path: value must be null"),
            "{e:?}"
        );
    }

    #[test]
    fn derived_ids_are_stable() {
        let a = v(serde_json::json!({"name":"a","host":"x"})).unwrap_or_else(|e| panic!("{e:?}"));
        let b = v(serde_json::json!({"name":"a","host":"y"})).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(a.id, b.id);
    }
}

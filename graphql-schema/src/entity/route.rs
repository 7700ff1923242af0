//! Route: which requests go to a service (hosts, paths, methods, headers, snis,
//! protocols), with Kong's defaults and Kong's validation rules.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

use super::service::STREAM_PROTOCOLS;
use super::{Protocol, check_name, derive_id, parse_id};
use crate::error::{Errors, Path};

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    pub id: Option<String>,
    pub name: Option<String>,
    pub protocols: Option<Vec<String>>,
    pub methods: Option<Vec<String>>,
    pub hosts: Option<Vec<String>>,
    pub paths: Option<Vec<String>>,
    pub headers: Option<BTreeMap<String, Vec<String>>>,
    pub snis: Option<Vec<String>>,
    pub sources: Option<serde_json::Value>,
    pub destinations: Option<serde_json::Value>,
    pub https_redirect_status_code: Option<i64>,
    pub regex_priority: Option<i64>,
    pub strip_path: Option<bool>,
    pub preserve_host: Option<bool>,
    pub path_handling: Option<String>,
    pub request_buffering: Option<bool>,
    pub response_buffering: Option<bool>,
    pub tags: Option<Vec<String>>,
    /// Only on top-level `routes:` entries: `{name: ...}`, `{id: ...}` or a name.
    pub service: Option<serde_json::Value>,
    pub expression: Option<String>,
    pub priority: Option<i64>,
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PathHandling {
    V0,
    V1,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Route {
    pub id: Uuid,
    pub name: Option<String>,
    pub service_id: Option<Uuid>,
    pub protocols: Vec<Protocol>,
    pub methods: Vec<String>,
    /// Lower-cased; may carry a port and one leading or trailing `*` label.
    pub hosts: Vec<String>,
    /// As written: plain prefixes, or regexes starting with `~`.
    pub paths: Vec<String>,
    /// Header names lower-cased; values as written (`~*` marks a regex).
    pub headers: Vec<(String, Vec<String>)>,
    pub snis: Vec<String>,
    pub https_redirect_status_code: u16,
    pub regex_priority: i64,
    pub strip_path: bool,
    pub preserve_host: bool,
    pub path_handling: PathHandling,
    pub request_buffering: bool,
    pub response_buffering: bool,
    pub tags: Vec<String>,
    /// Position in the file, the tie-breaker between routes of equal priority
    /// (Kong uses `created_at`; a file's order is its creation order).
    pub order: usize,
    #[serde(skip)]
    pub source: String,
}

impl Route {
    pub fn is_regex_path(p: &str) -> bool {
        p.starts_with('~')
    }
}

impl RouteConfig {
    /// `service_id` is resolved by the caller (nesting or reference).
    pub fn validate(
        &self,
        order: usize,
        service_id: Option<Uuid>,
        service_key: &str,
        path: &Path,
        errors: &mut Errors,
    ) -> Option<Route> {
        let before = errors.list.len();
        let id = parse_id(&self.id, path, errors);
        check_name(&self.name, path, errors);

        if self.expression.is_some() || self.priority.is_some() {
            errors.add(
                path.field(if self.expression.is_some() {
                    "expression"
                } else {
                    "priority"
                }),
                "expressions routes are not supported by Portico; use hosts/paths/methods/headers",
            );
        }
        for f in ["sources", "destinations"] {
            let set = if f == "sources" {
                &self.sources
            } else {
                &self.destinations
            };
            if set.as_ref().is_some_and(|v| !v.is_null()) {
                errors.add(
                    path.field(f),
                    "stream routes are not supported by Portico yet",
                );
            }
        }

        // protocols
        let mut protocols = Vec::new();
        match &self.protocols {
            None => protocols = vec![Protocol::Http, Protocol::Https],
            Some(list) if list.is_empty() => {
                errors.add(path.field("protocols"), "length must be at least 1")
            }
            Some(list) => {
                for (i, p) in list.iter().enumerate() {
                    match Protocol::parse(p) {
                        Some(p) => {
                            if !protocols.contains(&p) {
                                protocols.push(p)
                            }
                        }
                        None if STREAM_PROTOCOLS.contains(&p.as_str()) => errors.add(
                            path.field("protocols").index(i),
                            format!("protocol '{p}' is not supported by Portico yet"),
                        ),
                        None => errors.add(
                            path.field("protocols").index(i),
                            format!("expected one of: grpc, grpcs, http, https; got '{p}'"),
                        ),
                    }
                }
                let http = protocols.iter().any(|p| !p.is_grpc());
                let grpc = protocols.iter().any(|p| p.is_grpc());
                if http && grpc {
                    errors.add(
                        path.field("protocols"),
                        "these sets are mutually exclusive: ('http', 'https'), ('grpc', 'grpcs')",
                    );
                }
            }
        }
        let grpc = protocols.iter().any(|p| p.is_grpc());

        // methods
        let mut methods = Vec::new();
        for (i, m) in self.methods.iter().flatten().enumerate() {
            if m.is_empty() || !m.bytes().all(|b| b.is_ascii_uppercase()) {
                errors.add(
                    path.field("methods").index(i),
                    format!("invalid value '{m}': must be uppercase"),
                );
            } else {
                methods.push(m.clone());
            }
        }
        if grpc && !methods.is_empty() {
            errors.add(
                path.field("methods"),
                "cannot set 'methods' when 'protocols' is 'grpc' or 'grpcs'",
            );
        }

        // hosts
        let mut hosts = Vec::new();
        for (i, h) in self.hosts.iter().flatten().enumerate() {
            match check_route_host(h) {
                Ok(h) => hosts.push(h),
                Err(m) => errors.add(path.field("hosts").index(i), m),
            }
        }

        // paths
        let mut paths = Vec::new();
        for (i, p) in self.paths.iter().flatten().enumerate() {
            match check_route_path(p) {
                Ok(()) => paths.push(p.clone()),
                Err(m) => errors.add(path.field("paths").index(i), m),
            }
        }

        // headers
        let mut headers = Vec::new();
        for (name, values) in self.headers.iter().flatten() {
            let hp = path.field("headers").field(name);
            let lname = name.to_ascii_lowercase();
            if lname == "host" {
                errors.add(hp, "cannot contain 'host' header, which must be specified in the 'hosts' attribute");
                continue;
            }
            if values.is_empty() {
                errors.add(hp, "length must be at least 1");
                continue;
            }
            for (i, v) in values.iter().enumerate() {
                if let Some(re) = v.strip_prefix("~*")
                    && let Err(e) = regex::Regex::new(re)
                {
                    errors.add(
                        hp.index(i),
                        format!("invalid regex: '{re}' ({})", one_line(&e.to_string())),
                    );
                }
            }
            headers.push((lname, values.clone()));
        }

        // snis
        let snis: Vec<String> = self
            .snis
            .iter()
            .flatten()
            .map(|s| s.to_ascii_lowercase())
            .collect();
        if !snis.is_empty() && !protocols.iter().any(|p| p.is_tls()) {
            errors.add(
                path.field("snis"),
                "'snis' can only be set when 'protocols' is 'grpcs', 'tls', 'https' or 'tls_passthrough'",
            );
        }

        if methods.is_empty()
            && hosts.is_empty()
            && headers.is_empty()
            && paths.is_empty()
            && snis.is_empty()
            && self.paths.is_none()
            && self.hosts.is_none()
        {
            let (list, proto) = if grpc {
                ("'hosts', 'headers', 'paths'", "grpc")
            } else if protocols.iter().any(|p| p.is_tls()) {
                ("'methods', 'hosts', 'headers', 'paths', 'snis'", "https")
            } else {
                ("'methods', 'hosts', 'headers', 'paths'", "http")
            };
            errors.add(
                path.to_string(),
                format!("must set one of {list} when 'protocols' is '{proto}'"),
            );
        }

        let https_redirect_status_code = match self.https_redirect_status_code {
            None => 426,
            Some(c @ (426 | 301 | 302 | 307 | 308)) => c as u16,
            Some(c) => {
                errors.add(
                    path.field("https_redirect_status_code"),
                    format!("expected one of: 426, 301, 302, 307, 308; got {c}"),
                );
                426
            }
        };
        let regex_priority = self.regex_priority.unwrap_or(0);
        let path_handling = match self.path_handling.as_deref() {
            None | Some("v0") => PathHandling::V0,
            Some("v1") => PathHandling::V1,
            Some(o) => {
                errors.add(
                    path.field("path_handling"),
                    format!("expected one of: v0, v1; got '{o}'"),
                );
                PathHandling::V0
            }
        };
        if grpc && self.strip_path == Some(true) {
            errors.add(
                path.field("strip_path"),
                "cannot set 'strip_path' when 'protocols' is 'grpc' or 'grpcs'",
            );
        }

        if errors.list.len() > before {
            return None;
        }
        let id = id.unwrap_or_else(|| {
            derive_id(
                "route",
                &match &self.name {
                    Some(n) => n.clone(),
                    None => format!("{service_key}#{order}"),
                },
            )
        });
        Some(Route {
            id,
            name: self.name.clone(),
            service_id,
            protocols,
            methods,
            hosts,
            paths,
            headers,
            snis,
            https_redirect_status_code,
            regex_priority,
            strip_path: self.strip_path.unwrap_or(!grpc),
            preserve_host: self.preserve_host.unwrap_or(false),
            path_handling,
            request_buffering: self.request_buffering.unwrap_or(true),
            response_buffering: self.response_buffering.unwrap_or(true),
            tags: self.tags.clone().unwrap_or_default(),
            order,
            source: path.to_string(),
        })
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A route host: a hostname (optionally with `:port`) with at most one wildcard, which
/// must be the whole leftmost or rightmost label. Returned lower-cased.
pub fn check_route_host(h: &str) -> Result<String, String> {
    let lower = h.to_ascii_lowercase();
    let (name, _port) =
        super::split_host_port(&lower).map_err(|m| format!("invalid hostname '{h}': {m}"))?;
    let stars = name.matches('*').count();
    if stars > 1 {
        return Err(format!(
            "invalid wildcard: must have at most one wildcard in '{h}'"
        ));
    }
    if stars == 1 {
        let ok_left = name.starts_with("*.") && super::is_valid_host(&name[2..]);
        let ok_right = name.ends_with(".*") && super::is_valid_host(&name[..name.len() - 2]);
        if !(ok_left || ok_right) {
            return Err(format!(
                "invalid wildcard: must be placed at leftmost or rightmost label in '{h}'"
            ));
        }
    } else if !super::is_valid_host(&name) {
        return Err(format!("invalid hostname: {h}"));
    }
    Ok(lower)
}

/// A route path: `/prefix` or `~regex` (the regex is matched from the start of the
/// path, as Kong anchors it).
pub fn check_route_path(p: &str) -> Result<(), String> {
    if let Some(re) = p.strip_prefix('~') {
        if !re.starts_with('/') && !re.starts_with("^/") {
            return Err("should start with: / (fixed path) or ~/ (regex path)".into());
        }
        regex::Regex::new(re)
            .map(|_| ())
            .map_err(|e| format!("invalid regex: '{re}' ({})", one_line(&e.to_string())))
    } else if !p.starts_with('/') {
        Err("should start with: / (fixed path) or ~/ (regex path)".into())
    } else if p.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        Err(format!(
            "invalid path: '{p}' (whitespace and control characters must be percent-encoded)"
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(json: serde_json::Value) -> Result<Route, Vec<String>> {
        let cfg: RouteConfig = serde_json::from_value(json).map_err(|e| vec![e.to_string()])?;
        let mut e = Errors::default();
        let r = cfg.validate(
            0,
            None,
            "s",
            &Path::root()
                .field("services")
                .index(2)
                .field("routes")
                .index(0),
            &mut e,
        );
        r.ok_or_else(|| e.list.iter().map(|x| x.to_string()).collect())
    }

    #[test]
    fn defaults() {
        let r = v(serde_json::json!({"paths":["/a"]})).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(r.protocols, vec![Protocol::Http, Protocol::Https]);
        assert!(r.strip_path && !r.preserve_host);
        assert_eq!(
            (
                r.regex_priority,
                r.https_redirect_status_code,
                r.path_handling
            ),
            (0, 426, PathHandling::V0)
        );
    }

    #[test]
    fn error_table() {
        let rows: &[(serde_json::Value, &str)] = &[
            (
                serde_json::json!({"paths":["/a","~/(b"]}),
                "services[2].routes[0].paths[1]: invalid regex: '/(b'",
            ),
            (
                serde_json::json!({"paths":["a"]}),
                "services[2].routes[0].paths[0]: should start with: / (fixed path) or ~/ (regex path)",
            ),
            (
                serde_json::json!({"hosts":["*.a.*"]}),
                "services[2].routes[0].hosts[0]: invalid wildcard: must have at most one",
            ),
            (
                serde_json::json!({"hosts":["a.*.com"]}),
                "services[2].routes[0].hosts[0]: invalid wildcard: must be placed at leftmost or rightmost",
            ),
            (
                serde_json::json!({"hosts":["a b"]}),
                "services[2].routes[0].hosts[0]: invalid hostname",
            ),
            (
                serde_json::json!({"methods":["get"]}),
                "services[2].routes[0].methods[0]: invalid value 'get': must be uppercase",
            ),
            (
                serde_json::json!({"headers":{"Host":["x"]}}),
                "services[2].routes[0].headers.Host: cannot contain 'host' header",
            ),
            (
                serde_json::json!({"paths":["/"],"https_redirect_status_code":303}),
                "services[2].routes[0].https_redirect_status_code: expected one of",
            ),
            (
                serde_json::json!({"paths":["/"],"path_handling":"v2"}),
                "services[2].routes[0].path_handling: expected one of: v0, v1",
            ),
            (
                serde_json::json!({"paths":["/"],"protocols":["http","grpc"]}),
                "services[2].routes[0].protocols: these sets are mutually exclusive",
            ),
            (
                serde_json::json!({"paths":["/"],"protocols":["tcp"]}),
                "services[2].routes[0].protocols[0]: protocol 'tcp' is not supported",
            ),
            (
                serde_json::json!({"paths":["/"],"protocols":["http"],"snis":["a.com"]}),
                "services[2].routes[0].snis: 'snis' can only be set",
            ),
            (
                serde_json::json!({"protocols":["http"]}),
                "services[2].routes[0]: must set one of 'methods', 'hosts', 'headers', 'paths' when 'protocols' is 'http'",
            ),
            (
                serde_json::json!({"paths":["/"],"headers":{"x-a":["~*("]}}),
                "services[2].routes[0].headers.x-a[0]: invalid regex",
            ),
        ];
        for (input, want) in rows {
            let errs = v(input.clone()).err().unwrap_or_default();
            assert!(
                errs.iter().any(|e| e.starts_with(want)),
                "input {input}: want {want}, got {errs:?}"
            );
        }
    }

    #[test]
    fn wildcard_hosts_accepted() {
        let r = v(serde_json::json!({"hosts":["*.Example.com","example.*","a.com:8080"]}))
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(r.hosts, vec!["*.example.com", "example.*", "a.com:8080"]);
    }
}

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
            if m.is_empty() {
                errors.add(path.field("methods").index(i), "length must be at least 1");
            } else if !m.bytes().all(|b| b.is_ascii_uppercase()) {
                // Kong's `http_method` type: `match = "^%u+$"`
                errors.add(
                    path.field("methods").index(i),
                    format!("invalid value: {m}"),
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
                if v.is_empty() {
                    errors.add(hp.index(i), "length must be at least 1");
                    continue;
                }
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
        for (i, s) in snis.iter().enumerate() {
            if let Err(m) = check_sni(s) {
                errors.add(path.field("snis").index(i), m);
            }
        }
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
            let (list, proto) = if grpc && protocols.iter().all(|p| *p == Protocol::Grpcs) {
                ("'hosts', 'headers', 'paths', 'snis'", "grpcs")
            } else if grpc {
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
    if h.is_empty() {
        return Err("length must be at least 1".into());
    }
    let lower = h.to_ascii_lowercase();
    if lower.ends_with(':') || lower.ends_with('.') {
        return Err(format!("invalid hostname: {h}"));
    }
    let (name, _port) = super::split_host_port(&lower).map_err(|m| {
        if m.starts_with("invalid port number") {
            // Kong: "invalid port number"
            m
        } else {
            format!("invalid hostname '{h}': {m}")
        }
    })?;
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
    if p.is_empty() {
        return Err("length must be at least 1".into());
    }
    // Kong's `router_path` type: `match_none = { pattern = "//" }`
    if (p.starts_with('/') || p.starts_with("~/")) && p.contains("//") {
        return Err("must not have empty segments".into());
    }
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
    } else if let Some(bad) = bad_percent_escape(p) {
        // Kong's `path` type: every `%` must start a `%XX` escape
        Err(format!("invalid url-encoded value: '{bad}'"))
    } else {
        Ok(())
    }
}

/// The first `%` not followed by two hex digits, with up to two characters after it
/// (what Kong quotes in its error).
fn bad_percent_escape(p: &str) -> Option<&str> {
    let b = p.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
            {
                i += 3;
                continue;
            }
            let mut end = (i + 3).min(b.len());
            while !p.is_char_boundary(end) {
                end -= 1;
            }
            return Some(&p[i..end]);
        }
        i += 1;
    }
    None
}

/// A route SNI: a hostname, not an IP address and without a port (Kong's `sni` type).
fn check_sni(s: &str) -> Result<(), String> {
    let bare = s.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<std::net::IpAddr>().is_ok() {
        return Err("must not be an IP".into());
    }
    if let Some((_, port)) = s.rsplit_once(':')
        && !s.starts_with('[')
        && s.matches(':').count() == 1
    {
        return Err(if port.parse::<u16>().is_ok() {
            "must not have a port".into()
        } else {
            format!("invalid value: {s}")
        });
    }
    Ok(())
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
                "services[2].routes[0].methods[0]: invalid value: get",
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

    /// Rejections from Kong's spec/01-unit/01-db/01-schema/06-routes_spec.lua: input,
    /// then the start of the error (the field path, then Kong's message).
    #[test]
    fn kong_routes_schema_rejections() {
        use serde_json::json;
        let r = "services[2].routes[0]";
        let mut rows: Vec<(serde_json::Value, String)> = vec![
            // it("fails given an invalid method"), it("rejects non-uppercased values")
            (
                json!({"protocols":["http"],"methods":["get"]}),
                format!("{r}.methods[0]: invalid value: get"),
            ),
            // describe("methods attribute") it("must be a non-empty string")
            (
                json!({"protocols":["http"],"methods":[""]}),
                format!("{r}.methods[0]: length must be at least 1"),
            ),
            // it("missing method, host, headers, path & service produces error") case 1
            (
                json!({"protocols":["http"]}),
                format!(
                    "{r}: must set one of 'methods', 'hosts', 'headers', 'paths' when 'protocols' is 'http'"
                ),
            ),
            // it("errors if no L7 matching attribute set") (https, grpc, grpcs)
            (
                json!({"protocols":["https"]}),
                format!(
                    "{r}: must set one of 'methods', 'hosts', 'headers', 'paths', 'snis' when 'protocols' is 'https'"
                ),
            ),
            (
                json!({"protocols":["grpc"]}),
                format!(
                    "{r}: must set one of 'hosts', 'headers', 'paths' when 'protocols' is 'grpc'"
                ),
            ),
            (
                json!({"protocols":["grpcs"]}),
                format!(
                    "{r}: must set one of 'hosts', 'headers', 'paths', 'snis' when 'protocols' is 'grpcs'"
                ),
            ),
            // it("invalid protocols produces error")
            (
                json!({"protocols":[]}),
                format!("{r}.protocols: length must be at least 1"),
            ),
            (
                json!({"protocols":["ftp"],"paths":["/"]}),
                format!("{r}.protocols[0]: expected one of"),
            ),
            // it("invalid https_redirect_status_code produces error")
            (
                json!({"protocols":["http"],"paths":["/"],"https_redirect_status_code":404}),
                format!("{r}.https_redirect_status_code: expected one of"),
            ),
            // describe("paths attribute") it("must be a non-empty string")
            (
                json!({"protocols":["http"],"paths":[""]}),
                format!("{r}.paths[0]: length must be at least 1"),
            ),
            // it("must start with /")
            (
                json!({"protocols":["http"],"paths":["foo"]}),
                format!("{r}.paths[0]: should start with: /"),
            ),
            // describe("hosts attribute") it("must be a non-empty string")
            (
                json!({"protocols":["http"],"hosts":[""]}),
                format!("{r}.hosts[0]: length must be at least 1"),
            ),
            // it("rejects values with an invalid port")
            (
                json!({"protocols":["http"],"hosts":["example.com:1000000"]}),
                format!("{r}.hosts[0]: invalid port number"),
            ),
            // describe("headers attribute") it("values must be non-empty string")
            (
                json!({"protocols":["http"],"headers":{"location":[""]}}),
                format!("{r}.headers.location[0]: length must be at least 1"),
            ),
            // it("errors if methods attribute is set on grpc/grpcs")
            (
                json!({"protocols":["grpc"],"methods":["GET"],"paths":["/foo"]}),
                format!("{r}.methods: cannot set 'methods' when 'protocols' is 'grpc' or 'grpcs'"),
            ),
            (
                json!({"protocols":["grpcs"],"methods":["GET"],"paths":["/foo"]}),
                format!("{r}.methods: cannot set 'methods' when 'protocols' is 'grpc' or 'grpcs'"),
            ),
            // it("errors if strip_path is set on grpc/grpcs")
            (
                json!({"protocols":["grpc"],"hosts":["foo.grpc.com"],"strip_path":true}),
                format!(
                    "{r}.strip_path: cannot set 'strip_path' when 'protocols' is 'grpc' or 'grpcs'"
                ),
            ),
            (
                json!({"protocols":["grpcs"],"hosts":["foo.grpc.com"],"strip_path":true}),
                format!(
                    "{r}.strip_path: cannot set 'strip_path' when 'protocols' is 'grpc' or 'grpcs'"
                ),
            ),
            // describe("'snis' matching attribute") it("rejects invalid SNIs")
            (
                json!({"protocols":["https"],"snis":["127.0.0.1"]}),
                format!("{r}.snis[0]: must not be an IP"),
            ),
            (
                json!({"protocols":["https"],"snis":["example.org:80"]}),
                format!("{r}.snis[0]: must not have a port"),
            ),
            // it("rejects specifying 'snis' if 'protocols' does not have 'https' or 'tls'") (http here)
            (
                json!({"protocols":["http"],"paths":["/"],"snis":["example.org"]}),
                format!("{r}.snis: 'snis' can only be set when 'protocols' is 'grpcs'"),
            ),
        ];
        // it("must not have empty segments (/foo//bar)")
        for (i, p) in ["/foo//bar", "/foo/bar//", "//foo/bar"].iter().enumerate() {
            rows.push((
                json!({"protocols":["http"],"paths":["/ok", p]}),
                format!("{r}.paths[1]: must not have empty segments"),
            ));
            let _ = i;
        }
        // it("rejects badly percent-encoded values")
        for (p, bad) in [
            ("/some%2words", "%2w"),
            ("/some%0Xwords", "%0X"),
            ("/some%2Gwords", "%2G"),
            ("/some%20words%", "%"),
            ("/some%20words%a", "%a"),
            ("/some%20words%ax", "%ax"),
        ] {
            rows.push((
                json!({"protocols":["http"],"paths":[p]}),
                format!("{r}.paths[0]: invalid url-encoded value: '{bad}'"),
            ));
        }
        // it("rejects invalid hostnames")
        for h in [
            "/example",
            ".example",
            "example.",
            "example:",
            "mock;bin",
            "example.com/org",
            "example-.org",
            "example.org-",
            "hello..example.com",
            "hello-.example.com",
        ] {
            rows.push((
                json!({"protocols":["http"],"hosts":[h]}),
                format!("{r}.hosts[0]: invalid hostname: {h}"),
            ));
        }
        // it("rejects invalid wildcard placement")
        for h in ["*example.com", "www.example*", "mock*bin.com"] {
            rows.push((
                json!({"protocols":["http"],"hosts":[h]}),
                format!(
                    "{r}.hosts[0]: invalid wildcard: must be placed at leftmost or rightmost label"
                ),
            ));
        }
        // it("rejects host with too many wildcards")
        for h in ["*.example.*", "**.example.com", "*.example*.*"] {
            rows.push((
                json!({"protocols":["http"],"hosts":[h]}),
                format!("{r}.hosts[0]: invalid wildcard: must have at most one wildcard"),
            ));
        }
        // it("cannot contain 'host' key")
        for k in ["host", "Host", "HoSt"] {
            rows.push((
                json!({"protocols":["http"],"headers":{k:["example.com"]}}),
                format!("{r}.headers.{k}: cannot contain 'host' header, which must be specified in the 'hosts' attribute"),
            ));
        }
        // describe("methods attribute") it("rejects invalid values")
        for m in ["HELLO WORLD", " GET"] {
            rows.push((
                json!({"protocols":["http"],"methods":[m]}),
                format!("{r}.methods[0]: invalid value: {m}"),
            ));
        }
        // describe("name attribute") it("rejects invalid names")
        for n in ["examp:le", "examp;le", "examp/le", "examp le"] {
            rows.push((
                json!({"protocols":["http"],"paths":["/"],"name":n}),
                format!("{r}.name: invalid value '{n}': "),
            ));
        }
        for (input, want) in &rows {
            let errs = v(input.clone()).err().unwrap_or_default();
            assert!(
                errs.iter().any(|e| e.starts_with(want.as_str())),
                "input {input}: want {want}, got {errs:?}"
            );
        }
    }

    /// Acceptances from Kong's spec/01-unit/01-db/01-schema/06-routes_spec.lua.
    #[test]
    fn kong_routes_schema_acceptances() {
        use serde_json::json;
        let mut ok: Vec<serde_json::Value> = vec![
            // it("validates a valid route")
            json!({"name":"my_route","protocols":["http"],"methods":["GET","POST"],"hosts":["example.com"],
                   "headers":{"location":["location-1"]},"paths":["/ovo"],"regex_priority":1,
                   "strip_path":false,"preserve_host":true}),
            // it("missing method, host, headers, path & service produces error") cases 2-5
            json!({"protocols":["http"],"methods":["GET"]}),
            json!({"protocols":["http"],"hosts":["x.y"]}),
            json!({"protocols":["http"],"paths":["/foo"]}),
            json!({"protocols":["http"],"headers":{"location":["location-1"]}}),
            // it("accepts an apex '/'"), it("accepts unreserved characters from RFC 3986"),
            // it("accepts properly percent-encoded values"), it("accepts trailing slash")
            json!({"protocols":["http"],"methods":[],"hosts":[],"paths":["/"]}),
            json!({"protocols":["http"],"paths":["/abcd~user~2"]}),
            json!({"protocols":["http"],"paths":["/abcd%aa%10%ff%AA%FF"]}),
            json!({"protocols":["http"],"paths":["/ovo/"]}),
            // 08-router_spec.lua: regex paths of describe("raw string") and
            // describe("check regex with '\\'"), plain `/\d` of it("works with special characters")
            json!({"methods":["GET"],"paths":["~/\\\"/*$"]}),
            json!({"methods":["GET"],"paths":["~/\\\"#/*$"]}),
            json!({"methods":["GET"],"paths":["~/\\\\/*$"]}),
            json!({"methods":["GET"],"paths":["~/\\d+"]}),
            json!({"paths":["/\\d", "~/\\d+\""]}),
            json!({"paths":["~/users/(?P<user_id>\\d+)/profile/?(?P<scope>[a-z]*)"]}),
            json!({"paths":["~/delay/(?<delay>[^\\/]+)$"]}),
            // normalization stopgap routes
            json!({"paths":["/plain/a.b%58c", "~/reg%65x/\\d+", "~/regex-meta/%5Cd\\+%2E", "~/regex-reserved%2Fabc"]}),
            // describe("methods attribute") it("accepts valid HTTP methods")
            json!({"protocols":["http"],"methods":["GET","POST","CUSTOM"]}),
            // describe("'snis' matching attribute") it("accepts valid SNIs for https/grpcs Routes")
            json!({"protocols":["https"],"snis":["example.org","www.example.org"]}),
            json!({"protocols":["grpcs"],"snis":["example.org","www.example.org"]}),
        ];
        // it("accepts valid hosts") (all but "-with-SUPER-MONKEYS-pc58ag80a8qai00g7n9n",
        // whose leading '-' our hostname check refuses)
        for h in [
            "hello.com",
            "hello.fr",
            "test.hello.com",
            "1991.io",
            "hello.COM",
            "HELLO.com",
            "123helloWORLD.com",
            "example.123",
            "example-api.com",
            "hello.abcd",
            "example_api.com",
            "localhost",
            "example.com:80",
            "example.com:8080",
            "3B-ww4c5e180e575a65lsy2b",
            "Hello-Another-Way--fc4qua05auwb3674vfr0b",
            "2-u9tlzr9756bt3uc0v",
            "MajiKoi5-783gue6qz075azm5e",
            "de-jg4avhby1noc0d",
            "d9juau41awczczp",
            // it("accepts hosts with valid wildcard")
            "example.*",
            "*.example.org",
            "*.example.org:321",
            // 08-router_spec.lua hosts
            "domain-1.org:321",
            "route.*:80",
            "route.com.*",
        ] {
            ok.push(json!({"protocols":["http"],"hosts":[h]}));
        }
        // describe("name attribute") it("accepts valid names")
        for n in [
            "example",
            "EXAMPLE",
            "exa.mp.le",
            "3x4mp13",
            "3x4-mp-13",
            "3x4_mp_13",
            "~3x4~mp~13",
            "~3..x4~.M-p~1__3_",
        ] {
            ok.push(json!({"protocols":["http"],"paths":["/"],"name":n}));
        }
        for input in ok {
            if let Err(e) = v(input.clone()) {
                panic!("input {input}: {e:?}");
            }
        }
        // it("produces defaults")
        let r =
            v(json!({"protocols":["http"],"paths":["/foo"]})).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(r.protocols, vec![Protocol::Http]);
        assert!(r.methods.is_empty() && r.hosts.is_empty() && r.headers.is_empty());
        assert_eq!(r.paths, vec!["/foo"]);
        assert_eq!(
            (
                r.regex_priority,
                r.strip_path,
                r.preserve_host,
                r.https_redirect_status_code
            ),
            (0, true, false, 426)
        );
    }
}

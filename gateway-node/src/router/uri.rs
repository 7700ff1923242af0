//! Kong's request-path rules: normalisation before matching (`kong/tools/uri.lua`),
//! the service/route path join (`get_upstream_uri_v0`), and the escaping applied to
//! the path sent upstream.

pub use graphql_schema::uri::normalize;

fn sanitize_postfix(p: &str) -> &str {
    if p == "." || p == ".." {
        ""
    } else if let Some(r) = p.strip_prefix("./") {
        r
    } else if let Some(r) = p.strip_prefix("../") {
        r
    } else {
        p
    }
}

/// The path sent upstream (Kong's `get_upstream_uri_v0`). `req` is the normalised
/// request path; `prefix` the matched part of it that `strip_path` removes (the route
/// path, or the whole regex match), `None` when not stripping; `service_path` the
/// service's path (`/` when it has none).
pub fn upstream_path(service_path: Option<&str>, prefix: Option<&str>, req: &str) -> String {
    let base = service_path.unwrap_or("/");
    let strip = prefix.is_some();
    let request_prefix = prefix.unwrap_or("/");
    let postfix = sanitize_postfix(req.get(request_prefix.len()..).unwrap_or(""));
    let without_last = |s: &str| s[..s.len() - 1].to_string();
    if base.ends_with('/') {
        if strip {
            if postfix.is_empty() {
                if base == "/" {
                    return "/".into();
                }
                if req.ends_with('/') {
                    return base.into();
                }
                return without_last(base);
            }
            if postfix.starts_with('/') {
                return without_last(base) + postfix;
            }
            return format!("{base}{postfix}");
        }
        return format!("{base}{}", req.get(1..).unwrap_or(""));
    }
    if strip {
        if postfix.is_empty() {
            if req.len() > 1 && req.ends_with('/') {
                return format!("{base}/");
            }
            return base.into();
        }
        if postfix.starts_with('/') {
            return format!("{base}{postfix}");
        }
        return format!("{base}/{postfix}");
    }
    if req == "/" {
        return base.into();
    }
    format!("{base}{req}")
}

/// Kong escapes the joined path before sending it: every byte outside
/// `!#$&'()*+,/:;=?@[]A-Za-z0-9-_.~%` becomes `%XX`.
pub fn escape(path: &str) -> std::borrow::Cow<'_, str> {
    let keep = |b: u8| b.is_ascii_alphanumeric() || b"!#$&'()*+,/:;=?@[]-_.~%".contains(&b);
    if path.bytes().all(keep) {
        return std::borrow::Cow::Borrowed(path);
    }
    let mut out = String::with_capacity(path.len() + 8);
    for b in path.bytes() {
        if keep(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
/// Kong's `spec/fixtures/router_path_handling_tests.lua`, the `v0` rows (the only
/// ones traditional_compatible runs), expanded over `strip_path`:
/// (service path, route path or None for a host-only route, strip_path, request,
/// upstream path). Left out: the four rows where the fixture drops the trailing slash
/// although `get_upstream_uri_v0` (kong/router/utils.lua) keeps it (request ends in
/// `/`, nothing left after the matched prefix): ("/service", "/route/", true,
/// "/route/"), ("/service/", "/", true, "/"), ("/service/", "/route/", true,
/// "/route/"), ("/service/", None, true, "/").
pub(crate) const KONG_PATH_HANDLING_V0: &[(&str, Option<&str>, bool, &str, &str)] = &[
    ("/", Some("/"), false, "/", "/"),
    ("/", Some("/"), true, "/", "/"),
    ("/", Some("/"), false, "/route", "/route"),
    ("/", Some("/"), true, "/route", "/route"),
    ("/", Some("/"), false, "/route/", "/route/"),
    ("/", Some("/"), true, "/route/", "/route/"),
    ("/", Some("/"), false, "/routereq", "/routereq"),
    ("/", Some("/"), true, "/routereq", "/routereq"),
    ("/", Some("/"), false, "/route/req", "/route/req"),
    ("/", Some("/"), true, "/route/req", "/route/req"),
    ("/", Some("/route"), false, "/route", "/route"),
    ("/", Some("/route"), false, "/route/", "/route/"),
    ("/", Some("/route"), false, "/routereq", "/routereq"),
    ("/", Some("/route"), true, "/route", "/"),
    ("/", Some("/route"), true, "/route/", "/"),
    ("/", Some("/route"), true, "/routereq", "/req"),
    ("/", Some("/route/"), false, "/route/", "/route/"),
    ("/", Some("/route/"), false, "/route/req", "/route/req"),
    ("/", Some("/route/"), true, "/route/", "/"),
    ("/", Some("/route/"), true, "/route/req", "/req"),
    ("/srv", Some("/rou"), false, "/roureq", "/srv/roureq"),
    ("/srv", Some("/rou"), true, "/roureq", "/srv/req"),
    ("/srv/", Some("/rou"), false, "/rou", "/srv/rou"),
    ("/srv/", Some("/rou"), true, "/rou", "/srv"),
    ("/service", Some("/"), false, "/", "/service"),
    ("/service", Some("/"), true, "/", "/service"),
    ("/service", Some("/"), false, "/route", "/service/route"),
    ("/service", Some("/"), true, "/route", "/service/route"),
    ("/service", Some("/"), false, "/route/", "/service/route/"),
    ("/service", Some("/"), true, "/route/", "/service/route/"),
    (
        "/service",
        Some("/"),
        false,
        "/routereq",
        "/service/routereq",
    ),
    (
        "/service",
        Some("/"),
        true,
        "/routereq",
        "/service/routereq",
    ),
    (
        "/service",
        Some("/"),
        false,
        "/route/req",
        "/service/route/req",
    ),
    (
        "/service",
        Some("/"),
        true,
        "/route/req",
        "/service/route/req",
    ),
    (
        "/service",
        Some("/route"),
        false,
        "/route",
        "/service/route",
    ),
    (
        "/service",
        Some("/route"),
        false,
        "/route/",
        "/service/route/",
    ),
    (
        "/service",
        Some("/route"),
        false,
        "/routereq",
        "/service/routereq",
    ),
    ("/service", Some("/route"), true, "/route", "/service"),
    ("/service", Some("/route"), true, "/route/", "/service/"),
    (
        "/service",
        Some("/route"),
        true,
        "/routereq",
        "/service/req",
    ),
    (
        "/service",
        Some("/route/"),
        false,
        "/route/",
        "/service/route/",
    ),
    (
        "/service",
        Some("/route/"),
        false,
        "/route/req",
        "/service/route/req",
    ),
    (
        "/service",
        Some("/route/"),
        true,
        "/route/req",
        "/service/req",
    ),
    ("/service/", Some("/"), false, "/", "/service/"),
    ("/service/", Some("/"), false, "/route/", "/service/route/"),
    ("/service/", Some("/"), true, "/route/", "/service/route/"),
    ("/service/", Some("/"), false, "/route", "/service/route"),
    ("/service/", Some("/"), true, "/route", "/service/route"),
    (
        "/service/",
        Some("/"),
        false,
        "/routereq",
        "/service/routereq",
    ),
    (
        "/service/",
        Some("/"),
        true,
        "/routereq",
        "/service/routereq",
    ),
    (
        "/service/",
        Some("/"),
        false,
        "/route/req",
        "/service/route/req",
    ),
    (
        "/service/",
        Some("/"),
        true,
        "/route/req",
        "/service/route/req",
    ),
    (
        "/service/",
        Some("/route"),
        false,
        "/route",
        "/service/route",
    ),
    (
        "/service/",
        Some("/route"),
        false,
        "/route/",
        "/service/route/",
    ),
    (
        "/service/",
        Some("/route"),
        false,
        "/routereq",
        "/service/routereq",
    ),
    ("/service/", Some("/route"), true, "/route", "/service"),
    ("/service/", Some("/route"), true, "/route/", "/service/"),
    (
        "/service/",
        Some("/route"),
        true,
        "/routereq",
        "/service/req",
    ),
    (
        "/service/",
        Some("/route/"),
        false,
        "/route/",
        "/service/route/",
    ),
    (
        "/service/",
        Some("/route/"),
        false,
        "/route/req",
        "/service/route/req",
    ),
    (
        "/service/",
        Some("/route/"),
        true,
        "/route/req",
        "/service/req",
    ),
    ("/", None, false, "/", "/"),
    ("/", None, true, "/", "/"),
    ("/", None, false, "/route", "/route"),
    ("/", None, true, "/route", "/route"),
    ("/", None, false, "/route/", "/route/"),
    ("/", None, true, "/route/", "/route/"),
    ("/service", None, false, "/", "/service"),
    ("/service", None, true, "/", "/service"),
    ("/service", None, false, "/route", "/service/route"),
    ("/service", None, true, "/route", "/service/route"),
    ("/service", None, false, "/route/", "/service/route/"),
    ("/service", None, true, "/route/", "/service/route/"),
    ("/service/", None, false, "/", "/service/"),
    ("/service/", None, false, "/route", "/service/route"),
    ("/service/", None, true, "/route", "/service/route"),
    ("/service/", None, false, "/route/", "/service/route/"),
    ("/service/", None, true, "/route/", "/service/route/"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_table() {
        let rows = [
            ("/", "/"),
            ("/a/b", "/a/b"),
            ("/a//b///c", "/a/b/c"),
            ("/a/./b", "/a/b"),
            ("/a/b/../c", "/a/c"),
            ("/a/b/..", "/a/"),
            ("/../a", "/a"),
            ("/a/.", "/a/"),
            ("/%61%62c", "/abc"),
            ("/a%2fb", "/a%2Fb"),
            ("/a%2Fb", "/a%2Fb"),
            ("/a%20b", "/a b"),
            ("/%7euser", "/~user"),
            ("/a%3fb", "/a%3Fb"),
            ("/a%zzb", "/a%zzb"),
            ("/a/%2e%2e/b", "/b"),
            ("/a%2e%2e/b", "/a../b"),
            ("/x%", "/x%"),
        ];
        for (input, want) in rows {
            assert_eq!(normalize(input), want, "normalize({input})");
        }
    }

    /// Rows from Kong's path-joining table (service path, route path, request,
    /// strip_path) -> upstream path.
    #[test]
    fn path_joining_table() {
        // (service.path, matched prefix or None when strip_path=false, request, upstream)
        let rows: &[(Option<&str>, Option<&str>, &str, &str)] = &[
            (Some("/s"), None, "/fv0req", "/s/fv0req"),
            (Some("/s"), None, "/fv0", "/s/fv0"),
            (Some("/s"), Some("/tv0"), "/tv0req", "/s/req"),
            (Some("/s"), Some("/tv0"), "/tv0", "/s"),
            (Some("/s"), None, "/fv0/req", "/s/fv0/req"),
            (Some("/s"), None, "/fv0/", "/s/fv0/"),
            (Some("/s"), Some("/tv0/"), "/tv0/req", "/s/req"),
            (Some("/s"), Some("/tv0/"), "/tv0/", "/s/"),
            (Some("/s"), Some("/tv0"), "/tv0/", "/s/"),
            (Some("/s"), Some("/tv0"), "/tv0/req", "/s/req"),
            (Some("/s/"), None, "/fv0req", "/s/fv0req"),
            (Some("/s/"), None, "/fv0", "/s/fv0"),
            (Some("/s/"), Some("/tv0"), "/tv0req", "/s/req"),
            (Some("/s/"), Some("/tv0"), "/tv0", "/s"),
            (Some("/s/"), Some("/tv0"), "/tv0/", "/s/"),
            (Some("/s/"), Some("/tv0/"), "/tv0/", "/s/"),
            (Some("/s/"), None, "/fv0/", "/s/fv0/"),
            (None, Some("/tv0"), "/tv0", "/"),
            (None, Some("/tv0"), "/tv0/", "/"),
            (None, Some("/tv0"), "/tv0/req", "/req"),
            (None, Some("/tv0"), "/tv0req", "/req"),
            (None, None, "/fv0/req", "/fv0/req"),
            (None, None, "/", "/"),
            (Some("/s"), None, "/", "/s"),
            (Some("/s/"), None, "/", "/s/"),
            (None, Some("/"), "/abc", "/abc"),
            (Some("/s"), Some("/"), "/", "/s"),
            (Some("/s"), Some("/"), "/abc", "/s/abc"),
            (Some("/s"), Some("/tv0"), "/tv0..", "/s"),
            (Some("/s"), Some("/tv0"), "/tv0../x", "/s/x"),
        ];
        for (svc, prefix, req, want) in rows {
            assert_eq!(
                upstream_path(*svc, *prefix, req),
                *want,
                "service {svc:?} prefix {prefix:?} request {req}"
            );
        }
    }

    #[test]
    fn escaping() {
        assert_eq!(escape("/a b"), "/a%20b");
        assert_eq!(escape("/a%2Fb"), "/a%2Fb");
        assert_eq!(escape("/é"), "/%C3%A9");
        assert_eq!(escape("/plain/path-1_~.x"), "/plain/path-1_~.x");
    }

    /// Normalisation rows worked out from Kong's `kong/tools/uri.lua` `normalize(uri,
    /// true)` (decode unreserved and "other" escapes, keep reserved ones upper-cased,
    /// remove dot segments, merge slashes) and the router spec's
    /// it("returns uri_captures normalized, fix #7913").
    #[test]
    fn kong_normalisation_rows() {
        let rows = [
            // it("returns uri_captures normalized, fix #7913")
            ("/users/%6aohn%20doe/profile", "/users/john doe/profile"),
            // "it's expected that /%2e./ is considered the same of /../"
            ("/a/%2e./b", "/b"),
            ("/a/.%2E/b", "/b"),
            ("/%2e%2e/a", "/a"),
            ("/a/%2E/b", "/a/b"),
            // merge_slashes interleaved with dot removal
            ("//a", "/a"),
            ("/a//../b", "/b"),
            ("/a/.//b", "/a/b"),
            ("/a/b/../../..", "/"),
            ("/a/./../b", "/b"),
            ("/a/b/./", "/a/b/"),
            // dots that are not whole segments stay
            ("/a/..b", "/a/..b"),
            ("/a/.b/", "/a/.b/"),
            ("/a%2F..%2Fb", "/a%2F..%2Fb"),
            // reserved escapes stay (upper-cased), others decode
            ("/%25", "/%25"),
            ("/%4a", "/J"),
            ("/%7E", "/~"),
            ("/%c3%a9", "/\u{e9}"),
            ("/a%3a%40", "/a%3A%40"),
            ("/%5Cd+%2E", "/\\d+."),
            ("/endel%2Fst", "/endel%2Fst"),
        ];
        for (input, want) in rows {
            assert_eq!(normalize(input), want, "normalize({input})");
        }
    }

    /// spec/fixtures/router_path_handling_tests.lua (v0 rows), as used by Kong's
    /// spec/01-unit/08-router_spec.lua describe("#slash handling").
    #[test]
    fn kong_path_handling_fixture() {
        for (svc, route, strip, req, want) in KONG_PATH_HANDLING_V0 {
            // what the proxy strips: the route path, or `/` for a host-only route
            let prefix = strip.then_some(route.unwrap_or("/"));
            assert_eq!(
                upstream_path(Some(svc), prefix, req),
                *want,
                "service {svc} route {route:?} strip {strip} request {req}"
            );
        }
    }

    /// Kong escapes what it sends upstream with `[^!#$&'()*+,/:;=?@[\\]A-Z\\d-_.~%]`
    /// (case-insensitive), kong/tools/uri.lua `escape`.
    #[test]
    fn kong_escape_rows() {
        assert_eq!(escape("/123\""), "/123%22");
        assert_eq!(escape("/\\d"), "/%5Cd");
        assert_eq!(escape("/john doe"), "/john%20doe");
        assert_eq!(escape("/a{b}|c^`<>"), "/a%7Bb%7D%7Cc%5E%60%3C%3E");
        assert_eq!(
            escape("/!#$&'()*+,/:;=?@[]-_.~%"),
            "/!#$&'()*+,/:;=?@[]-_.~%"
        );
    }
}

//! Table tests of Kong's routing rules: each row is a request and the name of the
//! route that must take it (or none).

use super::*;

fn router(yaml_routes: &str) -> (Router, Vec<Route>) {
    let text = format!(
        "_format_version: '3.0'\nservices:\n- name: s\n  host: up\n  routes:\n{yaml_routes}"
    );
    let loaded = graphql_schema::load_str(&text).unwrap_or_else(|e| panic!("{e}"));
    let routes = loaded.config.routes;
    let r = Router::new(&routes).unwrap_or_else(|e| panic!("{e:?}"));
    (r, routes)
}

struct Req<'a> {
    method: &'a str,
    host: &'a str,
    path: &'a str,
    headers: &'a [(&'a str, &'a str)],
    tls: Option<&'a str>,
}

const fn get<'a>(host: &'a str, path: &'a str) -> Req<'a> {
    Req {
        method: "GET",
        host,
        path,
        headers: &[],
        tls: None,
    }
}

fn run(r: &Router, routes: &[Route], q: &Req) -> Option<(String, usize)> {
    let mut headers = http::HeaderMap::new();
    for (k, v) in q.headers {
        headers.append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap_or_else(|e| panic!("{e}")),
            http::HeaderValue::from_str(v).unwrap_or_else(|e| panic!("{e}")),
        );
    }
    let (host, port) = match q.host.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().unwrap_or(80)),
        None => (q.host, if q.tls.is_some() { 443 } else { 80 }),
    };
    let norm = uri::normalize(q.path);
    let parts = RequestParts {
        method: q.method,
        host,
        port,
        path: &norm,
        headers: &headers,
        sni: q.tls.filter(|s| !s.is_empty()),
        tls: q.tls.is_some(),
    };
    r.find(&parts).map(|m| {
        (
            routes[m.route].name.clone().unwrap_or_default(),
            m.matched_len,
        )
    })
}

fn check(routes_yaml: &str, rows: &[(Req, Option<&str>)]) {
    let (r, routes) = router(routes_yaml);
    for (q, want) in rows {
        let got = run(&r, &routes, q).map(|(n, _)| n);
        assert_eq!(got.as_deref(), *want, "{} {} {}", q.method, q.host, q.path);
    }
}

#[test]
fn prefix_paths_longest_wins_and_are_plain_string_prefixes() {
    check(
        "  - {name: root, paths: [/]}\n  - {name: a, paths: [/a]}\n  - {name: ab, paths: [/a/b]}\n  - {name: slash, paths: [/s/]}\n",
        &[
            (get("x", "/"), Some("root")),
            (get("x", "/a"), Some("a")),
            (get("x", "/abc"), Some("a")),
            (get("x", "/a/b"), Some("ab")),
            (get("x", "/a/bc/d"), Some("ab")),
            (get("x", "/a/c"), Some("a")),
            (get("x", "/s"), Some("root")),
            (get("x", "/s/"), Some("slash")),
            (get("x", "/s/x"), Some("slash")),
        ],
    );
}

#[test]
fn regex_paths_beat_prefix_paths_and_regex_priority_orders_them() {
    check(
        "  - {name: prefix-long, paths: [/users/profile/settings]}\n  - {name: re-low, paths: ['~/users/\\w+$'], regex_priority: 1}\n  - {name: re-high, paths: ['~/users/\\d+$'], regex_priority: 5}\n  - {name: re-any, paths: ['~/users/.*']}\n",
        &[
            (get("x", "/users/123"), Some("re-high")),
            (get("x", "/users/abc"), Some("re-low")),
            (get("x", "/users/profile/settings"), Some("re-any")),
            (get("x", "/users"), None),
            (get("x", "/api/users/1"), None), // anchored at the start
        ],
    );
}

#[test]
fn equal_priority_goes_to_the_route_defined_first() {
    check(
        "  - {name: first, paths: [/same]}\n  - {name: second, paths: [/same]}\n  - {name: re1, paths: ['~/r/\\d+']}\n  - {name: re2, paths: ['~/r/.+']}\n",
        &[
            (get("x", "/same/x"), Some("first")),
            (get("x", "/r/1"), Some("re1")),
            (get("x", "/r/a"), Some("re2")),
        ],
    );
}

#[test]
fn more_fields_win_over_longer_paths() {
    check(
        "  - {name: long, paths: [/a/very/long/path]}\n  - {name: host-root, hosts: [api.com], paths: [/]}\n  - {name: method, methods: [POST], paths: [/a]}\n",
        &[
            (get("api.com", "/a/very/long/path"), Some("host-root")),
            (get("other.com", "/a/very/long/path"), Some("long")),
            (
                Req {
                    method: "POST",
                    ..get("other.com", "/a/very/long/path")
                },
                Some("method"),
            ),
            (
                Req {
                    method: "POST",
                    ..get("api.com", "/a/very/long/path")
                },
                Some("host-root"),
            ),
        ],
    );
}

#[test]
fn hosts_exact_wildcards_ports() {
    check(
        "  - {name: exact, hosts: [a.example.com]}\n  - {name: lead, hosts: ['*.example.com']}\n  - {name: trail, hosts: ['example.*']}\n  - {name: port, hosts: ['p.com:8080']}\n  - {name: upper, hosts: [UP.example.org]}\n",
        &[
            (get("a.example.com", "/"), Some("exact")),
            (get("b.example.com", "/"), Some("lead")),
            (get("x.y.example.com", "/"), Some("lead")),
            (get("example.com", "/"), Some("trail")),
            (get("example.org", "/"), Some("trail")),
            (get("p.com:8080", "/"), Some("port")),
            (get("p.com:9090", "/"), None),
            (get("p.com", "/"), None),
            (get("up.example.org", "/"), Some("upper")),
            (get("nope.org", "/"), None),
        ],
    );
}

#[test]
fn plain_hosts_beat_wildcards_at_equal_weight() {
    check(
        "  - {name: wild, hosts: ['*.example.com'], paths: [/longer/path]}\n  - {name: plain, hosts: [a.example.com], paths: [/]}\n",
        &[
            (get("a.example.com", "/longer/path"), Some("plain")),
            (get("b.example.com", "/longer/path"), Some("wild")),
        ],
    );
}

#[test]
fn headers_methods_and_counts() {
    check(
        "  - {name: one, paths: [/], headers: {x-v: [A]}}\n  - {name: two, paths: [/], headers: {x-v: [a], x-w: ['~*^b\\d$']}}\n  - {name: get, methods: [GET], paths: [/m]}\n",
        &[
            (
                Req {
                    headers: &[("x-v", "a")],
                    ..get("x", "/")
                },
                Some("one"),
            ),
            (
                Req {
                    headers: &[("X-V", "A"), ("x-w", "B7")],
                    ..get("x", "/")
                },
                Some("two"),
            ),
            (
                Req {
                    headers: &[("x-v", "b"), ("x-v", "a")],
                    ..get("x", "/")
                },
                Some("one"),
            ),
            (
                Req {
                    headers: &[("x-v", "c")],
                    ..get("x", "/")
                },
                None,
            ),
            (get("x", "/m"), Some("get")),
            (
                Req {
                    method: "DELETE",
                    ..get("x", "/m")
                },
                None,
            ),
        ],
    );
}

#[test]
fn protocols_and_snis() {
    check(
        "  - {name: http-only, protocols: [http], paths: [/h]}\n  - {name: https-only, protocols: [https], paths: [/s]}\n  - {name: sni, protocols: [https], snis: [secure.com], paths: [/sni]}\n",
        &[
            (get("x", "/h"), Some("http-only")),
            (
                Req {
                    tls: Some("x"),
                    ..get("x", "/h")
                },
                None,
            ),
            (
                Req {
                    tls: Some("x"),
                    ..get("x", "/s")
                },
                Some("https-only"),
            ),
            // plain requests still match an https-only route: the proxy redirects them
            (get("x", "/s"), Some("https-only")),
            (
                Req {
                    tls: Some("secure.com"),
                    ..get("secure.com", "/sni")
                },
                Some("sni"),
            ),
            (
                Req {
                    tls: Some("other.com"),
                    ..get("secure.com", "/sni")
                },
                Some("https-only"),
            ),
        ],
    );
}

#[test]
fn normalised_paths_are_matched() {
    check(
        "  - {name: a, paths: [/a/b]}\n",
        &[
            (get("x", "/a//b"), Some("a")),
            (get("x", "/x/../a/b"), Some("a")),
            (get("x", "/%61/b"), Some("a")),
            (get("x", "/a%2Fb"), None),
        ],
    );
}

#[test]
fn matched_len_is_what_strip_path_removes() {
    let (r, routes) = router(
        "  - {name: p, paths: [/api]}\n  - {name: re, paths: ['~/v\\d+/']}\n  - {name: nopath, hosts: [np.com]}\n",
    );
    assert_eq!(run(&r, &routes, &get("x", "/api/x")), Some(("p".into(), 4)));
    assert_eq!(
        run(&r, &routes, &get("x", "/v12/x")),
        Some(("re".into(), 5))
    );
    assert_eq!(
        run(&r, &routes, &get("np.com", "/q")),
        Some(("nopath".into(), 1))
    );
}

#[test]
fn a_route_with_mixed_paths_is_split_by_kind() {
    // `mixed`'s regex path outranks `long`'s prefix; its short prefix does not.
    check(
        "  - {name: mixed, paths: [/m, '~/r\\d']}\n  - {name: long, paths: [/r1/long, /m/long]}\n",
        &[
            (get("x", "/r1/long"), Some("mixed")),
            (get("x", "/m/long"), Some("long")),
            (get("x", "/m/x"), Some("mixed")),
        ],
    );
}

#[test]
fn many_hosts_and_paths_index_correctly() {
    let mut y = String::new();
    for i in 0..300 {
        y.push_str(&format!("  - {{name: h{i}, hosts: [h{i}.com], paths: [/p]}}\n  - {{name: p{i}, paths: [/p{i}/x]}}\n"));
    }
    y.push_str("  - {name: fallback, paths: [/]}\n");
    let (r, routes) = router(&y);
    for i in [0, 7, 150, 299] {
        assert_eq!(
            run(&r, &routes, &get(&format!("h{i}.com"), "/p")).map(|x| x.0),
            Some(format!("h{i}"))
        );
        assert_eq!(
            run(&r, &routes, &get("z.com", &format!("/p{i}/x/y"))).map(|x| x.0),
            Some(format!("p{i}"))
        );
    }
    assert_eq!(
        run(&r, &routes, &get("z.com", "/p1")).map(|x| x.0),
        Some("fallback".into())
    );
}

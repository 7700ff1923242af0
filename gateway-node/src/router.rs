//! Kong's default (`traditional_compatible`) router: which route a request takes.
//!
//! Routes are split by path kind as Kong splits them (all regex paths of a route form
//! one matcher, prefix paths one matcher per length), each matcher gets Kong's
//! priority (number of fields set, plain-hosts-only, header count, regex,
//! `regex_priority`, prefix length; ties go to the route defined first), and the
//! highest-priority matcher that accepts the request wins. Matching never scans all
//! routes: prefix paths live in a radix tree, routes with only exact hosts are indexed
//! by host, and only regex/path-less matchers are tried one by one.

pub mod uri;

use std::collections::HashMap;

use graphql_schema::entity::{Protocol, Route};
use regex::Regex;

/// The parts of a request the router looks at.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    pub method: &'a str,
    /// Lower-cased, without the port.
    pub host: &'a str,
    /// The Host header's port, or the port the request arrived on.
    pub port: u16,
    /// Normalised (see [`uri::normalize`]).
    pub path: &'a str,
    pub headers: &'a http::HeaderMap,
    pub sni: Option<&'a str>,
    pub tls: bool,
}

/// The route a request matched.
#[derive(Debug, Clone, Copy)]
pub struct Match<'r> {
    /// Index of the route in the list the router was built from.
    pub route: usize,
    /// Length of the matched part of the path (the route's prefix, or the whole regex
    /// match); what `strip_path` removes. 1 (`/`) for a route without paths.
    pub matched_len: usize,
    /// The regex that matched, for callers that need its captures.
    pub regex: Option<&'r Regex>,
}

#[derive(Debug)]
enum HostPat {
    Exact(Box<str>),
    /// `*.foo.com` is stored as `.foo.com`.
    Suffix(Box<str>),
    /// `foo.*` is stored as `foo.`.
    Prefix(Box<str>),
}

#[derive(Debug)]
struct HostMatcher {
    pat: HostPat,
    port: Option<u16>,
}

impl HostMatcher {
    fn parse(h: &str) -> HostMatcher {
        let (name, port) =
            graphql_schema::entity::split_host_port(h).unwrap_or((h.to_string(), None));
        let pat = if let Some(s) = name.strip_prefix('*') {
            HostPat::Suffix(s.into())
        } else if let Some(p) = name.strip_suffix('*') {
            HostPat::Prefix(p.into())
        } else {
            HostPat::Exact(name.into())
        };
        HostMatcher { pat, port }
    }

    fn matches(&self, host: &str, port: u16) -> bool {
        if self.port.is_some_and(|p| p != port) {
            return false;
        }
        match &self.pat {
            HostPat::Exact(h) => **h == *host,
            HostPat::Suffix(s) => host.len() > s.len() && host.ends_with(&**s),
            HostPat::Prefix(p) => host.len() > p.len() && host.starts_with(&**p),
        }
    }
}

#[derive(Debug)]
struct HeaderMatcher {
    name: http::HeaderName,
    /// Lower-cased exact values.
    exact: Vec<String>,
    regexes: Vec<Regex>,
}

impl HeaderMatcher {
    fn matches(&self, headers: &http::HeaderMap) -> bool {
        headers.get_all(&self.name).iter().any(|v| {
            let Ok(v) = v.to_str() else { return false };
            let lower = v.to_ascii_lowercase();
            self.exact.contains(&lower) || self.regexes.iter().any(|r| r.is_match(&lower))
        })
    }
}

#[derive(Debug)]
struct CompiledRoute {
    hosts: Vec<HostMatcher>,
    methods: Vec<String>,
    headers: Vec<HeaderMatcher>,
    snis: Vec<String>,
    /// Accepts plain-text requests (http, grpc, or https-only which Kong redirects).
    plain: bool,
    /// Accepts TLS requests.
    tls: bool,
}

#[derive(Debug)]
enum PathKind {
    Any,
    Prefix(Vec<Box<str>>),
    Regex(Vec<Regex>),
}

#[derive(Debug)]
struct Matcher {
    route: usize,
    paths: PathKind,
}

/// A compiled, immutable router. Build one per config; share it behind an `Arc`.
#[derive(Debug, Default)]
pub struct Router {
    routes: Vec<CompiledRoute>,
    /// Sorted by descending priority: a matcher's index is its rank.
    matchers: Vec<Matcher>,
    /// Matchers of routes whose hosts are all exact, by host.
    by_host: HashMap<Box<str>, Index>,
    /// Every other matcher.
    any_host: Index,
}

/// Candidates for one host class: prefix matchers in a radix tree, regex matchers
/// behind one `RegexSet` pass, path-less matchers in a list.
#[derive(Debug, Default)]
struct Index {
    tree: Radix,
    /// Path-less matchers: always candidates.
    scan: Vec<u32>,
    /// Regex matchers: the patterns (for the set) and the rank of each one's matcher.
    regex_patterns: Vec<String>,
    regex_ranks: Vec<u32>,
    regex_set: Option<regex::RegexSet>,
}

/// Why a route could not be compiled (the config validation normally catches these).
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct InvalidRoute {
    pub path: String,
    pub message: String,
}

/// Kong's priority fields, compared in order: fields set, plain hosts only, header
/// count, regex, regex_priority, prefix length.
type Priority = (u8, bool, u8, bool, i64, usize);
/// Tie-breakers: field category mask, has a port-specific host.
type TieBreak = (u8, bool);
/// A matcher waiting to be ranked: priority, tie-break, route order, group.
type Pending = (Priority, TieBreak, usize, usize, Matcher);

impl Router {
    pub fn new(routes: &[Route]) -> Result<Router, Vec<InvalidRoute>> {
        let mut errors = Vec::new();
        let mut compiled = Vec::with_capacity(routes.len());
        let mut pending: Vec<Pending> = Vec::new();
        for (ri, r) in routes.iter().enumerate() {
            let headers = r
                .headers
                .iter()
                .filter_map(|(name, values)| {
                    // Kong names the field `http.headers.<name with '_' as '-'...>` and
                    // looks it up in ngx.req.get_headers(), where `_` and `-` are the
                    // same: a route header `x_foo` matches a request's `X-Foo`.
                    let dashed = name.replace('_', "-");
                    let hname = match http::HeaderName::from_bytes(dashed.as_bytes()) {
                        Ok(n) => n,
                        Err(e) => {
                            errors.push(InvalidRoute {
                                path: format!("{}.headers.{name}", r.source),
                                message: e.to_string(),
                            });
                            return None;
                        }
                    };
                    let mut m = HeaderMatcher {
                        name: hname,
                        exact: Vec::new(),
                        regexes: Vec::new(),
                    };
                    for (i, v) in values.iter().enumerate() {
                        match v.strip_prefix("~*") {
                            Some(re) => match Regex::new(&re.to_lowercase()) {
                                Ok(re) => m.regexes.push(re),
                                Err(e) => errors.push(InvalidRoute {
                                    path: format!("{}.headers.{name}[{i}]", r.source),
                                    message: format!("invalid regex: {e}"),
                                }),
                            },
                            None => m.exact.push(v.to_ascii_lowercase()),
                        }
                    }
                    Some(m)
                })
                .collect();
            let https_only = r.protocols.iter().all(|p| *p == Protocol::Https);
            compiled.push(CompiledRoute {
                hosts: r.hosts.iter().map(|h| HostMatcher::parse(h)).collect(),
                methods: r.methods.clone(),
                headers,
                snis: r
                    .snis
                    .iter()
                    .map(|s| s.trim_end_matches('.').to_string())
                    .collect(),
                plain: https_only || r.protocols.iter().any(|p| !p.is_tls()),
                tls: r.protocols.iter().any(|p| p.is_tls()),
            });

            // Kong's split: regex paths together, prefix paths grouped by length.
            let mut regexes = Vec::new();
            let mut by_len: Vec<(usize, Vec<Box<str>>)> = Vec::new();
            for (pi, p) in r.paths.iter().enumerate() {
                if let Some(re) = p.strip_prefix('~') {
                    let anchored = format!("^(?:{})", re.strip_prefix('^').unwrap_or(re));
                    match Regex::new(&anchored) {
                        Ok(re) => regexes.push(re),
                        Err(e) => errors.push(InvalidRoute {
                            path: format!("{}.paths[{pi}]", r.source),
                            message: format!("invalid regex: {e}"),
                        }),
                    }
                } else {
                    match by_len.iter_mut().find(|(l, _)| *l == p.len()) {
                        Some((_, v)) => v.push(p.as_str().into()),
                        None => by_len.push((p.len(), vec![p.as_str().into()])),
                    }
                }
            }
            let weight = [
                !r.methods.is_empty(),
                !r.hosts.is_empty(),
                !r.headers.is_empty(),
                !r.snis.is_empty(),
                !r.paths.is_empty(),
            ]
            .iter()
            .filter(|b| **b)
            .count() as u8;
            let plain_host_only = !r.hosts.is_empty() && r.hosts.iter().all(|h| !h.contains('*'));
            let headers_count = r.headers.len().min(255) as u8;
            let base = (weight, plain_host_only, headers_count);
            // Ties of Kong's priority are broken by the traditional router's category
            // order (host > header > path > method > sni, port-specific hosts first),
            // then by definition order. Kong's atc-router breaks them by route UUID;
            // Kong's own specs arrange their UUIDs so that this order wins.
            let mask = u8::from(!r.hosts.is_empty()) << 6
                | u8::from(!r.headers.is_empty()) << 5
                | u8::from(!r.paths.is_empty()) << 4
                | u8::from(!r.methods.is_empty()) << 3
                | u8::from(!r.snis.is_empty()) << 2;
            let port_host = r.hosts.iter().any(|h| {
                graphql_schema::entity::split_host_port(h).is_ok_and(|(_, p)| p.is_some())
            });
            let tie = (mask, port_host);
            let mut group = 0;
            if !regexes.is_empty() {
                pending.push((
                    (base.0, base.1, base.2, true, r.regex_priority, 0),
                    tie,
                    r.order,
                    group,
                    Matcher {
                        route: ri,
                        paths: PathKind::Regex(regexes),
                    },
                ));
                group += 1;
            }
            for (len, paths) in by_len {
                pending.push((
                    (base.0, base.1, base.2, false, 0, len),
                    tie,
                    r.order,
                    group,
                    Matcher {
                        route: ri,
                        paths: PathKind::Prefix(paths),
                    },
                ));
                group += 1;
            }
            if group == 0 {
                pending.push((
                    (base.0, base.1, base.2, false, 0, 0),
                    tie,
                    r.order,
                    0,
                    Matcher {
                        route: ri,
                        paths: PathKind::Any,
                    },
                ));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        // highest priority first; ties: category order, then the route defined first,
        // then its first group
        pending.sort_by(|a, b| {
            b.0.cmp(&a.0)
                .then(b.1.cmp(&a.1))
                .then(a.2.cmp(&b.2))
                .then(a.3.cmp(&b.3))
        });

        let mut router = Router {
            routes: compiled,
            ..Router::default()
        };
        for (rank, (_, _, _, _, m)) in pending.into_iter().enumerate() {
            let route = &router.routes[m.route];
            let exact_hosts: Option<Vec<&str>> = if route.hosts.is_empty() {
                None
            } else {
                route
                    .hosts
                    .iter()
                    .map(|h| match &h.pat {
                        HostPat::Exact(e) => Some(&**e),
                        _ => None,
                    })
                    .collect()
            };
            let rank = rank as u32;
            match exact_hosts {
                Some(hosts) => {
                    let mut seen = Vec::new();
                    for h in hosts {
                        if seen.contains(&h) {
                            continue;
                        }
                        seen.push(h);
                        let idx = router.by_host.entry(h.into()).or_default();
                        idx.add(rank, &m);
                    }
                }
                None => router.any_host.add(rank, &m),
            }
            router.matchers.push(m);
        }
        router.any_host.finish();
        for idx in router.by_host.values_mut() {
            idx.finish();
        }
        Ok(router)
    }

    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// The highest-priority route that accepts the request.
    pub fn find<'r>(&'r self, req: &RequestParts<'_>) -> Option<Match<'r>> {
        let mut cands: Vec<u32> = Vec::with_capacity(8);
        if let Some(idx) = self.by_host.get(req.host) {
            idx.collect(req.path, &mut cands);
        }
        self.any_host.collect(req.path, &mut cands);
        cands.sort_unstable();
        cands.dedup();
        cands
            .into_iter()
            .find_map(|rank| self.try_matcher(rank as usize, req))
    }

    fn try_matcher<'r>(&'r self, rank: usize, req: &RequestParts<'_>) -> Option<Match<'r>> {
        let m = &self.matchers[rank];
        let r = &self.routes[m.route];
        if req.tls && !r.tls || !req.tls && !r.plain {
            return None;
        }
        if !r.methods.is_empty() && !r.methods.iter().any(|x| x == req.method) {
            return None;
        }
        if !r.hosts.is_empty() && !r.hosts.iter().any(|h| h.matches(req.host, req.port)) {
            return None;
        }
        // Kong checks SNIs only on TLS requests
        if req.tls && !r.snis.is_empty() {
            let sni = req.sni.map(|s| s.trim_end_matches('.'));
            if !sni.is_some_and(|s| r.snis.iter().any(|x| x.eq_ignore_ascii_case(s))) {
                return None;
            }
        }
        if !r.headers.iter().all(|h| h.matches(req.headers)) {
            return None;
        }
        match &m.paths {
            PathKind::Any => Some(Match {
                route: m.route,
                matched_len: 1,
                regex: None,
            }),
            PathKind::Prefix(ps) => {
                ps.iter()
                    .find(|p| req.path.starts_with(&***p))
                    .map(|p| Match {
                        route: m.route,
                        matched_len: p.len(),
                        regex: None,
                    })
            }
            PathKind::Regex(rs) => rs.iter().find_map(|re| {
                re.find(req.path).map(|f| Match {
                    route: m.route,
                    matched_len: f.end(),
                    regex: Some(re),
                })
            }),
        }
    }
}

impl Index {
    fn add(&mut self, rank: u32, m: &Matcher) {
        match &m.paths {
            PathKind::Prefix(ps) => {
                for p in ps {
                    self.tree.insert(p.as_bytes(), rank);
                }
            }
            PathKind::Regex(rs) => {
                for r in rs {
                    self.regex_patterns.push(r.as_str().to_string());
                    self.regex_ranks.push(rank);
                }
            }
            PathKind::Any => self.scan.push(rank),
        }
    }

    /// Builds the regex prefilter once every matcher is added.
    fn finish(&mut self) {
        if !self.regex_patterns.is_empty() {
            // patterns already compiled one by one, so the set only fails on size
            self.regex_set = regex::RegexSetBuilder::new(&self.regex_patterns)
                .size_limit(256 << 20)
                .build()
                .ok();
        }
        self.regex_patterns = Vec::new();
    }

    fn collect(&self, path: &str, out: &mut Vec<u32>) {
        self.tree.lookup(path.as_bytes(), out);
        out.extend_from_slice(&self.scan);
        match &self.regex_set {
            Some(set) => out.extend(set.matches(path).iter().map(|i| self.regex_ranks[i])),
            // no set (too large to build): every regex matcher is a candidate
            None => out.extend_from_slice(&self.regex_ranks),
        }
    }
}

/// A radix tree of path prefixes; `lookup` returns the ids of every inserted prefix of
/// the key in one walk.
#[derive(Debug)]
struct Radix {
    nodes: Vec<RNode>,
}

#[derive(Debug, Default)]
struct RNode {
    label: Box<[u8]>,
    /// First byte of each child's label, parallel to `children`.
    first: Vec<u8>,
    children: Vec<u32>,
    ids: Vec<u32>,
}

impl Default for Radix {
    fn default() -> Self {
        Radix {
            nodes: vec![RNode::default()],
        }
    }
}

impl Radix {
    fn child(&self, n: usize, b: u8) -> Option<(usize, usize)> {
        let node = &self.nodes[n];
        node.first
            .iter()
            .position(|x| *x == b)
            .map(|i| (i, node.children[i] as usize))
    }

    fn insert(&mut self, key: &[u8], id: u32) {
        let mut n = 0usize;
        let mut k = key;
        loop {
            if k.is_empty() {
                if !self.nodes[n].ids.contains(&id) {
                    self.nodes[n].ids.push(id);
                }
                return;
            }
            let Some((slot, c)) = self.child(n, k[0]) else {
                let new = self.nodes.len() as u32;
                self.nodes.push(RNode {
                    label: k.into(),
                    ids: vec![id],
                    ..RNode::default()
                });
                self.nodes[n].first.push(k[0]);
                self.nodes[n].children.push(new);
                return;
            };
            let label = &self.nodes[c].label;
            let common = label.iter().zip(k).take_while(|(a, b)| a == b).count();
            if common == label.len() {
                n = c;
                k = &k[common..];
                continue;
            }
            // split c at `common`
            let head: Box<[u8]> = label[..common].into();
            let tail: Box<[u8]> = label[common..].into();
            let tail_first = tail[0];
            self.nodes[c].label = tail;
            let mid = self.nodes.len();
            self.nodes.push(RNode {
                label: head,
                first: vec![tail_first],
                children: vec![c as u32],
                ids: Vec::new(),
            });
            self.nodes[n].children[slot] = mid as u32;
            n = mid;
            k = &k[common..];
        }
    }

    fn lookup(&self, key: &[u8], out: &mut Vec<u32>) {
        let mut n = 0usize;
        let mut k = key;
        out.extend_from_slice(&self.nodes[0].ids);
        while let Some(&b) = k.first() {
            let Some((_, c)) = self.child(n, b) else {
                break;
            };
            let label = &self.nodes[c].label;
            if !k.starts_with(label) {
                break;
            }
            k = &k[label.len()..];
            out.extend_from_slice(&self.nodes[c].ids);
            n = c;
        }
    }
}

#[cfg(test)]
mod tests;

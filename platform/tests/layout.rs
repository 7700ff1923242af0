//! The platform's shape, checked from its source (ARCHITECTURE "Platform
//! layout"): nothing below `graphql/` imports async-graphql or axum, the API
//! layer reaches the database only through the domain, and module imports have no
//! cycles, neither between the top-level modules nor between the files of one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// `platform/src` as module path (`actors::control_plane`) -> source text.
fn sources() -> BTreeMap<String, String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&root, &mut files);
    let mut out = BTreeMap::new();
    for f in files {
        let rel = f
            .strip_prefix(&root)
            .expect("under src")
            .with_extension("")
            .to_string_lossy()
            .replace('\\', "/");
        let module = rel.strip_suffix("/mod").unwrap_or(&rel).replace('/', "::");
        let text = std::fs::read_to_string(&f).expect("readable source");
        out.insert(module, code_only(&text));
    }
    assert!(out.len() > 20, "found the sources: {:?}", out.keys());
    out
}

/// Source without `//` comments (doc comments mention crates by name).
fn code_only(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn top(module: &str) -> &str {
    module.split("::").next().unwrap_or(module)
}

fn parent(module: &str) -> &str {
    module.rsplit_once("::").map(|(p, _)| p).unwrap_or("")
}

fn join(a: &str, b: &str) -> String {
    if a.is_empty() {
        b.to_string()
    } else {
        format!("{a}::{b}")
    }
}

/// The identifiers after each `prefix::` in `code`, with one level of
/// `{a, b::c}` groups expanded: `crate::x::{y, z}` gives `x::y` and `x::z`.
fn paths_after(code: &str, prefix: &str) -> Vec<String> {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find(prefix) {
        let before = rest[..i].chars().last();
        rest = &rest[i + prefix.len()..];
        if before.is_some_and(ident) {
            continue;
        }
        let mut path = Vec::new();
        loop {
            let n = rest.find(|c: char| !ident(c)).unwrap_or(rest.len());
            if n == 0 {
                break;
            }
            path.push(rest[..n].to_string());
            rest = &rest[n..];
            if let Some(r) = rest.strip_prefix("::") {
                rest = r;
            } else {
                break;
            }
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let item = item.trim().split(" as ").next().unwrap_or("").trim();
                let item = item.split("::{").next().unwrap_or(item);
                if item.is_empty() {
                    continue;
                }
                let mut p = path.clone();
                p.extend(item.split("::").map(|s| s.trim().to_string()));
                out.push(p.join("::"));
            }
        } else if !path.is_empty() {
            out.push(path.join("::"));
        }
    }
    out
}

/// The longest module that `path` (absolute, without `crate::`) starts with,
/// following `pub use child::Name` re-exports of a parent into the child.
fn resolve(path: &str, modules: &BTreeMap<String, String>) -> Option<String> {
    let parts: Vec<&str> = path.split("::").collect();
    for n in (1..=parts.len()).rev() {
        let m = parts[..n].join("::");
        if modules.contains_key(&m) {
            if let Some(name) = parts.get(n)
                && let Some(child) = reexported_from(&m, name, modules)
            {
                return Some(child);
            }
            return Some(m);
        }
    }
    None
}

/// Which child module `parent` re-exports `name` from (`pub use child::{.., name}`).
fn reexported_from(parent: &str, name: &str, modules: &BTreeMap<String, String>) -> Option<String> {
    let code = modules.get(parent)?;
    for line in code
        .lines()
        .filter(|l| l.trim_start().starts_with("pub use "))
    {
        let Some((child, names)) = line.trim_start()["pub use ".len()..].split_once("::") else {
            continue;
        };
        let listed = names
            .trim_end_matches(';')
            .trim_matches(|c| c == '{' || c == '}')
            .split(',')
            .any(|n| n.trim() == name);
        let child = join(parent, child.trim());
        if listed && modules.contains_key(&child) {
            return Some(child);
        }
    }
    None
}

/// Every module's imports of other modules of this crate.
fn edges(modules: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    let mut g = BTreeMap::new();
    for (m, code) in modules {
        let mut deps = BTreeSet::new();
        for p in paths_after(code, "crate::") {
            deps.extend(resolve(&p, modules));
        }
        // `super::` in `a/b.rs` is `a`; in `a/mod.rs` (module `a`) it is the crate
        let own_dir = parent(m);
        for p in paths_after(code, "super::") {
            deps.extend(resolve(&join(own_dir, &p), modules));
        }
        // a parent's `pub mod` and re-exports of its children are not imports
        deps.retain(|d: &String| d != m && !d.starts_with(&format!("{m}::")));
        g.insert(m.clone(), deps);
    }
    g
}

/// The strongly connected components with more than one member.
fn cycles(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    // Kosaraju: order by finish time, then walk the reversed graph.
    fn visit(
        v: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        seen: &mut BTreeSet<String>,
        order: &mut Vec<String>,
    ) {
        if !seen.insert(v.to_string()) {
            return;
        }
        for w in g.get(v).into_iter().flatten() {
            visit(w, g, seen, order);
        }
        order.push(v.to_string());
    }
    let mut seen = BTreeSet::new();
    let mut order = Vec::new();
    for v in g.keys() {
        visit(v, g, &mut seen, &mut order);
    }
    let mut rev: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (v, ws) in g {
        for w in ws {
            rev.entry(w.clone()).or_default().insert(v.clone());
        }
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for v in order.iter().rev() {
        let mut comp = Vec::new();
        visit(v, &rev, &mut seen, &mut comp);
        if comp.len() > 1 {
            comp.sort();
            out.push(comp);
        }
    }
    out
}

#[test]
fn nothing_below_the_api_layer_imports_async_graphql_or_axum() {
    let below = [
        "actors", "auth", "config", "catalog", "portal", "store", "error", "pki", "seal",
        "metrics", "files",
    ];
    let mut bad = Vec::new();
    for (m, code) in sources() {
        if below.contains(&top(&m)) && (code.contains("async_graphql") || code.contains("axum")) {
            bad.push(m);
        }
    }
    assert!(
        bad.is_empty(),
        "these import async-graphql or axum: {bad:?}"
    );
}

#[test]
fn the_api_layer_reaches_the_database_through_the_domain() {
    let mut bad = Vec::new();
    for (m, code) in sources() {
        // graphql/error.rs is the one place that maps every domain error
        let api = (top(&m) == "graphql" && m != "graphql::error") || m == "http";
        if api && code.contains("crate::store") {
            bad.push(m);
        }
    }
    assert!(bad.is_empty(), "these use crate::store directly: {bad:?}");
}

#[test]
fn module_imports_have_no_cycles() {
    let modules = sources();
    let g = edges(&modules);
    assert!(
        g.get("actors::control_planes")
            .is_some_and(|d| d.contains("actors::control_plane")),
        "the import graph is read: {:?}",
        g.get("actors::control_planes")
    );
    let files = cycles(&g);
    assert!(files.is_empty(), "import cycles between files: {files:?}");
    // and between the top-level modules (`actors`, `config`, `store`, ...)
    let mut tops: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (m, deps) in &g {
        let t = tops.entry(top(m).to_string()).or_default();
        t.extend(
            deps.iter()
                .map(|d| top(d).to_string())
                .filter(|d| d != top(m)),
        );
    }
    let layers = cycles(&tops);
    assert!(
        layers.is_empty(),
        "import cycles between top-level modules: {layers:?}"
    );
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let g: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec!["a"]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(cycles(&g), vec![vec!["a", "b", "c"]]);
    let p = paths_after(
        "use crate::x::{y, z as w};\nlet _ = super::q::r;",
        "crate::",
    );
    assert_eq!(p, vec!["x::y", "x::z"]);
}

#[test]
fn no_source_file_grows_past_600_lines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut long = Vec::new();
    for m in sources().keys() {
        let rel = m.replace("::", "/");
        let file = [format!("{rel}.rs"), format!("{rel}/mod.rs")]
            .into_iter()
            .map(|f| root.join(f))
            .find(|p| p.exists())
            .expect("the module's file");
        let n = std::fs::read_to_string(&file).map_or(0, |t| t.lines().count());
        if n > 600 {
            long.push((m.clone(), n));
        }
    }
    assert!(
        long.is_empty(),
        "split these by concern (or say here why not): {long:?}"
    );
}

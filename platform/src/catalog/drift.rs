//! How an API's documented operations line up with the routes of the gateway
//! services that implement it, both ways: which routes serve each operation
//! (Kong's matching: methods, prefix and regex paths), and which routes serve
//! no documented operation.

use graphql_schema::entity::Route;
use regex::Regex;
use uuid::Uuid;

use super::spec::Operation;

/// Concrete request paths for a path template (`/pets/{id}` -> `/pets/1`,
/// `/pets/x`), to test routes with.
fn samples(template: &str) -> Vec<String> {
    ["1", "x"]
        .iter()
        .map(|v| {
            let mut out = String::new();
            let mut in_param = false;
            for c in template.chars() {
                match c {
                    '{' => in_param = true,
                    '}' if in_param => {
                        in_param = false;
                        out.push_str(v);
                    }
                    _ if in_param => {}
                    _ => out.push(c),
                }
            }
            out
        })
        .collect()
}

/// Whether a route serves a request with this method and path.
fn matches(route: &Route, method: &str, path: &str) -> bool {
    if !route.methods.is_empty() && !route.methods.iter().any(|m| m == method) {
        return false;
    }
    if route.paths.is_empty() {
        return true;
    }
    route.paths.iter().any(|p| match p.strip_prefix('~') {
        Some(re) => Regex::new(&format!("^(?:{})", re.strip_prefix('^').unwrap_or(re)))
            .is_ok_and(|r| r.is_match(path)),
        None => path.starts_with(p.as_str()),
    })
}

/// Whether `route` serves `op` (HTTP operations only) under `base` (the
/// spec's server path).
pub fn serves(route: &Route, op: &Operation, base: Option<&str>) -> bool {
    if !op.path.starts_with('/') {
        return false;
    }
    let full = format!("{}{}", base.unwrap_or(""), op.path);
    samples(&full).iter().any(|p| matches(route, &op.method, p))
}

/// For each operation, the routes that serve it; and the routes that serve
/// none (undocumented).
pub fn report(
    ops: &[Operation],
    base: Option<&str>,
    routes: &[&Route],
) -> (Vec<Vec<Uuid>>, Vec<Uuid>) {
    let served: Vec<Vec<Uuid>> = ops
        .iter()
        .map(|op| {
            routes
                .iter()
                .filter(|r| serves(r, op, base))
                .map(|r| r.id)
                .collect()
        })
        .collect();
    let undocumented = routes
        .iter()
        .filter(|r| !served.iter().any(|s| s.contains(&r.id)))
        .map(|r| r.id)
        .collect();
    (served, undocumented)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(methods: &[&str], paths: &[&str]) -> Route {
        let cfg: graphql_schema::entity::RouteConfig = serde_json::from_value(serde_json::json!({
            "id": Uuid::new_v4().to_string(), "methods": methods, "paths": paths
        }))
        .expect("route config");
        let mut errors = graphql_schema::error::Errors::default();
        cfg.validate(
            0,
            None,
            "",
            &graphql_schema::error::Path::root().field("routes").index(0),
            &mut errors,
        )
        .expect("valid route")
    }

    fn op(method: &str, path: &str) -> Operation {
        Operation {
            method: method.into(),
            path: path.into(),
            operation_id: None,
            summary: None,
            deprecated: false,
        }
    }

    #[test]
    fn routes_serve_operations_by_method_and_path() {
        let list = route(&["GET"], &["/pets"]);
        let one = route(&[], &["~/pets/\\d+$"]);
        let other = route(&[], &["/admin"]);
        let ops = [
            op("GET", "/pets"),
            op("DELETE", "/pets/{id}"),
            op("POST", "/orders"),
        ];
        let (served, undocumented) = report(&ops, None, &[&list, &one, &other]);
        let (under, _) = report(&[op("GET", "/")], Some("/admin"), &[&other]);
        assert_eq!(under[0], vec![other.id], "under the server's path");
        assert_eq!(served[0], vec![list.id]);
        // `/pets` prefix does not take DELETE; the regex takes /pets/1
        assert_eq!(served[1], vec![one.id]);
        assert!(served[2].is_empty());
        assert_eq!(undocumented, vec![other.id]);
    }
}

//! Kong's 12-level plugin scoping precedence, as a table.

use super::*;
use graphql_schema::entity::PluginScope as S;

fn id(n: u128) -> Option<Uuid> {
    Some(Uuid::from_u128(n))
}

const ROUTE: u128 = 1;
const SERVICE: u128 = 2;
const CONSUMER: u128 = 3;
const GROUP: u128 = 4;
const OTHER: u128 = 99;

#[test]
fn twelve_levels_most_specific_first() {
    let (r, s, c, g) = (id(ROUTE), id(SERVICE), id(CONSUMER), id(GROUP));
    let rows: &[(S, Option<u8>)] = &[
        (
            S {
                consumer: c,
                route: r,
                service: s,
                consumer_group: None,
            },
            Some(1),
        ),
        (
            S {
                consumer_group: g,
                route: r,
                service: s,
                consumer: None,
            },
            Some(2),
        ),
        (
            S {
                consumer: c,
                route: r,
                ..S::default()
            },
            Some(3),
        ),
        (
            S {
                consumer: c,
                service: s,
                ..S::default()
            },
            Some(4),
        ),
        (
            S {
                consumer_group: g,
                route: r,
                ..S::default()
            },
            Some(5),
        ),
        (
            S {
                consumer_group: g,
                service: s,
                ..S::default()
            },
            Some(6),
        ),
        (
            S {
                route: r,
                service: s,
                ..S::default()
            },
            Some(7),
        ),
        (
            S {
                consumer: c,
                ..S::default()
            },
            Some(8),
        ),
        (
            S {
                consumer_group: g,
                ..S::default()
            },
            Some(9),
        ),
        (
            S {
                route: r,
                ..S::default()
            },
            Some(10),
        ),
        (
            S {
                service: s,
                ..S::default()
            },
            Some(11),
        ),
        (S::default(), Some(12)),
        // instances for something else do not apply
        (
            S {
                route: id(OTHER),
                ..S::default()
            },
            None,
        ),
        (
            S {
                service: id(OTHER),
                route: r,
                ..S::default()
            },
            None,
        ),
        (
            S {
                consumer: id(OTHER),
                ..S::default()
            },
            None,
        ),
        (
            S {
                consumer_group: id(OTHER),
                ..S::default()
            },
            None,
        ),
    ];
    let groups = [Uuid::from_u128(GROUP)];
    for (scope, want) in rows {
        assert_eq!(precedence(scope, r, s, c, &groups), *want, "{scope:?}");
    }
    // without an identified consumer, consumer and group scopes never apply
    assert_eq!(
        precedence(
            &S {
                consumer: c,
                ..S::default()
            },
            r,
            s,
            None,
            &[]
        ),
        None
    );
    assert_eq!(
        precedence(
            &S {
                consumer_group: g,
                ..S::default()
            },
            r,
            s,
            None,
            &[]
        ),
        None
    );
}

fn plugin(name: &str, scope: S, status: u16, enabled: bool) -> PluginEntity {
    PluginEntity {
        id: Uuid::new_v4(),
        name: name.into(),
        instance_name: None,
        config: serde_json::json!({ "status_code": status }),
        enabled,
        protocols: vec!["http".into(), "https".into()],
        scope,
        tags: vec![],
        source: String::new(),
    }
}

#[test]
fn resolve_picks_the_most_specific_enabled_instance_per_name() {
    let (r, s, c) = (id(ROUTE), id(SERVICE), id(CONSUMER));
    let ps = vec![
        plugin("request-termination", S::default(), 500, true),
        plugin(
            "request-termination",
            S {
                service: s,
                ..S::default()
            },
            501,
            true,
        ),
        plugin(
            "request-termination",
            S {
                route: r,
                ..S::default()
            },
            502,
            false,
        ), // disabled: ignored
        plugin(
            "request-termination",
            S {
                consumer: c,
                ..S::default()
            },
            503,
            true,
        ),
        plugin("correlation-id", S::default(), 0, true),
    ];
    let pick = |consumer| {
        resolve(&ps, r, s, consumer, &[])
            .iter()
            .map(|p| {
                (
                    p.name.clone(),
                    p.config["status_code"].as_u64().unwrap_or(0),
                )
            })
            .collect::<Vec<_>>()
    };
    // ordered by priority: correlation-id (100001) before request-termination (2)
    assert_eq!(
        pick(None),
        vec![
            ("correlation-id".to_string(), 0),
            ("request-termination".to_string(), 501)
        ]
    );
    assert_eq!(
        pick(c),
        vec![
            ("correlation-id".to_string(), 0),
            ("request-termination".to_string(), 503)
        ]
    );
    // another route of the same service: the service instance
    assert_eq!(
        resolve(&ps, id(OTHER), s, None, &[])
            .iter()
            .find(|p| p.name == "request-termination")
            .map(|p| p.config["status_code"].clone()),
        Some(serde_json::json!(501))
    );
    // a route of another service: the global instance
    assert_eq!(
        resolve(&ps, id(OTHER), id(OTHER), None, &[])
            .iter()
            .find(|p| p.name == "request-termination")
            .map(|p| p.config["status_code"].clone()),
        Some(serde_json::json!(500))
    );
}

#[test]
fn only_global_instances_run_the_rewrite_phase() {
    let chains = |extra: &str| {
        let text = format!(
            "_format_version: '3.0'\nservices:\n- name: s\n  url: http://127.0.0.1:1\n  routes:\n  - name: r\n    paths: [/]\n    plugins:\n    - name: correlation-id\n{extra}"
        );
        let loaded = graphql_schema::deck::load_str(&text).expect("valid");
        Chains::build(&loaded.config, &loaded.config.routes).expect("builds")
    };
    // route-scoped only: nothing runs before routing
    assert!(!chains("").rewrites());
    // a global instance does
    assert!(chains("plugins:\n- name: correlation-id\n").rewrites());
    // a disabled global instance does not
    assert!(!chains("plugins:\n- name: correlation-id\n  enabled: false\n").rewrites());
    // a global plugin without a rewrite phase does not
    assert!(!chains("plugins:\n- name: cors\n").rewrites());
}

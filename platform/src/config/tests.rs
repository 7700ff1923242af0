use super::document::*;
use super::plan::*;
use super::*;
use serde_json::json;
use std::collections::HashMap;
use uuid::Uuid;

#[test]
fn relative_paths_match_whole_segments() {
    assert_eq!(
        relative_path("routes[1].paths[0]", "routes[1]"),
        Some("paths[0]".into())
    );
    assert_eq!(relative_path("routes[10].paths[0]", "routes[1]"), None);
    assert_eq!(relative_path("routes[1]", "routes[1]"), Some(String::new()));
    assert_eq!(
        relative_path(
            "consumers[0].keyauth_credentials[2].key",
            "consumers[0].keyauth_credentials[2]"
        ),
        Some("key".into())
    );
}

#[test]
fn flatten_gives_children_a_parent_reference() {
    let doc = json!({
        "_format_version": "3.0",
        "services": [{"name": "s", "url": "http://x", "routes": [{"name": "r", "paths": ["/"], "plugins": [{"name": "cors"}]}]}],
        "upstreams": [{"name": "u", "targets": [{"target": "127.0.0.1:1"}]}],
        "consumers": [{"username": "c", "keyauth_credentials": [{"key": "k"}], "plugins": [{"name": "acl", "config": {"allow": ["x"]}}]}],
    });
    let flat = flatten(&doc, &HashMap::new());
    let mut kinds: Vec<Kind> = flat.iter().map(|d| d.kind).collect();
    kinds.sort();
    assert_eq!(
        kinds,
        vec![
            Kind::Upstream,
            Kind::Target,
            Kind::Service,
            Kind::Route,
            Kind::Consumer,
            Kind::KeyAuthCredential,
            Kind::Plugin,
            Kind::Plugin
        ],
        "{flat:?}"
    );
    let settled = settle(flat, &[], &[], &HashMap::new()).expect("settles");
    let id_of = |k: Kind| settled.iter().find(|s| s.0 == k).map(|s| s.1.to_string());
    let route = settled.iter().find(|s| s.0 == Kind::Route).expect("route");
    assert_eq!(route.2["service"], json!({"id": id_of(Kind::Service)}));
    let target = settled
        .iter()
        .find(|s| s.0 == Kind::Target)
        .expect("target");
    assert_eq!(target.2["upstream"], json!({"id": id_of(Kind::Upstream)}));
    let cred = settled
        .iter()
        .find(|s| s.0 == Kind::KeyAuthCredential)
        .expect("cred");
    assert_eq!(cred.2["consumer"], json!({"id": id_of(Kind::Consumer)}));
}

#[test]
fn settle_reuses_stored_ids_by_natural_key_and_reports_dangling_refs() {
    let stored = Record {
        kind: Kind::Service,
        id: Uuid::new_v4(),
        seq: 0,
        data: json!({"id": "x", "name": "s", "url": "http://x"}),
        created_at: 0,
        updated_at: 0,
    };
    let d = vec![Desired {
        kind: Kind::Service,
        data: json!({"name": "s", "url": "http://y"})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        source: "services[0]".into(),
    }];
    let s = settle(d, &[&stored], &[], &HashMap::new()).expect("settles");
    assert_eq!(s[0].1, stored.id);
    let d = vec![Desired {
        kind: Kind::Route,
        data: json!({"name": "r", "service": {"name": "missing"}})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        source: "services[0]".into(),
    }];
    let e = settle(d, &[], &[], &HashMap::new())
        .err()
        .unwrap_or_default();
    assert!(e[0].contains("does not match any services"), "{e:?}");
}

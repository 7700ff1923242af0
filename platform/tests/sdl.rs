//! The contract crate's snapshots: `graphql-schema/schema.graphql` is the SDL of
//! the platform's API, `graphql-schema/portal.graphql` that of a portal's
//! developer realm, and `graphql-schema/cluster.graphql` that of the node
//! protocol; the node's operations (`graphql-schema/operations/`) validate
//! against the cluster schema. A drift fails here;
//! `UPDATE_SDL=1 cargo test -p platform --test sdl` rewrites the snapshots.

use futures_util::StreamExt;

fn check_snapshot(file: &str, sdl: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../graphql-schema")
        .join(file);
    if std::env::var_os("UPDATE_SDL").is_some() {
        std::fs::write(&path, sdl).expect("cannot write the snapshot");
        return;
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == sdl,
        "graphql-schema/{file} is out of date: run `UPDATE_SDL=1 cargo test -p platform --test sdl` and commit it"
    );
}

#[test]
fn schema_graphql_matches_the_server() {
    check_snapshot("schema.graphql", &platform::graphql::sdl());
}

#[test]
fn portal_graphql_matches_the_developer_realm() {
    check_snapshot("portal.graphql", &platform::graphql::developer::sdl());
}

#[test]
fn cluster_graphql_matches_the_cluster_endpoint() {
    check_snapshot("cluster.graphql", &platform::cluster::protocol::sdl());
}

/// Each operation runs against the cluster schema without a connection: it
/// reaches its resolver (which refuses for want of a session), so it parsed and
/// validated. A validation error has no path; a resolver's error has one.
#[tokio::test]
async fn the_nodes_operations_validate_against_the_cluster_schema() {
    let schema = platform::cluster::protocol::unbound();
    let variables = serde_json::json!({
        "sinceVersion": -1,
        "report": {"node_id": "00000000-0000-4000-8000-000000000001", "hostname": "h", "version": "0"},
    });
    for (name, op) in graphql_schema::operations::ALL {
        let req = async_graphql::Request::new(op)
            .variables(async_graphql::Variables::from_json(variables.clone()));
        let first = schema.execute_stream(req).next().await.expect("a response");
        assert!(!first.errors.is_empty(), "{name}: {first:?}");
        for e in &first.errors {
            assert!(
                !e.path.is_empty(),
                "{name} does not validate against cluster.graphql: {}",
                e.message
            );
        }
    }
    // and a broken operation is caught the same way
    let bad = schema
        .execute_stream(async_graphql::Request::new(
            "subscription { configUpdates(since: 1) }",
        ))
        .next()
        .await
        .expect("a response");
    assert!(bad.errors.iter().any(|e| e.path.is_empty()), "{bad:?}");
}

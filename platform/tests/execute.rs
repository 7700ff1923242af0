//! Fine-grained GraphQL cases through `schema.execute` on an in-memory SQLite.

use serde_json::{Value, json};

async fn schema() -> (platform::graphql::PorticoSchema, platform::auth::Caller) {
    let db = platform::store::connect("sqlite::memory:")
        .await
        .expect("in-memory SQLite");
    platform::auth::bootstrap::bootstrap(
        &db,
        "owner@example.com",
        Some("a long enough password".into()),
        Some("owner-token".into()),
    )
    .await
    .expect("bootstrap");
    let state = platform::state::AppState::assemble(
        db,
        std::sync::Arc::new(platform::seal::Sealer::new([7; 32], "test").expect("key")),
        10_000,
    )
    .await
    .expect("platform");
    let caller = platform::auth::tokens::resolve(&state.db, &state.access, "owner-token", None)
        .await
        .expect("the owner's token");
    (platform::graphql::schema(state), caller)
}

async fn run(
    s: &(platform::graphql::PorticoSchema, platform::auth::Caller),
    q: &str,
    vars: Value,
) -> Value {
    let req = async_graphql::Request::new(q)
        .variables(async_graphql::Variables::from_json(vars))
        .data(s.1.clone());
    let s = &s.0;
    serde_json::to_value(s.execute(req).await).expect("response JSON")
}

#[tokio::test]
async fn errors_carry_code_and_field() {
    let s = schema().await;
    let r = run(
        &s,
        "mutation { createControlPlane(input: {name: \"bad name!\"}) { id } }",
        json!({}),
    )
    .await;
    assert_eq!(r["errors"][0]["extensions"]["code"], "VALIDATION");
    assert_eq!(r["errors"][0]["extensions"]["field"], "input.name");
    let r = run(
        &s,
        "mutation { createControlPlane(input: {name: \"ok\", labels: {env: 1}}) { id } }",
        json!({}),
    )
    .await;
    assert_eq!(r["errors"][0]["extensions"]["field"], "input.labels.env");
    let r = run(&s, "mutation { createControlPlane(input: {name: \"ok\", labels: {env: \"prod\"}}) { id labels configVersion } }", json!({})).await;
    assert_eq!(
        r["data"]["createControlPlane"]["labels"],
        json!({"env": "prod"})
    );
    let id = r["data"]["createControlPlane"]["id"].clone();
    // several problems: the first is the error, the rest in extensions.problems
    let r = run(
        &s,
        "mutation($i: CreateEntityInput!) { createEntity(input: $i) { id } }",
        json!({"i": {"controlPlaneId": id, "kind": "SERVICE", "data": {"name": "s", "url": "http://x", "retries": -1, "bogus": 1}}}),
    )
    .await;
    let e = &r["errors"][0];
    assert_eq!(e["extensions"]["code"], "VALIDATION", "{r}");
    let mut fields: Vec<String> = vec![e["extensions"]["field"].as_str().unwrap_or("").to_string()];
    for p in e["extensions"]["problems"].as_array().into_iter().flatten() {
        fields.push(p["field"].as_str().unwrap_or("").to_string());
    }
    assert!(
        fields.contains(&"input.data.bogus".to_string()),
        "{fields:?}"
    );
    // labels filter and a missing plane
    let r = run(
        &s,
        "{ controlPlanes(labels: {env: \"prod\"}) { totalCount } }",
        json!({}),
    )
    .await;
    assert_eq!(r["data"]["controlPlanes"]["totalCount"], 1);
    let r = run(
        &s,
        "{ controlPlaneConfig(id: \"nope\") { version } }",
        json!({}),
    )
    .await;
    assert_eq!(r["errors"][0]["extensions"]["code"], "NOT_FOUND");
    let r = run(&s, "{ controlPlanes(first: -1) { totalCount } }", json!({})).await;
    assert_eq!(r["errors"][0]["extensions"]["field"], "first");
}

#[tokio::test]
async fn update_and_delete_control_planes() {
    let s = schema().await;
    let a = run(
        &s,
        "mutation { createControlPlane(input: {name: \"a\"}) { id } }",
        json!({}),
    )
    .await;
    run(
        &s,
        "mutation { createControlPlane(input: {name: \"b\"}) { id } }",
        json!({}),
    )
    .await;
    let id = a["data"]["createControlPlane"]["id"].clone();
    let r = run(
        &s,
        "mutation($id: ID!) { updateControlPlane(input: {id: $id, name: \"b\"}) { id } }",
        json!({"id": id}),
    )
    .await;
    assert_eq!(r["errors"][0]["extensions"]["code"], "CONFLICT");
    let r = run(&s, "mutation($id: ID!) { updateControlPlane(input: {id: $id, name: \"c\", description: \"d\"}) { name description } }", json!({"id": id})).await;
    assert_eq!(
        r["data"]["updateControlPlane"],
        json!({"name": "c", "description": "d"})
    );
    let r = run(
        &s,
        "mutation($id: ID!) { deleteControlPlane(input: {id: $id}) { deletedControlPlaneId } }",
        json!({"id": id}),
    )
    .await;
    assert!(r.get("errors").is_none(), "{r}");
    let r = run(&s, "{ controlPlanes { nodes { name } } }", json!({})).await;
    assert_eq!(r["data"]["controlPlanes"]["nodes"], json!([{"name": "b"}]));
}

//! The typed GraphQL API through the real server, on SQLite and PostgreSQL:
//! typed mutations per kind with their payloads and `userErrors` (field paths
//! in the input, nothing changed), typed objects with relations resolved in one
//! request, typed plugin configs, paging through 250 routes in both directions
//! while routes are added and removed, the typed entity in `configChanges`, and
//! CORS for web apps on other origins.

use integration::platform::{Db, Platform, next_message};
use serde_json::{Value, json};

integration::both!(typed_mutations_and_relations);
integration::both!(user_errors_name_the_input_field_and_change_nothing);
integration::both!(paging_both_ways_while_routes_change);

const CREATE_SERVICE: &str = "mutation($i: CreateServiceInput!) { createService(input: $i) { service { id name protocol host port path url connectTimeout retries enabled createdAt } configVersion userErrors { field message code } } }";
const CREATE_ROUTE: &str = "mutation($i: CreateRouteInput!) { createRoute(input: $i) { route { id name paths protocols methods stripPath pathHandling headers { name values } service { id name } } configVersion userErrors { field message code } } }";
const CREATE_PLUGIN: &str = "mutation($i: CreatePluginInput!) { createPlugin(input: $i) { plugin { id name enabled service { name } config { __typename ... on KeyAuthConfig { keyNames hideCredentials keyInHeader } ... on RateLimitingConfig { minute policy limitBy } } rawConfig } configVersion userErrors { field message code } } }";

fn payload<'a>(d: &'a Value, field: &str) -> &'a Value {
    &d[field]
}

fn no_user_errors(p: &Value) {
    assert_eq!(p["userErrors"], json!([]), "{p}");
}

async fn version(p: &Platform, cp: &str) -> i64 {
    p.plane(cp).await["configVersion"].as_i64().unwrap_or(-1)
}

async fn typed_mutations_and_relations(db: Db) {
    let p = Platform::start(db).await;
    let cp = p.create_plane("typed").await;

    let d = p
        .ok(
            CREATE_SERVICE,
            json!({"i": {"controlPlaneId": cp, "name": "orders", "url": "https://orders.internal:8443/v1", "retries": 3}}),
        )
        .await;
    let s = payload(&d, "createService");
    no_user_errors(s);
    let svc = &s["service"];
    assert_eq!(svc["protocol"], "HTTPS");
    assert_eq!(svc["host"], "orders.internal");
    assert_eq!(svc["port"], 8443);
    assert_eq!(svc["path"], "/v1");
    assert_eq!(svc["url"], "https://orders.internal:8443/v1");
    // Kong's defaults, typed
    assert_eq!(svc["connectTimeout"], 60000);
    assert_eq!(svc["retries"], 3);
    assert_eq!(svc["enabled"], true);
    assert_eq!(s["configVersion"], 1);
    let created = svc["createdAt"].as_str().unwrap_or("");
    assert!(
        chrono::DateTime::parse_from_rfc3339(created).is_ok(),
        "createdAt is RFC 3339: {created}"
    );
    let svc_id = svc["id"].as_str().expect("id").to_string();

    let d = p
        .ok(
            CREATE_ROUTE,
            json!({"i": {"controlPlaneId": cp, "name": "list", "service": svc_id, "paths": ["/orders"],
                   "protocols": ["HTTP", "HTTPS"], "methods": ["GET"], "stripPath": false,
                   "headers": [{"name": "x-tenant", "values": ["a", "b"]}]}}),
        )
        .await;
    let r = payload(&d, "createRoute");
    no_user_errors(r);
    assert_eq!(r["route"]["service"]["name"], "orders");
    assert_eq!(r["route"]["protocols"], json!(["HTTP", "HTTPS"]));
    assert_eq!(r["route"]["pathHandling"], "V0");
    assert_eq!(
        r["route"]["headers"],
        json!([{"name": "x-tenant", "values": ["a", "b"]}])
    );
    let route_id = r["route"]["id"].as_str().expect("id").to_string();

    // a plugin named by its typed config; absent fields take Kong's defaults
    let d = p
        .ok(
            CREATE_PLUGIN,
            json!({"i": {"controlPlaneId": cp, "service": svc_id, "config": {"keyAuth": {"keyNames": ["x-key"]}}}}),
        )
        .await;
    let pl = payload(&d, "createPlugin");
    no_user_errors(pl);
    assert_eq!(pl["plugin"]["name"], "key-auth");
    assert_eq!(pl["plugin"]["service"]["name"], "orders");
    assert_eq!(
        pl["plugin"]["config"],
        json!({"__typename": "KeyAuthConfig", "keyNames": ["x-key"], "hideCredentials": false, "keyInHeader": true})
    );
    assert_eq!(pl["plugin"]["rawConfig"]["key_names"], json!(["x-key"]));
    let plugin_id = pl["plugin"]["id"].as_str().expect("id").to_string();
    // an update merges into the stored config
    let d = p
        .ok(
            "mutation($i: UpdatePluginInput!) { updatePlugin(input: $i) { plugin { config { ... on KeyAuthConfig { keyNames hideCredentials } } } userErrors { field message } } }",
            json!({"i": {"controlPlaneId": cp, "id": plugin_id, "config": {"keyAuth": {"hideCredentials": true}}}}),
        )
        .await;
    assert_eq!(
        d["updatePlugin"]["plugin"]["config"],
        json!({"keyNames": ["x-key"], "hideCredentials": true})
    );
    // a rate-limiting plugin on the route
    let d = p
        .ok(
            CREATE_PLUGIN,
            json!({"i": {"controlPlaneId": cp, "route": route_id, "config": {"rateLimiting": {"minute": 5}}}}),
        )
        .await;
    no_user_errors(payload(&d, "createPlugin"));
    assert_eq!(
        d["createPlugin"]["plugin"]["config"],
        json!({"__typename": "RateLimitingConfig", "minute": 5.0, "policy": "local", "limitBy": "consumer"})
    );

    // a consumer with credentials (secrets are accepted, never returned)
    let d = p
        .ok(
            "mutation($i: CreateConsumerInput!) { createConsumer(input: $i) { consumer { id username } userErrors { field } } }",
            json!({"i": {"controlPlaneId": cp, "username": "ann", "tags": ["team-a"]}}),
        )
        .await;
    let consumer = d["createConsumer"]["consumer"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let d = p
        .ok(
            "mutation($i: CreateKeyAuthCredentialInput!) { createKeyAuthCredential(input: $i) { keyAuthCredential { id consumer { username } raw } userErrors { field } } }",
            json!({"i": {"controlPlaneId": cp, "consumer": consumer, "key": "ann-secret-key"}}),
        )
        .await;
    let k = &d["createKeyAuthCredential"]["keyAuthCredential"];
    assert_eq!(k["consumer"]["username"], "ann");
    assert!(!k.to_string().contains("ann-secret-key"), "{k}");
    p.ok(
        "mutation($i: CreateAclInput!) { createAcl(input: $i) { acl { group } } }",
        json!({"i": {"controlPlaneId": cp, "consumer": consumer, "group": "gold"}}),
    )
    .await;
    p.ok(
        "mutation($i: CreateJwtSecretInput!) { createJwtSecret(input: $i) { jwtSecret { key algorithm } } }",
        json!({"i": {"controlPlaneId": cp, "consumer": consumer, "key": "iss-1", "secret": "s3cret-s3cret", "algorithm": "HS256"}}),
    )
    .await;
    // an upstream with a target
    let d = p
        .ok(
            "mutation($i: CreateUpstreamInput!) { createUpstream(input: $i) { upstream { id algorithm hashOn slots healthchecks { active { type httpPath healthy { interval } } } } userErrors { field } } }",
            json!({"i": {"controlPlaneId": cp, "name": "orders.up", "algorithm": "CONSISTENT_HASHING", "hashOn": "HEADER", "hashOnHeader": "x-user"}}),
        )
        .await;
    let up = &d["createUpstream"]["upstream"];
    assert_eq!(up["algorithm"], "CONSISTENT_HASHING");
    assert_eq!(up["hashOn"], "HEADER");
    assert_eq!(up["healthchecks"]["active"]["type"], "http");
    let up_id = up["id"].as_str().expect("id").to_string();
    p.ok(
        "mutation($i: CreateTargetInput!) { createTarget(input: $i) { target { target } } }",
        json!({"i": {"controlPlaneId": cp, "upstream": up_id, "target": "10.0.0.1:8080", "weight": 50}}),
    )
    .await;

    // every relation in one request
    let d = p
        .ok(
            "query($id: ID, $route: ID!) { controlPlane(id: $id) {
                services { totalCount nodes { name routes { nodes { name paths service { name } plugins { nodes { name } } } } plugins { nodes { name } } } }
                consumers(filter: {tags: [\"team-a\"]}) { nodes { username credentials { totalCount nodes { __typename ... on Acl { group } ... on JwtSecret { key algorithm } ... on KeyAuthCredential { consumer { username } } } } } }
                upstreams { nodes { name targets { nodes { target weight upstream { name } } } } }
                entity(id: $route) { __typename id kind ... on Route { name } }
            } }",
            json!({"id": cp, "route": route_id}),
        )
        .await;
    let plane = &d["controlPlane"];
    let s0 = &plane["services"]["nodes"][0];
    assert_eq!(plane["services"]["totalCount"], 1);
    assert_eq!(s0["routes"]["nodes"][0]["service"]["name"], "orders");
    assert_eq!(
        s0["routes"]["nodes"][0]["plugins"]["nodes"],
        json!([{"name": "rate-limiting"}])
    );
    assert_eq!(s0["plugins"]["nodes"], json!([{"name": "key-auth"}]));
    let creds = &plane["consumers"]["nodes"][0]["credentials"];
    assert_eq!(creds["totalCount"], 3);
    let kinds: Vec<&str> = creds["nodes"]
        .as_array()
        .map(|a| a.iter().filter_map(|c| c["__typename"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(kinds, ["KeyAuthCredential", "Acl", "JwtSecret"]);
    assert_eq!(creds["nodes"][2]["algorithm"], "HS256");
    assert_eq!(
        plane["upstreams"]["nodes"][0]["targets"]["nodes"][0],
        json!({"target": "10.0.0.1:8080", "weight": 50, "upstream": {"name": "orders.up"}})
    );
    assert_eq!(
        plane["entity"],
        json!({"__typename": "Route", "id": route_id, "kind": "ROUTE", "name": "list"})
    );

    // deletes say what went with them
    let d = p
        .ok(
            "mutation($i: DeleteEntityInput!) { deleteConsumer(input: $i) { deletedId configVersion removed { deletes { kind } } userErrors { field } } }",
            json!({"i": {"controlPlaneId": cp, "id": consumer}}),
        )
        .await;
    let kinds: Vec<&str> = d["deleteConsumer"]["removed"]["deletes"]
        .as_array()
        .map(|a| a.iter().filter_map(|c| c["kind"].as_str()).collect())
        .unwrap_or_default();
    assert!(kinds.contains(&"CONSUMER") && kinds.contains(&"ACL"), "{d}");

    // the change stream carries the typed entity too
    let mut ws = p
        .subscribe(
            &p.token,
            "subscription($cp: ID!, $v: Int) { configChanges(controlPlaneId: $cp, sinceVersion: $v) { version changes { op kind data entity { __typename ... on Route { name paths } } } } }",
            json!({"cp": cp, "v": version(&p, &cp).await}),
        )
        .await;
    p.ok(
        CREATE_ROUTE,
        json!({"i": {"controlPlaneId": cp, "name": "detail", "service": svc_id, "paths": ["/orders/detail"]}}),
    )
    .await;
    let m = next_message(&mut ws).await;
    let ch = &m["payload"]["data"]["configChanges"]["changes"][0];
    assert_eq!(ch["op"], "UPSERT", "{m}");
    assert_eq!(ch["data"]["name"], "detail");
    assert_eq!(
        ch["entity"],
        json!({"__typename": "Route", "name": "detail", "paths": ["/orders/detail"]})
    );
}

async fn user_errors_name_the_input_field_and_change_nothing(db: Db) {
    let p = Platform::start(db).await;
    let cp = p.create_plane("errors").await;
    let d = p
        .ok(
            CREATE_SERVICE,
            json!({"i": {"controlPlaneId": cp, "name": "s", "url": "http://127.0.0.1:9"}}),
        )
        .await;
    let svc_id = d["createService"]["service"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let before = version(&p, &cp).await;

    // invalid values: every one with its path in the input; nothing changes
    let d = p
        .ok(
            CREATE_ROUTE,
            json!({"i": {"controlPlaneId": cp, "service": svc_id, "paths": ["/ok", "no-slash"], "httpsRedirectStatusCode": 399}}),
        )
        .await;
    let r = &d["createRoute"];
    assert!(r["route"].is_null() && r["configVersion"].is_null(), "{r}");
    let fields: Vec<&str> = r["userErrors"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["field"].as_str()).collect())
        .unwrap_or_default();
    assert!(fields.contains(&"input.paths[1]"), "{r}");
    assert!(fields.contains(&"input.httpsRedirectStatusCode"), "{r}");
    assert!(
        r["userErrors"]
            .as_array()
            .is_some_and(|a| a.iter().all(|e| e["code"] == "VALIDATION"))
    );
    assert_eq!(version(&p, &cp).await, before);

    // a plugin config error points into the typed config
    let d = p
        .ok(
            CREATE_PLUGIN,
            json!({"i": {"controlPlaneId": cp, "config": {"rateLimiting": {"minute": -1}}}}),
        )
        .await;
    assert_eq!(
        d["createPlugin"]["userErrors"][0]["field"], "input.config.rateLimiting.minute",
        "{d}"
    );
    let d = p
        .ok(
            CREATE_PLUGIN,
            json!({"i": {"controlPlaneId": cp, "config": {"keyAuth": {"keyNames": ["bad name"]}}}}),
        )
        .await;
    assert_eq!(
        d["createPlugin"]["userErrors"][0]["field"], "input.config.keyAuth.keyNames[0]",
        "{d}"
    );
    // exactly one plugin per config (@oneOf)
    let r = p
        .gql(
            CREATE_PLUGIN,
            json!({"i": {"controlPlaneId": cp, "config": {"keyAuth": {}, "cors": {}}}}),
        )
        .await;
    assert!(r.get("errors").is_some(), "{r}");
    // a reference to nothing
    let d = p
        .ok(
            CREATE_ROUTE,
            json!({"i": {"controlPlaneId": cp, "service": "00000000-0000-4000-8000-000000000001", "paths": ["/x"]}}),
        )
        .await;
    assert_eq!(
        d["createRoute"]["userErrors"][0]["field"], "input.service",
        "{d}"
    );
    // a duplicate name is a conflict
    let d = p
        .ok(
            CREATE_SERVICE,
            json!({"i": {"controlPlaneId": cp, "name": "s", "url": "http://127.0.0.1:9"}}),
        )
        .await;
    assert_eq!(
        d["createService"]["userErrors"][0]["code"], "CONFLICT",
        "{d}"
    );
    assert_eq!(d["createService"]["userErrors"][0]["field"], "input.name");
    // an id of another kind, or of nothing, is not found
    let d = p
        .ok(
            "mutation($i: UpdateRouteInput!) { updateRoute(input: $i) { route { id } userErrors { field code } } }",
            json!({"i": {"controlPlaneId": cp, "id": svc_id, "paths": ["/y"]}}),
        )
        .await;
    assert_eq!(
        d["updateRoute"]["userErrors"],
        json!([{"field": "input.id", "code": "NOT_FOUND"}])
    );
    // a service that routes still use is not deleted
    p.ok(
        CREATE_ROUTE,
        json!({"i": {"controlPlaneId": cp, "service": svc_id, "paths": ["/in-use"]}}),
    )
    .await;
    let v = version(&p, &cp).await;
    let d = p
        .ok(
            "mutation($i: DeleteEntityInput!) { deleteService(input: $i) { deletedId userErrors { code message } } }",
            json!({"i": {"controlPlaneId": cp, "id": svc_id}}),
        )
        .await;
    assert!(d["deleteService"]["deletedId"].is_null(), "{d}");
    assert_eq!(d["deleteService"]["userErrors"][0]["code"], "VALIDATION");
    assert_eq!(version(&p, &cp).await, v);
    // an update changes only what it names
    let d = p
        .ok(
            "mutation($i: UpdateServiceInput!) { updateService(input: $i) { service { name port readTimeout } userErrors { field } } }",
            json!({"i": {"controlPlaneId": cp, "id": svc_id, "readTimeout": 5000}}),
        )
        .await;
    assert_eq!(
        d["updateService"]["service"],
        json!({"name": "s", "port": 9, "readTimeout": 5000})
    );
    // without a token: a top-level error, not a user error
    let (st, _) = p
        .gql_with(
            None,
            CREATE_SERVICE,
            json!({"i": {"controlPlaneId": cp, "name": "t", "url": "http://127.0.0.1:9"}}),
        )
        .await;
    assert_eq!(st, 401);
}

/// Names of a connection page, and its page info.
fn names(conn: &Value) -> (Vec<String>, Value) {
    let names = conn["edges"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e["node"]["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    (names, conn["pageInfo"].clone())
}

async fn paging_both_ways_while_routes_change(db: Db) {
    let p = Platform::start(db).await;
    let cp = p.create_plane("paging").await;
    let routes: Vec<Value> = (0..250)
        .map(|i| json!({"name": format!("r{i:03}"), "paths": [format!("/r{i:03}")]}))
        .collect();
    p.ok(
        "mutation($i: ApplyConfigInput!) { applyConfig(input: $i) { configVersion } }",
        json!({"i": {"controlPlane": cp, "document": {"_format_version": "3.0",
            "services": [{"name": "s", "url": "http://127.0.0.1:9", "routes": routes}]}}}),
    )
    .await;
    let svc_id = p
        .ok(
            "query($id: ID) { controlPlane(id: $id) { services { nodes { id } } } }",
            json!({"id": cp}),
        )
        .await["controlPlane"]["services"]["nodes"][0]["id"]
        .as_str()
        .expect("service")
        .to_string();
    let page_q = "query($id: ID, $first: Int, $after: String, $last: Int, $before: String) { controlPlane(id: $id) { routes(first: $first, after: $after, last: $last, before: $before) { totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { name } } } } }";

    // forward, 100 at a time, adding two routes and removing one between pages
    let mut seen = Vec::new();
    let mut after = Value::Null;
    let mut pages = 0;
    loop {
        let d = p
            .ok(page_q, json!({"id": cp, "first": 100, "after": after}))
            .await;
        let conn = &d["controlPlane"]["routes"];
        let (n, info) = names(conn);
        assert!(n.len() <= 100);
        seen.extend(n);
        pages += 1;
        if pages == 1 {
            assert_eq!(conn["totalCount"], 250);
            assert_eq!(info["hasPreviousPage"], false);
            for name in ["added-1", "added-2"] {
                p.ok(
                    CREATE_ROUTE,
                    json!({"i": {"controlPlaneId": cp, "name": name, "service": svc_id, "paths": [format!("/{name}")]}}),
                )
                .await;
            }
            // r150 is on a later page: it goes, nothing else moves
            let id = p
                .ok(
                    "query($id: ID) { controlPlane(id: $id) { routes(filter: {name: \"r150\"}) { nodes { id } } } }",
                    json!({"id": cp}),
                )
                .await["controlPlane"]["routes"]["nodes"][0]["id"]
                .clone();
            p.ok(
                "mutation($i: DeleteEntityInput!) { deleteRoute(input: $i) { deletedId } }",
                json!({"i": {"controlPlaneId": cp, "id": id}}),
            )
            .await;
        }
        if info["hasNextPage"] != true {
            break;
        }
        assert_eq!(info["endCursor"], conn["edges"][99]["cursor"]);
        after = info["endCursor"].clone();
    }
    let mut want: Vec<String> = (0..250)
        .filter(|i| *i != 150)
        .map(|i| format!("r{i:03}"))
        .collect();
    want.extend(["added-1".to_string(), "added-2".to_string()]);
    assert_eq!(seen, want, "every route once, in creation order");
    assert_eq!(pages, 3);

    // backward from the end, 100 at a time, adding one more between pages
    let mut back = Vec::new();
    let mut before = Value::Null;
    let mut first_page = true;
    loop {
        let d = p
            .ok(page_q, json!({"id": cp, "last": 100, "before": before}))
            .await;
        let conn = &d["controlPlane"]["routes"];
        let (mut n, info) = names(conn);
        if first_page {
            assert_eq!(info["hasNextPage"], false);
            p.ok(
                CREATE_ROUTE,
                json!({"i": {"controlPlaneId": cp, "name": "added-3", "service": svc_id, "paths": ["/added-3"]}}),
            )
            .await;
            first_page = false;
        }
        n.reverse();
        back.extend(n);
        if info["hasPreviousPage"] != true {
            break;
        }
        before = info["startCursor"].clone();
    }
    back.reverse();
    assert_eq!(back, want, "the same list, read from the end");
    // a cursor from another list is refused with its argument
    let r = p
        .gql(page_q, json!({"id": cp, "first": 10, "after": "bm9wZQ"}))
        .await;
    assert_eq!(r["errors"][0]["extensions"]["field"], "after", "{r}");
    let r = p.gql(page_q, json!({"id": cp, "first": 1001})).await;
    assert_eq!(r["errors"][0]["extensions"]["field"], "first", "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_apps_on_allowed_origins_may_call_the_api() {
    let p = Platform::start_args(
        Db::Sqlite,
        &[
            "--cors-allowed-origins",
            "https://console.example.com,http://localhost:5173",
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let preflight = |origin: &'static str| {
        client
            .request(reqwest::Method::OPTIONS, p.url("/graphql"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };
    let r = preflight("https://console.example.com")
        .await
        .expect("answer");
    assert_eq!(r.status(), 204);
    let h = r.headers();
    assert_eq!(
        h["access-control-allow-origin"],
        "https://console.example.com"
    );
    assert!(
        h["access-control-allow-headers"]
            .to_str()
            .unwrap_or("")
            .contains("authorization")
    );
    assert!(h.get("access-control-allow-credentials").is_none());
    let r = preflight("https://evil.example.net").await.expect("answer");
    assert_eq!(r.status(), 403);
    assert!(r.headers().get("access-control-allow-origin").is_none());
    // the request itself carries the origin back, for allowed origins only
    let post = |origin: &'static str| {
        client
            .post(p.url("/graphql"))
            .header("origin", origin)
            .bearer_auth(&p.token)
            .json(&json!({"query": "{ controlPlanes { totalCount } }"}))
            .send()
    };
    let r = post("http://localhost:5173").await.expect("answer");
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "http://localhost:5173"
    );
    let r = post("https://evil.example.net").await.expect("answer");
    assert!(r.headers().get("access-control-allow-origin").is_none());

    // nothing is allowed by default
    let q = Platform::start(Db::Sqlite).await;
    let r = client
        .request(reqwest::Method::OPTIONS, q.url("/graphql"))
        .header("origin", "https://console.example.com")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), 403);
    // and a bad origin in the flag is a clear start-up error
    let out = std::process::Command::new(integration::platform::portico_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(q.dir.join("other"))
        .args(["--cors-allowed-origins", "console.example.com/app"])
        .output()
        .expect("portico runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--cors-allowed-origins"), "{err}");
}

//! The platform as an attacker would try it, through the real server and nodes:
//! roles hold for nested input, nothing a node cannot load is accepted (and a
//! node that refuses a config says why), one request cannot take the memory,
//! access ends everywhere at once, tenants are isolated on the cluster endpoint,
//! secrets are hashed or sealed at rest and write-only, files are private, the
//! API is safe by default, logs cannot be flooded, and the smaller findings.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use integration::platform::{Db, Platform, TEST_SECRET_KEY};
use integration::{EchoServer, Gateway, client, eventually, free_port, make_temp_dir};
use serde_json::{Value, json};

fn code(r: &Value) -> &str {
    r["errors"][0]["extensions"]["code"].as_str().unwrap_or("")
}

fn field(r: &Value) -> &str {
    r["errors"][0]["extensions"]["field"].as_str().unwrap_or("")
}

fn id_of(r: &Value) -> String {
    r["data"]["createEntity"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("created: {r}"))
        .to_string()
}

const APPLY: &str = "mutation($i: ApplyConfigInput!) { applyConfig(input: $i) { configVersion plan { creates { kind name } } } }";

/// A self-signed certificate and its key (PEM) for `name`, with an ECDSA key.
fn self_signed(name: &str) -> (String, String) {
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec![name.to_string()])
        .expect("params")
        .self_signed(&key)
        .expect("cert");
    (cert.pem(), key.serialize_pem())
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

// 1 -------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_entities_are_refused_as_fields_and_authorized_by_their_own_kind() {
    let p = Platform::start(Db::Sqlite).await;
    let cp = p.create_plane("nested").await;
    // decK's nesting keys are not fields of the kind: refused at their path,
    // nothing stored
    let r = p
        .create(
            &cp,
            "SERVICE",
            json!({"name": "s", "url": "http://127.0.0.1:9", "plugins": [{"name": "request-termination"}]}),
        )
        .await;
    assert_eq!(code(&r), "VALIDATION", "{r}");
    assert_eq!(field(&r), "input.data.plugins", "{r}");
    let r = p
        .create(
            &cp,
            "CONSUMER",
            json!({"username": "c", "keyauth_credentials": [{"key": "nested-secret"}]}),
        )
        .await;
    assert_eq!(code(&r), "VALIDATION", "{r}");
    assert_eq!(field(&r), "input.data.keyauth_credentials", "{r}");
    assert_eq!(p.version(&cp).await, 0);
    let svc = id_of(
        &p.create(
            &cp,
            "SERVICE",
            json!({"name": "s", "url": "http://127.0.0.1:9"}),
        )
        .await,
    );
    let r = p
        .gql(
            "mutation($i: UpdateEntityInput!) { updateEntity(input: $i) { id } }",
            json!({"i": {"controlPlaneId": cp, "id": svc, "data": {"routes": [{"paths": ["/x"]}]}}}),
        )
        .await;
    assert_eq!(field(&r), "input.data.routes", "{r}");

    // a Gateway Service Admin cannot add a plugin through applyConfig nesting
    let d = p
        .ok(
            "mutation { createTeam(input: {name: \"svc-admins\"}) { id } }",
            json!({}),
        )
        .await;
    let team = d["createTeam"]["id"].as_str().expect("team").to_string();
    p.ok(
        "mutation($i: TeamRoleInput!) { assignTeamRole(input: $i) { id } }",
        json!({"i": {"teamId": team, "resourceType": "CONTROL_PLANES", "role": "GATEWAY_SERVICE_ADMIN", "scope": cp}}),
    )
    .await;
    let (_, svc_admin) = p.user_in("svc@example.com", &[team]).await;
    let before = p.version(&cp).await;
    let doc = json!({"_format_version": "3.0", "services": [{"name": "s", "url": "http://127.0.0.1:9",
        "routes": [{"name": "r", "paths": ["/x"], "plugins": [{"name": "request-termination", "config": {"status_code": 503}}]}]}]});
    let (_, r) = p
        .gql_with(
            Some(&svc_admin),
            APPLY,
            json!({"i": {"controlPlane": cp, "document": doc}}),
        )
        .await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    assert!(
        r["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("plugins"),
        "{r}"
    );
    assert_eq!(p.version(&cp).await, before, "nothing applied");
    // without the plugin, their own kinds apply
    let doc = json!({"_format_version": "3.0", "services": [{"name": "s", "url": "http://127.0.0.1:9",
        "routes": [{"name": "r", "paths": ["/x"]}]}]});
    let (_, r) = p
        .gql_with(
            Some(&svc_admin),
            APPLY,
            json!({"i": {"controlPlane": cp, "document": doc}}),
        )
        .await;
    assert!(r.get("errors").is_none(), "{r}");

    // an admin's nested plugins and credentials are their own entities: listed
    // under their kind, and their secrets never shown
    let doc = json!({"_format_version": "3.0",
        "services": [{"name": "s", "url": "http://127.0.0.1:9", "routes": [{"name": "r", "paths": ["/x"],
            "plugins": [{"name": "request-termination", "config": {"status_code": 503}}]}]}],
        "consumers": [{"username": "c", "keyauth_credentials": [{"key": "nested-secret"}]}]});
    p.ok(APPLY, json!({"i": {"controlPlane": cp, "document": doc}}))
        .await;
    let d = p
        .ok(
            "query($id: ID) { controlPlane(id: $id) { p: entities(kind: PLUGIN) { totalCount nodes { name } } k: entities(kind: KEY_AUTH_CREDENTIAL) { nodes { data } } c: entities(kind: CONSUMER) { nodes { data } } } }",
            json!({"id": cp}),
        )
        .await;
    let plane = &d["controlPlane"];
    assert_eq!(plane["p"]["totalCount"], 1, "{d}");
    assert_eq!(plane["p"]["nodes"][0]["name"], "request-termination");
    assert!(!d.to_string().contains("nested-secret"), "{d}");
    assert!(
        plane["c"]["nodes"][0]["data"]
            .get("keyauth_credentials")
            .is_none()
    );
}

// 2 -------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_a_node_could_not_load_are_refused() {
    let p = Platform::start(Db::Sqlite).await;
    let cp = p.create_plane("certs").await;
    let (cert, key) = self_signed("a.example.com");
    let (_, other_key) = self_signed("b.example.com");
    let garbage = "-----BEGIN CERTIFICATE-----\nTUlJQkl6Q0J5cUFEQWdFQ0FnRUJNQW9HQ0NxR1NNNDlCQU1DTUJJeEVEQU8=\n-----END CERTIFICATE-----\n";
    let r = p
        .create(&cp, "CERTIFICATE", json!({"cert": garbage, "key": key}))
        .await;
    assert_eq!(code(&r), "VALIDATION", "{r}");
    assert_eq!(field(&r), "input.data.cert", "{r}");
    let r = p
        .create(&cp, "CERTIFICATE", json!({"cert": cert, "key": other_key}))
        .await;
    assert_eq!(field(&r), "input.data.key", "{r}");
    assert!(
        r["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("certificate does not match key"),
        "{r}"
    );
    // a cert_alt must be of another key type
    let (cert2, key2) = self_signed("a.example.com");
    let r = p
        .create(
            &cp,
            "CERTIFICATE",
            json!({"cert": cert, "key": key, "cert_alt": cert2, "key_alt": key2}),
        )
        .await;
    assert_eq!(field(&r), "input.data.cert_alt", "{r}");
    // a leaf is not a CA
    let r = p.create(&cp, "CA_CERTIFICATE", json!({"cert": cert})).await;
    assert_eq!(field(&r), "input.data.cert", "{r}");
    assert!(
        r["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("\"CA\" basic constraint"),
        "{r}"
    );
    assert_eq!(p.version(&cp).await, 0, "nothing was accepted");
    // the good pair is
    let r = p
        .create(&cp, "CERTIFICATE", json!({"cert": cert, "key": key}))
        .await;
    assert!(r.get("errors").is_none(), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_refuses_a_config_is_incompatible_with_the_reason_and_keeps_serving() {
    let p = Platform::start(Db::Sqlite).await;
    let up = EchoServer::start("up").await;
    let cp = p.create_plane("picky").await;
    let svc = id_of(
        &p.create(&cp, "SERVICE", json!({"name": "s", "url": up.url()}))
            .await,
    );
    p.create(
        &cp,
        "ROUTE",
        json!({"name": "r", "paths": ["/ok"], "service": {"id": svc}}),
    )
    .await;
    let dir = make_temp_dir("portico-node");
    let creds = p.node_creds(&cp, "picky", &dir).await;
    let mut args = p.node_args(&creds, &dir.join("cache"));
    // a node that runs key-auth only (Kong's `plugins` setting)
    args.extend(["--plugins".to_string(), "key-auth".to_string()]);
    let gw = Gateway::start_args(None, &args).await;
    let ok = gw.url("/ok");
    eventually("the route on the node", || async {
        client()
            .get(&ok)
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
    // valid for the platform; this node does not run cors
    let r = p
        .create(
            &cp,
            "PLUGIN",
            json!({"name": "cors", "service": {"id": svc}}),
        )
        .await;
    let plugin = id_of(&r);
    eventually("the node listed as incompatible", || async {
        p.nodes(&cp).await[0]["status"] == "INCOMPATIBLE"
    })
    .await;
    let reason = p.nodes(&cp).await[0]["reason"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(reason.contains("cors"), "{reason}");
    assert!(reason.contains("refused config version"), "{reason}");
    // the old config keeps serving
    let r = client().get(&ok).send().await.expect("answer");
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("access-control-allow-origin").is_none());
    // without the plugin it follows again (later deltas apply on top)
    p.ok(
        "mutation($i: DeleteEntityInput!) { deleteEntity(input: $i) { id } }",
        json!({"i": {"controlPlaneId": cp, "id": plugin}}),
    )
    .await;
    eventually("the node back in sync", || async {
        p.nodes(&cp).await[0]["status"] == "IN_SYNC"
    })
    .await;
}

// 3 -------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_cannot_take_the_platforms_memory() {
    let p = Platform::start_args(Db::Sqlite, &["--max-request-items", "1000"]).await;
    let cp = p.create_plane("big").await;
    let consumers: Vec<Value> = (0..600)
        .map(|i| json!({"username": format!("c{i}")}))
        .collect();
    p.ok(
        APPLY,
        json!({"i": {"controlPlane": cp, "document": {"_format_version": "3.0", "consumers": consumers}}}),
    )
    .await;
    let ro_team = p.team_id("Organization Admin (Read Only)").await;
    let (_, ro) = p.user_in("ro@example.com", &[ro_team]).await;
    // a hundred aliases of the largest answer are refused before anything runs
    let aliases: String = (0..100)
        .map(|i| format!("a{i}: controlPlaneConfig(id: \"{cp}\") {{ version }} "))
        .collect();
    let (status, r) = p
        .gql_with(Some(&ro), &format!("{{ {aliases} }}"), json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(code(&r), "VALIDATION", "{r}");
    assert!(
        r["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("controlPlaneConfig"),
        "{r}"
    );
    // the cost grows with the plane: two documents of 600 entities are over 1000
    let q = format!(
        "{{ a: controlPlaneConfig(id: \"{cp}\") {{ version }} b: controlPlaneConfig(id: \"{cp}\") {{ version }} }}"
    );
    let (_, r) = p.gql_with(Some(&ro), &q, json!({})).await;
    assert_eq!(code(&r), "VALIDATION", "{r}");
    assert!(
        r["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("1000 items"),
        "{r}"
    );
    let (_, r) = p
        .gql_with(
            Some(&ro),
            &format!("{{ controlPlaneConfig(id: \"{cp}\") {{ version }} }}"),
            json!({}),
        )
        .await;
    assert!(r.get("errors").is_none(), "one is fine: {r}");
    // so does a page: `first` is charged by what it returns
    let q = "query($id: ID) { controlPlane(id: $id) { a: entities(first: 600) { totalCount } b: entities(first: 600) { totalCount } } }";
    let (_, r) = p.gql_with(Some(&ro), q, json!({"id": cp})).await;
    assert_eq!(code(&r), "VALIDATION", "{r}");

    // bodies: small before a token, bounded after; 413 with a JSON body
    let http = client();
    let big = "x".repeat(64 * 1024);
    let r = http
        .post(p.url("/graphql"))
        .header("content-type", "application/json")
        .body(json!({"query": "{ __typename }", "variables": {"pad": big}}).to_string())
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), 413);
    let b: Value = r.json().await.expect("a JSON body");
    assert_eq!(b["errors"][0]["extensions"]["code"], "VALIDATION");
    let huge = "x".repeat(17 * 1024 * 1024);
    let r = http
        .post(p.url("/graphql"))
        .bearer_auth(&p.token)
        .header("content-type", "application/json")
        .body(json!({"query": "{ __typename }", "variables": {"pad": huge}}).to_string())
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), 413);
    // a body streamed without a length is cut off at the limit too
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(p.addr)
            .await
            .expect("connect");
        s.write_all(b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
            .await
            .expect("write");
        let chunk = format!("400\r\n{}\r\n", " ".repeat(1024));
        for _ in 0..40 {
            if s.write_all(chunk.as_bytes()).await.is_err() {
                break; // the server stopped reading: it has answered
            }
        }
        let _ = s.write_all(b"0\r\n\r\n").await;
        let mut buf = vec![0u8; 4096];
        let n = tokio::time::timeout(std::time::Duration::from_secs(30), s.read(&mut buf))
            .await
            .expect("an answer in time")
            .expect("read");
        let head = String::from_utf8_lossy(&buf[..n]);
        assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let p = Platform::start(Db::Sqlite).await;
    let mut s = tokio::net::TcpStream::connect(p.addr)
        .await
        .expect("connect");
    s.write_all(b"POST /graphql HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    // the server closes the connection once the header read timeout passes
    let mut buf = [0u8; 1024];
    let n = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        let mut total = 0;
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return total,
                Ok(n) => total += n,
            }
        }
    })
    .await
    .expect("the server closed the connection");
    // hyper answers 408 or just closes; either way nothing was processed
    let _ = n;
}

// 4 -------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deactivating_a_user_ends_their_open_subscriptions() {
    let p = Platform::start(Db::Sqlite).await;
    let cp = p.create_plane("watched").await;
    let ro_team = p.team_id("Organization Admin (Read Only)").await;
    let (uid, session) = p.user_in("watcher@example.com", &[ro_team]).await;
    let mut ws = p
        .subscribe(
            &session,
            "subscription($cp: ID!) { configChanges(controlPlaneId: $cp) { version } }",
            json!({"cp": cp}),
        )
        .await;
    p.create(&cp, "CONSUMER", json!({"username": "u1"})).await;
    let m = integration::platform::next_message(&mut ws).await;
    assert_eq!(m["type"], "next", "{m}");
    // the token is still valid; the user is not
    p.ok(
        "mutation($i: SetUserActiveInput!) { setUserActive(input: $i) { active } }",
        json!({"i": {"userId": uid, "active": false}}),
    )
    .await;
    let m = integration::platform::next_message(&mut ws).await;
    assert_eq!(m["type"], "complete", "the stream ended: {m}");
}

// 5 -------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_id_belongs_to_its_plane_and_cannot_be_taken_over() {
    let p = Platform::start(Db::Sqlite).await;
    let a = p.create_plane("tenant-a").await;
    let b = p.create_plane("tenant-b").await;
    let dir = make_temp_dir("portico-node");
    let a1 = p.node_creds(&a, "a1", &dir.join("a1")).await;
    let a2 = p.node_creds(&a, "a2", &dir.join("a2")).await;
    let b1 = p.node_creds(&b, "b1", &dir.join("b1")).await;
    let node = format!("00000000-0000-4000-8000-{:012}", free_port());
    let _a_conn = p
        .raw_node(&a1, env!("CARGO_PKG_VERSION"), &node)
        .await
        .expect("A's node connects");
    let list = p.nodes(&a).await;
    let since = list[0]["connectedSince"].clone();
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    // plane B's certificate with A's node id: B's own node, A's is untouched
    let _b_conn = p
        .raw_node(&b1, env!("CARGO_PKG_VERSION"), &node)
        .await
        .expect("B's node connects");
    assert_eq!(p.nodes(&b).await.as_array().map(Vec::len), Some(1));
    // another certificate of plane A cannot take over a connected node id
    let r = p.raw_node(&a2, env!("CARGO_PKG_VERSION"), &node).await;
    assert!(r.is_err(), "refused");
    let list = p.nodes(&a).await;
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_ne!(list[0]["status"], "DISCONNECTED", "{list}");
    assert_eq!(list[0]["connectedSince"], since, "not reconnected: {list}");
}

// 6 -------------------------------------------------------------------------

/// Every byte of the platform's SQLite files (database, WAL).
fn database_bytes(p: &Platform) -> Vec<u8> {
    let mut all = Vec::new();
    for f in ["portico.db", "portico.db-wal"] {
        if let Ok(b) = std::fs::read(p.dir.join("data").join(f)) {
            all.extend(b);
        }
    }
    all
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_hashed_or_sealed_at_rest_and_write_only() {
    let p = Platform::start(Db::Sqlite).await;
    let up = EchoServer::start("up").await;
    let cp = p.create_plane("secrets").await;
    let (cert, key) = self_signed("secret.example.com");
    let doc = json!({"_format_version": "3.0",
        "services": [{"name": "s", "url": up.url(), "routes": [
            {"name": "k", "paths": ["/k"], "plugins": [{"name": "key-auth"}]},
            {"name": "b", "paths": ["/b"], "plugins": [{"name": "basic-auth"}]}]}],
        "consumers": [{"username": "alice",
            "keyauth_credentials": [{"key": "key-auth-secret-1"}],
            "basicauth_credentials": [{"username": "alice", "password": "basic-secret-2"}],
            "jwt_secrets": [{"key": "alice-iss", "secret": "jwt-hmac-secret-3"}]}],
        "certificates": [{"cert": cert, "key": key, "snis": ["secret.example.com"]}],
        "plugins": [
            {"name": "rate-limiting", "route": "k", "config": {"minute": 100, "policy": "redis", "redis": {"host": "127.0.0.1", "password": "redis-secret-4"}}},
            {"name": "http-log", "route": "b", "config": {"http_endpoint": "http://user:http-log-secret-5@127.0.0.1:9/", "headers": {"X-Token": "http-header-secret-6"}}}]});
    p.ok(APPLY, json!({"i": {"controlPlane": cp, "document": doc}}))
        .await;
    let secrets = [
        "key-auth-secret-1",
        "basic-secret-2",
        "jwt-hmac-secret-3",
        "redis-secret-4",
        "http-log-secret-5",
        "http-header-secret-6",
        "PRIVATE KEY",
    ];
    // readers: entities, the document, and a change stream never show them
    let d = p
        .ok(
            "query($id: ID!) { controlPlaneConfig(id: $id) { document } controlPlane(id: $id) { entities(first: 100) { nodes { data } } } }",
            json!({"id": cp}),
        )
        .await;
    for s in secrets {
        assert!(!d.to_string().contains(s), "{s} readable: {d}");
    }
    assert!(!d.to_string().contains("key_sha256"), "{d}");
    // the database, the change log included, holds none of them in clear
    let db = database_bytes(&p);
    assert!(!db.is_empty());
    for s in secrets {
        assert!(!contains(&db, s), "{s} in the database in clear");
    }
    // a node gets what it needs and caches hashes of the credentials
    let dir = make_temp_dir("portico-node");
    let creds = p.node_creds(&cp, "n", &dir).await;
    let cache = dir.join("cache");
    let gw = Gateway::start_args(None, &p.node_args(&creds, &cache)).await;
    let k = gw.url("/k");
    eventually("key-auth with the key works on the node", || async {
        client()
            .get(&k)
            .header("apikey", "key-auth-secret-1")
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
    let r = client()
        .get(gw.url("/b"))
        .basic_auth("alice", Some("basic-secret-2"))
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), 200, "basic-auth against the stored hash");
    let cached = std::fs::read_to_string(cache.join("config-cache.json")).expect("cache");
    assert!(!cached.contains("key-auth-secret-1"));
    assert!(!cached.contains("basic-secret-2"));
    assert!(cached.contains("key_sha256"));

    // a dump leaves them out; applying it back keeps them (nothing changes)
    let before = p.plane(&cp).await;
    let out = dir.join("dump.yaml");
    let o = p.cli(&[
        "dump",
        "--control-plane",
        "secrets",
        "-o",
        out.to_str().expect("path"),
    ]);
    assert!(o.status.success(), "{o:?}");
    let dumped = std::fs::read_to_string(&out).expect("dump");
    for s in secrets {
        assert!(!dumped.contains(s), "{s} dumped");
    }
    let o = p.cli(&[
        "apply",
        "-f",
        out.to_str().expect("path"),
        "--control-plane",
        "secrets",
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{o:?}");
    assert!(text.contains("Updated: 0"), "{text}");
    assert_eq!(p.plane(&cp).await, before, "same version and hash");

    // another key cannot open them: the platform refuses to start with it
    let o = std::process::Command::new(integration::platform::portico_bin())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--cluster-listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(p.dir.join("data"))
        .env(
            "PORTICO_SECRET_KEY",
            "b3RoZXItdGVzdC1zZWNyZXQta2V5LTMyLWJ5dGVzLSE=",
        )
        .output()
        .expect("run");
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("secret key"), "{err}");
    assert_ne!(
        TEST_SECRET_KEY,
        "b3RoZXItdGVzdC1zZWNyZXQta2V5LTMyLWJ5dGVzLSE="
    );
}

// 7 -------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_are_private_whatever_the_umask() {
    // no secret key given: the platform makes its own key file
    let p = Platform::start_permissive(Db::Sqlite, &[], &[("PORTICO_SECRET_KEY", "")]).await;
    let data = p.dir.join("data");
    let cp = p.create_plane("files").await;
    p.create(&cp, "CONSUMER", json!({"username": "u"})).await;
    assert_eq!(mode(&data), 0o700);
    for f in [
        "portico.db",
        "portico.db-wal",
        "secret.key",
        "owner-password",
    ] {
        assert_eq!(mode(&data.join(f)), 0o600, "{f}");
    }
    let pw = std::fs::read_to_string(data.join("owner-password")).expect("password file");
    assert!(pw.len() >= 12);
    assert!(!p.log().contains(pw.trim()), "the password is not logged");
    // a dump is private too, whatever the umask
    let out = p.dir.join("dump.yaml");
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg("umask 000 && exec \"$0\" \"$@\"")
        .arg(integration::platform::portico_bin())
        .args(["dump", "--control-plane", "files", "-o"])
        .arg(&out)
        .env("PORTICO_URL", p.url(""))
        .env("PORTICO_TOKEN", &p.token)
        .output()
        .expect("run");
    assert!(o.status.success(), "{o:?}");
    assert_eq!(mode(&out), 0o600);
    // a node's cache directory and file
    let up = EchoServer::start("up").await;
    p.create(&cp, "SERVICE", json!({"name": "s", "url": up.url()}))
        .await;
    let dir = make_temp_dir("portico-node");
    let creds = p.node_creds(&cp, "n", &dir).await;
    let cache = dir.join("cache");
    let _gw = Gateway::start_args(None, &p.node_args(&creds, &cache)).await;
    let file = cache.join("config-cache.json");
    eventually("the node's cache", || async { file.exists() }).await;
    assert_eq!(mode(&cache), 0o700);
    assert_eq!(mode(&file), 0o600);
}

// 8 -------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_is_private_by_default_and_serves_https() {
    // defaults: loopback for serve and up
    for cmd in ["serve", "up"] {
        let o = std::process::Command::new(integration::platform::portico_bin())
            .args([cmd, "--help"])
            .output()
            .expect("help");
        let help = String::from_utf8_lossy(&o.stdout);
        assert!(help.contains("[default: 127.0.0.1:8080]"), "{cmd}: {help}");
        // the cluster endpoint is mutual TLS and meant for nodes elsewhere; the
        // API (and up's proxy) are not public unless asked
        assert!(!help.contains("0.0.0.0:8080"), "{cmd}: {help}");
        assert!(!help.contains("0.0.0.0:8000"), "{cmd}: {help}");
    }
    // a public address without TLS is warned about
    let p = Platform::start_in(
        Db::Sqlite,
        make_temp_dir("portico-platform"),
        "0.0.0.0:0",
        "127.0.0.1:0",
        None,
    )
    .await;
    assert!(p.log().contains("without TLS"), "{}", p.log());
    drop(p);
    // HTTPS with --tls-cert/--tls-key
    let (cert, key) = self_signed("localhost");
    let dir = make_temp_dir("portico-tls");
    std::fs::write(dir.join("api.crt"), &cert).expect("write");
    std::fs::write(dir.join("api.key"), &key).expect("write");
    let (c, k) = (
        dir.join("api.crt").display().to_string(),
        dir.join("api.key").display().to_string(),
    );
    let p = Platform::start_args(Db::Sqlite, &["--tls-cert", &c, "--tls-key", &k]).await;
    let root = reqwest::Certificate::from_pem(cert.as_bytes()).expect("cert");
    let https = reqwest::Client::builder()
        .tls_certs_only([root])
        .build()
        .expect("client");
    let r = https
        .post(format!("https://localhost:{}/graphql", p.addr.port()))
        .bearer_auth(&p.token)
        .json(&json!({"query": "{ me { email } }"}))
        .send()
        .await
        .expect("HTTPS answers");
    assert_eq!(r.status(), 200);
    let b: Value = r.json().await.expect("json");
    assert_eq!(b["data"]["me"]["email"], "admin@localhost", "{b}");
    // plain HTTP gets no GraphQL answer on the TLS port
    let plain = client().get(p.url("/health")).send().await;
    assert!(plain.map(|r| r.status() != 200).unwrap_or(true));
}

// 9 -------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_audits_and_inputs_are_bounded() {
    let p = Platform::start(Db::Sqlite).await;
    let login = "mutation($i: LoginInput!) { login(input: $i) { token } }";
    let long = format!("{}@example.com", "a".repeat(10_000));
    p.gql_with(
        None,
        login,
        json!({"i": {"email": long, "password": "nope nope nope"}}),
    )
    .await;
    // thirty failures for one account: five are logged, the refusals aggregated
    for _ in 0..30 {
        p.gql_with(
            None,
            login,
            json!({"i": {"email": "victim@example.com", "password": "wrong wrong wrong"}}),
        )
        .await;
    }
    let d = p
        .ok(
            "{ auditLog(first: 1000) { nodes { actor action result detail } } }",
            json!({}),
        )
        .await;
    let rows = d["auditLog"]["nodes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        rows.iter()
            .all(|r| r["actor"].as_str().unwrap_or("").chars().count() <= 254)
    );
    let victim: Vec<&Value> = rows
        .iter()
        .filter(|r| r["actor"] == "victim@example.com")
        .collect();
    let failed = victim
        .iter()
        .filter(|r| r["result"] == "UNAUTHENTICATED")
        .count();
    let denied: Vec<&&Value> = victim.iter().filter(|r| r["result"] == "DENIED").collect();
    assert_eq!(failed, 5, "{victim:?}");
    assert_eq!(denied.len(), 1, "refusals aggregated: {victim:?}");

    // strings are bounded and tags follow Kong's rules
    let cp = p.create_plane("bounded").await;
    let r = p
        .create(
            &cp,
            "SERVICE",
            json!({"name": "s", "url": "http://127.0.0.1:9", "tags": ["ok", "bell\u{7}"]}),
        )
        .await;
    assert_eq!(code(&r), "VALIDATION", "{r}");
    assert_eq!(field(&r), "input.data.tags[1]", "{r}");
    let r = p
        .create(
            &cp,
            "SERVICE",
            json!({"name": "s", "url": "http://127.0.0.1:9", "tags": ["x".repeat(200)]}),
        )
        .await;
    assert_eq!(field(&r), "input.data.tags[0]", "{r}");
    let r = p
        .create(
            &cp,
            "PLUGIN",
            json!({"name": "request-termination", "config": {"body": "x".repeat(300 * 1024)}}),
        )
        .await;
    assert_eq!(field(&r), "input.data.config.body", "{r}");
    let r = p
        .gql(
            "mutation($i: CreateControlPlaneInput!) { createControlPlane(input: $i) { id } }",
            json!({"i": {"name": "labelled", "labels": {"env": "x".repeat(64)}}}),
        )
        .await;
    assert_eq!(field(&r), "input.labels.env", "{r}");
    let r = p
        .gql(
            "mutation($i: CreateTeamInput!) { createTeam(input: $i) { id } }",
            json!({"i": {"name": "t".repeat(500)}}),
        )
        .await;
    assert_eq!(field(&r), "input.name", "{r}");
}

// 10 ------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_smaller_findings() {
    let p = Platform::start(Db::Sqlite).await;
    let cp = p.create_plane("small").await;
    // node certificates are valid for a year, not until 4096
    let d = p
        .ok(
            "mutation($i: CreateDataPlaneCertificateInput!) { createDataPlaneCertificate(input: $i) { expiresAt } }",
            json!({"i": {"controlPlaneId": cp, "name": "n"}}),
        )
        .await;
    let exp = d["createDataPlaneCertificate"]["expiresAt"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp())
        .expect("expiry");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    assert!(
        exp > now + 300 * 86_400 && exp < now + 400 * 86_400,
        "{exp}"
    );
    // the failure injection is not in the public schema
    let r = p
        .gql(
            "mutation($id: ID!) { crashControlPlaneActor(id: $id) }",
            json!({"id": cp}),
        )
        .await;
    assert_eq!(code(&r), "VALIDATION", "{r}");
    // duplicates are conflicts
    p.create(
        &cp,
        "SERVICE",
        json!({"name": "dup", "url": "http://127.0.0.1:9"}),
    )
    .await;
    let r = p
        .create(
            &cp,
            "SERVICE",
            json!({"name": "dup", "url": "http://127.0.0.1:9"}),
        )
        .await;
    assert_eq!(code(&r), "CONFLICT", "{r}");
    // a credential for a consumer that does not exist
    let r = p
        .create(
            &cp,
            "KEY_AUTH_CREDENTIAL",
            json!({"key": "k", "consumer": {"id": "00000000-0000-4000-8000-000000000001"}}),
        )
        .await;
    assert_eq!(code(&r), "VALIDATION", "{r}");
    assert_eq!(field(&r), "input.data.consumer", "{r}");
    // an invitation to a team that does not exist changes nothing
    let r = p
        .gql(
            "mutation($i: InviteUserInput!) { inviteUser(input: $i) { user { id } } }",
            json!({"i": {"email": "ghost@example.com", "name": "g", "teamIds": ["00000000-0000-4000-8000-000000000002"]}}),
        )
        .await;
    assert_eq!(code(&r), "VALIDATION", "{r}");
    let users = p.ok("{ users { nodes { email } } }", json!({})).await;
    assert!(!users.to_string().contains("ghost@example.com"), "{users}");
    // an invalid file does not create its plane
    let dir = make_temp_dir("portico-apply");
    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        "_format_version: '3.0'\nservices:\n- name: x\n  url: nope\n",
    )
    .expect("write");
    let o = p.cli(&[
        "apply",
        "-f",
        bad.to_str().expect("path"),
        "--control-plane",
        "never-created",
    ]);
    assert!(!o.status.success());
    let d = p
        .ok(
            "{ controlPlane(name: \"never-created\") { id } }",
            json!({}),
        )
        .await;
    assert!(d["controlPlane"].is_null(), "{d}");
    // nested SNIs under a certificate without an id load through apply
    let (cert, key) = self_signed("sni.example.com");
    let doc = json!({"_format_version": "3.0", "certificates": [{"cert": cert, "key": key, "snis": ["sni.example.com", {"name": "*.sni.example.com"}]}]});
    p.ok(APPLY, json!({"i": {"controlPlane": cp, "document": doc}}))
        .await;
    let d = p
        .ok(
            "query($id: ID) { controlPlane(id: $id) { entities(kind: SNI) { nodes { name } } } }",
            json!({"id": cp}),
        )
        .await;
    assert_eq!(
        d["controlPlane"]["entities"]["nodes"]
            .as_array()
            .map(Vec::len),
        Some(2),
        "{d}"
    );
    // engine-level errors carry a code; a body that is not JSON gets JSON back
    let r = p.gql("{ nope }", json!({})).await;
    assert_eq!(code(&r), "VALIDATION", "{r}");
    let r = client()
        .post(p.url("/graphql"))
        .bearer_auth(&p.token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), 400);
    let b: Value = r.json().await.expect("a JSON body");
    assert_eq!(b["errors"][0]["extensions"]["code"], "VALIDATION");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_chunked_body_is_the_clients_fault() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let up = EchoServer::start("up").await;
    let gw = Gateway::start(&format!(
        "_format_version: '3.0'\nservices:\n- name: s\n  url: {}\n  routes:\n  - paths: [/]\n",
        up.url()
    ))
    .await;
    let mut s = tokio::net::TcpStream::connect(gw.proxy)
        .await
        .expect("connect");
    s.write_all(
        b"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nZZ\r\nbad\r\n",
    )
    .await
    .expect("write");
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(30), s.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
}

//! Declarative files in the shapes real Kong users have (`kong config db_export`
//! output, `deck dump --select-tag` files, format 1.1/2.1 files, hand-written
//! configs with comments and flat credential lists) load and behave as in Kong,
//! through the node's file mode and through the platform's `apply`.

use integration::platform::{Db, Platform};
use integration::{EchoServer, Gateway, client, eventually, make_temp_dir, send};
use serde_json::{Value, json};

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p.display().to_string()
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Kong's stored form of a basic-auth password: SHA-1 of password + consumer id.
fn kong_hash(password: &str, consumer: &str) -> String {
    use sha1::Digest;
    let mut h = sha1::Sha1::new();
    h.update(password.as_bytes());
    h.update(consumer.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

const CONSUMER: &str = "8f4d3a1c-1111-4c7b-9a44-0a1b2c3d4e5f";

/// A `kong config db_export` file: `_transform: false`, flat credential lists
/// referencing their consumer, memberships as `consumer_group_consumers`,
/// `_comment`/`_ignore` annotations.
fn db_export(upstream: &str) -> String {
    format!(
        r#"_format_version: "3.0"
_transform: false
_comment: exported by kong config db_export
services:
- id: 0b5f0f4e-2222-4a1e-8d4e-1c2b3a4d5e6f
  name: svc
  url: {upstream}
  _comment: the only service
  routes:
  - name: basic
    paths: [/basic]
    plugins:
    - name: basic-auth
  - name: key
    paths: [/key]
    _ignore: [anything, {{at: all}}]
    plugins:
    - name: key-auth
    - name: acl
      config: {{allow: [gold]}}
consumers:
- id: {CONSUMER}
  username: alice
  custom_id: bob
- username: bob
  custom_id: alice
consumer_groups:
- name: vip
basicauth_credentials:
- consumer: {CONSUMER}
  username: alice
  password: {hash}
keyauth_credentials:
- consumer: {CONSUMER}
  key: flat-key-1
acls:
- consumer: {{username: alice}}
  group: gold
jwt_secrets:
- consumer: {CONSUMER}
  key: alice-iss
  secret: jwt-flat-secret
consumer_group_consumers:
- consumer_group: vip
  consumer: {CONSUMER}
"#,
        hash = kong_hash("s3cret", CONSUMER)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_db_export_file_loads_and_its_hashes_are_never_passwords() {
    let up = EchoServer::start("up").await;
    let yaml = db_export(&up.url());
    let gw = Gateway::start(&yaml).await;
    let hash = kong_hash("s3cret", CONSUMER);
    // the real password works; the stored hash does not
    let r = send(
        client()
            .get(gw.url("/basic"))
            .basic_auth("alice", Some("s3cret")),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = send(
        client()
            .get(gw.url("/basic"))
            .basic_auth("alice", Some(&hash)),
    )
    .await;
    assert_eq!(r.status, 401);
    // flat key-auth and acl lists reached their consumer
    let r = send(client().get(gw.url("/key")).header("apikey", "flat-key-1")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.upstream_header("x-consumer-username").as_deref(),
        Some("alice")
    );
    assert_eq!(
        r.upstream_header("x-consumer-groups").as_deref(),
        Some("gold")
    );

    // the same file through the platform: stored as Kong's hash, behaves the same
    let p = Platform::start(Db::Sqlite).await;
    let dir = make_temp_dir("portico-deck");
    let file = write(&dir, "export.yaml", &yaml);
    let o = p.cli(&["apply", "-f", &file, "--control-plane", "exported"]);
    assert!(o.status.success(), "{o:?}");
    let d = p
        .ok(
            "query { controlPlane(name: \"exported\") { id c: entities(kind: CONSUMER) { nodes { data } } b: entities(kind: BASIC_AUTH_CREDENTIAL) { totalCount } } }",
            json!({}),
        )
        .await;
    let plane = d["controlPlane"]["id"].as_str().expect("plane").to_string();
    assert_eq!(d["controlPlane"]["b"]["totalCount"], 1);
    let alice = d["controlPlane"]["c"]["nodes"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["data"]["username"] == "alice"))
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(
        alice["data"]["groups"].as_array().map(Vec::len),
        Some(1),
        "{d}"
    );
    assert!(!d.to_string().contains(&hash), "hashes are write-only: {d}");
    // the platform's hash of this config is the node's
    assert_eq!(
        p.plane(&plane).await["configHash"],
        json!(integration::config_hash(&yaml))
    );
    // applying it again changes nothing
    let o = p.cli(&["diff", "-f", &file, "--control-plane", "exported"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn select_tags_in_a_file_scope_its_apply_and_lookups_reach_other_teams() {
    let p = Platform::start(Db::Sqlite).await;
    p.create_plane("shared").await;
    let dir = make_temp_dir("portico-deck");
    let a = write(
        &dir,
        "a.yaml",
        "_format_version: '3.0'\n_info:\n  select_tags: [team-a]\nservices:\n- name: a-svc\n  url: http://127.0.0.1:9\n  routes:\n  - name: a-route\n    paths: [/a]\n",
    );
    let o = p.cli(&["apply", "-f", &a, "--control-plane", "shared"]);
    assert!(o.status.success(), "{o:?}");
    // team B's file manages team-b only: team A's entities stay; it adds a
    // plugin to team A's service, found through default_lookup_tags
    let b = write(
        &dir,
        "b.yaml",
        "_format_version: '3.0'\n_info:\n  select_tags: [team-b]\n  default_lookup_tags:\n    services: [team-a]\nservices:\n- name: b-svc\n  url: http://127.0.0.1:9\nplugins:\n- name: correlation-id\n  service: a-svc\n",
    );
    let o = p.cli(&["apply", "-f", &b, "--control-plane", "shared"]);
    assert!(o.status.success(), "{o:?}");
    assert!(stdout(&o).contains("Deleted: 0"), "{}", stdout(&o));
    let d = p
        .ok(
            "query { controlPlane(name: \"shared\") { s: entities(kind: SERVICE) { nodes { name tags } } r: entities(kind: ROUTE) { totalCount } p: entities(kind: PLUGIN) { nodes { tags } } } }",
            json!({}),
        )
        .await;
    let cp = &d["controlPlane"];
    assert_eq!(cp["s"]["nodes"].as_array().map(Vec::len), Some(2), "{d}");
    assert_eq!(cp["r"]["totalCount"], 1, "team A's route stays: {d}");
    assert_eq!(cp["p"]["nodes"][0]["tags"], json!(["team-b"]));
    // a flag that contradicts the file is refused
    let o = p.cli(&[
        "apply",
        "-f",
        &b,
        "--control-plane",
        "shared",
        "--select-tag",
        "team-c",
    ]);
    assert!(!o.status.success());
    // dump --select-tag writes the tags into the file, and it applies back as-is
    let out = dir.join("a-dump.yaml");
    let o = p.cli(&[
        "dump",
        "--control-plane",
        "shared",
        "--select-tag",
        "team-a",
        "-o",
        out.to_str().expect("path"),
    ]);
    assert!(o.status.success(), "{o:?}");
    let dumped = std::fs::read_to_string(&out).expect("dump");
    assert!(dumped.contains("select_tags"), "{dumped}");
    let o = p.cli(&[
        "diff",
        "-f",
        out.to_str().expect("path"),
        "--control-plane",
        "shared",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_format_paths_migrate_as_kong_migrates_them() {
    let up = EchoServer::start("up").await;
    for version in ["1.1", "2.1"] {
        let yaml = format!(
            "_format_version: '{version}'\nservices:\n- name: users\n  url: {}\n  routes:\n  - name: r\n    paths: ['/users/\\d+$', /plain]\n",
            up.url()
        );
        let gw = Gateway::start(&yaml).await;
        assert_eq!(
            send(client().get(gw.url("/users/42"))).await.status,
            200,
            "{version}"
        );
        assert_eq!(
            send(client().get(gw.url("/users/x"))).await.status,
            404,
            "{version}"
        );
        assert_eq!(
            send(client().get(gw.url("/plain/more"))).await.status,
            200,
            "{version}"
        );
    }
    // and through the platform: the stored route holds the migrated path
    let p = Platform::start(Db::Sqlite).await;
    let dir = make_temp_dir("portico-deck");
    let f = write(
        &dir,
        "old.yaml",
        "_format_version: '1.1'\nservices:\n- name: users\n  url: http://127.0.0.1:9\n  routes:\n  - name: r\n    paths: ['/users/\\d+$']\n",
    );
    let o = p.cli(&["apply", "-f", &f, "--control-plane", "old"]);
    assert!(o.status.success(), "{o:?}");
    let d = p
        .ok(
            "query { controlPlane(name: \"old\") { entities(kind: ROUTE) { nodes { data } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        d["controlPlane"]["entities"]["nodes"][0]["data"]["paths"],
        json!(["~/users/\\d+$"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_references_are_refused_with_their_path() {
    let dir = make_temp_dir("portico-deck");
    let f = write(
        &dir,
        "vault.yaml",
        "_format_version: '3.0'\nconsumers:\n- username: u\n  jwt_secrets:\n  - key: k\n    secret: '{vault://env/JWT_SECRET}'\n",
    );
    let o = std::process::Command::new(integration::gateway_bin())
        .args(["validate", &f])
        .output()
        .expect("run");
    assert!(!o.status.success());
    let text =
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    assert!(
        text.contains("consumers[0].jwt_secrets[0].secret"),
        "{text}"
    );
    assert!(text.contains("vault reference"), "{text}");
    let p = Platform::start(Db::Sqlite).await;
    let o = p.cli(&["apply", "-f", &f, "--control-plane", "vaulted"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("vault reference"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unnamed_services_and_routes_keep_their_ids_across_applies() {
    let p = Platform::start(Db::Sqlite).await;
    let dir = make_temp_dir("portico-deck");
    let f = write(
        &dir,
        "unnamed.yaml",
        "_format_version: '3.0'\nservices:\n- url: http://127.0.0.1:9\n  routes:\n  - paths: [/one]\n  - paths: [/two]\nroutes:\n- paths: [/three]\n",
    );
    let o = p.cli(&["apply", "-f", &f, "--control-plane", "unnamed"]);
    assert!(o.status.success(), "{o:?}");
    let o = p.cli(&["diff", "-f", &f, "--control-plane", "unnamed"]);
    assert_eq!(o.status.code(), Some(0), "nothing to do: {}", stdout(&o));
    let o = p.cli(&["apply", "-f", &f, "--control-plane", "unnamed"]);
    assert!(stdout(&o).contains("Created: 0"), "{}", stdout(&o));
    // the platform's ids are the node's: same config hash
    let d = p
        .ok(
            "query { controlPlane(name: \"unnamed\") { configHash } }",
            json!({}),
        )
        .await;
    let yaml = std::fs::read_to_string(&f).expect("read");
    assert_eq!(
        d["controlPlane"]["configHash"],
        json!(integration::config_hash(&yaml))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dump_with_secrets_restores_an_empty_control_plane() {
    let p = Platform::start(Db::Sqlite).await;
    let up = EchoServer::start("up").await;
    let dir = make_temp_dir("portico-deck");
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec!["r.example.com".to_string()])
        .expect("params")
        .self_signed(&key)
        .expect("cert");
    let doc = json!({"_format_version": "3.0",
        "services": [{"name": "s", "url": up.url(), "routes": [{"name": "k", "paths": ["/k"], "plugins": [{"name": "key-auth"}]}]}],
        "consumers": [{"username": "c", "keyauth_credentials": [{"key": "restore-me"}],
                       "basicauth_credentials": [{"username": "c", "password": "pw-restore"}],
                       "jwt_secrets": [{"key": "iss", "secret": "jwt-restore"}]}],
        "certificates": [{"cert": cert.pem(), "key": key.serialize_pem(), "snis": ["r.example.com"]}]});
    let src = write(&dir, "src.json", &doc.to_string());
    assert!(
        p.cli(&["apply", "-f", &src, "--control-plane", "source"])
            .status
            .success()
    );
    let out = dir.join("backup.yaml");
    let o = p.cli(&[
        "dump",
        "--control-plane",
        "source",
        "--with-secrets",
        "-o",
        out.to_str().expect("path"),
    ]);
    assert!(o.status.success(), "{o:?}");
    let backup = std::fs::read_to_string(&out).expect("backup");
    for clear in ["restore-me", "pw-restore", "jwt-restore", "PRIVATE KEY"] {
        assert!(!backup.contains(clear), "{clear} in clear in the backup");
    }
    let o = p.cli(&[
        "apply",
        "-f",
        out.to_str().expect("path"),
        "--control-plane",
        "restored",
    ]);
    assert!(o.status.success(), "{o:?}");
    let q = "query($n: String) { controlPlane(name: $n) { id configHash } }";
    let a = p.ok(q, json!({"n": "source"})).await;
    let b = p.ok(q, json!({"n": "restored"})).await;
    assert_eq!(
        a["controlPlane"]["configHash"], b["controlPlane"]["configHash"],
        "the same config, secrets included"
    );
    // and a node of the restored plane accepts the key
    let plane = b["controlPlane"]["id"].as_str().expect("id").to_string();
    let creds = p.node_creds(&plane, "n", &dir.join("node")).await;
    let gw = Gateway::start_args(None, &p.node_args(&creds, &dir.join("cache"))).await;
    let k = gw.url("/k");
    eventually("the restored key works", || async {
        client()
            .get(&k)
            .header("apikey", "restore-me")
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_apply_leaves_nothing_and_a_dry_run_plans_a_new_plane() {
    let p = Platform::start(Db::Sqlite).await;
    let dir = make_temp_dir("portico-deck");
    let good = write(
        &dir,
        "good.yaml",
        "_format_version: '2.1'\n_comment: hello\n_ignore: [x]\nservices:\n- name: s\n  url: http://127.0.0.1:9\n",
    );
    let o = p.cli(&[
        "apply",
        "--dry-run",
        "-f",
        &good,
        "--control-plane",
        "planned",
    ]);
    assert!(o.status.success(), "{o:?}");
    assert!(stdout(&o).contains("creating service s"), "{}", stdout(&o));
    assert!(stdout(&o).contains("Create: 1"), "{}", stdout(&o));
    let d = p
        .ok("{ controlPlane(name: \"planned\") { id } }", json!({}))
        .await;
    assert!(d["controlPlane"].is_null(), "a dry run creates nothing");
    // a file that validates but cannot be applied (a plugin this caller may not
    // write is one way; here a select tag that contradicts the file's) leaves
    // no plane behind
    let tagged = write(
        &dir,
        "tagged.yaml",
        "_format_version: '3.0'\n_info:\n  select_tags: [x]\nservices:\n- name: s\n  url: http://127.0.0.1:9\n",
    );
    let o = p.cli(&[
        "apply",
        "-f",
        &tagged,
        "--control-plane",
        "half",
        "--select-tag",
        "y",
    ]);
    assert!(!o.status.success());
    let d = p
        .ok("{ controlPlane(name: \"half\") { id } }", json!({}))
        .await;
    assert!(d["controlPlane"].is_null(), "{d}");
}

//! `portico up`: one process with the platform on SQLite, an embedded gateway node
//! connected through the real cluster protocol, a demo upstream and a demo control
//! plane. A change made over GraphQL reaches its proxy; a second start in the same
//! directory keeps everything.

use std::process::{Command, Stdio};
use std::time::Duration;

use integration::platform::portico_bin;
use integration::{client, free_port, make_temp_dir};
use serde_json::{Value, json};

struct Up {
    child: std::process::Child,
    ports: [u16; 6],
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &std::path::Path, ports: [u16; 6]) -> Up {
    let a = |p: u16| format!("127.0.0.1:{p}");
    let child = Command::new(portico_bin())
        .args(["up", "--data-dir"])
        .arg(dir)
        .args(["--listen", &a(ports[0])])
        .args(["--cluster-listen", &a(ports[1])])
        .args(["--proxy-listen", &a(ports[2])])
        .args(["--proxy-listen-tls", &a(ports[3])])
        .args(["--status-listen", &a(ports[4])])
        .args(["--echo-listen", &a(ports[5])])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join(format!("up-{}.log", ports[0]))).expect("log"))
        .spawn()
        .expect("portico up");
    Up { child, ports }
}

async fn get(url: String, headers: &[(&str, &str)]) -> u16 {
    let mut r = client().get(url);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    r.send().await.map(|r| r.status().as_u16()).unwrap_or(0)
}

async fn until(what: &str, mut f: impl AsyncFnMut() -> bool) {
    let t = std::time::Instant::now();
    while !f().await {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portico_up_serves_the_demo_through_the_cluster_protocol() {
    integration::init_crypto();
    let dir = make_temp_dir("portico-up");
    let ports = [
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
    ];
    let up = start(&dir, ports);
    let proxy = |p: &str| format!("http://127.0.0.1:{}{p}", up.ports[2]);
    until("the demo route", async || {
        get(proxy("/demo/hi"), &[]).await == 200
    })
    .await;
    assert_eq!(get(proxy("/private"), &[]).await, 401);
    assert_eq!(get(proxy("/private"), &[("apikey", "demo-key")]).await, 200);

    // the token is in the data directory; the platform answers with it
    let token = std::fs::read_to_string(dir.join("admin-token")).expect("token file");
    let gql = async |q: &str, v: Value| -> Value {
        client()
            .post(format!("http://127.0.0.1:{}/graphql", up.ports[0]))
            .bearer_auth(token.trim())
            .json(&json!({"query": q, "variables": v}))
            .send()
            .await
            .expect("platform")
            .json()
            .await
            .expect("json")
    };
    let d = gql(
        "{ controlPlane(name: \"default\") { id configVersion configHash } }",
        json!({}),
    )
    .await;
    let cp = d["data"]["controlPlane"]["id"]
        .as_str()
        .expect("demo plane")
        .to_string();
    // the embedded node is listed, in sync
    until("the embedded node in sync", async || {
        let n = gql(
            "query($cp: ID!) { dataPlaneNodes(controlPlaneId: $cp) { nodes { status } } }",
            json!({"cp": cp}),
        )
        .await;
        n["data"]["dataPlaneNodes"]["nodes"][0]["status"] == "IN_SYNC"
    })
    .await;
    // a route added over GraphQL is served by the embedded node
    let svc = gql(
        "query($cp: ID) { controlPlane(id: $cp) { entities(kind: SERVICE) { nodes { id } } } }",
        json!({"cp": cp}),
    )
    .await["data"]["controlPlane"]["entities"]["nodes"][0]["id"]
        .as_str()
        .expect("service")
        .to_string();
    let r = gql(
        "mutation($i: CreateEntityInput!) { createEntity(input: $i) { id } }",
        json!({"i": {"controlPlaneId": cp, "kind": "ROUTE", "data": {"name": "new", "paths": ["/new"], "service": {"id": svc}}}}),
    )
    .await;
    assert!(r.get("errors").is_none(), "{r}");
    until("the new route", async || {
        get(proxy("/new"), &[]).await == 200
    })
    .await;

    // the demo portal: its API, linked to its own service and route, public
    let portal: Value = client()
        .post(format!("http://127.0.0.1:{}/portals/default/graphql", up.ports[0]))
        .json(&json!({"query": "{ portal { name authenticationEnabled } apis { nodes { slug operations { path } } } pages { path } }"}))
        .send()
        .await
        .expect("portal")
        .json()
        .await
        .expect("json");
    assert_eq!(
        portal["data"]["portal"]["name"], "Portico Dev Portal",
        "{portal}"
    );
    assert_eq!(
        portal["data"]["apis"]["nodes"][0]["slug"], "demo-echo-api-1-0-0",
        "{portal}"
    );
    assert_eq!(portal["data"]["pages"][0]["path"], "/");
    let d = gql(
        "{ api(slug: \"demo-echo-api-1-0-0\") { operations { path implemented } } }",
        json!({}),
    )
    .await;
    assert_eq!(
        d["data"]["api"]["operations"][0]["implemented"], true,
        "{d}"
    );
    // the README's walk from sign-up to a working key: the demo API is guarded
    assert_eq!(get(proxy("/demo-api/hello"), &[]).await, 401);
    let dev = async |q: &str, v: Value, token: Option<&str>| -> Value {
        let mut r = client()
            .post(format!(
                "http://127.0.0.1:{}/portals/default/graphql",
                up.ports[0]
            ))
            .json(&json!({"query": q, "variables": v}));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let v: Value = r.send().await.expect("portal").json().await.expect("json");
        assert!(v.get("errors").is_none(), "{v}");
        v["data"].clone()
    };
    dev(
        "mutation { registerDeveloper(input: {email: \"me@example.com\", fullName: \"Me\", password: \"correct horse battery\"}) { email } }",
        json!({}),
        None,
    )
    .await;
    let mail = gql(
        "{ mailOutbox(to: \"me@example.com\", first: 1) { nodes { body } } }",
        json!({}),
    )
    .await;
    let body = mail["data"]["mailOutbox"]["nodes"][0]["body"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let verify: String = body
        .split("token=")
        .nth(1)
        .map(|t| {
            t.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .unwrap_or_default();
    dev(
        "mutation($t: String!) { verifyDeveloperEmail(input: {token: $t}) { email } }",
        json!({"t": verify}),
        None,
    )
    .await;
    let session = dev(
        "mutation { loginDeveloper(input: {email: \"me@example.com\", password: \"correct horse battery\"}) { token } }",
        json!({}),
        None,
    )
    .await["loginDeveloper"]["token"]
        .as_str()
        .expect("session")
        .to_string();
    let app = dev(
        "mutation { createApplication(input: {name: \"my-app\"}) { id } }",
        json!({}),
        Some(&session),
    )
    .await["createApplication"]["id"]
        .clone();
    let api = dev("{ apis { nodes { id } } }", json!({}), Some(&session)).await["apis"]["nodes"][0]
        ["id"]
        .clone();
    let reg = dev(
        "mutation($a: ID!, $api: ID!) { requestRegistration(input: {applicationId: $a, apiId: $api}) { status } }",
        json!({"a": app, "api": api}),
        Some(&session),
    )
    .await;
    assert_eq!(reg["requestRegistration"]["status"], "APPROVED", "{reg}");
    let key = dev(
        "mutation($a: ID!) { createCredential(input: {applicationId: $a}) { key } }",
        json!({"a": app}),
        Some(&session),
    )
    .await["createCredential"]["key"]
        .as_str()
        .expect("key")
        .to_string();
    until("the key works on the embedded node", async || {
        get(proxy("/demo-api/hello"), &[("apikey", &key)]).await == 200
    })
    .await;

    // a second start in the same directory keeps the token, the plane and the route
    drop(up);
    // (same ports: the demo service points at the demo upstream's address)
    let up2 = start(&dir, ports);
    let proxy2 = |p: &str| format!("http://127.0.0.1:{}{p}", up2.ports[2]);
    until("the route after a restart", async || {
        get(proxy2("/new"), &[]).await == 200
    })
    .await;
    let token2 = std::fs::read_to_string(dir.join("admin-token")).expect("token file");
    assert_eq!(token, token2);
    drop(up2);
    let _ = std::fs::remove_dir_all(&dir);
}

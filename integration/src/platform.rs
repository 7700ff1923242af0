//! The `portico` platform process: started on a free port with SQLite in a temp
//! dir or a fresh PostgreSQL database, driven over GraphQL with its admin token.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::{DEADLINE, client, init_crypto, make_temp_dir};

/// The `portico` binary next to the running test executable.
pub fn portico_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("cannot find the test executable's path");
    let mut dir = exe.parent().expect("no parent directory").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let bin = dir.join(format!("portico{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "{} not found: build it first with `cargo build -p platform`",
        bin.display()
    );
    bin
}

/// Which database a platform runs on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Db {
    Sqlite,
    Postgres,
}

const PG: &str = "127.0.0.1:5432";

/// The secret key test platforms seal with (32 bytes, base64).
pub const TEST_SECRET_KEY: &str = "cG9ydGljby10ZXN0LXNlY3JldC1rZXktMzItYnl0ZXM=";

/// Whether PostgreSQL is reachable: skips (with a line saying so) locally, fails
/// under CI.
pub fn postgres_available() -> bool {
    if std::net::TcpStream::connect(PG).is_ok() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("PostgreSQL is not reachable on {PG} and CI is set: .ci/run must start it");
    }
    eprintln!("SKIP: PostgreSQL is not reachable on {PG} (start it to run the Postgres half)");
    false
}

/// Two tests of one `async fn name(db: Db)`: on SQLite, and on PostgreSQL (a
/// skip line locally when it is not running; a failure under CI).
#[macro_export]
macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::platform::Db::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if $crate::platform::postgres_available() {
                    super::$name($crate::platform::Db::Postgres).await;
                }
            }
        }
    };
}

pub struct Platform {
    pub child: Child,
    pub addr: SocketAddr,
    /// The cluster endpoint (mutual TLS) for gateway nodes.
    pub cluster: SocketAddr,
    pub token: String,
    pub dir: PathBuf,
    pub db: Db,
    pub database_url: String,
    log: PathBuf,
    http: reqwest::Client,
    /// Keep the directory when dropped (for a restart in it).
    pub keep: bool,
}

impl Platform {
    /// Starts `portico serve` on a fresh database; the admin token is read from
    /// what it prints once.
    pub async fn start(db: Db) -> Platform {
        Platform::start_in(
            db,
            make_temp_dir("portico-platform"),
            "127.0.0.1:0",
            "127.0.0.1:0",
            None,
        )
        .await
    }

    /// Starts on given addresses and directory (a restart keeps both); with
    /// `database_url`, that database.
    pub async fn start_in(
        db: Db,
        dir: PathBuf,
        listen: &str,
        cluster: &str,
        database_url: Option<String>,
    ) -> Platform {
        Platform::launch(db, dir, listen, cluster, database_url, &[]).await
    }

    /// Starts with extra `portico serve` arguments.
    pub async fn start_args(db: Db, extra: &[&str]) -> Platform {
        let dir = make_temp_dir("portico-platform");
        Platform::launch(db, dir, "127.0.0.1:0", "127.0.0.1:0", None, extra).await
    }

    /// Starts with extra arguments and environment, under `umask 000` (files it
    /// means to keep private must be so whatever the umask).
    pub async fn start_permissive(db: Db, extra: &[&str], env: &[(&str, &str)]) -> Platform {
        let dir = make_temp_dir("portico-platform");
        Platform::launch_with(
            db,
            dir,
            "127.0.0.1:0",
            "127.0.0.1:0",
            None,
            extra,
            env,
            true,
        )
        .await
    }

    async fn launch(
        db: Db,
        dir: PathBuf,
        listen: &str,
        cluster: &str,
        database_url: Option<String>,
        extra: &[&str],
    ) -> Platform {
        Platform::launch_with(db, dir, listen, cluster, database_url, extra, &[], false).await
    }

    #[allow(clippy::too_many_arguments)]
    async fn launch_with(
        db: Db,
        dir: PathBuf,
        listen: &str,
        cluster: &str,
        database_url: Option<String>,
        extra: &[&str],
        env: &[(&str, &str)],
        permissive: bool,
    ) -> Platform {
        init_crypto();
        let log = dir.join(format!("platform-{}.log", crate::free_port()));
        let database_url = database_url.unwrap_or_else(|| match db {
            Db::Sqlite => String::new(),
            Db::Postgres => format!("postgres://postgres@{PG}/portico_it_{}", uuid_like()),
        });
        let mut cmd = if permissive {
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg("umask 000 && exec \"$0\" \"$@\"")
                .arg(portico_bin());
            c
        } else {
            Command::new(portico_bin())
        };
        cmd.args([
            "serve",
            "--listen",
            listen,
            "--cluster-listen",
            cluster,
            "--data-dir",
        ])
        .arg(dir.join("data"))
        .args(extra)
        .env_remove("PORTICO_ADMIN_TOKEN")
        .env_remove("DATABASE_URL")
        // replicas on one database share the key its secrets are sealed with
        .env("PORTICO_SECRET_KEY", TEST_SECRET_KEY)
        .env("PORTICO_TEST_HOOKS", "true")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).expect("cannot create the log file"));
        if db == Db::Postgres {
            cmd.args(["--database-url", &database_url]);
        }
        cmd.envs(env.iter().copied());
        let mut child = cmd.spawn().expect("cannot spawn portico");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut token = None;
            let mut cluster = String::new();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(t) = line.strip_prefix("admin token (shown once, keep it): ") {
                    token = Some(t.trim().to_string());
                }
                if let Some(a) = line
                    .strip_prefix("cluster endpoint for gateway nodes on https://")
                    .and_then(|r| r.split_whitespace().next())
                {
                    cluster = a.to_string();
                }
                if let Some(a) = line
                    .strip_prefix("portico platform listening on http://")
                    .or_else(|| line.strip_prefix("portico platform listening on https://"))
                    .and_then(|r| r.split_whitespace().next())
                {
                    let _ = tx.send((token.clone(), a.to_string(), cluster.clone()));
                }
            }
        });
        let (token, addr, cluster) = match rx.recv_timeout(DEADLINE) {
            Ok(v) => v,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "portico serve did not start\n--- log ---\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
        };
        Platform {
            child,
            addr: addr.parse().expect("a socket address"),
            cluster: cluster.parse().expect("the cluster endpoint's address"),
            // on a restart the token exists already and is not printed again
            token: token.unwrap_or_default(),
            dir,
            db,
            database_url,
            log,
            http: client(),
            keep: false,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Runs a GraphQL operation; returns the whole response body.
    pub async fn gql(&self, query: &str, variables: Value) -> Value {
        self.gql_with(Some(&self.token), query, variables).await.1
    }

    pub async fn gql_with(
        &self,
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .post(self.url("/graphql"))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("the platform answers");
        let status = resp.status().as_u16();
        (status, resp.json().await.expect("a JSON body"))
    }

    /// A request to a portal's developer realm: (status, body, headers).
    pub async fn portal_gql(
        &self,
        portal: &str,
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let mut req = self
            .http
            .post(self.url(&format!("/portals/{portal}/graphql")))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("the platform answers");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        (status, resp.json().await.expect("a JSON body"), headers)
    }

    /// Runs an operation that must succeed; returns `data`.
    pub async fn ok(&self, query: &str, variables: Value) -> Value {
        let r = self.gql(query, variables).await;
        assert!(
            r.get("errors").is_none(),
            "unexpected errors: {r}\n--- log ---\n{}",
            self.log()
        );
        r["data"].clone()
    }

    pub async fn create_plane(&self, name: &str) -> String {
        let d = self
            .ok(
                "mutation($i: CreateControlPlaneInput!) { createControlPlane(input: $i) { id } }",
                json!({"i": {"name": name}}),
            )
            .await;
        d["createControlPlane"]["id"]
            .as_str()
            .expect("an id")
            .to_string()
    }

    pub async fn create(&self, plane: &str, kind: &str, data: Value) -> Value {
        self.gql(
            "mutation($i: CreateEntityInput!) { createEntity(input: $i) { id kind name tags data } }",
            json!({"i": {"controlPlaneId": plane, "kind": kind, "data": data}}),
        )
        .await
    }

    /// Makes a plane's actor fail (the test hook); its supervisor restarts it.
    pub async fn crash_plane_actor(&self, plane: &str) {
        let r = self
            .http
            .post(self.url(&format!("/test-hooks/crash-control-plane/{plane}")))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("the platform answers");
        assert_eq!(r.status().as_u16(), 200, "crash hook");
    }

    pub async fn version(&self, plane: &str) -> i64 {
        let d = self
            .ok(
                "query($id: ID) { controlPlane(id: $id) { configVersion } }",
                json!({"id": plane}),
            )
            .await;
        d["controlPlane"]["configVersion"]
            .as_i64()
            .expect("a version")
    }

    /// Runs the `portico` CLI against this platform.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(portico_bin())
            .args(args)
            .env("PORTICO_URL", self.url(""))
            .env("PORTICO_TOKEN", &self.token)
            .output()
            .expect("cannot run portico")
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Platform {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "--- portico log ({}) ---\n{}",
                self.dir.display(),
                self.log()
            );
        } else if !self.keep {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn uuid_like() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{}_{}", std::process::id(), t % 1_000_000_000_000)
}

/// Polls until `f` is true.
pub async fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !f() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Node credentials written to files, for `portico-gateway --control-plane`.
pub struct NodeCreds {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
    pub id: String,
}

impl Platform {
    /// Issues a node certificate for `plane` and writes it to `dir`.
    pub async fn node_creds(&self, plane: &str, name: &str, dir: &std::path::Path) -> NodeCreds {
        let d = self
            .ok(
                "mutation($i: CreateDataPlaneCertificateInput!) { createDataPlaneCertificate(input: $i) { id certificate privateKey clusterCaCertificate fingerprint } }",
                json!({"i": {"controlPlaneId": plane, "name": name}}),
            )
            .await;
        let c = &d["createDataPlaneCertificate"];
        std::fs::create_dir_all(dir).expect("dir");
        let w = |f: &str, v: &Value| {
            let p = dir.join(f);
            std::fs::write(&p, v.as_str().expect("PEM text")).expect("write");
            p
        };
        NodeCreds {
            cert: w("node.crt", &c["certificate"]),
            key: w("node.key", &c["privateKey"]),
            ca: w("ca.crt", &c["clusterCaCertificate"]),
            id: c["id"].as_str().expect("id").to_string(),
        }
    }

    /// `portico-gateway` arguments for a node of this platform.
    pub fn node_args(&self, creds: &NodeCreds, cache: &std::path::Path) -> Vec<String> {
        vec![
            "--control-plane".into(),
            format!("https://127.0.0.1:{}", self.cluster.port()),
            "--cluster-cert".into(),
            creds.cert.display().to_string(),
            "--cluster-key".into(),
            creds.key.display().to_string(),
            "--cluster-ca".into(),
            creds.ca.display().to_string(),
            "--cluster-cache-dir".into(),
            cache.display().to_string(),
        ]
    }

    /// A signed-up, verified developer of `portal` (the portal approves
    /// developers on its own): their session token.
    pub async fn developer(&self, portal: &str, email: &str) -> String {
        let p = self;
        let (_, r, _) = p
            .portal_gql(
                portal,
                None,
                "mutation($i: RegisterDeveloperInput!) { registerDeveloper(input: $i) { email } }",
                json!({"i": {"email": email, "fullName": "Dev", "password": "correct horse battery"}}),
            )
            .await;
        assert!(r.get("errors").is_none(), "{r}");
        let mail = p
            .ok(
                "query($to: String) { mailOutbox(to: $to, first: 1) { nodes { body } } }",
                json!({"to": email}),
            )
            .await;
        let body = mail["mailOutbox"]["nodes"][0]["body"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let token: String = body
            .split("token=")
            .nth(1)
            .map(|t| {
                t.chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect()
            })
            .unwrap_or_default();
        let (_, r, _) = p
            .portal_gql(
                portal,
                None,
                "mutation($t: String!) { verifyDeveloperEmail(input: {token: $t}) { email } }",
                json!({"t": token}),
            )
            .await;
        assert!(r.get("errors").is_none(), "{r}");
        let (_, r, _) = p
            .portal_gql(
                portal,
                None,
                "mutation($i: LoginDeveloperInput!) { loginDeveloper(input: $i) { token } }",
                json!({"i": {"email": email, "password": "correct horse battery"}}),
            )
            .await;
        r["data"]["loginDeveloper"]["token"]
            .as_str()
            .unwrap_or_else(|| panic!("{r}"))
            .to_string()
    }

    pub async fn nodes(&self, plane: &str) -> Value {
        self.ok(
            "query($cp: ID!) { dataPlaneNodes(controlPlaneId: $cp) { nodes { id hostname version configVersion configHash status reason connectedSince lastSeen } } }",
            json!({"cp": plane}),
        )
        .await["dataPlaneNodes"]["nodes"]
            .clone()
    }

    pub async fn plane(&self, plane: &str) -> Value {
        self.ok(
            "query($id: ID) { controlPlane(id: $id) { configVersion configHash } }",
            json!({"id": plane}),
        )
        .await["controlPlane"]
            .clone()
    }
}

/// A GraphQL subscription connection to the platform (graphql-transport-ws).
pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

impl Platform {
    /// Opens `/graphql/ws` with `token` in the connection_init payload, waits for
    /// the ack, and subscribes `query` with `variables` (operation id "1").
    pub async fn subscribe(&self, token: &str, query: &str, variables: Value) -> Ws {
        self.subscribe_at("/graphql/ws", json!({"token": token}), query, variables)
            .await
    }

    /// Like `subscribe`, on another socket path with another connection_init
    /// payload (a portal's `/portals/{name}/graphql/ws`).
    pub async fn subscribe_at(
        &self,
        path: &str,
        payload: Value,
        query: &str,
        variables: Value,
    ) -> Ws {
        use futures_util::SinkExt;
        use tokio_tungstenite::tungstenite::Message;
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut req = format!("ws://{}{path}", self.addr)
            .into_client_request()
            .expect("request");
        req.headers_mut().insert(
            "sec-websocket-protocol",
            "graphql-transport-ws".parse().expect("header"),
        );
        let (mut ws, _) = tokio_tungstenite::connect_async(req)
            .await
            .expect("ws connect");
        let send = |v: Value| Message::text(v.to_string());
        ws.send(send(json!({"type": "connection_init", "payload": payload})))
            .await
            .expect("send");
        let ack = next_message(&mut ws).await;
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        ws.send(send(json!({"id": "1", "type": "subscribe",
            "payload": {"query": query, "variables": variables}})))
            .await
            .expect("send");
        ws
    }
}

/// The next protocol message (JSON text frames; pings answered by the library).
pub async fn next_message(ws: &mut Ws) -> Value {
    use futures_util::StreamExt;
    loop {
        let m = tokio::time::timeout(DEADLINE, ws.next())
            .await
            .expect("a message in time")
            .expect("the socket is open")
            .expect("a frame");
        if let tokio_tungstenite::tungstenite::Message::Text(t) = m {
            return serde_json::from_str(&t).expect("JSON");
        }
    }
}

/// A hand-driven node's cluster connection (mutual TLS + WebSocket).
pub type NodeWs =
    tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

impl Platform {
    /// A hand-driven node connection: mutual TLS with `creds`, WebSocket,
    /// connection_init with `version` and `node_id`; the socket after the ack, or
    /// the refusal the platform answered with.
    pub async fn raw_node(
        &self,
        creds: &NodeCreds,
        version: &str,
        node_id: &str,
    ) -> Result<NodeWs, Value> {
        use futures_util::{SinkExt, StreamExt};
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(&creds.ca).expect("ca") {
            roots.add(c.expect("ca cert")).expect("add");
        }
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&creds.cert)
            .expect("cert")
            .collect::<Result<_, _>>()
            .expect("cert");
        let key = PrivateKeyDer::from_pem_file(&creds.key).expect("key");
        let cfg = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .expect("client config");
        let tcp = tokio::net::TcpStream::connect(self.cluster)
            .await
            .expect("connect");
        let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
        let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(cfg))
            .connect(name, tcp)
            .await
            .expect("tls");
        let mut req = format!("wss://localhost:{}/graphql/ws", self.cluster.port())
            .into_client_request()
            .expect("request");
        req.headers_mut().insert(
            "sec-websocket-protocol",
            "graphql-transport-ws".parse().expect("header"),
        );
        let (mut ws, _) = tokio_tungstenite::client_async(req, tls).await.expect("ws");
        ws.send(tokio_tungstenite::tungstenite::Message::text(
            json!({"type": "connection_init", "payload": {"node_id": node_id, "hostname": "raw", "version": version}}).to_string(),
        ))
        .await
        .expect("init");
        let ack = tokio::time::timeout(DEADLINE, ws.next())
            .await
            .expect("an answer in time");
        match ack {
            Some(Ok(m)) if m.to_string().contains("connection_ack") => Ok(ws),
            Some(Ok(m)) => Err(json!({"frame": m.to_string()})),
            Some(Err(e)) => Err(json!({"error": e.to_string()})),
            None => Err(json!({"closed": true})),
        }
    }
}

/// The next JSON message on a hand-driven node connection.
pub async fn next_node_message(ws: &mut NodeWs) -> Value {
    use futures_util::StreamExt;
    loop {
        let m = tokio::time::timeout(DEADLINE, ws.next())
            .await
            .expect("in time")
            .expect("open")
            .expect("frame");
        if let tokio_tungstenite::tungstenite::Message::Text(t) = m {
            return serde_json::from_str(&t).expect("json");
        }
    }
}

impl Platform {
    /// The id of the team called `name`.
    pub async fn team_id(&self, name: &str) -> String {
        let d = self
            .ok("{ teams { nodes { id name predefined } } }", json!({}))
            .await;
        d["teams"]["nodes"]
            .as_array()
            .and_then(|ts| ts.iter().find(|t| t["name"] == name))
            .and_then(|t| t["id"].as_str())
            .unwrap_or_else(|| panic!("team {name} in {d}"))
            .to_string()
    }

    /// Invites a user into `teams`, accepts, logs in: (user id, session token).
    pub async fn user_in(&self, email: &str, teams: &[String]) -> (String, String) {
        let d = self
            .ok(
                "mutation($i: InviteUserInput!) { inviteUser(input: $i) { user { id pending } invitationToken } }",
                json!({"i": {"email": email, "name": email, "teamIds": teams}}),
            )
            .await;
        let inv = d["inviteUser"]["invitationToken"]
            .as_str()
            .expect("invitation")
            .to_string();
        let uid = d["inviteUser"]["user"]["id"]
            .as_str()
            .expect("id")
            .to_string();
        assert_eq!(d["inviteUser"]["user"]["pending"], true);
        // no token needed to accept an invitation
        let (_, r) = self
            .gql_with(
                None,
                "mutation($i: AcceptInvitationInput!) { acceptInvitation(input: $i) { pending } }",
                json!({"i": {"token": inv, "password": "correct horse battery"}}),
            )
            .await;
        assert_eq!(r["data"]["acceptInvitation"]["pending"], false, "{r}");
        let (_, r) = self
            .gql_with(
                None,
                "mutation($i: LoginInput!) { login(input: $i) { token expiresAt user { email } } }",
                json!({"i": {"email": email, "password": "correct horse battery"}}),
            )
            .await;
        let token = r["data"]["login"]["token"]
            .as_str()
            .unwrap_or_else(|| panic!("{r}"))
            .to_string();
        assert!(token.starts_with("psess_"));
        (uid, token)
    }
}

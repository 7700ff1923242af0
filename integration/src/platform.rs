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

pub struct Platform {
    pub child: Child,
    pub addr: SocketAddr,
    pub token: String,
    pub dir: PathBuf,
    pub db: Db,
    pub database_url: String,
    log: PathBuf,
    http: reqwest::Client,
}

impl Platform {
    /// Starts `portico serve` on a fresh database; the admin token is read from
    /// what it prints once.
    pub async fn start(db: Db) -> Platform {
        init_crypto();
        let dir = make_temp_dir("portico-platform");
        let log = dir.join("platform.log");
        let database_url = match db {
            Db::Sqlite => String::new(),
            Db::Postgres => format!("postgres://postgres@{PG}/portico_it_{}", uuid_like()),
        };
        let mut cmd = Command::new(portico_bin());
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.join("data"))
            .env_remove("PORTICO_ADMIN_TOKEN")
            .env_remove("DATABASE_URL")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("cannot create the log file"));
        if db == Db::Postgres {
            cmd.args(["--database-url", &database_url]);
        }
        let mut child = cmd.spawn().expect("cannot spawn portico");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut token = None;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(t) = line.strip_prefix("admin token (shown once, keep it): ") {
                    token = Some(t.trim().to_string());
                }
                if let Some(a) = line
                    .strip_prefix("portico platform listening on http://")
                    .and_then(|r| r.split_whitespace().next())
                {
                    let _ = tx.send((token.clone(), a.to_string()));
                }
            }
        });
        let (token, addr) = match rx.recv_timeout(DEADLINE) {
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
            token: token.expect("the admin token was not printed"),
            dir,
            db,
            database_url,
            log,
            http: client(),
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
        } else {
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

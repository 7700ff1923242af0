//! End-to-end test harness for `portico-gateway`: the real binary (built by
//! `cargo build -p gateway-node`) is started as a child process on free loopback
//! ports with a decK file written to a private temporary directory, and real
//! upstream servers ([`EchoServer`]: hyper, HTTP/1.1 and HTTP/2, optional TLS,
//! WebSocket) answer with a JSON description of the request they received, so a
//! test can check what the gateway sent upstream. Every test builds its own gateway
//! and upstreams, so tests run in parallel; waiting is done by polling a condition
//! against a generous deadline, never by sleeping for a fixed time.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::{Value, json};
use sha2::Digest;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub use serde_json;

pub mod platform;
pub mod smtp;

/// How long any polling helper waits before giving up.
pub const DEADLINE: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------------------
// binary, ports, directories

/// The `portico-gateway` binary next to the running test executable
/// (`<target>/debug/deps/<test>-<hash>` -> `<target>/debug/portico-gateway`), or
/// `$PORTICO_GATEWAY_BIN` when set.
pub fn gateway_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("PORTICO_GATEWAY_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("cannot find the test executable's path");
    let mut dir = exe
        .parent()
        .expect("the test executable has no parent directory")
        .to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let bin = dir.join(format!("portico-gateway{}", std::env::consts::EXE_SUFFIX));
    if !bin.is_file() {
        panic!(
            "{} not found: build the gateway first with `cargo build -p gateway-node` \
             (same CARGO_TARGET_DIR and profile as `cargo test -p integration`)",
            bin.display()
        );
    }
    bin
}

/// A port that was free a moment ago (bound on 127.0.0.1:0, read, released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("cannot bind 127.0.0.1:0")
        .port()
}

fn free_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port()))
}

/// A fresh, uniquely named directory under the system temp dir.
pub fn make_temp_dir(prefix: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("cannot create a temp dir");
    dir
}

/// The config hash the gateway will report for this decK text (the same function
/// the gateway uses). Panics when the text is invalid.
pub fn config_hash(yaml: &str) -> String {
    graphql_schema::load_str(yaml)
        .unwrap_or_else(|e| panic!("test config is invalid:\n{e}\n---\n{yaml}"))
        .config
        .hash()
}

/// Polls `f` until it returns true; panics with `what` after [`DEADLINE`].
pub async fn eventually<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if f().await {
            return;
        }
        if start.elapsed() > DEADLINE {
            panic!("timed out after {DEADLINE:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------
// the gateway process

/// A running `portico-gateway` child process with its own config file, ports and
/// log; killed on drop (the log's tail is printed when the test is panicking).
pub struct Gateway {
    pub child: Child,
    pub proxy: SocketAddr,
    pub tls: SocketAddr,
    pub status: SocketAddr,
    pub config_path: PathBuf,
    pub dir: PathBuf,
    pub log_path: PathBuf,
    http: reqwest::Client,
}

impl Gateway {
    /// Writes `yaml` to a file, starts the gateway on it and waits until
    /// `/status/ready` answers 200.
    pub async fn start(yaml: &str) -> Gateway {
        Gateway::start_args(Some(yaml), &[]).await
    }

    /// Starts the gateway with extra arguments; without `yaml`, no `--config` is
    /// given (hybrid mode: the arguments name the platform).
    pub async fn start_args(yaml: Option<&str>, extra: &[String]) -> Gateway {
        init_crypto();
        let dir = make_temp_dir("portico-it");
        let config_path = dir.join("kong.yaml");
        let log_path = dir.join("gateway.log");
        let mut last = String::new();
        // Ports are picked free then released; another test may grab one in between,
        // so a start that failed to bind is retried on new ports.
        for _ in 0..4 {
            // a failed attempt's Gateway removed the directory when dropped
            std::fs::create_dir_all(&dir).expect("cannot create a temp dir");
            if let Some(yaml) = yaml {
                std::fs::write(&config_path, yaml).expect("cannot write the config file");
            }
            let (proxy, tls, status) = (free_addr(), free_addr(), free_addr());
            let log = std::fs::File::create(&log_path).expect("cannot create the log file");
            let mut cmd = Command::new(gateway_bin());
            if yaml.is_some() {
                cmd.arg("--config").arg(&config_path);
            }
            let child = cmd
                .args(extra)
                .args(["--proxy-listen", &proxy.to_string()])
                .args(["--proxy-listen-tls", &tls.to_string()])
                .args(["--status-listen", &status.to_string()])
                .args(["--watch-interval-ms", "100"])
                .env("PORTICO_LOG", "info")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("cannot spawn portico-gateway");
            let mut gw = Gateway {
                child,
                proxy,
                tls,
                status,
                config_path: config_path.clone(),
                dir: dir.clone(),
                log_path: log_path.clone(),
                http: client(),
            };
            match gw.wait_ready().await {
                Ok(()) => return gw,
                Err(e) => {
                    let log = gw.log();
                    if log.contains("cannot listen on") {
                        last = e;
                        continue; // dropping gw kills it
                    }
                    panic!("portico-gateway did not become ready: {e}\n--- log ---\n{log}");
                }
            }
        }
        panic!("portico-gateway could not bind free ports: {last}");
    }

    async fn wait_ready(&mut self) -> Result<(), String> {
        let start = Instant::now();
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Err(format!("the process exited early with {st}"));
            }
            let url = format!("http://{}/status/ready", self.status);
            if let Ok(r) = self.http.get(&url).send().await
                && r.status() == StatusCode::OK
            {
                return Ok(());
            }
            if start.elapsed() > Duration::from_secs(10) {
                return Err("no 200 from /status/ready within 10 s".into());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The process id, for signals.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGHUP (a reload request) to the gateway.
    pub fn sighup(&self) {
        let st = Command::new("kill")
            .args(["-HUP", &self.pid().to_string()])
            .status()
            .expect("cannot run kill");
        assert!(st.success(), "kill -HUP failed: {st}");
    }

    /// Replaces the config file atomically (write a temporary file, rename it).
    pub fn write_config(&self, yaml: &str) {
        let tmp = self.dir.join(".kong.yaml.tmp");
        std::fs::write(&tmp, yaml).expect("cannot write the temporary config");
        std::fs::rename(&tmp, &self.config_path).expect("cannot rename the config");
    }

    /// `http://<proxy><path>`
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.proxy, path)
    }

    /// `https://<tls listener><path>`
    pub fn tls_url(&self, path: &str) -> String {
        format!("https://{}{}", self.tls, path)
    }

    /// `GET /status` as JSON.
    pub async fn status_json(&self) -> Value {
        let url = format!("http://{}/status", self.status);
        let r = self
            .http
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        r.json()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: invalid JSON: {e}"))
    }

    /// The hash of the config being served.
    pub async fn current_hash(&self) -> Option<String> {
        self.status_json().await["config"]["hash"]
            .as_str()
            .map(str::to_string)
    }

    /// Polls `/status` until `config.hash` is `hash`.
    pub async fn wait_for_hash(&self, hash: &str) {
        let start = Instant::now();
        loop {
            let st = self.status_json().await;
            if st["config"]["hash"].as_str() == Some(hash) {
                return;
            }
            if start.elapsed() > DEADLINE {
                panic!("config hash never became {hash}; /status: {st:#}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Polls `/status` until `pred` holds; returns that status.
    pub async fn wait_for_status(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            let st = self.status_json().await;
            if pred(&st) {
                return st;
            }
            if start.elapsed() > DEADLINE {
                panic!("timed out waiting for {what}; /status: {st:#}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Whether `/status` shows `target` of `upstream` as healthy.
    pub async fn target_healthy(&self, upstream: &str, target: &str) -> Option<bool> {
        target_health(&self.status_json().await, upstream, target)
    }

    /// Polls `/status` until `target` of `upstream` has the given health.
    pub async fn wait_for_health(&self, upstream: &str, target: &str, healthy: bool) {
        self.wait_for_status(&format!("{upstream}/{target} healthy={healthy}"), |st| {
            target_health(st, upstream, target) == Some(healthy)
        })
        .await;
    }

    /// The whole log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

/// A target's health in a `/status` document.
pub fn target_health(st: &Value, upstream: &str, target: &str) -> Option<bool> {
    st["upstreams"]
        .as_array()?
        .iter()
        .find(|u| u["name"] == upstream)?["targets"]
        .as_array()?
        .iter()
        .find(|t| t["target"] == target)?["healthy"]
        .as_bool()
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let lines: Vec<String> = std::fs::File::open(&self.log_path)
                .map(|f| BufReader::new(f).lines().map_while(Result::ok).collect())
                .unwrap_or_default();
            let tail = &lines[lines.len().saturating_sub(60)..];
            eprintln!(
                "--- portico-gateway log tail ({}, dir kept) ---\n{}\n--- end of log ---",
                self.log_path.display(),
                tail.join("\n")
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

// ---------------------------------------------------------------------------
// upstream servers

/// Requests a [`recorder`] received: headers and body.
pub type Recorded = Arc<std::sync::Mutex<Vec<(http::HeaderMap, Bytes)>>>;

/// An HTTP server on loopback that hands every request's headers and body to
/// `on` and answers 200, or 500 to the first `fail_first`.
async fn serve_requests<F, Fut>(fail_first: usize, on: F) -> (SocketAddr, Arc<AtomicUsize>)
where
    F: Fn(http::HeaderMap, Bytes) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = listener.accept().await else {
                return;
            };
            let (on, c) = (on.clone(), c.clone());
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: http::Request<Incoming>| {
                    let (on, c) = (on.clone(), c.clone());
                    async move {
                        let n = c.fetch_add(1, Ordering::SeqCst);
                        let (parts, body) = req.into_parts();
                        let body = body
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let mut r = http::Response::new(Full::new(Bytes::new()));
                        if n < fail_first {
                            *r.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
                        } else {
                            on(parts.headers, body).await;
                        }
                        Ok::<_, Infallible>(r)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    (addr, calls)
}

/// Records every request (headers and body); fails the first `fail_first`.
pub async fn recorder(fail_first: usize) -> (SocketAddr, Recorded, Arc<AtomicUsize>) {
    let got: Recorded = Arc::default();
    let g = got.clone();
    let (addr, calls) = serve_requests(fail_first, move |h, b| {
        let g = g.clone();
        async move {
            if let Ok(mut g) = g.lock() {
                g.push((h, b));
            }
        }
    })
    .await;
    (addr, got, calls)
}

/// A log collector: records every JSON body it receives; fails the first
/// `fail_first`.
pub async fn collector(
    fail_first: usize,
) -> (
    SocketAddr,
    Arc<tokio::sync::Mutex<Vec<serde_json::Value>>>,
    Arc<AtomicUsize>,
) {
    let got = Arc::new(tokio::sync::Mutex::new(Vec::new()));
    let g = got.clone();
    let (addr, calls) = serve_requests(fail_first, move |_, b| {
        let g = g.clone();
        async move {
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&b) {
                g.lock().await.push(v);
            }
        }
    })
    .await;
    (addr, got, calls)
}

/// Shared state of an [`EchoServer`], readable and switchable by tests.
#[derive(Debug)]
pub struct EchoState {
    pub name: String,
    /// Requests received, `/health` probes excepted.
    pub hits: Arc<AtomicUsize>,
    /// What `/health` answers: 200 when true, 500 when false.
    pub healthy: Arc<AtomicBool>,
    /// `/health` probes received.
    pub health_checks: AtomicUsize,
    /// Requests being handled right now.
    pub in_flight: AtomicUsize,
    /// When non-zero, every request (but `/health`) gets this status.
    pub force_status: AtomicU16,
    /// Request-body bytes received so far, counted as they arrive.
    pub body_bytes: AtomicUsize,
    /// Permits that let `/gated/<n>` send its next chunk.
    pub gate: tokio::sync::Semaphore,
    /// Whether it speaks TLS.
    pub tls: bool,
}

/// An upstream on 127.0.0.1 (HTTP/1.1 and HTTP/2, optionally over TLS) that answers
/// JSON `{"server", "method", "path", "version", "headers", "body", "body_len",
/// "body_sha256", "tls", "sni"}` describing the request it got. Special paths:
/// `/status/<code>`, `/sleep/<ms>`, `/bytes/<n>` (n bytes of [`pattern`], streamed in
/// 64 KiB chunks), `/gated/<n>` (n chunks, each after the first waiting for a permit
/// of [`EchoState::gate`]), `/health` (200, or 500 while `healthy` is false) and
/// `/ws` (a WebSocket echo). A request header `x-echo-set: Name: value` adds that
/// header to the response.
pub struct EchoServer {
    pub name: String,
    pub addr: SocketAddr,
    pub hits: Arc<AtomicUsize>,
    pub healthy: Arc<AtomicBool>,
    pub state: Arc<EchoState>,
    /// The CA that signed the certificate it serves (TLS variant).
    pub cert_der: Option<Vec<u8>>,
    /// The same CA as PEM (TLS variant), e.g. for a `ca_certificates` entry.
    pub cert_pem: Option<String>,
    task: JoinHandle<()>,
}

impl EchoServer {
    pub async fn start(name: &str) -> EchoServer {
        Self::start_inner(name, None).await
    }

    /// A TLS variant with a self-signed certificate for `names` (ALPN h2, http/1.1).
    pub async fn start_tls(name: &str, names: &[&str]) -> EchoServer {
        init_crypto();
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        // a CA of its own, and a server certificate it signed
        let ca_key = rcgen::KeyPair::generate().expect("rcgen");
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).expect("rcgen");
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, format!("{name} test CA"));
        let ca_cert = ca.self_signed(&ca_key).expect("rcgen");
        let issuer = rcgen::Issuer::new(ca, ca_key);
        let key = rcgen::KeyPair::generate().expect("rcgen");
        let leaf = rcgen::CertificateParams::new(names)
            .expect("rcgen")
            .signed_by(&key, &issuer)
            .expect("rcgen");
        let key = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).expect("key der");
        let mut cfg = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![leaf.der().clone()], key)
            .expect("server config");
        cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let mut s = Self::start_inner(name, Some(Arc::new(cfg))).await;
        s.cert_der = Some(ca_cert.der().to_vec());
        s.cert_pem = Some(ca_cert.pem());
        s
    }

    async fn start_inner(name: &str, tls: Option<Arc<rustls::ServerConfig>>) -> EchoServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("cannot bind an upstream");
        let addr = listener.local_addr().expect("local_addr");
        let state = Arc::new(EchoState {
            name: name.to_string(),
            hits: Arc::new(AtomicUsize::new(0)),
            healthy: Arc::new(AtomicBool::new(true)),
            health_checks: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            force_status: AtomicU16::new(0),
            body_bytes: AtomicUsize::new(0),
            gate: tokio::sync::Semaphore::new(0),
            tls: tls.is_some(),
        });
        let st = state.clone();
        let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let st = st.clone();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    match acceptor {
                        None => serve_echo(TokioIo::new(stream), st, None).await,
                        Some(a) => {
                            let Ok(s) = a.accept(stream).await else {
                                return;
                            };
                            let sni = s.get_ref().1.server_name().map(str::to_string);
                            serve_echo(TokioIo::new(s), st, sni).await;
                        }
                    }
                });
            }
        });
        EchoServer {
            name: name.to_string(),
            addr,
            hits: state.hits.clone(),
            healthy: state.healthy.clone(),
            state,
            cert_der: None,
            cert_pem: None,
            task,
        }
    }

    /// `127.0.0.1:<port>`, as a target is written.
    pub fn target(&self) -> String {
        self.addr.to_string()
    }

    /// `http://127.0.0.1:<port>` (or https for the TLS variant), a service url.
    pub fn url(&self) -> String {
        let scheme = if self.state.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    pub fn set_healthy(&self, h: bool) {
        self.healthy.store(h, Ordering::SeqCst);
    }

    /// Every request (but `/health`) gets `status`; 0 turns it off.
    pub fn force_status(&self, status: u16) {
        self.state.force_status.store(status, Ordering::SeqCst);
    }

    /// Stops accepting connections (new connects are refused).
    pub fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_echo<I>(io: TokioIo<I>, st: Arc<EchoState>, sni: Option<String>)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let sni = Arc::new(sni);
    let svc = service_fn(move |req| echo(st.clone(), sni.clone(), req));
    let _ = auto::Builder::new(TokioExecutor::new())
        .serve_connection_with_upgrades(io, svc)
        .await;
}

type EchoBody = BoxBody<Bytes, Infallible>;

fn full_body(b: impl Into<Bytes>) -> EchoBody {
    Full::new(b.into()).boxed()
}

struct InFlight(Arc<EchoState>);
impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// `n` deterministic bytes (`i % 251`), what `/bytes/<n>` sends.
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

/// Hex SHA-256.
pub fn sha256_hex(b: &[u8]) -> String {
    sha2::Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

async fn echo(
    st: Arc<EchoState>,
    sni: Arc<Option<String>>,
    mut req: Request<Incoming>,
) -> Result<Response<EchoBody>, Infallible> {
    let path = req.uri().path().to_string();
    if path == "/health" {
        st.health_checks.fetch_add(1, Ordering::SeqCst);
        let code = if st.healthy.load(Ordering::SeqCst) {
            StatusCode::OK
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        let mut r = Response::new(full_body(format!("{{\"healthy\":{}}}", code == 200)));
        *r.status_mut() = code;
        return Ok(r);
    }
    st.hits.fetch_add(1, Ordering::SeqCst);
    st.in_flight.fetch_add(1, Ordering::SeqCst);
    let _in_flight = InFlight(st.clone());

    if path == "/ws"
        && req
            .headers()
            .get(http::header::UPGRADE)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"))
    {
        return Ok(ws_upgrade(&mut req));
    }

    let mut status = StatusCode::OK;
    let forced = st.force_status.load(Ordering::SeqCst);
    if forced != 0 {
        status = StatusCode::from_u16(forced).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    }
    if let Some(Ok(c)) = path.strip_prefix("/status/").map(str::parse::<u16>) {
        status = StatusCode::from_u16(c).unwrap_or(StatusCode::BAD_REQUEST);
    }
    if let Some(Ok(ms)) = path.strip_prefix("/sleep/").map(str::parse::<u64>) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let extra: Vec<(String, String)> = req
        .headers()
        .get_all("x-echo-set")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();

    if let Some(n) = path
        .strip_prefix("/bytes/")
        .and_then(|n| n.parse::<usize>().ok())
    {
        let body = stream_bytes(n);
        let mut r = Response::new(body);
        *r.status_mut() = status;
        r.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/octet-stream"),
        );
        add_headers(&mut r, &st.name, &extra);
        return Ok(r);
    }
    if let Some(n) = path
        .strip_prefix("/gated/")
        .and_then(|n| n.parse::<usize>().ok())
    {
        let body = gated(st.clone(), n);
        let mut r = Response::new(body);
        add_headers(&mut r, &st.name, &extra);
        return Ok(r);
    }

    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in req.headers() {
        let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
        headers
            .entry(k.as_str().to_string())
            .and_modify(|old| {
                old.push_str(", ");
                old.push_str(&v);
            })
            .or_insert(v);
    }
    let method = req.method().to_string();
    let path_q = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let version = format!("{:?}", req.version());
    let host_uri = req.uri().authority().map(|a| a.to_string());
    // read the body frame by frame, counting bytes as they arrive
    let mut body = req.into_body();
    let mut data = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { break };
        if let Some(d) = frame.data_ref() {
            st.body_bytes.fetch_add(d.len(), Ordering::SeqCst);
            data.extend_from_slice(d);
        }
    }
    let v = json!({
        "server": st.name,
        "method": method,
        "path": path_q,
        "version": version,
        "authority": host_uri,
        "headers": headers,
        "body": if data.len() <= 1 << 20 { String::from_utf8_lossy(&data).into_owned() } else { String::new() },
        "body_len": data.len(),
        "body_sha256": sha256_hex(&data),
        "tls": st.tls,
        "sni": *sni,
    });
    let mut r = Response::new(full_body(v.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    add_headers(&mut r, &st.name, &extra);
    Ok(r)
}

fn add_headers(r: &mut Response<EchoBody>, name: &str, extra: &[(String, String)]) {
    if let Ok(v) = http::HeaderValue::from_str(name) {
        r.headers_mut().insert("x-echo-server", v);
    }
    for (k, v) in extra {
        if let (Ok(k), Ok(v)) = (
            http::HeaderName::from_bytes(k.as_bytes()),
            http::HeaderValue::from_str(v),
        ) {
            r.headers_mut().append(k, v);
        }
    }
}

fn stream_bytes(n: usize) -> EchoBody {
    const CHUNK: usize = 64 * 1024;
    let s = futures_util::stream::unfold(0usize, move |sent| async move {
        if sent >= n {
            return None;
        }
        let len = CHUNK.min(n - sent);
        let chunk: Vec<u8> = (sent..sent + len).map(|i| (i % 251) as u8).collect();
        Some((
            Ok::<_, Infallible>(Frame::data(Bytes::from(chunk))),
            sent + len,
        ))
    });
    StreamBody::new(s).boxed()
}

fn gated(st: Arc<EchoState>, n: usize) -> EchoBody {
    let s = futures_util::stream::unfold(0usize, move |k| {
        let st = st.clone();
        async move {
            if k >= n {
                return None;
            }
            if k > 0 {
                let p = st.gate.acquire().await.ok()?;
                p.forget();
            }
            Some((
                Ok::<_, Infallible>(Frame::data(Bytes::from(format!("chunk-{k}\n")))),
                k + 1,
            ))
        }
    });
    StreamBody::new(s).boxed()
}

fn ws_upgrade(req: &mut Request<Incoming>) -> Response<EchoBody> {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::protocol::{Message, Role};
    let key = req
        .headers()
        .get("sec-websocket-key")
        .map(|k| k.as_bytes().to_vec())
        .unwrap_or_default();
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(&key);
    let on = hyper::upgrade::on(req);
    tokio::spawn(async move {
        let Ok(up) = on.await else { return };
        let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
            TokioIo::new(up),
            Role::Server,
            None,
        )
        .await;
        while let Some(Ok(msg)) = ws.next().await {
            let echo = matches!(msg, Message::Text(_) | Message::Binary(_));
            if matches!(msg, Message::Close(_)) || (echo && ws.send(msg).await.is_err()) {
                break;
            }
        }
    });
    let mut r = Response::new(full_body(Bytes::new()));
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(
        http::header::UPGRADE,
        http::HeaderValue::from_static("websocket"),
    );
    h.insert(
        http::header::CONNECTION,
        http::HeaderValue::from_static("Upgrade"),
    );
    if let Ok(v) = http::HeaderValue::from_str(&accept) {
        h.insert("sec-websocket-accept", v);
    }
    r
}

/// An upstream that accepts connections and never reads from them nor answers
/// (a stuck server): what the gateway writes piles up in the socket buffers.
pub struct SilentServer {
    pub addr: SocketAddr,
    pub connections: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl SilentServer {
    pub async fn start() -> SilentServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local_addr");
        let connections = Arc::new(AtomicUsize::new(0));
        let n = connections.clone();
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = listener.accept().await {
                n.fetch_add(1, Ordering::SeqCst);
                held.push(s);
            }
        });
        SilentServer {
            addr,
            connections,
            task,
        }
    }
}

impl Drop for SilentServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A raw HTTP/1.1 upstream that answers the first request on each connection with
/// `200` and `Connection: keep-alive`, then reads the next request on that
/// connection and closes it without answering: what an upstream whose keep-alive
/// timeout fires just as a reused connection is written to looks like.
pub struct ClosingServer {
    pub addr: SocketAddr,
    /// Connections accepted.
    pub connections: Arc<AtomicUsize>,
    /// Requests answered with 200.
    pub answered: Arc<AtomicUsize>,
    /// Requests read and then dropped by closing the connection.
    pub dropped: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl ClosingServer {
    pub async fn start() -> ClosingServer {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local_addr");
        let connections = Arc::new(AtomicUsize::new(0));
        let answered = Arc::new(AtomicUsize::new(0));
        let dropped = Arc::new(AtomicUsize::new(0));
        let (c, a, d) = (connections.clone(), answered.clone(), dropped.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let conn = c.fetch_add(1, Ordering::SeqCst);
                let (a, d) = (a.clone(), d.clone());
                tokio::spawn(async move {
                    // reads one request head (these tests send no request bodies)
                    async fn read_head(s: &mut TcpStream) -> bool {
                        let mut buf = Vec::new();
                        let mut b = [0u8; 4096];
                        loop {
                            match s.read(&mut b).await {
                                Ok(0) | Err(_) => return false,
                                Ok(n) => buf.extend_from_slice(&b[..n]),
                            }
                            if buf.windows(4).any(|w| w == b"\r\n\r\n") {
                                return true;
                            }
                        }
                    }
                    if !read_head(&mut s).await {
                        return;
                    }
                    let body = format!("{{\"server\":\"closing\",\"connection\":{conn}}}");
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: keep-alive\r\n\r\n{body}",
                        body.len()
                    );
                    if s.write_all(resp.as_bytes()).await.is_err() {
                        return;
                    }
                    a.fetch_add(1, Ordering::SeqCst);
                    if read_head(&mut s).await {
                        d.fetch_add(1, Ordering::SeqCst);
                    }
                    // dropping the stream closes the connection unanswered
                });
            }
        });
        ClosingServer {
            addr,
            connections,
            answered,
            dropped,
            task,
        }
    }
}

impl Drop for ClosingServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A listening socket that never accepts, with its accept queue filled up, so a
/// new connect to it hangs (the kernel drops the SYN): a connect timeout on
/// loopback. Keep it alive for as long as connects should hang.
pub struct UnacceptingListener {
    pub addr: SocketAddr,
    _listener: tokio::net::TcpListener,
    _queued: Vec<std::net::TcpStream>,
}

impl UnacceptingListener {
    pub async fn start() -> UnacceptingListener {
        let sock = tokio::net::TcpSocket::new_v4().expect("socket");
        sock.bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .expect("bind");
        let listener = sock.listen(1).expect("listen");
        let addr = listener.local_addr().expect("local_addr");
        let mut queued = Vec::new();
        let mut full = false;
        for _ in 0..64 {
            let r = tokio::task::spawn_blocking(move || {
                std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300))
            })
            .await
            .expect("join");
            match r {
                Ok(s) => queued.push(s),
                Err(_) => {
                    full = true;
                    break;
                }
            }
        }
        assert!(full, "could not fill the accept queue of {addr}");
        UnacceptingListener {
            addr,
            _listener: listener,
            _queued: queued,
        }
    }
}

// ---------------------------------------------------------------------------
// clients

/// Installs rustls' ring provider as the process default (reqwest is built with
/// `rustls-no-provider`); idempotent.
pub fn init_crypto() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

fn builder() -> reqwest::ClientBuilder {
    init_crypto();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(Duration::from_secs(30))
}

/// A plain HTTP/1.1 client that does not follow redirects.
pub fn client() -> reqwest::Client {
    builder().build().expect("reqwest client")
}

/// An HTTP/2 prior-knowledge (h2c) client.
pub fn h2c_client() -> reqwest::Client {
    builder()
        .http2_prior_knowledge()
        .build()
        .expect("reqwest client")
}

/// A TLS client that accepts any certificate and records the peer's
/// (`reqwest::tls::TlsInfo` in the response extensions).
pub fn tls_client() -> reqwest::Client {
    tls_builder().build().expect("reqwest client")
}

/// [`tls_client`] with `host` resolving to `addr` (for SNI tests:
/// `https://<host>:<port>/`).
pub fn tls_client_resolving(hosts: &[&str], addr: SocketAddr) -> reqwest::Client {
    let mut b = tls_builder();
    for h in hosts {
        b = b.resolve(h, addr);
    }
    b.build().expect("reqwest client")
}

fn tls_builder() -> reqwest::ClientBuilder {
    builder().danger_accept_invalid_certs(true).tls_info(true)
}

/// A response read to its end.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub version: http::Version,
    pub headers: http::HeaderMap,
    pub body: Bytes,
    /// The TLS peer certificate (DER), when the client recorded it.
    pub peer_cert: Option<Vec<u8>>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {}: body is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The echo server that answered (`server` of its JSON).
    pub fn server(&self) -> String {
        self.json()["server"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// A request header as the upstream saw it.
    pub fn upstream_header(&self, name: &str) -> Option<String> {
        self.json()["headers"][name].as_str().map(str::to_string)
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

/// Sends a request and reads the whole response.
pub async fn send(rb: reqwest::RequestBuilder) -> Reply {
    let r = rb
        .send()
        .await
        .unwrap_or_else(|e| panic!("request failed: {e:?}"));
    let peer_cert = r
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|t| t.peer_certificate())
        .map(<[u8]>::to_vec);
    let status = r.status().as_u16();
    let version = r.version();
    let headers = r.headers().clone();
    let body = r
        .bytes()
        .await
        .unwrap_or_else(|e| panic!("reading the body failed: {e:?}"));
    Reply {
        status,
        version,
        headers,
        body,
        peer_cert,
    }
}

/// `GET url` with a plain client.
pub async fn get(url: &str) -> Reply {
    send(client().get(url)).await
}

/// A raw HTTP/1.1 connection (hyper) for requests reqwest cannot make, such as a
/// request body streamed chunk by chunk.
pub async fn raw_h1<B>(addr: SocketAddr) -> hyper::client::conn::http1::SendRequest<B>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .expect("http1 handshake");
    tokio::spawn(conn.with_upgrades());
    sender
}

/// A request body fed from a channel: each `Bytes` sent becomes one frame; dropping
/// the sender ends the body.
pub fn channel_body() -> (tokio::sync::mpsc::Sender<Bytes>, BoxBody<Bytes, Infallible>) {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    let s = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, Infallible>(Frame::data(b)), rx))
    });
    (tx, StreamBody::new(s).boxed())
}

/// Writes `text` to a fresh file in a fresh temp dir; returns the dir and the file.
pub fn write_temp_file(name: &str, text: &str) -> (PathBuf, PathBuf) {
    let dir = make_temp_dir("portico-it-file");
    let f = dir.join(name);
    std::fs::write(&f, text).expect("cannot write a temp file");
    (dir, f)
}

/// Removes a directory made by [`make_temp_dir`] (ignoring errors).
pub fn remove_dir(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
}

//! `portico serve`: opens (and migrates) the database, binds the secret key to it,
//! creates the organization on first start, assembles the platform's state and
//! starts the admin API and the cluster endpoint.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::http;
use crate::seal::Sealer;
use crate::state::AppState;
use crate::store;

pub struct Options {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    /// A token to create on first start instead of a random one.
    pub admin_token: Option<String>,
    /// The cluster endpoint (mutual TLS) for gateway nodes; `None`: off.
    pub cluster_listen: Option<SocketAddr>,
    /// Names in the cluster endpoint's certificate.
    pub cluster_hostnames: Vec<String>,
    /// How many versions the change log keeps per control plane; a subscriber
    /// (or node) further behind gets a snapshot.
    pub change_log_retention: i64,
    /// Every audit entry is also POSTed here as JSON (retried, bounded queue).
    pub audit_webhook: Option<String>,
    /// Serve the API over HTTPS with this certificate chain and key (PEM).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Expose the failure-injection endpoints tests use (off by default).
    pub test_hooks: bool,
    /// Items (entities, rows, nodes) one request may return in all.
    pub max_request_items: usize,
    /// Origins whose web pages may call the API (CORS); none by default.
    pub cors_allowed_origins: Vec<String>,
    /// Mail to developers goes out here (`smtp://host:port`); none: the outbox.
    pub smtp_url: Option<String>,
    /// The sender of that mail.
    pub mail_from: String,
}

/// A running platform (for tests and `portico up`).
pub struct Running {
    pub addr: SocketAddr,
    /// Whether the API is served over HTTPS.
    pub tls: bool,
    pub cluster_addr: Option<SocketAddr>,
    pub state: AppState,
    pub task: tokio::task::JoinHandle<()>,
}

/// The SQLite database file, created 0600 before SQLite opens it (SQLite gives
/// its WAL and shared-memory files the same mode).
fn sqlite_file(data_dir: &Path) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = data_dir.join("portico.db");
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&file)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", file.display()))?;
    crate::files::restrict(&file, 0o600)?;
    Ok(file)
}

/// The SQLite files, whatever created them: 0600.
fn restrict_sqlite(file: &Path) -> anyhow::Result<()> {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = file.as_os_str().to_owned();
        p.push(suffix);
        crate::files::restrict_if_exists(Path::new(&p))?;
    }
    Ok(())
}

pub async fn start(opts: Options) -> anyhow::Result<Running> {
    crate::files::private_dir(&opts.data_dir)?;
    let sqlite = match &opts.database_url {
        Some(_) => None,
        None => Some(sqlite_file(&opts.data_dir)?),
    };
    let url = match (&opts.database_url, &sqlite) {
        (Some(u), _) => u.clone(),
        (None, Some(f)) => format!("sqlite://{}?mode=rwc", f.display()),
        (None, None) => anyhow::bail!("no database"),
    };
    let tls = match &opts.tls {
        Some((cert, key)) => Some(http::tls_acceptor(cert, key)?),
        None => None,
    };
    let sealer = Arc::new(Sealer::load(&opts.data_dir)?);
    let db = store::connect(&url).await?;
    if let Some(f) = &sqlite {
        restrict_sqlite(f)?;
    }
    // first start: the predefined teams, the organization owner and a token
    let email = std::env::var("PORTICO_ADMIN_EMAIL").unwrap_or_else(|_| "admin@localhost".into());
    let password = std::env::var("PORTICO_ADMIN_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty());
    if let Some(b) =
        crate::auth::bootstrap::bootstrap(&db, &email, password, opts.admin_token.clone()).await?
    {
        println!("organization owner: {}", b.email);
        match &b.password {
            Some(p) => {
                let file = opts.data_dir.join(OWNER_PASSWORD_FILE);
                crate::files::write_private(&file, p)?;
                println!(
                    "owner password written to {} (readable by you only; delete it once kept elsewhere)",
                    file.display()
                );
            }
            None => println!("owner password: from PORTICO_ADMIN_PASSWORD"),
        }
        match &b.token {
            Some(t) => println!("admin token (shown once, keep it): {t}"),
            None => println!("admin token created (the one given)"),
        }
    }
    let mut state = AppState::assemble(db, sealer, opts.change_log_retention).await?;
    state.mailer = crate::portal::mail::Mailer::new(
        state.db.clone(),
        opts.smtp_url.as_deref(),
        &opts.mail_from,
    )?;
    if let Some(url) = &opts.audit_webhook {
        state.audit.start_webhook(url.clone())?;
    }
    let cluster_addr = match opts.cluster_listen {
        Some(a) => Some(crate::cluster::serve(state.cluster(), a, &opts.cluster_hostnames).await?),
        None => None,
    };
    if url.starts_with("postgres") {
        crate::replicas::listen(state.clone(), url.clone());
    }
    let cors = http::CorsOrigins::parse(&opts.cors_allowed_origins)?;
    let router = http::router(state.clone(), opts.max_request_items, opts.test_hooks, cors);
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot listen on {} ({e}); choose another address with --listen",
                opts.listen
            )
        })?;
    let addr = listener.local_addr()?;
    if !addr.ip().is_loopback() && tls.is_none() {
        let msg = format!(
            "the admin API on {addr} is reachable from other machines without TLS: tokens and passwords cross the network in clear. Give --tls-cert and --tls-key, or listen on 127.0.0.1"
        );
        tracing::warn!("{msg}");
        eprintln!("WARNING: {msg}");
    }
    let https = tls.is_some();
    let stopping = state.clone();
    let task = tokio::spawn(async move {
        http::serve(listener, router, tls).await;
        stopping.stop();
    });
    Ok(Running {
        addr,
        tls: https,
        cluster_addr,
        state,
        task,
    })
}

/// Where a generated owner password is written on first start.
pub const OWNER_PASSWORD_FILE: &str = "owner-password";

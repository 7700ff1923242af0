//! The `portico` command line: `serve` (the platform), `up` (everything on one
//! machine), and decK-style automation (`apply`, `diff`, `dump`).

pub mod deck;
pub mod serve;
pub mod up;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "portico",
    version,
    about = "Portico platform: control planes and their gateway configuration over GraphQL"
)]
pub struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Args)]
struct Remote {
    /// The platform's address.
    #[arg(long, env = "PORTICO_URL", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// An API token (the admin token printed on first start).
    #[arg(long, env = "PORTICO_TOKEN", hide_env_values = true)]
    token: String,
    /// The control plane (name).
    #[arg(long = "control-plane", default_value = "default")]
    control_plane: String,
    /// Only entities with all these tags are managed (decK's --select-tag).
    #[arg(long = "select-tag")]
    select_tags: Vec<String>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the platform: GraphQL API on /graphql, subscriptions on /graphql/ws.
    Serve {
        /// The admin API's address. Loopback by default: to listen publicly, give
        /// an address and --tls-cert/--tls-key.
        #[arg(long, env = "PORTICO_LISTEN", default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// Serve the admin API over HTTPS with this certificate chain (PEM).
        #[arg(long = "tls-cert", env = "PORTICO_TLS_CERT", requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The private key of --tls-cert (PEM).
        #[arg(long = "tls-key", env = "PORTICO_TLS_KEY", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Expose failure-injection endpoints for tests and drills (never in
        /// production).
        #[arg(long = "enable-test-hooks", env = "PORTICO_TEST_HOOKS", hide = true)]
        test_hooks: bool,
        /// Items (entities, audit rows, nodes) one GraphQL request may return in
        /// all; a query asking for more is refused before it is answered.
        #[arg(long = "max-request-items", env = "PORTICO_MAX_REQUEST_ITEMS", default_value_t = crate::graphql::limits::MAX_ITEMS)]
        max_request_items: usize,
        /// Where the embedded SQLite database lives.
        #[arg(long, env = "PORTICO_DATA_DIR", default_value = "portico-data")]
        data_dir: PathBuf,
        /// postgres://... to use PostgreSQL instead of SQLite.
        #[arg(long, env = "DATABASE_URL")]
        database_url: Option<String>,
        /// The admin token to create on first start (default: a random one, printed once).
        #[arg(long, env = "PORTICO_ADMIN_TOKEN", hide_env_values = true)]
        admin_token: Option<String>,
        /// The cluster endpoint gateway nodes connect to (mutual TLS).
        #[arg(long, env = "PORTICO_CLUSTER_LISTEN", default_value = "0.0.0.0:8005")]
        cluster_listen: std::net::SocketAddr,
        /// Versions the change log keeps per control plane (older subscribers get a snapshot).
        #[arg(
            long = "change-log-retention",
            env = "PORTICO_CHANGE_LOG_RETENTION",
            default_value_t = 10_000
        )]
        change_log_retention: i64,
        /// POST every audit log entry (JSON) to this URL too.
        #[arg(long = "audit-webhook", env = "PORTICO_AUDIT_WEBHOOK")]
        audit_webhook: Option<String>,
        /// Host names (and IPs) in the cluster endpoint's certificate.
        #[arg(long = "cluster-hostname", default_values = ["localhost", "127.0.0.1"])]
        cluster_hostnames: Vec<String>,
        /// Origins (scheme://host[:port], comma-separated, or *) whose web pages
        /// may call the API with a bearer token (CORS). None by default.
        #[arg(
            long = "cors-allowed-origins",
            env = "PORTICO_CORS_ALLOWED_ORIGINS",
            value_delimiter = ','
        )]
        cors_allowed_origins: Vec<String>,
        /// Send mail to developers through this SMTP server (smtp://host:port,
        /// smtp+starttls://, smtps://, with user:password@ if needed). Without
        /// it, mail is kept in the outbox (the `mailOutbox` query).
        #[arg(long = "smtp-url", env = "PORTICO_SMTP_URL", hide_env_values = true)]
        smtp_url: Option<String>,
        /// The sender of mail to developers.
        #[arg(
            long = "mail-from",
            env = "PORTICO_MAIL_FROM",
            default_value = "Portico <portal@localhost>"
        )]
        mail_from: String,
    },
    /// Everything on one machine: the platform on SQLite, an embedded gateway node
    /// connected through the cluster protocol, a demo upstream and control plane.
    Up {
        #[arg(long, env = "PORTICO_DATA_DIR", default_value = "portico-data")]
        data_dir: PathBuf,
        /// Everything listens on loopback unless told otherwise.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        #[arg(long = "cluster-listen", default_value = "127.0.0.1:8005")]
        cluster_listen: std::net::SocketAddr,
        #[arg(long = "proxy-listen", default_value = "127.0.0.1:8000")]
        proxy_listen: std::net::SocketAddr,
        #[arg(long = "proxy-listen-tls", default_value = "127.0.0.1:8443")]
        proxy_listen_tls: std::net::SocketAddr,
        #[arg(long = "status-listen", default_value = "127.0.0.1:8100")]
        status_listen: std::net::SocketAddr,
        /// The built-in demo upstream.
        #[arg(long = "echo-listen", default_value = "127.0.0.1:9000")]
        echo_listen: std::net::SocketAddr,
        /// Origins whose web pages may call the API (CORS); none by default.
        #[arg(
            long = "cors-allowed-origins",
            env = "PORTICO_CORS_ALLOWED_ORIGINS",
            value_delimiter = ','
        )]
        cors_allowed_origins: Vec<String>,
    },
    /// Make a control plane match a decK file, in one transaction. Prints the plan.
    Apply {
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        /// Print the plan only.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Print what `apply` would change; exit code 2 when there are changes.
    Diff {
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        #[command(flatten)]
        remote: Remote,
    },
    /// Write a control plane's config as a decK file that `apply` accepts back.
    Dump {
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
        /// Include secrets in their stored form (hashes, values sealed with the
        /// platform's key): the file then restores the plane on this platform.
        #[arg(long = "with-secrets")]
        with_secrets: bool,
        /// Also write the API catalog and the portals (`apis:`, `portals:`).
        #[arg(long)]
        catalog: bool,
        #[command(flatten)]
        remote: Remote,
    },
}

pub async fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.cmd {
        Cmd::Serve {
            listen,
            tls_cert,
            tls_key,
            test_hooks,
            max_request_items,
            data_dir,
            database_url,
            admin_token,
            cluster_listen,
            cluster_hostnames,
            change_log_retention,
            audit_webhook,
            cors_allowed_origins,
            smtp_url,
            mail_from,
        } => {
            let r = serve::start(serve::Options {
                listen,
                data_dir,
                database_url,
                admin_token,
                cluster_listen: Some(cluster_listen),
                cluster_hostnames,
                change_log_retention,
                audit_webhook,
                tls: tls_cert.zip(tls_key),
                test_hooks,
                max_request_items,
                cors_allowed_origins,
                smtp_url,
                mail_from,
            })
            .await?;
            if let Some(c) = r.cluster_addr {
                println!("cluster endpoint for gateway nodes on https://{c} (mutual TLS)");
            }
            println!(
                "portico platform listening on {}://{} (GraphQL at /graphql)",
                if r.tls { "https" } else { "http" },
                r.addr
            );
            tokio::select! {
                _ = r.task => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            Ok(0)
        }
        Cmd::Up {
            data_dir,
            listen,
            cluster_listen,
            proxy_listen,
            proxy_listen_tls,
            status_listen,
            echo_listen,
            cors_allowed_origins,
        } => {
            up::up(up::UpOptions {
                data_dir,
                listen,
                cluster_listen,
                proxy_listen,
                proxy_listen_tls,
                status_listen,
                echo_listen,
                cors_allowed_origins,
            })
            .await?;
            Ok(0)
        }
        Cmd::Apply {
            file,
            dry_run,
            remote,
        } => {
            let c = deck::Client::new(&remote.server, &remote.token)?;
            deck::apply(
                &c,
                &file,
                &remote.control_plane,
                &remote.select_tags,
                dry_run,
            )
            .await?;
            Ok(0)
        }
        Cmd::Diff { file, remote } => {
            let c = deck::Client::new(&remote.server, &remote.token)?;
            let empty =
                deck::apply(&c, &file, &remote.control_plane, &remote.select_tags, true).await?;
            Ok(if empty { 0 } else { 2 })
        }
        Cmd::Dump {
            output,
            with_secrets,
            catalog,
            remote,
        } => {
            let c = deck::Client::new(&remote.server, &remote.token)?;
            deck::dump(
                &c,
                &remote.control_plane,
                output.as_ref(),
                &remote.select_tags,
                with_secrets,
                catalog,
            )
            .await?;
            Ok(0)
        }
    }
}

//! `portico-gateway`: Portico's gateway node.
//!
//! Run with `portico-gateway --config kong.yaml --proxy-listen 127.0.0.1:8000`, or
//! check a file with `portico-gateway validate kong.yaml`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use gateway_node::node::Node;

// mimalloc: the proxy allocates many small, short-lived buffers per request and
// large trees per config build; glibc's malloc fragments under both.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(
    name = "portico-gateway",
    version,
    about = "Portico gateway node: a fast reverse proxy with Kong's routing, configured by a decK (kong.yaml) file"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    /// The decK file (YAML or JSON) to serve; reloaded when it changes and on SIGHUP.
    #[arg(short, long, env = "PORTICO_CONFIG")]
    config: Option<PathBuf>,

    /// Plain-HTTP proxy address (repeatable), e.g. 0.0.0.0:80.
    #[arg(long = "proxy-listen", value_name = "ADDR")]
    proxy_listen: Vec<SocketAddr>,

    /// TLS proxy address (repeatable). Default when no listener is given: 0.0.0.0:443.
    #[arg(long = "proxy-listen-tls", value_name = "ADDR")]
    proxy_listen_tls: Vec<SocketAddr>,

    /// Status API address (/status, /status/ready).
    #[arg(
        long = "status-listen",
        value_name = "ADDR",
        default_value = "127.0.0.1:8100"
    )]
    status_listen: SocketAddr,

    /// How often the config file is checked for changes, in milliseconds.
    #[arg(long = "watch-interval-ms", default_value_t = 1000)]
    watch_interval_ms: u64,

    /// Log format.
    #[arg(long = "log-format", default_value = "text", value_parser = ["text", "json"])]
    log_format: String,

    /// Hybrid mode: the platform's cluster endpoint, e.g. https://platform:8005.
    /// The node takes its config from there instead of a file.
    #[arg(
        long = "control-plane",
        env = "PORTICO_CONTROL_PLANE",
        value_name = "URL"
    )]
    control_plane: Option<String>,

    /// Hybrid mode: this node's client certificate (PEM).
    #[arg(
        long = "cluster-cert",
        env = "PORTICO_CLUSTER_CERT",
        requires = "control_plane"
    )]
    cluster_cert: Option<PathBuf>,

    /// Hybrid mode: the client certificate's private key (PEM).
    #[arg(
        long = "cluster-key",
        env = "PORTICO_CLUSTER_KEY",
        requires = "control_plane"
    )]
    cluster_key: Option<PathBuf>,

    /// Hybrid mode: the CA that signed the cluster endpoint's certificate (PEM).
    #[arg(
        long = "cluster-ca",
        env = "PORTICO_CLUSTER_CA",
        requires = "control_plane"
    )]
    cluster_ca: Option<PathBuf>,

    /// Hybrid mode: where the last good config is cached.
    #[arg(
        long = "cluster-cache-dir",
        env = "PORTICO_CLUSTER_CACHE_DIR",
        default_value = "portico-node"
    )]
    cluster_cache_dir: PathBuf,

    /// Hybrid mode: a label reported to the platform, key=value (repeatable).
    #[arg(long = "label", value_name = "KEY=VALUE")]
    labels: Vec<String>,

    /// The plugins this node runs, as Kong's `plugins` setting: `bundled` (all),
    /// `off`, or comma-separated names. A config using another one is refused
    /// (and, in hybrid mode, reported to the platform).
    #[arg(long = "plugins", env = "PORTICO_PLUGINS", default_value = "bundled")]
    plugins: String,

    /// Proxy worker threads, each with its own single-threaded runtime (default: one
    /// per core).
    #[arg(long = "worker-threads", env = "PORTICO_WORKER_THREADS")]
    worker_threads: Option<usize>,

    /// A standalone node's analytics: append every batch (10-second cells with
    /// latency sketches, and sampled requests) to this file as JSON lines. Off
    /// when not given.
    #[arg(long = "analytics-file", env = "PORTICO_ANALYTICS_FILE")]
    analytics_file: Option<PathBuf>,

    /// In hybrid mode analytics ship to the platform; this turns them off.
    #[arg(long = "analytics-off")]
    analytics_off: bool,

    /// How often analytics batches are cut (milliseconds).
    #[arg(long = "analytics-flush-ms", default_value_t = 10_000)]
    analytics_flush_ms: u64,

    /// Raw request records kept per batch (errors and slow requests first).
    #[arg(long = "analytics-samples", default_value_t = gateway_node::analytics::SAMPLE_BUDGET)]
    analytics_samples: usize,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check a decK file and print every problem with its path; exit 1 if any.
    Validate {
        /// The file to check.
        file: PathBuf,
    },
    /// Run a small echo upstream (answers every request with JSON describing it),
    /// for demos and load runs.
    Echo {
        #[arg(long, default_value = "127.0.0.1:9000")]
        listen: SocketAddr,
        /// Name reported in each answer.
        #[arg(long, default_value = "echo")]
        name: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let filter = tracing_subscriber::EnvFilter::try_from_env("PORTICO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    if cli.log_format == "json" {
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    } else {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    }

    if let Some(Command::Validate { file }) = &cli.command {
        return validate(file);
    }

    // The main runtime accepts connections, serves /status, reloads the config and
    // runs health checks; requests are served on the worker threads.
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match &cli.command {
        Some(Command::Echo { listen, name }) => {
            rt.block_on(gateway_node::echo::run(*listen, name.clone()))
        }
        _ => rt.block_on(run(cli)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn validate(file: &std::path::Path) -> ExitCode {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            println!("{}: cannot read: {e}", file.display());
            return ExitCode::FAILURE;
        }
    };
    match graphql_schema::load_str(&text) {
        Err(e) => {
            for err in &e.errors {
                println!("{err}");
            }
            ExitCode::FAILURE
        }
        Ok(loaded) => {
            let errors = gateway_node::compiled::check(&loaded.config);
            for w in &loaded.warnings {
                println!("warning: {w}");
            }
            if !errors.is_empty() {
                for e in &errors {
                    println!("{e}");
                }
                return ExitCode::FAILURE;
            }
            let c = loaded.config.counts();
            println!(
                "{}: OK ({} services, {} routes, {} upstreams, {} targets, {} certificates); config hash {}",
                file.display(),
                c.services,
                c.routes,
                c.upstreams,
                c.targets,
                c.certificates,
                loaded.config.hash()
            );
            ExitCode::SUCCESS
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let node = Node::new(cli.config.clone())?;
    node.set_plugins(&cli.plugins)
        .map_err(|e| anyhow::anyhow!(e))?;
    let mut plain = cli.proxy_listen.clone();
    let mut tls = cli.proxy_listen_tls.clone();
    if plain.is_empty() && tls.is_empty() {
        tls.push(SocketAddr::from(([0, 0, 0, 0], 443)));
    }
    plain.dedup();
    tls.dedup();

    if cli.config.is_some() && cli.control_plane.is_some() {
        anyhow::bail!("give either --config (a file) or --control-plane (hybrid mode), not both");
    }
    if let Some(url) = &cli.control_plane {
        let need = |p: &Option<PathBuf>, flag: &str| {
            p.clone()
                .ok_or_else(|| anyhow::anyhow!("--control-plane needs {flag}"))
        };
        let mut labels = serde_json::Map::new();
        for l in &cli.labels {
            let (k, v) = l
                .split_once('=')
                .ok_or_else(|| anyhow::anyhow!("--label {l:?}: expected key=value"))?;
            labels.insert(k.to_string(), serde_json::Value::String(v.to_string()));
        }
        gateway_node::sync::start(
            node.clone(),
            gateway_node::sync::SyncOptions {
                url: url.clone(),
                cert: need(&cli.cluster_cert, "--cluster-cert")?,
                key: need(&cli.cluster_key, "--cluster-key")?,
                ca: need(&cli.cluster_ca, "--cluster-ca")?,
                cache_dir: cli.cluster_cache_dir.clone(),
                labels,
                heartbeat: Duration::from_secs(5),
                analytics: (!cli.analytics_off).then(|| {
                    (
                        std::sync::Arc::new(gateway_node::analytics::Analytics::new(
                            cli.analytics_samples.min(100_000),
                        )),
                        Duration::from_millis(cli.analytics_flush_ms.max(100)),
                    )
                }),
            },
        )
        .await?;
    }
    if cli.config.is_some()
        && let Err(errors) = node.reload().await
    {
        anyhow::bail!(
            "the config file is invalid ({} errors, listed above)",
            errors.len()
        );
    }
    node.watch(Duration::from_millis(cli.watch_interval_ms.max(50)));

    if let Some(path) = &cli.analytics_file {
        let a = std::sync::Arc::new(gateway_node::analytics::Analytics::new(
            cli.analytics_samples.min(100_000),
        ));
        let _ = node.proxy.analytics.set(a.clone());
        gateway_node::analytics::ship(
            a,
            uuid::Uuid::new_v4(),
            Duration::from_millis(cli.analytics_flush_ms.max(100)),
            gateway_node::analytics::Sink::File(path.clone()),
        );
    }

    let workers = cli.worker_threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let _pool = gateway_node::server::start_node(
        node.clone(),
        &gateway_node::server::NodeListen {
            plain: plain.clone(),
            tls: tls.clone(),
            status: cli.status_listen,
            workers,
        },
    )
    .await?;
    tracing::info!(
        proxy = ?plain,
        proxy_tls = ?tls,
        status = %cli.status_listen,
        version = env!("CARGO_PKG_VERSION"),
        "portico-gateway started"
    );

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
    tracing::info!("shutting down");
    Ok(())
}

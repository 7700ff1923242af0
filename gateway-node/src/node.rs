//! A running gateway node: the proxy state, the TLS resolver, and loading the
//! config file (at start, when it changes on disk, and on SIGHUP). A new config is
//! validated and compiled off the request path and swapped in atomically; an
//! invalid one is logged, error by error, and the old one keeps serving.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;

use crate::compiled::compile;
use crate::proxy::Proxy;
use crate::tls::{CertStore, SniResolver};

pub struct Node {
    pub proxy: Arc<Proxy>,
    pub resolver: Arc<SniResolver>,
    pub config_path: Option<PathBuf>,
    pub started: SystemTime,
    pub reloads: AtomicU64,
    pub failed_reloads: AtomicU64,
    /// The errors of the last failed load, cleared by a good one.
    pub last_errors: Mutex<Vec<String>>,
    pub warnings: Mutex<Vec<String>>,
    /// The sync client's state, in hybrid mode.
    pub sync: Mutex<Option<crate::sync::SyncStatus>>,
    /// The plugins this node runs (`--plugins`; Kong's `plugins` setting): `None`
    /// for every bundled one.
    enabled_plugins: std::sync::RwLock<Option<std::collections::BTreeSet<String>>>,
    reload_lock: tokio::sync::Mutex<()>,
}

impl Node {
    pub fn new(config_path: Option<PathBuf>) -> anyhow::Result<Arc<Node>> {
        Ok(Arc::new(Node {
            proxy: Arc::new(Proxy::default()),
            resolver: Arc::new(SniResolver {
                store: ArcSwap::from_pointee(CertStore::default()),
                default: crate::tls::self_signed_default()?,
            }),
            config_path,
            started: SystemTime::now(),
            reloads: AtomicU64::new(0),
            failed_reloads: AtomicU64::new(0),
            last_errors: Mutex::new(Vec::new()),
            warnings: Mutex::new(Vec::new()),
            sync: Mutex::new(None),
            enabled_plugins: std::sync::RwLock::new(None),
            reload_lock: tokio::sync::Mutex::new(()),
        }))
    }

    /// Sets the plugins this node runs from Kong's `plugins` syntax: `bundled`
    /// (every plugin Portico ships), `off` (none), or names, comma-separated
    /// (`bundled` may be one of them).
    pub fn set_plugins(&self, spec: &str) -> Result<(), String> {
        let mut set = std::collections::BTreeSet::new();
        let mut bundled = false;
        for name in spec.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "bundled" => bundled = true,
                "off" => {}
                n if graphql_schema::plugin_config::info(n).is_some() => {
                    set.insert(n.to_string());
                }
                n => return Err(format!("--plugins: unknown plugin '{n}'")),
            }
        }
        if let Ok(mut p) = self.enabled_plugins.write() {
            *p = (!bundled).then_some(set);
        }
        Ok(())
    }

    /// The names of the plugins this node runs.
    pub fn plugins(&self) -> Vec<String> {
        match self.enabled_plugins.read().ok().and_then(|p| p.clone()) {
            Some(set) => set.into_iter().collect(),
            None => graphql_schema::plugin_config::PLUGINS
                .iter()
                .map(|p| p.name.to_string())
                .collect(),
        }
    }

    /// Plugins of `config` this node does not run, as errors at their names.
    fn disabled_plugins(&self, config: &graphql_schema::Config) -> Vec<String> {
        let Some(set) = self.enabled_plugins.read().ok().and_then(|p| p.clone()) else {
            return Vec::new();
        };
        config
            .plugins
            .iter()
            .filter(|p| !set.contains(&p.name))
            .map(|p| {
                format!(
                    "{}.name: plugin '{}' is not enabled on this node; add it to its --plugins",
                    p.source, p.name
                )
            })
            .collect()
    }

    /// Loads the config file and swaps it in. On error the old config stays.
    pub async fn reload(&self) -> Result<(), Vec<String>> {
        let Some(path) = &self.config_path else {
            return Ok(());
        };
        let _g = self.reload_lock.lock().await;
        let result = self.load(path).await;
        match &result {
            Ok(()) => {
                if let Ok(mut e) = self.last_errors.lock() {
                    e.clear();
                }
            }
            Err(errors) => {
                self.failed_reloads.fetch_add(1, Ordering::Relaxed);
                for e in errors {
                    tracing::error!(file = %path.display(), "{e}");
                }
                tracing::error!(file = %path.display(), errors = errors.len(), "config rejected; the previous config keeps serving");
                if let Ok(mut l) = self.last_errors.lock() {
                    *l = errors.clone();
                }
            }
        }
        result
    }

    async fn load(&self, path: &std::path::Path) -> Result<(), Vec<String>> {
        let text = tokio::fs::read_to_string(path)
            .await
            .map_err(|e| vec![format!("cannot read {}: {e}", path.display())])?;
        let loaded = tokio::task::spawn_blocking(move || graphql_schema::load_str(&text))
            .await
            .map_err(|e| vec![format!("internal error: {e}")])?
            .map_err(|e| e.errors.iter().map(|e| e.to_string()).collect::<Vec<_>>())?;
        for w in &loaded.warnings {
            tracing::warn!(file = %path.display(), "{w}");
        }
        if let Ok(mut w) = self.warnings.lock() {
            *w = loaded.warnings.iter().map(|w| w.to_string()).collect();
        }
        self.install(&loaded.config, &path.display().to_string())
            .await
    }

    /// Compiles a validated config and swaps it in (unless it is the one serving).
    /// On error the old config stays.
    pub async fn install(
        &self,
        config: &graphql_schema::Config,
        source: &str,
    ) -> Result<(), Vec<String>> {
        let disabled = self.disabled_plugins(config);
        if !disabled.is_empty() {
            return Err(disabled);
        }
        let current = self.proxy.config.load_full();
        if current.as_ref().is_some_and(|c| c.hash == config.hash()) {
            return Ok(());
        }
        let compiled = compile(config, current.as_deref())
            .await
            .map_err(|es| es.iter().map(|e| e.to_string()).collect::<Vec<_>>())?;
        tracing::info!(
            source,
            hash = %compiled.hash,
            routes = compiled.counts.routes,
            services = compiled.counts.services,
            compile_ms = compiled.compile_time.as_secs_f64() * 1000.0,
            "config loaded"
        );
        self.resolver.store.store(compiled.certs.clone());
        self.proxy.config.store(Some(Arc::new(compiled)));
        self.reloads.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Reloads when the file changes (checked every `interval`) or on SIGHUP.
    pub fn watch(self: &Arc<Self>, interval: Duration) {
        let Some(path) = self.config_path.clone() else {
            return;
        };
        let node = self.clone();
        tokio::spawn(async move {
            let stamp = |p: &std::path::Path| {
                std::fs::metadata(p)
                    .ok()
                    .map(|m| (m.modified().ok(), m.len()))
            };
            let mut last = stamp(&path);
            let mut hup =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
                    Ok(s) => Some(s),
                    Err(e) => {
                        tracing::warn!("SIGHUP reload unavailable: {e}");
                        None
                    }
                };
            loop {
                let by_signal = tokio::select! {
                    _ = tokio::time::sleep(interval) => false,
                    Some(()) = async { match hup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => true,
                };
                let now = stamp(&path);
                if by_signal || now != last {
                    last = now;
                    if by_signal {
                        tracing::info!("SIGHUP: reloading {}", path.display());
                    }
                    let _ = node.reload().await;
                }
            }
        });
    }
}

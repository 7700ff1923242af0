//! A config compiled for the request path: the router, each route's service with
//! its balancer and upstream TLS settings, and the certificate store. Built off the
//! request path, then swapped in with one atomic store; requests in flight keep the
//! snapshot they started with.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, SystemTime};

use graphql_schema::entity::{Route, Service};
use graphql_schema::{Config, EntityCounts, InvalidField};

use crate::router::Router;
use crate::tls::CertStore;
use crate::upstream::balancer::Balancer;
use crate::upstream::pool::TlsTarget;
use crate::upstream::tls::{client_config, parse_certs};

pub struct Compiled {
    pub hash: String,
    pub loaded_at: SystemTime,
    pub counts: EntityCounts,
    pub router: Router,
    /// The routes in the router (those of enabled services), parallel to its indices.
    pub routes: Vec<RouteRt>,
    pub certs: Arc<CertStore>,
    /// Plugin chains per route, consumers and credentials.
    pub chains: crate::plugin::Chains,
    /// Every balancer in use, by fingerprint.
    pub balancers: HashMap<String, Arc<Balancer>>,
    /// How long compiling took.
    pub compile_time: Duration,
}

pub struct RouteRt {
    pub route: Route,
    pub service: Option<Arc<ServiceRt>>,
}

pub struct ServiceRt {
    pub service: Service,
    pub balancer: Arc<Balancer>,
    /// For https/grpcs services: the client config (SNI is per request).
    pub tls: Option<(Arc<rustls::ClientConfig>, u64)>,
    /// HTTP/2 to the upstream (grpc, grpcs).
    pub h2: bool,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub write_timeout: Duration,
}

impl ServiceRt {
    pub fn tls_target(&self, sni: &str) -> Option<TlsTarget> {
        self.tls.as_ref().map(|(c, id)| TlsTarget {
            sni: sni.to_string(),
            config: c.clone(),
            config_id: *id,
        })
    }
}

/// Client configs are shared by identical settings across reloads, so pooled
/// connections stay reusable.
static CLIENT_CONFIGS: LazyLock<Mutex<HashMap<u64, Arc<rustls::ClientConfig>>>> =
    LazyLock::new(Default::default);

fn shared_client_config(
    verify: bool,
    cas: &[&str],
    h2: bool,
) -> Result<(Arc<rustls::ClientConfig>, u64), String> {
    let id =
        crate::upstream::balancer::hash_key(format!("{verify}|{h2}|{}", cas.join("|")).as_bytes());
    if let Some(c) = CLIENT_CONFIGS.lock().ok().and_then(|m| m.get(&id).cloned()) {
        return Ok((c, id));
    }
    let mut roots = Vec::new();
    for pem in cas {
        roots.extend(parse_certs(pem)?);
    }
    let cfg = client_config(verify, &roots, h2);
    if let Ok(mut m) = CLIENT_CONFIGS.lock() {
        m.insert(id, cfg.clone());
    }
    Ok((cfg, id))
}

/// Compiles a validated config. `prev` lends balancers (and their health state) to
/// targets that did not change.
pub async fn compile(
    config: &Config,
    prev: Option<&Compiled>,
) -> Result<Compiled, Vec<InvalidField>> {
    let started = std::time::Instant::now();
    let mut errors: Vec<InvalidField> = Vec::new();
    // Routes of disabled services are left out of the router, as Kong does.
    let disabled: std::collections::HashSet<uuid::Uuid> = config
        .services
        .iter()
        .filter(|s| !s.enabled)
        .map(|s| s.id)
        .collect();
    let active: Vec<Route> = config
        .routes
        .iter()
        .filter(|r| !r.service_id.is_some_and(|id| disabled.contains(&id)))
        .cloned()
        .collect();
    let chains = match crate::plugin::Chains::build(config, &active) {
        Ok(c) => Some(c),
        Err(es) => {
            errors.extend(es);
            None
        }
    };
    let router = match Router::new(&active) {
        Ok(r) => Some(r),
        Err(es) => {
            errors.extend(es.into_iter().map(|e| InvalidField::new(e.path, e.message)));
            None
        }
    };
    let certs = match CertStore::build(config) {
        Ok(c) => Some(c),
        Err(es) => {
            errors.extend(es);
            None
        }
    };

    let mut balancers: HashMap<String, Arc<Balancer>> = HashMap::new();
    let old = |fp: &str| prev.and_then(|p| p.balancers.get(fp).cloned());

    let cas: HashMap<uuid::Uuid, &str> = config
        .ca_certificates
        .iter()
        .map(|c| (c.id, c.cert.as_str()))
        .collect();
    // every upstream gets its balancer (reused from the previous config when its
    // upstream and targets did not change, keeping target health), used or not:
    // unused ones are still health-checked and shown on /status
    let mut by_upstream: HashMap<&str, Arc<Balancer>> = HashMap::new();
    for u in &config.upstreams {
        let targets: Vec<&graphql_schema::entity::Target> = config
            .targets
            .iter()
            .filter(|t| t.upstream_id == u.id)
            .collect();
        let fp = serde_json::to_string(&(u, &targets)).unwrap_or_default();
        let b = match old(&fp) {
            Some(b) => b,
            None => Balancer::for_upstream(u, &targets).await,
        };
        balancers.insert(fp, b.clone());
        by_upstream.insert(u.name.as_str(), b);
    }
    let mut services: HashMap<uuid::Uuid, Arc<ServiceRt>> = HashMap::new();
    for s in &config.services {
        let balancer = match by_upstream.get(s.host.as_str()) {
            Some(b) => b.clone(),
            None => {
                let fp = format!("host:{}:{}", s.host, s.port);
                match balancers.get(&fp).cloned().or_else(|| old(&fp)) {
                    Some(b) => b,
                    None => Balancer::for_host(&s.host, s.port).await,
                }
            }
        };
        balancers.insert(balancer.fingerprint.clone(), balancer.clone());
        let h2 = s.protocol.is_grpc();
        let tls = if s.protocol.is_tls() {
            let ca_pems: Vec<&str> = s
                .ca_certificates
                .iter()
                .filter_map(|id| cas.get(id).copied())
                .collect();
            match shared_client_config(s.tls_verify.unwrap_or(false), &ca_pems, h2) {
                Ok(c) => Some(c),
                Err(m) => {
                    errors.push(InvalidField::new(
                        format!("{}.ca_certificates", s.source),
                        m,
                    ));
                    None
                }
            }
        } else {
            None
        };
        services.insert(
            s.id,
            Arc::new(ServiceRt {
                service: s.clone(),
                balancer,
                tls,
                h2,
                connect_timeout: Duration::from_millis(s.connect_timeout_ms),
                read_timeout: Duration::from_millis(s.read_timeout_ms),
                write_timeout: Duration::from_millis(s.write_timeout_ms),
            }),
        );
    }
    let routes = active
        .into_iter()
        .map(|r| RouteRt {
            service: r.service_id.and_then(|id| services.get(&id).cloned()),
            route: r,
        })
        .collect();

    match (router, certs, chains) {
        (Some(router), Some(certs), Some(chains)) if errors.is_empty() => Ok(Compiled {
            chains,
            hash: config.hash(),
            loaded_at: SystemTime::now(),
            counts: config.counts(),
            router,
            routes,
            certs: Arc::new(certs),
            balancers,
            compile_time: started.elapsed(),
        }),
        _ => Err(errors),
    }
}

/// The node-side checks that need no network (used by `validate`): routes compile,
/// certificates and keys parse and match, CA certificates parse.
pub fn check(config: &Config) -> Vec<InvalidField> {
    let mut errors = Vec::new();
    if let Err(es) = Router::new(&config.routes) {
        errors.extend(es.into_iter().map(|e| InvalidField::new(e.path, e.message)));
    }
    if let Err(es) = CertStore::build(config) {
        errors.extend(es);
    }
    for c in &config.ca_certificates {
        if let Err(m) = parse_certs(&c.cert) {
            errors.push(InvalidField::new(format!("{}.cert", c.source), m));
        }
    }
    errors
}

//! Proxy-side TLS: the certificate for each handshake is chosen by SNI from the
//! config's `certificates`/`snis` (exact name, then `*.rest`, then `first.*`, as
//! Kong looks them up), falling back to a self-signed default generated at start-up.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use graphql_schema::Config;
use graphql_schema::InvalidField;
use rustls::pki_types::PrivateKeyDer;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// One configured certificate, with its optional alternate (e.g. ECDSA next to RSA).
#[derive(Debug, Clone)]
pub struct CertPair {
    pub main: Arc<CertifiedKey>,
    pub alt: Option<Arc<CertifiedKey>>,
}

impl CertPair {
    fn choose(&self, hello: &ClientHello<'_>) -> Arc<CertifiedKey> {
        if let Some(alt) = &self.alt
            && self
                .main
                .key
                .choose_scheme(hello.signature_schemes())
                .is_none()
        {
            return alt.clone();
        }
        self.main.clone()
    }
}

/// Certificates by SNI for one config.
#[derive(Debug, Default)]
pub struct CertStore {
    by_name: HashMap<String, CertPair>,
}

impl CertStore {
    pub fn build(config: &Config) -> Result<CertStore, Vec<InvalidField>> {
        let mut errors = Vec::new();
        let mut by_id = HashMap::new();
        for c in &config.certificates {
            let main = certified_key(&c.cert, &c.key, &c.source, "cert", "key");
            let alt = match (&c.cert_alt, &c.key_alt) {
                (Some(ca), Some(ka)) => {
                    Some(certified_key(ca, ka, &c.source, "cert_alt", "key_alt"))
                }
                _ => None,
            };
            match (main, alt.transpose()) {
                (Ok(main), Ok(alt)) => {
                    by_id.insert(c.id, CertPair { main, alt });
                }
                (m, a) => {
                    errors.extend(m.err());
                    errors.extend(a.err());
                }
            }
        }
        let mut by_name = HashMap::new();
        for s in &config.snis {
            if let Some(p) = by_id.get(&s.certificate_id) {
                by_name.insert(s.name.clone(), p.clone());
            }
        }
        if errors.is_empty() {
            Ok(CertStore { by_name })
        } else {
            Err(errors)
        }
    }

    pub fn find(&self, sni: &str) -> Option<&CertPair> {
        let sni = sni.trim_end_matches('.').to_ascii_lowercase();
        if let Some(p) = self.by_name.get(&sni) {
            return Some(p);
        }
        if let Some((_, rest)) = sni.split_once('.')
            && let Some(p) = self.by_name.get(&format!("*.{rest}"))
        {
            return Some(p);
        }
        if let Some((first, _)) = sni.rsplit_once('.')
            && let Some(p) = self.by_name.get(&format!("{first}.*"))
        {
            return Some(p);
        }
        None
    }
}

fn certified_key(
    cert: &str,
    key: &str,
    source: &str,
    cf: &str,
    kf: &str,
) -> Result<Arc<CertifiedKey>, InvalidField> {
    use graphql_schema::tls::InvalidPair;
    graphql_schema::tls::certified_key(cert, key).map_err(|e| {
        let (f, message) = match e {
            InvalidPair::Cert(m) => (cf, m),
            InvalidPair::Key(m) => (kf, m),
        };
        InvalidField::new(format!("{source}.{f}"), message)
    })
}

/// The rustls resolver: looks in the current config's store, else the default.
#[derive(Debug)]
pub struct SniResolver {
    pub store: ArcSwap<CertStore>,
    pub default: Arc<CertifiedKey>,
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        if let Some(name) = hello.server_name()
            && let Some(p) = self.store.load().find(name)
        {
            return Some(p.choose(&hello));
        }
        Some(self.default.clone())
    }
}

/// A self-signed certificate for `localhost`, as Kong generates its default one.
pub fn self_signed_default() -> anyhow::Result<Arc<CertifiedKey>> {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])?;
    let key = PrivateKeyDer::try_from(cert.signing_key.serialize_der())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let signer = rustls::crypto::ring::sign::any_supported_type(&key)?;
    Ok(Arc::new(CertifiedKey::new(
        vec![cert.cert.der().clone()],
        signer,
    )))
}

/// The proxy's TLS server config: SNI resolution, ALPN h2 and http/1.1.
pub fn server_config(resolver: Arc<SniResolver>) -> Arc<rustls::ServerConfig> {
    let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap_or_else(|_| rustls::ServerConfig::builder())
    .with_no_client_auth()
    .with_cert_resolver(resolver);
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(cfg)
}

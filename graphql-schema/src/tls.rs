//! PEM certificates and private keys, read the one way platform and node both
//! read them: the platform refuses exactly what a node could not load (a garbage
//! PEM body, a key the TLS stack cannot sign with, a key that does not match its
//! certificate, a `cert_alt` of the same key type, a CA certificate that is not a
//! CA or has expired). Kong's messages, so a Kong user recognises them.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

/// The certificates in a PEM text, in order; at least one.
pub fn parse_certs(pem: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(pem.as_bytes()).collect();
    let certs = match certs {
        Ok(c) if c.is_empty() => return Err("invalid certificate: no certificate found".into()),
        Ok(c) => c,
        Err(e) => return Err(format!("invalid certificate: {e}")),
    };
    // the PEM armour can wrap anything: each body must be an X.509 certificate
    for c in &certs {
        x509_parser::parse_x509_certificate(c.as_ref())
            .map_err(|e| format!("invalid certificate: {e}"))?;
    }
    Ok(certs)
}

/// The private key in a PEM text.
pub fn parse_key(pem: &str) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| format!("invalid key: {e}"))
}

/// What is wrong with a certificate/key pair, and which of the two it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvalidPair {
    Cert(String),
    Key(String),
}

/// A certificate chain with its key, ready to serve (the node's form), after
/// checking that the key parses, is a type the TLS stack signs with, and matches
/// the certificate.
pub fn certified_key(cert: &str, key: &str) -> Result<Arc<CertifiedKey>, InvalidPair> {
    let chain = parse_certs(cert).map_err(InvalidPair::Cert)?;
    let leaf = chain
        .first()
        .ok_or_else(|| InvalidPair::Cert("invalid certificate: no certificate found".into()))?;
    let (_, x) = x509_parser::parse_x509_certificate(leaf.as_ref())
        .map_err(|e| InvalidPair::Cert(format!("invalid certificate: {e}")))?;
    // the TLS stack signs with RSA keys of 2048 bits or more: say so, rather
    // than that the key is unreadable
    if let Ok(x509_parser::public_key::PublicKey::RSA(rsa)) = x.public_key().parsed() {
        let bits = rsa.key_size();
        if bits < 2048 {
            return Err(InvalidPair::Key(format!(
                "RSA keys shorter than 2048 bits are not supported (this one has {bits})"
            )));
        }
    }
    let key = parse_key(key).map_err(InvalidPair::Key)?;
    let signer = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|e| InvalidPair::Key(format!("invalid key: unsupported key type: {e}")))?;
    // the key's public half against the certificate's, compared as DER (this
    // reads X.509 v1 certificates too, which the verifier behind rustls's own
    // check refuses)
    let matches = signer
        .public_key()
        .is_some_and(|spki| spki.as_ref() == x.public_key().raw);
    if !matches {
        return Err(InvalidPair::Key("certificate does not match key".into()));
    }
    Ok(Arc::new(CertifiedKey::new(chain, signer)))
}

/// The signature algorithm family of a served certificate's key (RSA, ECDSA,
/// Ed25519): a `cert_alt` must be of another family than `cert`.
pub fn key_family(ck: &CertifiedKey) -> rustls::SignatureAlgorithm {
    ck.key.algorithm()
}

/// Kong's checks on a `ca_certificates` entry: one certificate, and a CA. (Kong
/// also refuses an expired one when it is written: [`expired`] is that check,
/// made on writes only, so a stored config does not turn invalid with time.)
pub fn check_ca(pem: &str) -> Result<CertificateDer<'static>, String> {
    let certs = parse_certs(pem)?;
    if certs.len() > 1 {
        return Err("please submit only one certificate at a time".into());
    }
    let der = certs
        .into_iter()
        .next()
        .ok_or_else(|| "invalid certificate: no certificate found".to_string())?;
    let (_, x) = x509_parser::parse_x509_certificate(der.as_ref())
        .map_err(|e| format!("invalid certificate: {e}"))?;
    if !x.is_ca() {
        return Err("certificate does not appear to be a CA because it is missing the \"CA\" basic constraint".into());
    }
    Ok(der)
}

/// Kong's refusal of an expired CA certificate, when one is written.
pub fn expired(der: &[u8], now_unix: i64) -> Option<String> {
    not_after(der)
        .filter(|t| *t < now_unix)
        .map(|_| "certificate expired, \"Not After\" time is in the past".to_string())
}

/// The end of a certificate's validity (Unix seconds).
pub fn not_after(der: &[u8]) -> Option<i64> {
    x509_parser::parse_x509_certificate(der)
        .ok()
        .map(|(_, x)| x.validity().not_after.timestamp())
}

/// SHA-256 (hex) of a certificate's DER: its digest in `ca_certificates` and its
/// fingerprint on the cluster endpoint.
pub fn fingerprint(der: &[u8]) -> String {
    use sha2::Digest;
    crate::entity::consumer::hex(&sha2::Sha256::digest(der))
}

/// Seconds since the Unix epoch, now.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(alg: &'static rcgen::SignatureAlgorithm) -> (String, String) {
        let key = rcgen::KeyPair::generate_for(alg).expect("key");
        let cert = rcgen::CertificateParams::new(vec!["a.example".to_string()])
            .expect("params")
            .self_signed(&key)
            .expect("cert");
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn a_matching_pair_loads_and_a_foreign_key_does_not() {
        let (c, k) = pair(&rcgen::PKCS_ECDSA_P256_SHA256);
        let (_, k2) = pair(&rcgen::PKCS_ECDSA_P256_SHA256);
        assert!(certified_key(&c, &k).is_ok());
        assert_eq!(
            certified_key(&c, &k2).err(),
            Some(InvalidPair::Key("certificate does not match key".into()))
        );
    }

    #[test]
    fn garbage_inside_the_armour_is_refused() {
        let bad = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let e = parse_certs(bad).expect_err("garbage");
        assert!(e.starts_with("invalid certificate"), "{e}");
        let (_, k) = pair(&rcgen::PKCS_ECDSA_P256_SHA256);
        let bad_key = k.replace(|c: char| c.is_ascii_lowercase(), "A");
        assert!(matches!(
            certified_key(&pair(&rcgen::PKCS_ECDSA_P256_SHA256).0, &bad_key),
            Err(InvalidPair::Key(_))
        ));
    }

    #[test]
    fn x509_v1_certificates_load_and_small_rsa_keys_are_named() {
        // fixtures made with openssl: a v1 certificate (no extensions), and a
        // self-signed certificate with a 1024-bit RSA key
        let v1 = include_str!("../tests/fixtures/v1.crt");
        let v1_key = include_str!("../tests/fixtures/v1.key");
        assert!(certified_key(v1, v1_key).is_ok());
        let small = certified_key(
            include_str!("../tests/fixtures/rsa1024.crt"),
            include_str!("../tests/fixtures/rsa1024.key"),
        );
        assert_eq!(
            small.err(),
            Some(InvalidPair::Key(
                "RSA keys shorter than 2048 bits are not supported (this one has 1024)".into()
            ))
        );
    }

    #[test]
    fn a_leaf_is_not_a_ca() {
        let (c, _) = pair(&rcgen::PKCS_ECDSA_P256_SHA256);
        let e = check_ca(&c).expect_err("not a CA");
        assert!(e.contains("\"CA\" basic constraint"), "{e}");
        let key = rcgen::KeyPair::generate().expect("key");
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = p.self_signed(&key).expect("ca").pem();
        let der = check_ca(&ca).expect("a CA");
        let two = format!("{ca}{ca}");
        assert_eq!(
            check_ca(&two).err().as_deref(),
            Some("please submit only one certificate at a time")
        );
        assert!(expired(der.as_ref(), now_unix()).is_none());
        assert!(
            expired(der.as_ref(), now_unix() + 3000 * 365 * 86_400)
                .expect("expired")
                .contains("expired")
        );
    }
}

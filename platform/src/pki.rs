//! The cluster PKI's primitives: CAs and certificates made with rcgen, their
//! validity, and the CA keys' sealing. The platform's server CA and each control
//! plane's cluster CA sign what nodes and the cluster endpoint present.

use uuid::Uuid;

use crate::seal::{SealError, Sealer};
use crate::store::cluster::cluster_cert;

pub use graphql_schema::tls::fingerprint;

/// The first certificate of a PEM text, as DER.
pub fn pem_der(pem: &str) -> anyhow::Result<Vec<u8>> {
    graphql_schema::tls::parse_certs(pem)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .into_iter()
        .next()
        .map(|c| c.to_vec())
        .ok_or_else(|| anyhow::anyhow!("no certificate in the PEM text"))
}

/// How long the cluster CAs are valid. Nodes pin the server CA and every node
/// certificate is checked by fingerprint, so a CA is replaced by issuing new
/// certificates, not renewed in place.
pub const CA_DAYS: i64 = 10 * 365;
/// How long the cluster endpoint's own certificate is valid; it is issued anew at
/// every start and renewed while running once less than [`RENEW_DAYS`] remain.
pub const SERVER_DAYS: i64 = 365;
pub const RENEW_DAYS: i64 = 30;
/// Node certificates: a year unless asked otherwise, two at most.
pub const NODE_DAYS: i64 = 365;
pub const NODE_MAX_DAYS: i64 = 730;

/// Validity from an hour ago (clock skew) to `days` from now.
fn validity(p: &mut rcgen::CertificateParams, days: i64) {
    let now = time::OffsetDateTime::now_utc();
    p.not_before = now - time::Duration::hours(1);
    p.not_after = now + time::Duration::days(days);
}

fn ca_params(cn: &str) -> anyhow::Result<rcgen::CertificateParams> {
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new())?;
    validity(&mut p, CA_DAYS);
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    p.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    p.distinguished_name
        .push(rcgen::DnType::CommonName, cn.to_string());
    p.distinguished_name
        .push(rcgen::DnType::OrganizationName, "Portico");
    Ok(p)
}

/// A new CA: (certificate PEM, key PEM).
pub fn new_ca(cn: &str) -> anyhow::Result<(String, String)> {
    let key = rcgen::KeyPair::generate()?;
    let cert = ca_params(cn)?.self_signed(&key)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// A certificate signed by the CA `(cn, key)`: (certificate PEM, key PEM).
pub fn issue(
    ca_cn: &str,
    ca_key_pem: &str,
    cn: &str,
    names: Vec<String>,
    client: bool,
    days: i64,
) -> anyhow::Result<(String, String)> {
    let ca_key = rcgen::KeyPair::from_pem(ca_key_pem)?;
    let issuer = rcgen::Issuer::new(ca_params(ca_cn)?, ca_key);
    let key = rcgen::KeyPair::generate()?;
    let mut p = rcgen::CertificateParams::new(names)?;
    validity(&mut p, days);
    p.distinguished_name
        .push(rcgen::DnType::CommonName, cn.to_string());
    p.extended_key_usages = vec![if client {
        rcgen::ExtendedKeyUsagePurpose::ClientAuth
    } else {
        rcgen::ExtendedKeyUsagePurpose::ServerAuth
    }];
    let cert = p.signed_by(&key, &issuer)?;
    Ok((cert.pem(), key.serialize_pem()))
}

pub fn plane_ca_cn(plane: Uuid) -> String {
    format!("Portico cluster CA {plane}")
}

pub const SERVER_CA_CN: &str = "Portico platform cluster server CA";

/// A CA's private key, opened from its sealed form.
pub fn ca_key(sealer: &Sealer, m: &cluster_cert::Model) -> Result<String, SealError> {
    let k = m.key_pem.as_deref().unwrap_or_default();
    if k.starts_with("penc:") {
        sealer.open_str(k)
    } else {
        Ok(k.to_string())
    }
}

/// A control plane's new cluster CA, its key sealed: the row to store with the
/// plane.
pub fn plane_ca_row(sealer: &Sealer, plane: Uuid, now: i64) -> anyhow::Result<cluster_cert::Model> {
    let (cert, key) = new_ca(&plane_ca_cn(plane))?;
    Ok(cluster_cert::Model {
        id: Uuid::new_v4().to_string(),
        control_plane_id: plane.to_string(),
        kind: "plane-ca".into(),
        name: "cluster CA".into(),
        fingerprint: fingerprint(&pem_der(&cert)?),
        cert_pem: cert,
        key_pem: Some(sealer.seal_str(&key)?),
        revoked_at: None,
        created_at: now,
    })
}

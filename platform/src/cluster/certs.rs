//! Node certificates: the registry the TLS handshake checks (fingerprint to
//! certificate, kept in step with the database), issuing a node certificate from
//! its plane's cluster CA, pinning one made elsewhere, revoking, and the cluster
//! endpoint's own identity.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use sea_orm::DatabaseConnection;
use uuid::Uuid;

use crate::error::{Error, Field};
use crate::pki::{
    SERVER_CA_CN, SERVER_DAYS, ca_key, fingerprint, issue, new_ca, pem_der, plane_ca_cn,
};
use crate::seal::Sealer;
use crate::store::{self, Notice, cluster as rows};

/// A registered node certificate, as the TLS verifier sees it.
#[derive(Clone, Debug)]
pub struct CertEntry {
    pub id: Uuid,
    pub control_plane_id: Uuid,
    pub name: String,
    pub revoked: bool,
    /// The end of its validity (Unix seconds): refused after.
    pub not_after: i64,
}

impl CertEntry {
    /// Whether a node may connect with it now.
    pub fn usable(&self) -> bool {
        !self.revoked && self.not_after >= graphql_schema::tls::now_unix()
    }
}

/// A node certificate as the API shows it (the key only when just issued).
#[derive(Clone, Debug)]
pub struct NodeCertificate {
    pub id: Uuid,
    pub control_plane_id: Uuid,
    pub name: String,
    pub fingerprint: String,
    pub certificate: String,
    pub private_key: Option<String>,
    pub cluster_ca_certificate: String,
    pub revoked: bool,
    pub created_at: i64,
    pub expires_at: i64,
}

/// Fingerprint -> certificate, for the handshake; and the CA nodes verify the
/// cluster endpoint with.
#[derive(Default)]
pub struct Certs {
    by_fingerprint: RwLock<HashMap<String, CertEntry>>,
    server_ca: RwLock<String>,
}

impl std::fmt::Debug for Certs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Certs")
    }
}

async fn registry(db: &DatabaseConnection) -> anyhow::Result<HashMap<String, CertEntry>> {
    let mut m = HashMap::new();
    for c in rows::cluster_certs(db).await? {
        if c.kind == "node" || c.kind == "pinned" {
            let not_after = pem_der(&c.cert_pem)
                .ok()
                .and_then(|d| graphql_schema::tls::not_after(&d))
                .unwrap_or(0);
            m.insert(
                c.fingerprint.clone(),
                CertEntry {
                    id: Uuid::parse_str(&c.id)?,
                    control_plane_id: Uuid::parse_str(&c.control_plane_id)?,
                    name: c.name,
                    revoked: c.revoked_at.is_some(),
                    not_after,
                },
            );
        }
    }
    Ok(m)
}

impl Certs {
    pub async fn load(db: &DatabaseConnection) -> anyhow::Result<Arc<Certs>> {
        Ok(Arc::new(Certs {
            by_fingerprint: RwLock::new(registry(db).await?),
            server_ca: RwLock::default(),
        }))
    }

    /// Reloads the registry (another replica changed it); the certificates now
    /// revoked.
    pub async fn reload(&self, db: &DatabaseConnection) -> anyhow::Result<Vec<Uuid>> {
        let fresh = registry(db).await?;
        let revoked = fresh.values().filter(|c| c.revoked).map(|c| c.id).collect();
        if let Ok(mut m) = self.by_fingerprint.write() {
            *m = fresh;
        }
        Ok(revoked)
    }

    pub fn get(&self, fp: &str) -> Option<CertEntry> {
        self.by_fingerprint.read().ok()?.get(fp).cloned()
    }

    /// The plane a certificate belongs to.
    pub fn plane_of(&self, id: Uuid) -> Option<Uuid> {
        self.by_fingerprint
            .read()
            .ok()?
            .values()
            .find(|c| c.id == id)
            .map(|c| c.control_plane_id)
    }

    pub fn server_ca(&self) -> String {
        self.server_ca.read().map(|c| c.clone()).unwrap_or_default()
    }

    fn insert(&self, fp: String, e: CertEntry) {
        if let Ok(mut m) = self.by_fingerprint.write() {
            m.insert(fp, e);
        }
    }

    /// Issues a node certificate for a plane from its cluster CA.
    pub async fn issue(
        &self,
        db: &DatabaseConnection,
        sealer: &Sealer,
        plane: Uuid,
        name: &str,
        days: i64,
    ) -> Result<NodeCertificate, Error> {
        let all = rows::cluster_certs(db).await?;
        let ca = all
            .iter()
            .find(|c| c.kind == "plane-ca" && c.control_plane_id == plane.to_string())
            .ok_or_else(|| Error::NotFound(format!("cluster CA of control plane {plane}")))?;
        let ca_key = ca_key(sealer, ca).map_err(Error::internal)?;
        let (cert, key) = issue(
            &plane_ca_cn(plane),
            &ca_key,
            &format!("portico-node {name}"),
            Vec::new(),
            true,
            days,
        )
        .map_err(Error::internal)?;
        self.register(db, plane, name, cert, Some(key), "node")
            .await
    }

    /// Pins a certificate made elsewhere: nodes presenting exactly it are
    /// accepted for the plane.
    pub async fn pin(
        &self,
        db: &DatabaseConnection,
        plane: Uuid,
        name: &str,
        cert_pem: &str,
    ) -> Result<NodeCertificate, Error> {
        let der = pem_der(cert_pem).map_err(|e| {
            Error::invalid(
                Field::Input("certificate".into()),
                format!("not a PEM certificate: {e}"),
            )
        })?;
        if let Some(m) = graphql_schema::tls::expired(&der, graphql_schema::tls::now_unix()) {
            return Err(Error::invalid(Field::Input("certificate".into()), m));
        }
        self.register(db, plane, name, cert_pem.to_string(), None, "pinned")
            .await
    }

    async fn register(
        &self,
        db: &DatabaseConnection,
        plane: Uuid,
        name: &str,
        cert: String,
        key: Option<String>,
        kind: &str,
    ) -> Result<NodeCertificate, Error> {
        let der = pem_der(&cert).map_err(Error::internal)?;
        let fp = fingerprint(&der);
        let not_after = graphql_schema::tls::not_after(&der).unwrap_or(0);
        let taken = || Error::Conflict {
            field: Field::Input("certificate".into()),
            message: "this certificate is registered already".into(),
        };
        if self.get(&fp).is_some() {
            return Err(taken());
        }
        let id = Uuid::new_v4();
        let now = store::now_ms();
        rows::insert_cluster_cert(
            db,
            rows::cluster_cert::Model {
                id: id.to_string(),
                control_plane_id: plane.to_string(),
                kind: kind.into(),
                name: name.into(),
                cert_pem: cert.clone(),
                key_pem: None,
                fingerprint: fp.clone(),
                revoked_at: None,
                created_at: now,
            },
        )
        .await
        .map_err(|e| {
            Error::taken(
                e,
                Field::Input("certificate".into()),
                "this certificate is registered already",
            )
        })?;
        self.insert(
            fp.clone(),
            CertEntry {
                id,
                control_plane_id: plane,
                name: name.into(),
                revoked: false,
                not_after,
            },
        );
        let _ = store::announce(db, &Notice::Certs).await;
        Ok(NodeCertificate {
            id,
            control_plane_id: plane,
            name: name.into(),
            fingerprint: fp,
            certificate: cert,
            private_key: key,
            cluster_ca_certificate: self.server_ca(),
            revoked: false,
            created_at: now,
            expires_at: not_after,
        })
    }

    /// Revokes a node certificate: refused at the next handshake. (The caller
    /// disconnects the nodes connected with it.)
    pub async fn revoke(&self, db: &DatabaseConnection, id: Uuid) -> Result<(), Error> {
        let mut found = false;
        if let Ok(mut m) = self.by_fingerprint.write() {
            for e in m.values_mut().filter(|e| e.id == id) {
                e.revoked = true;
                found = true;
            }
        }
        if !found {
            return Err(Error::NotFound(format!("data plane certificate {id}")));
        }
        rows::revoke_cluster_cert(db, &id.to_string()).await?;
        let _ = store::announce(db, &Notice::Certs).await;
        Ok(())
    }

    /// The platform's cluster server identity: the CA (created on first start)
    /// and a server certificate issued now for `hostnames`: (CA PEM, server
    /// certificate PEM, server key PEM).
    pub async fn server_identity(
        &self,
        db: &DatabaseConnection,
        sealer: &Sealer,
        hostnames: &[String],
    ) -> anyhow::Result<(String, String, String)> {
        let all = rows::cluster_certs(db).await?;
        let ca = match all.iter().find(|c| c.kind == "server-ca") {
            Some(c) => (c.cert_pem.clone(), ca_key(sealer, c)?),
            None => {
                let (cert, key) = new_ca(SERVER_CA_CN)?;
                rows::insert_cluster_cert(
                    db,
                    rows::cluster_cert::Model {
                        id: Uuid::new_v4().to_string(),
                        control_plane_id: String::new(),
                        kind: "server-ca".into(),
                        name: SERVER_CA_CN.into(),
                        fingerprint: fingerprint(&pem_der(&cert)?),
                        cert_pem: cert.clone(),
                        key_pem: Some(sealer.seal_str(&key)?),
                        revoked_at: None,
                        created_at: store::now_ms(),
                    },
                )
                .await?;
                (cert, key)
            }
        };
        if let Ok(mut c) = self.server_ca.write() {
            *c = ca.0.clone();
        }
        // the server certificate is cheap: issue one per start for the names asked
        let (cert, key) = issue(
            SERVER_CA_CN,
            &ca.1,
            "portico-cluster",
            hostnames.to_vec(),
            false,
            SERVER_DAYS,
        )?;
        Ok((ca.0, cert, key))
    }
}

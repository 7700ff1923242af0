//! The platform's state: small handles, each beside its owner (`Planes` with the
//! control plane actors, `Teams` with the team actors, `Nodes` with the node
//! connections, `Certs` with the cluster endpoint, `Access`, `LoginLimits` and
//! `AuditLog` with identities), exposing only what readers call. `assemble`
//! builds it on an open, migrated database.

use std::sync::Arc;

use sea_orm::DatabaseConnection;
use uuid::Uuid;

use crate::actors::analytics::AnalyticsHandle;
use crate::actors::catalog::CatalogHandle;
use crate::actors::control_planes::{Planes, PlanesDeps};
use crate::actors::data_plane::Nodes;
use crate::actors::team::{TeamDeps, Teams};
use crate::auth::{Access, AuditLog, LoginLimits};
use crate::cluster::ClusterDeps;
use crate::cluster::certs::Certs;
use crate::metrics::Metrics;
use crate::portal::events::Events;
use crate::portal::mail::Mailer;
use crate::portal::projection::{Projection, Projector};
use crate::seal::Sealer;

#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub planes: Planes,
    pub teams: Teams,
    pub nodes: Nodes,
    pub certs: Arc<Certs>,
    pub access: Arc<Access>,
    pub logins: Arc<LoginLimits>,
    pub audit: Arc<AuditLog>,
    pub sealer: Arc<Sealer>,
    pub metrics: Arc<Metrics>,
    /// The API catalog and the portals' content.
    pub catalog: CatalogHandle,
    /// Mail to developers (SMTP or the outbox; `serve` sets SMTP).
    pub mailer: Mailer,
    /// Portal events: audited and sent to the portals' webhooks.
    pub events: Arc<Events>,
    /// Developers' keys in the control planes' config.
    pub projection: Projection,
    /// Traffic analytics: the writer of the nodes' batches.
    pub analytics: AnalyticsHandle,
}

impl AppState {
    /// The platform on an open, migrated database: the secret key bound to it,
    /// the authorizer, certificates, and the supervised actors.
    pub async fn assemble(
        db: DatabaseConnection,
        sealer: Arc<Sealer>,
        retention: i64,
    ) -> anyhow::Result<AppState> {
        crate::seal::bind(&db, &sealer).await?;
        let metrics = Arc::new(Metrics::default());
        let access = Arc::new(Access::load(&db).await?);
        let certs = Certs::load(&db).await?;
        let planes = Planes::start(PlanesDeps {
            db: db.clone(),
            sealer: sealer.clone(),
            metrics: metrics.clone(),
            retention,
        })
        .await?;
        let teams = Teams::start(TeamDeps {
            db: db.clone(),
            access: access.clone(),
        })
        .await?;
        let nodes = Nodes::start(db.clone()).await?;
        let catalog = CatalogHandle::start(db.clone()).await?;
        let mailer = Mailer::new(db.clone(), None, "Portico <portal@localhost>")?;
        let projection = Projector::start(catalog.clone(), planes.clone());
        let audit = Arc::new(AuditLog::new(db.clone()));
        let events = Events::new(db.clone(), audit.clone(), catalog.clone(), sealer.clone());
        events.start();
        Ok(AppState {
            catalog,
            mailer,
            audit,
            events,
            projection,
            analytics: AnalyticsHandle::start(db.clone()),
            logins: Arc::default(),
            db,
            planes,
            teams,
            nodes,
            certs,
            access,
            sealer,
            metrics,
        })
    }

    /// What the cluster endpoint works with.
    pub fn cluster(&self) -> ClusterDeps {
        ClusterDeps {
            db: self.db.clone(),
            planes: self.planes.clone(),
            nodes: self.nodes.clone(),
            certs: self.certs.clone(),
            sealer: self.sealer.clone(),
            analytics: self.analytics.clone(),
        }
    }

    /// A plane was deleted (here or on another replica): its certificates are
    /// revoked in the database; refuse them now and disconnect its nodes.
    pub async fn planes_deleted(&self, plane: Uuid) {
        if let Err(e) = self.certs.reload(&self.db).await {
            tracing::error!("reloading cluster certificates: {e}");
        }
        self.nodes.disconnect_plane(plane);
    }

    pub fn stop(&self) {
        self.planes.stop();
        self.teams.stop();
        self.nodes.stop();
        self.catalog.stop();
    }
}

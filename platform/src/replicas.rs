//! Several `portico serve` replicas on one PostgreSQL: each commit (and each
//! control plane or certificate change) is announced with `NOTIFY`; every replica
//! `LISTEN`s, reloads what changed from the database and publishes the missed
//! versions to its own subscribers, so a node connected to any replica converges.

use std::sync::Arc;
use std::time::Duration;

use ractor::ActorRef;
use sea_orm::sqlx::postgres::PgListener;
use uuid::Uuid;

use crate::actor::{Msg, Shared, SupMsg};
use crate::store;

pub fn listen(shared: Arc<Shared>, planes: ActorRef<SupMsg>, url: String) {
    tokio::spawn(async move {
        loop {
            match PgListener::connect(&url).await {
                Ok(mut l) => {
                    if let Err(e) = l.listen(store::CHANNEL).await {
                        tracing::warn!("LISTEN {}: {e}", store::CHANNEL);
                    } else {
                        // anything committed before LISTEN took effect (at start,
                        // or while reconnecting) is read from the database now
                        catch_up(&shared, &planes).await;
                        loop {
                            match l.recv().await {
                                Ok(n) => handle(&shared, &planes, n.payload()).await,
                                Err(e) => {
                                    tracing::warn!("replica notifications: {e}; reconnecting");
                                    break;
                                }
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!("replica notifications: cannot connect: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
}

async fn start(shared: &Shared, planes: &ActorRef<SupMsg>, id: Uuid) {
    if shared.actor(id).is_none() {
        let _ = planes.call(|r| SupMsg::Start(id, r), None).await;
    }
}

async fn handle(shared: &Shared, planes: &ActorRef<SupMsg>, payload: &str) {
    let mut parts = payload.split(':');
    let (kind, id) = (
        parts.next().unwrap_or(""),
        parts.next().and_then(|s| Uuid::parse_str(s).ok()),
    );
    match (kind, id) {
        ("plane", Some(id)) => {
            let version: i64 = parts
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(i64::MAX);
            match shared.view(id) {
                None => start(shared, planes, id).await,
                Some(v) if v.version < version => {
                    if let Some(a) = shared.actor(id) {
                        let _ = a.cast(Msg::Refresh);
                    }
                }
                Some(_) => {}
            }
        }
        ("plane-created", Some(id)) => start(shared, planes, id).await,
        ("plane-meta", Some(id)) => {
            if let Some(a) = shared.actor(id) {
                let _ = a.cast(Msg::Refresh);
            }
        }
        ("plane-deleted", Some(id)) => {
            let _ = planes.call(|r| SupMsg::Stop(id, r), None).await;
        }
        ("certs", _) => reload_certs(shared).await,
        ("access", _) => {
            if let Err(e) = crate::auth::reload(shared).await {
                tracing::error!("reloading access rules: {e}");
            }
        }
        _ => tracing::debug!("unknown replica notification {payload:?}"),
    }
}

/// Reloads the certificate registry; nodes whose certificate is now revoked are
/// disconnected.
async fn reload_certs(shared: &Shared) {
    let fresh = match crate::cluster::Certs::load(&shared.db).await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("reloading cluster certificates: {e}");
            return;
        }
    };
    let map = fresh.0.into_inner().unwrap_or_default();
    let revoked: Vec<Uuid> = map.values().filter(|c| c.revoked).map(|c| c.id).collect();
    if let Ok(mut m) = shared.certs.0.write() {
        *m = map;
    }
    crate::cluster::disconnect_revoked(shared, &revoked);
}

async fn catch_up(shared: &Shared, planes: &ActorRef<SupMsg>) {
    reload_certs(shared).await;
    let _ = crate::auth::reload(shared).await;
    if let Ok(all) = store::control_planes(&shared.db).await {
        for cp in all {
            if let Ok(id) = Uuid::parse_str(&cp.id) {
                match shared.actor(id) {
                    None => start(shared, planes, id).await,
                    Some(a) => {
                        let _ = a.cast(Msg::Refresh);
                    }
                }
            }
        }
    }
}

//! Several `portico serve` replicas on one PostgreSQL: each change is announced
//! with a typed `Notice` over `NOTIFY`; every replica `LISTEN`s, reloads what
//! changed from the database and publishes the missed versions to its own
//! subscribers, so a node connected to any replica converges.

use std::time::Duration;

use sea_orm::sqlx::postgres::PgListener;
use uuid::Uuid;

use crate::state::AppState;
use crate::store::{self, Notice};

pub fn listen(state: AppState, url: String) {
    tokio::spawn(async move {
        loop {
            match PgListener::connect(&url).await {
                Ok(mut l) => {
                    if let Err(e) = l.listen(store::CHANNEL).await {
                        tracing::warn!("LISTEN {}: {e}", store::CHANNEL);
                    } else {
                        // anything committed before LISTEN took effect (at start,
                        // or while reconnecting) is read from the database now
                        catch_up(&state).await;
                        loop {
                            match l.recv().await {
                                Ok(n) => match Notice::parse(n.payload()) {
                                    Some(notice) => handle(&state, notice).await,
                                    None => tracing::debug!(
                                        "unknown replica notification {:?}",
                                        n.payload()
                                    ),
                                },
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

async fn handle(state: &AppState, n: Notice) {
    match n {
        Notice::Committed { plane, version } => match state.planes.view(plane) {
            None => state.planes.start_existing(plane).await,
            Some(v) if v.version < version => state.planes.refresh(plane),
            Some(_) => {}
        },
        Notice::PlaneCreated { plane } => state.planes.start_existing(plane).await,
        Notice::PlaneMeta { plane } => state.planes.refresh(plane),
        Notice::PlaneDeleted { plane } => {
            state.planes.forget(plane).await;
            state.planes_deleted(plane).await;
        }
        Notice::Certs => reload_certs(state).await,
        Notice::Access => {
            if let Err(e) = state.access.reload(&state.db).await {
                tracing::error!("reloading access rules: {e}");
            }
        }
        Notice::Nodes { .. } => state.nodes.changed(),
        Notice::Catalog { version } => {
            if state.catalog.view().version < version {
                state.catalog.refresh().await;
            }
        }
    }
}

/// Reloads the certificate registry; nodes whose certificate is now revoked are
/// disconnected.
async fn reload_certs(state: &AppState) {
    match state.certs.reload(&state.db).await {
        Ok(revoked) => state.nodes.disconnect_certs(&revoked),
        Err(e) => tracing::error!("reloading cluster certificates: {e}"),
    }
}

async fn catch_up(state: &AppState) {
    reload_certs(state).await;
    if let Err(e) = state.access.reload(&state.db).await {
        tracing::error!("reloading access rules: {e}");
    }
    if let Ok(all) = store::control_planes::control_planes(&state.db).await {
        for cp in all {
            if let Ok(id) = Uuid::parse_str(&cp.id) {
                match state.planes.view(id) {
                    None => state.planes.start_existing(id).await,
                    Some(_) => state.planes.refresh(id),
                }
            }
        }
    }
    state.nodes.changed();
    state.catalog.refresh().await;
}

//! The analytics writer: the one task that folds nodes' batches into the
//! 1-minute rollups (a batch is written once, by node and sequence, in one
//! transaction with its rows and samples), so concurrent batches never race
//! on a row. Readers query the rollups directly.

use graphql_schema::analytics::Batch;
use sea_orm::DatabaseConnection;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::analytics::{Retention, merge_rows, rollup_rows, sample_rows};
use crate::error::Error;
use crate::store::analytics as rows;

type Job = (Uuid, Batch, oneshot::Sender<Result<bool, Error>>);

/// Batches waiting to be written, at most.
const QUEUE: usize = 1024;

#[derive(Clone)]
pub struct AnalyticsHandle {
    tx: mpsc::Sender<Job>,
    pub db: DatabaseConnection,
    /// Every stored batch (for live views).
    written: tokio::sync::broadcast::Sender<()>,
}

impl AnalyticsHandle {
    pub fn start(db: DatabaseConnection) -> AnalyticsHandle {
        AnalyticsHandle::start_with(db, Retention::default())
    }

    /// With retention per tier, enforced every ten minutes.
    pub fn start_with(db: DatabaseConnection, retention: Retention) -> AnalyticsHandle {
        let (tx, mut rx) = mpsc::channel::<Job>(QUEUE);
        let pdb = db.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(600));
            loop {
                every.tick().await;
                let now = crate::store::now_ms() / 1000;
                match retention.prune(&pdb, now).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(rows = n, "analytics past retention deleted"),
                    Err(e) => tracing::warn!("analytics retention: {e}"),
                }
            }
        });
        let wdb = db.clone();
        let written = tokio::sync::broadcast::channel(64).0;
        let w = written.clone();
        tokio::spawn(async move {
            while let Some((plane, batch, reply)) = rx.recv().await {
                let key = rows::batch::Model {
                    node_id: batch.node_id.to_string(),
                    seq: batch.seq as i64,
                    control_plane_id: plane.to_string(),
                    received_at: crate::store::now_ms(),
                };
                let r = rows::write_batch(
                    &wdb,
                    key,
                    rollup_rows(plane, &batch),
                    merge_rows,
                    sample_rows(plane, &batch),
                )
                .await
                .map_err(|e| Error::internal(format!("analytics batch: {e}")));
                if matches!(r, Ok(true)) {
                    let _ = w.send(());
                }
                let _ = reply.send(r);
            }
        });
        AnalyticsHandle { tx, db, written }
    }

    /// A signal after every stored batch.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<()> {
        self.written.subscribe()
    }

    /// Writes a node's batch of `plane`; false when it was written before.
    pub async fn ingest(&self, plane: Uuid, batch: Batch) -> Result<bool, Error> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send((plane, batch, tx))
            .await
            .map_err(|_| Error::Unavailable("the analytics writer is gone".into()))?;
        rx.await
            .map_err(|_| Error::Unavailable("the analytics writer is gone".into()))?
    }
}

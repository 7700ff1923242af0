//! One plane's committed changes as a stream, from a version on: the change log's
//! backlog first (or a snapshot when the log no longer reaches back), then live
//! changes, each once and in order, catching up from the log when a subscriber
//! falls behind the broadcast. The one implementation behind both the API's
//! `configChanges` and the nodes' `configUpdates`.

use std::collections::VecDeque;
use std::sync::Arc;

use sea_orm::DatabaseConnection;
use tokio::sync::broadcast::{self, error::RecvError};
use uuid::Uuid;

use crate::actors::control_plane::read_change;
use crate::actors::control_planes::Planes;
use crate::config::{ChangeEvent, View};
use crate::error::Error;
use crate::seal::Sealer;
use crate::store::control_planes as rows;

/// What a subscriber receives.
#[derive(Clone, Debug)]
pub enum Item {
    /// The whole plane: the subscriber starts over from it.
    Snapshot(Arc<View>),
    Change(Arc<ChangeEvent>),
}

impl Item {
    pub fn version(&self) -> i64 {
        match self {
            Item::Snapshot(v) => v.version,
            Item::Change(c) => c.version,
        }
    }
}

pub struct ChangeStream {
    planes: Planes,
    db: DatabaseConnection,
    sealer: Arc<Sealer>,
    plane: Uuid,
    rx: broadcast::Receiver<Arc<ChangeEvent>>,
    pending: VecDeque<Item>,
    last: i64,
}

impl ChangeStream {
    /// The plane's changes after `since` (`None`: from now; negative: a snapshot
    /// first).
    pub async fn open(
        planes: Planes,
        db: DatabaseConnection,
        sealer: Arc<Sealer>,
        plane: Uuid,
        since: Option<i64>,
    ) -> Result<ChangeStream, Error> {
        // subscribe first, then read the log: nothing falls between the two
        let rx = planes.subscribe(plane);
        let view = planes
            .view(plane)
            .ok_or_else(|| Error::NotFound(format!("control plane {plane}")))?;
        let since = since.unwrap_or(view.version);
        let pending = backlog(&planes, &db, &sealer, plane, since).await?;
        let last = pending.back().map(Item::version).unwrap_or(since);
        Ok(ChangeStream {
            planes,
            db,
            sealer,
            plane,
            rx,
            pending,
            last,
        })
    }

    /// The next item; `None` when the plane is gone.
    pub async fn next(&mut self) -> Option<Result<Item, Error>> {
        loop {
            if let Some(i) = self.pending.pop_front() {
                self.last = self.last.max(i.version());
                return Some(Ok(i));
            }
            match self.rx.recv().await {
                Ok(ev) if ev.version > self.last => {
                    self.last = ev.version;
                    return Some(Ok(Item::Change(ev)));
                }
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => {
                    match backlog(&self.planes, &self.db, &self.sealer, self.plane, self.last).await
                    {
                        Ok(p) => self.pending = p,
                        Err(e) => return Some(Err(e)),
                    }
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }
}

/// What brings a subscriber from `since` to now: the log's changes, or a
/// snapshot when the log does not reach back (or `since` is negative or ahead).
async fn backlog(
    planes: &Planes,
    db: &DatabaseConnection,
    sealer: &Sealer,
    plane: Uuid,
    since: i64,
) -> Result<VecDeque<Item>, Error> {
    let view = planes
        .view(plane)
        .ok_or_else(|| Error::NotFound(format!("control plane {plane}")))?;
    if since == view.version {
        return Ok(VecDeque::new());
    }
    let p = plane.to_string();
    let oldest = rows::oldest_change(db, &p).await?;
    if since < 0 || since > view.version || oldest.is_none_or(|o| o > since + 1) {
        return Ok(VecDeque::from([Item::Snapshot(view)]));
    }
    let mut out = VecDeque::new();
    for row in rows::changes_since(db, &p, since).await? {
        out.push_back(Item::Change(Arc::new(read_change(sealer, &row)?)));
    }
    Ok(out)
}

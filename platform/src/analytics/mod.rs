//! Analytics without GraphQL or SQL in its signatures: a node's batch turned
//! into 1-minute rollup rows (cells of one minute and dimensions merged,
//! sketches exactly), and queries over rollups in Konnect's vocabulary
//! (metrics, dimensions, filters, granularity, time range).

pub mod query;

use std::collections::BTreeMap;

use graphql_schema::analytics::{Batch, Cell};
use uuid::Uuid;

use crate::error::Error;
use crate::store::analytics::{self as rows, minute, sample};

pub use rows::minute::Model as MinuteRow;
pub use rows::sample::Model as SampleRow;

/// Sampled requests of these planes since `from_ms` (newest first, older
/// than the sample `before`), how many there are, and how many requests the
/// rollups counted in the same time: the sampling ratio's two sides.
pub async fn read_samples(
    db: &sea_orm::DatabaseConnection,
    planes: &[String],
    from_ms: i64,
    status: Option<u16>,
    before: Option<&str>,
    limit: u64,
) -> Result<(Vec<SampleRow>, u64, u64), Error> {
    let (rows, sampled) =
        rows::samples(db, planes, from_ms, status.map(i64::from), before, limit).await?;
    let from = from_ms.div_euclid(1000);
    let counted: u64 = rows::minutes(db, planes, from - from.rem_euclid(60), i64::MAX, 5_000_000)
        .await?
        .iter()
        .filter(|m| status.is_none_or(|s| m.status == i64::from(s)))
        .map(|m| m.count as u64)
        .sum();
    Ok((rows, sampled, counted))
}

/// Minute rows of these planes in [from, to), at most `limit`.
pub async fn read_minutes(
    db: &sea_orm::DatabaseConnection,
    planes: &[String],
    from: i64,
    to: i64,
    limit: u64,
) -> Result<Vec<MinuteRow>, Error> {
    Ok(rows::minutes(db, planes, from, to, limit).await?)
}

fn opt(u: Option<Uuid>) -> String {
    u.map(|u| u.to_string()).unwrap_or_default()
}

/// The rows a batch adds to, per minute and dimensions.
pub fn minute_rows(plane: Uuid, b: &Batch) -> Vec<minute::Model> {
    let mut cells: BTreeMap<String, (i64, Cell)> = BTreeMap::new();
    for c in &b.cells {
        let bucket = c.key.start - c.key.start.rem_euclid(60);
        let k = &c.key;
        let id = format!(
            "{bucket}|{plane}|{}|{}|{}|{}|{}|{}|{}",
            b.node_id,
            opt(k.service),
            opt(k.route),
            opt(k.consumer),
            opt(k.application),
            opt(k.api),
            k.status
        );
        match cells.get_mut(&id) {
            Some((_, m)) => m.merge(c),
            None => {
                let mut m = c.clone();
                m.key.start = bucket;
                cells.insert(id, (bucket, m));
            }
        }
    }
    cells
        .into_iter()
        .map(|(id, (bucket, c))| row(id, bucket, plane, b.node_id, &c))
        .collect()
}

fn row(id: String, bucket: i64, plane: Uuid, node: Uuid, c: &Cell) -> minute::Model {
    minute::Model {
        cell: id,
        bucket,
        control_plane_id: plane.to_string(),
        node_id: node.to_string(),
        service: opt(c.key.service),
        route: opt(c.key.route),
        consumer: opt(c.key.consumer),
        application: opt(c.key.application),
        api: opt(c.key.api),
        status: i64::from(c.key.status),
        count: c.count as i64,
        gateway_answers: c.gateway_answers as i64,
        request_bytes: c.request_bytes as i64,
        response_bytes: c.response_bytes as i64,
        sketches: serde_json::to_string(c).unwrap_or_default(),
    }
}

/// The cell a stored row holds.
pub fn cell_of(m: &minute::Model) -> Option<Cell> {
    serde_json::from_str(&m.sketches).ok()
}

/// Folds a stored row into a new one of the same minute and dimensions.
pub fn merge_rows(old: &minute::Model, new: &mut minute::Model) {
    let (Some(mut a), Some(b)) = (cell_of(old), cell_of(new)) else {
        return;
    };
    a.merge(&b);
    *new = row(
        new.cell.clone(),
        new.bucket,
        Uuid::parse_str(&new.control_plane_id).unwrap_or_default(),
        Uuid::parse_str(&new.node_id).unwrap_or_default(),
        &a,
    );
}

/// A batch's samples as rows.
pub fn sample_rows(plane: Uuid, b: &Batch) -> Vec<sample::Model> {
    b.samples
        .iter()
        .map(|r| sample::Model {
            id: Uuid::now_v7().to_string(),
            at_ms: r.at_ms,
            control_plane_id: plane.to_string(),
            node_id: b.node_id.to_string(),
            status: i64::from(r.status),
            record: serde_json::to_string(r).unwrap_or_default(),
        })
        .collect()
}

//! Analytics without GraphQL or SQL in its signatures: a node's batch turned
//! into rollup rows per minute, hour and day (cells of one bucket and
//! dimensions merged, sketches exactly: an hour is exactly its minutes), their
//! retention, and queries over rollups in Konnect's vocabulary (metrics,
//! dimensions, filters, granularity, time range).

pub mod query;

use std::collections::BTreeMap;

use graphql_schema::analytics::{Batch, Cell};
use uuid::Uuid;

use crate::error::Error;
use crate::store::analytics::{self as rows, rollup, sample};

pub use rows::rollup::Model as RollupRow;
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
    let counted: u64 = rows::rollups(
        db,
        60,
        planes,
        from - from.rem_euclid(60),
        i64::MAX,
        5_000_000,
    )
    .await?
    .iter()
    .filter(|m| status.is_none_or(|s| m.status == i64::from(s)))
    .map(|m| m.count as u64)
    .sum();
    Ok((rows, sampled, counted))
}

/// Seconds per bucket of each tier.
pub const TIERS: [i64; 3] = [60, 3600, 86_400];

/// How long each tier (and the samples) are kept.
#[derive(Clone, Copy, Debug)]
pub struct Retention {
    pub minutes_secs: i64,
    pub hours_secs: i64,
    pub days_secs: i64,
    pub samples_secs: i64,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            minutes_secs: 48 * 3600,
            hours_secs: 35 * 86_400,
            days_secs: 400 * 86_400,
            samples_secs: 7 * 86_400,
        }
    }
}

impl Retention {
    fn of(&self, tier: i64) -> i64 {
        match tier {
            60 => self.minutes_secs,
            3600 => self.hours_secs,
            _ => self.days_secs,
        }
    }

    /// The tier a query reads: with a granularity, the coarsest tier that
    /// divides it and still holds `from`; without, the finest that holds it.
    pub fn tier_for(&self, now: i64, from: i64, granularity: Option<i64>) -> i64 {
        let holds = |t: &i64| now - from <= self.of(*t);
        match granularity {
            Some(g) => TIERS
                .into_iter()
                .rev()
                .find(|t| g >= *t && g % t == 0 && holds(t)),
            None => TIERS.into_iter().find(holds),
        }
        .unwrap_or(86_400)
    }

    /// Deletes what is past its time.
    pub async fn prune(&self, db: &sea_orm::DatabaseConnection, now: i64) -> Result<u64, Error> {
        let tiers: Vec<(i64, i64)> = TIERS.iter().map(|t| (*t, now - self.of(*t))).collect();
        Ok(rows::prune(db, &tiers, (now - self.samples_secs) * 1000).await?)
    }
}

/// An application's requests since `from` (Unix seconds), per API id, from
/// the day tier (the nodes' counts: what its plans' quotas count).
pub async fn application_usage(
    db: &sea_orm::DatabaseConnection,
    application: Uuid,
    from: i64,
) -> Result<BTreeMap<String, u64>, Error> {
    let from = from - from.rem_euclid(86_400);
    let mut out = BTreeMap::new();
    for r in rows::rollups_of_application(db, 86_400, &application.to_string(), from).await? {
        *out.entry(r.api).or_insert(0) += r.count as u64;
    }
    Ok(out)
}

/// Rows of one tier of these planes in [from, to), at most `limit`.
pub async fn read_rollups(
    db: &sea_orm::DatabaseConnection,
    tier: i64,
    planes: &[String],
    from: i64,
    to: i64,
    limit: u64,
) -> Result<Vec<RollupRow>, Error> {
    Ok(rows::rollups(db, tier, planes, from, to, limit).await?)
}

fn opt(u: Option<Uuid>) -> String {
    u.map(|u| u.to_string()).unwrap_or_default()
}

/// The rows a batch adds to, per tier, bucket and dimensions.
pub fn rollup_rows(plane: Uuid, b: &Batch) -> Vec<rollup::Model> {
    TIERS
        .iter()
        .flat_map(|t| tier_rows(*t, plane, b.node_id, &b.cells))
        .collect()
}

/// `cells` merged into rows of one tier.
pub fn tier_rows(tier: i64, plane: Uuid, node: Uuid, cells_in: &[Cell]) -> Vec<rollup::Model> {
    let mut cells: BTreeMap<String, (i64, Cell)> = BTreeMap::new();
    for c in cells_in {
        let bucket = c.key.start - c.key.start.rem_euclid(tier);
        let k = &c.key;
        let id = format!(
            "{tier}|{bucket}|{plane}|{}|{}|{}|{}|{}|{}|{}",
            node,
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
        .map(|(id, (bucket, c))| row(id, tier, bucket, plane, node, &c))
        .collect()
}

fn row(id: String, tier: i64, bucket: i64, plane: Uuid, node: Uuid, c: &Cell) -> rollup::Model {
    rollup::Model {
        cell: id,
        tier,
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
pub fn cell_of(m: &rollup::Model) -> Option<Cell> {
    serde_json::from_str(&m.sketches).ok()
}

/// Folds a stored row into a new one of the same minute and dimensions.
pub fn merge_rows(old: &rollup::Model, new: &mut rollup::Model) {
    let (Some(mut a), Some(b)) = (cell_of(old), cell_of(new)) else {
        return;
    };
    a.merge(&b);
    *new = row(
        new.cell.clone(),
        new.tier,
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

#[cfg(test)]
mod tests {
    use graphql_schema::analytics::{CellKey, Record};

    use super::*;
    use crate::analytics::query::{Dimension, Metric, Query, evaluate};

    /// A small deterministic generator (no dependency for one test).
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            self.0 >> 33
        }
    }

    /// Random 10-second cells over two days; the minute, hour and day tiers
    /// (and minutes merged into hours and hours into days by a query) give the
    /// same counts and the same quantiles as one fold of every request.
    #[test]
    fn every_tier_answers_as_the_raw_data_does() {
        let plane = Uuid::new_v4();
        let node = Uuid::new_v4();
        let routes: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
        for seed in 1..=3u64 {
            let mut g = Lcg(seed);
            let mut all = graphql_schema::analytics::Folder::default();
            let mut cells: Vec<Cell> = Vec::new();
            for _ in 0..400 {
                let start = 1_700_000_000 + (g.next() % 17_280) as i64 * 10;
                let key = CellKey {
                    start,
                    route: Some(routes[(g.next() % 3) as usize]),
                    status: [200, 404, 500][(g.next() % 3) as usize],
                    ..CellKey::default()
                };
                let mut c = Cell::new(key.clone());
                for _ in 0..(1 + g.next() % 20) {
                    let r = Record {
                        at_ms: start * 1000 + (g.next() % 10_000) as i64,
                        route: key.route,
                        status: key.status,
                        total_us: 100 + g.next() % 2_000_000,
                        upstream_us: Some(50 + g.next() % 1_000_000),
                        request_bytes: g.next() % 5000,
                        response_bytes: g.next() % 50_000,
                        ..Record::default()
                    };
                    c.add(&r);
                    all.add(r, 0);
                }
                cells.push(c);
            }
            let whole = all
                .cells
                .values()
                .fold(Cell::new(CellKey::default()), |mut a, c| {
                    a.merge(c);
                    a
                });
            let q = Query {
                metrics: vec![
                    Metric::RequestCount,
                    Metric::ResponseLatencyP99,
                    Metric::UpstreamLatencyP50,
                    Metric::ResponseSizeP99,
                ],
                dimensions: vec![],
                filters: vec![],
                granularity: None,
                from: 0,
                to: i64::MAX,
                limit: 10,
            };
            let want: Vec<Option<f64>> = q
                .metrics
                .iter()
                .map(|m| query::metric(*m, &whole, 0, 1.0))
                .collect();
            for tier in TIERS {
                let rows = tier_rows(tier, plane, node, &cells);
                let got = evaluate(&q, &rows);
                let vals: Vec<Option<f64>> = got.rows[0].metrics.iter().map(|(_, v)| *v).collect();
                assert_eq!(vals, want, "tier {tier}, seed {seed}");
                // hours per route from the minute tier equal the hour tier's
                let by_hour = Query {
                    dimensions: vec![Dimension::Route],
                    granularity: Some(3600),
                    ..q.clone()
                };
                let a = evaluate(&by_hour, &tier_rows(60, plane, node, &cells));
                let b = evaluate(&by_hour, &tier_rows(3600, plane, node, &cells));
                let flat = |x: &query::Answer| -> Vec<String> {
                    x.rows
                        .iter()
                        .map(|r| format!("{:?}", (r.timestamp, &r.dimensions, &r.metrics)))
                        .collect()
                };
                assert_eq!(flat(&a), flat(&b), "seed {seed}");
            }
        }
    }

    #[test]
    fn the_finest_tier_that_holds_the_range() {
        let r = Retention::default();
        let now = 1_800_000_000;
        assert_eq!(r.tier_for(now, now - 3600, None), 60);
        assert_eq!(r.tier_for(now, now - 3600, Some(3600)), 3600);
        assert_eq!(r.tier_for(now, now - 3 * 86_400, None), 3600);
        assert_eq!(r.tier_for(now, now - 60 * 86_400, Some(300)), 86_400);
        assert_eq!(r.tier_for(now, now - 3600, Some(300)), 60);
    }
}

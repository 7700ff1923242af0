//! Analytics batches, as nodes ship them and the platform reads them: requests
//! folded into 10-second cells per (service, route, consumer, application, API,
//! status), each with counts, bytes and mergeable latency sketches (DDSketch,
//! 1% relative error), plus a budgeted sample of raw records (errors and slow
//! requests first). A batch carries its node and sequence number, so shipping it
//! twice counts it once.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sketches_ddsketch::Config;
pub use sketches_ddsketch::DDSketch;
use uuid::Uuid;

/// Seconds per cell.
pub const CELL_SECONDS: i64 = 10;

/// A latency sketch: 1% relative error, mergeable exactly.
pub fn sketch() -> DDSketch {
    DDSketch::new(Config::new(0.01, 4096, 1.0))
}

/// Where an answer came from.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The upstream answered.
    #[default]
    Upstream,
    /// The gateway answered itself (no route, a plugin's 401/403/429, an
    /// upstream that could not be reached).
    Gateway,
    /// proxy-cache answered from its cache.
    Cache,
}

/// What a cell counts requests by.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CellKey {
    /// Unix seconds at the start of the cell (a multiple of [`CELL_SECONDS`]).
    pub start: i64,
    pub service: Option<Uuid>,
    pub route: Option<Uuid>,
    pub consumer: Option<Uuid>,
    pub application: Option<Uuid>,
    pub api: Option<Uuid>,
    pub status: u16,
}

/// Requests of one key in one cell.
#[derive(Clone, Serialize, Deserialize)]
pub struct Cell {
    pub key: CellKey,
    pub count: u64,
    /// Answers the gateway gave itself (of `count`).
    pub gateway_answers: u64,
    pub request_bytes: u64,
    pub response_bytes: u64,
    /// Microseconds, request received to response sent.
    #[serde(with = "maybe_empty")]
    pub total: DDSketch,
    /// Microseconds waiting for the upstream (requests that reached it).
    #[serde(with = "maybe_empty")]
    pub upstream: DDSketch,
    /// Microseconds in the gateway (total minus upstream).
    #[serde(with = "maybe_empty")]
    pub gateway: DDSketch,
    #[serde(with = "maybe_empty")]
    pub request_size: DDSketch,
    #[serde(with = "maybe_empty")]
    pub response_size: DDSketch,
}

/// An empty sketch's min and max are infinite, which JSON cannot carry: it
/// travels as `null`.
mod maybe_empty {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use sketches_ddsketch::DDSketch;

    pub fn serialize<S: Serializer>(v: &DDSketch, s: S) -> Result<S::Ok, S::Error> {
        if v.count() == 0 {
            s.serialize_none()
        } else {
            Some(v).serialize(s)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DDSketch, D::Error> {
        Ok(Option::<DDSketch>::deserialize(d)?.unwrap_or_else(super::sketch))
    }
}

impl std::fmt::Debug for Cell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cell")
            .field("key", &self.key)
            .field("count", &self.count)
            .finish_non_exhaustive()
    }
}

impl Cell {
    pub fn new(key: CellKey) -> Cell {
        Cell {
            key,
            count: 0,
            gateway_answers: 0,
            request_bytes: 0,
            response_bytes: 0,
            total: sketch(),
            upstream: sketch(),
            gateway: sketch(),
            request_size: sketch(),
            response_size: sketch(),
        }
    }

    /// Counts one request.
    pub fn add(&mut self, r: &Record) {
        self.count += 1;
        if r.source == Source::Gateway {
            self.gateway_answers += 1;
        }
        self.request_bytes += r.request_bytes;
        self.response_bytes += r.response_bytes;
        self.total.add(r.total_us.max(1) as f64);
        if let Some(u) = r.upstream_us {
            self.upstream.add(u.max(1) as f64);
        }
        self.gateway
            .add(r.total_us.saturating_sub(r.upstream_us.unwrap_or(0)).max(1) as f64);
        self.request_size.add(r.request_bytes.max(1) as f64);
        self.response_size.add(r.response_bytes.max(1) as f64);
    }

    /// Adds another cell's requests (same key or not: the caller decides).
    pub fn merge(&mut self, o: &Cell) {
        self.count += o.count;
        self.gateway_answers += o.gateway_answers;
        self.request_bytes += o.request_bytes;
        self.response_bytes += o.response_bytes;
        // sketches of one config always merge
        let _ = self.total.merge(&o.total);
        let _ = self.upstream.merge(&o.upstream);
        let _ = self.gateway.merge(&o.gateway);
        let _ = self.request_size.merge(&o.request_size);
        let _ = self.response_size.merge(&o.response_size);
    }
}

/// One request, as the node saw it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Unix milliseconds when the request arrived.
    pub at_ms: i64,
    pub request_id: String,
    pub trace_id: Option<String>,
    pub service: Option<Uuid>,
    pub route: Option<Uuid>,
    pub consumer: Option<Uuid>,
    pub application: Option<Uuid>,
    pub api: Option<Uuid>,
    pub status: u16,
    pub upstream_status: Option<u16>,
    pub source: Source,
    pub method: String,
    pub host: String,
    /// Without the query string.
    pub path: String,
    pub client_ip: String,
    pub request_bytes: u64,
    pub response_bytes: u64,
    pub total_us: u64,
    pub upstream_us: Option<u64>,
}

impl Record {
    pub fn key(&self) -> CellKey {
        let secs = self.at_ms.div_euclid(1000);
        CellKey {
            start: secs - secs.rem_euclid(CELL_SECONDS),
            service: self.service,
            route: self.route,
            consumer: self.consumer,
            application: self.application,
            api: self.api,
            status: self.status,
        }
    }

    /// How much a sample is worth keeping: errors first, then the slowest.
    pub fn priority(&self) -> (u8, u64) {
        let class = match self.status {
            500.. => 3,
            400..=499 => 2,
            _ => 1,
        };
        (class, self.total_us)
    }
}

/// What a node ships at once.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Batch {
    pub node_id: Uuid,
    /// Increases by one per batch of this node (its spool keeps the order).
    pub seq: u64,
    pub cells: Vec<Cell>,
    pub samples: Vec<Record>,
    /// Requests seen since the last batch, to check the cells against.
    pub requests: u64,
    /// Records left out of `samples` (over the budget).
    pub samples_dropped: u64,
    /// Batches this node had to drop (its spool was full), counted since start.
    pub batches_dropped: u64,
    /// Requests in those dropped batches.
    pub requests_dropped: u64,
}

/// Folds records into cells, keeping at most `budget` samples (errors and slow
/// requests first).
#[derive(Default)]
pub struct Folder {
    pub cells: HashMap<CellKey, Cell>,
    pub samples: Vec<Record>,
    pub samples_dropped: u64,
    pub requests: u64,
    /// The least worth keeping of a full sample: (index, priority).
    lowest: Option<(usize, (u8, u64))>,
}

impl Folder {
    pub fn add(&mut self, r: Record, budget: usize) {
        self.add_with(r, budget, |_| {});
    }

    /// Counts `r`; when it joins the sample, `fill` completes it first (the
    /// strings a sample carries are only made for the records kept).
    pub fn add_with(&mut self, mut r: Record, budget: usize, fill: impl FnOnce(&mut Record)) {
        self.requests += 1;
        let key = r.key();
        match self.cells.get_mut(&key) {
            Some(c) => c.add(&r),
            None => {
                let mut c = Cell::new(key.clone());
                c.add(&r);
                self.cells.insert(key, c);
            }
        }
        if self.samples.len() < budget {
            fill(&mut r);
            self.samples.push(r);
            return;
        }
        self.samples_dropped += 1;
        if self.samples.is_empty() {
            return;
        }
        let (i, low) = match self.lowest {
            Some(l) => l,
            None => {
                let l = self
                    .samples
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, s)| s.priority())
                    .map(|(i, s)| (i, s.priority()))
                    .unwrap_or((0, (0, 0)));
                self.lowest = Some(l);
                l
            }
        };
        // replace the least worth keeping when this one is worth more
        if r.priority() > low {
            fill(&mut r);
            self.samples[i] = r;
            self.lowest = None;
        }
    }

    /// Adds another folder's cells and samples.
    pub fn absorb(&mut self, o: Folder, budget: usize) {
        self.lowest = None;
        self.requests += o.requests;
        self.samples_dropped += o.samples_dropped;
        for (k, c) in o.cells {
            match self.cells.get_mut(&k) {
                Some(mine) => mine.merge(&c),
                None => {
                    self.cells.insert(k, c);
                }
            }
        }
        for s in o.samples {
            if self.samples.len() < budget {
                self.samples.push(s);
            } else {
                self.samples_dropped += 1;
            }
        }
    }
}

/// The `q` quantile of `sorted` (ascending) as DDSketch ranks it.
pub fn exact_quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * (sorted.len() as f64 - 1.0)) as usize;
    sorted.get(rank).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(at_ms: i64, status: u16, total_us: u64) -> Record {
        Record {
            at_ms,
            status,
            total_us,
            upstream_us: Some(total_us / 2),
            request_bytes: 10,
            response_bytes: 100,
            ..Record::default()
        }
    }

    #[test]
    fn cells_are_ten_seconds_and_counts_exact() {
        let mut f = Folder::default();
        for i in 0..1000 {
            f.add(
                rec(
                    20_000 + i * 25,
                    if i % 10 == 0 { 500 } else { 200 },
                    1000 + i as u64,
                ),
                50,
            );
        }
        assert_eq!(f.requests, 1000);
        let total: u64 = f.cells.values().map(|c| c.count).sum();
        assert_eq!(total, 1000);
        let errors: u64 = f
            .cells
            .values()
            .filter(|c| c.key.status == 500)
            .map(|c| c.count)
            .sum();
        assert_eq!(errors, 100);
        assert!(f.cells.keys().all(|k| k.start % CELL_SECONDS == 0));
        // errors first in the sample
        assert_eq!(f.samples.len(), 50);
        assert!(
            f.samples.iter().all(|s| s.status == 500),
            "errors kept first"
        );
        assert_eq!(f.samples_dropped, 950);
    }

    #[test]
    fn merged_sketches_keep_one_percent() {
        // two "nodes" with different latency shapes, merged, against the exact
        // quantiles of all values
        let mut a = sketch();
        let mut b = sketch();
        let mut all = Vec::new();
        for i in 0..20_000u64 {
            let v = (1 + (i * 7919) % 50_000) as f64;
            let w = (100 + (i * 104_729) % 900_000) as f64;
            a.add(v);
            b.add(w);
            all.push(v);
            all.push(w);
        }
        a.merge(&b).expect("same config");
        all.sort_by(f64::total_cmp);
        for q in [0.5, 0.95, 0.99] {
            let exact = exact_quantile(&all, q).expect("values");
            let got = a.quantile(q).ok().flatten().expect("values");
            assert!(
                ((got - exact) / exact).abs() <= 0.01 + 1e-9,
                "q{q}: sketch {got}, exact {exact}"
            );
        }
    }

    #[test]
    fn a_batch_round_trips_through_json() {
        let mut f = Folder::default();
        f.add(rec(1_000, 200, 5_000), 10);
        let b = Batch {
            node_id: Uuid::nil(),
            seq: 7,
            cells: f.cells.into_values().collect(),
            samples: f.samples,
            requests: 1,
            ..Batch::default()
        };
        let j = serde_json::to_string(&b).expect("json");
        let back: Batch = serde_json::from_str(&j).expect("back");
        assert_eq!(back.seq, 7);
        assert_eq!(back.cells[0].count, 1);
        assert_eq!(back.cells[0].total.count(), 1);
        // a gateway answer has no upstream latency: an empty sketch travels too
        let mut f = Folder::default();
        f.add(
            Record {
                at_ms: 1_000,
                status: 401,
                total_us: 50,
                source: Source::Gateway,
                ..Record::default()
            },
            10,
        );
        let cell = f.cells.into_values().next().expect("a cell");
        let j = serde_json::to_string(&cell).expect("json");
        let back: Cell = serde_json::from_str(&j).expect("an empty sketch reads back");
        assert_eq!(back.upstream.count(), 0);
        assert_eq!(back.gateway_answers, 1);
    }
}

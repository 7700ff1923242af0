//! Queries over 1-minute rollups: group by the asked dimensions (and time, by
//! the granularity), merge the cells of a group exactly (counts and sketches),
//! and compute each metric from the merged cell.

use std::collections::BTreeMap;

use graphql_schema::analytics::Cell;

use crate::store::analytics::rollup as minute;

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dimension {
    ControlPlane,
    Service,
    Route,
    Consumer,
    Application,
    Api,
    StatusCode,
    StatusCodeGrouped,
    Node,
}

impl Dimension {
    /// The row's value for this dimension (empty: none).
    pub fn value(self, m: &minute::Model) -> String {
        match self {
            Dimension::ControlPlane => m.control_plane_id.clone(),
            Dimension::Service => m.service.clone(),
            Dimension::Route => m.route.clone(),
            Dimension::Consumer => m.consumer.clone(),
            Dimension::Application => m.application.clone(),
            Dimension::Api => m.api.clone(),
            Dimension::StatusCode => m.status.to_string(),
            Dimension::StatusCodeGrouped => format!("{}XX", m.status / 100),
            Dimension::Node => m.node_id.clone(),
        }
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Metric {
    RequestCount,
    RequestsPerMinute,
    ErrorRate,
    ResponseLatencyAverage,
    ResponseLatencyP50,
    ResponseLatencyP95,
    ResponseLatencyP99,
    UpstreamLatencyAverage,
    UpstreamLatencyP50,
    UpstreamLatencyP95,
    UpstreamLatencyP99,
    GatewayLatencyAverage,
    GatewayLatencyP50,
    GatewayLatencyP95,
    GatewayLatencyP99,
    RequestSizeAverage,
    RequestSizeP99,
    RequestSizeSum,
    ResponseSizeAverage,
    ResponseSizeP99,
    ResponseSizeSum,
}

/// A filter: rows whose `dimension` is one of `values`.
#[derive(Clone, Debug)]
pub struct Filter {
    pub dimension: Dimension,
    pub values: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct Query {
    pub metrics: Vec<Metric>,
    pub dimensions: Vec<Dimension>,
    pub filters: Vec<Filter>,
    /// Seconds per time bucket (a multiple of 60); `None`: no time dimension.
    pub granularity: Option<i64>,
    /// Unix seconds, [from, to).
    pub from: i64,
    pub to: i64,
    pub limit: usize,
}

#[derive(Clone, Debug)]
pub struct Row {
    /// Unix seconds at the start of the time bucket.
    pub timestamp: Option<i64>,
    pub dimensions: Vec<(Dimension, String)>,
    pub metrics: Vec<(Metric, Option<f64>)>,
}

pub struct Answer {
    pub rows: Vec<Row>,
    /// More groups than `limit` (the rest left out).
    pub truncated: bool,
}

fn q(s: &graphql_schema::analytics::DDSketch, p: f64) -> Option<f64> {
    s.quantile(p).ok().flatten()
}

fn avg(s: &graphql_schema::analytics::DDSketch) -> Option<f64> {
    let n = s.count();
    (n > 0).then(|| s.sum().unwrap_or(0.0) / n as f64)
}

/// A metric of a merged cell over `minutes` minutes (latencies in ms).
pub fn metric(m: Metric, c: &Cell, errors: u64, minutes: f64) -> Option<f64> {
    let ms = |v: Option<f64>| v.map(|v| v / 1000.0);
    Some(match m {
        Metric::RequestCount => c.count as f64,
        Metric::RequestsPerMinute => c.count as f64 / minutes.max(1.0),
        Metric::ErrorRate => {
            if c.count == 0 {
                return None;
            }
            errors as f64 / c.count as f64
        }
        Metric::ResponseLatencyAverage => return ms(avg(&c.total)),
        Metric::ResponseLatencyP50 => return ms(q(&c.total, 0.5)),
        Metric::ResponseLatencyP95 => return ms(q(&c.total, 0.95)),
        Metric::ResponseLatencyP99 => return ms(q(&c.total, 0.99)),
        Metric::UpstreamLatencyAverage => return ms(avg(&c.upstream)),
        Metric::UpstreamLatencyP50 => return ms(q(&c.upstream, 0.5)),
        Metric::UpstreamLatencyP95 => return ms(q(&c.upstream, 0.95)),
        Metric::UpstreamLatencyP99 => return ms(q(&c.upstream, 0.99)),
        Metric::GatewayLatencyAverage => return ms(avg(&c.gateway)),
        Metric::GatewayLatencyP50 => return ms(q(&c.gateway, 0.5)),
        Metric::GatewayLatencyP95 => return ms(q(&c.gateway, 0.95)),
        Metric::GatewayLatencyP99 => return ms(q(&c.gateway, 0.99)),
        Metric::RequestSizeAverage => return avg(&c.request_size),
        Metric::RequestSizeP99 => return q(&c.request_size, 0.99),
        Metric::RequestSizeSum => c.request_bytes as f64,
        Metric::ResponseSizeAverage => return avg(&c.response_size),
        Metric::ResponseSizeP99 => return q(&c.response_size, 0.99),
        Metric::ResponseSizeSum => c.response_bytes as f64,
    })
}

/// Evaluates `query` over `rows` (already limited to the caller's planes and
/// the time range).
pub fn evaluate(query: &Query, rows: &[minute::Model]) -> Answer {
    type Key = (Option<i64>, Vec<String>);
    let mut groups: BTreeMap<Key, (Cell, u64)> = BTreeMap::new();
    for r in rows {
        if r.bucket < query.from || r.bucket >= query.to {
            continue;
        }
        if !query
            .filters
            .iter()
            .all(|f| f.values.contains(&f.dimension.value(r)))
        {
            continue;
        }
        let Some(cell) = super::cell_of(r) else {
            continue;
        };
        let t = query
            .granularity
            .map(|g| r.bucket - (r.bucket - query.from).rem_euclid(g.max(60)));
        let dims = query.dimensions.iter().map(|d| d.value(r)).collect();
        let errors = if r.status >= 400 { r.count as u64 } else { 0 };
        match groups.get_mut(&(t, dims)) {
            Some((c, e)) => {
                c.merge(&cell);
                *e += errors;
            }
            None => {
                groups.insert(
                    (t, query.dimensions.iter().map(|d| d.value(r)).collect()),
                    (cell, errors),
                );
            }
        }
    }
    let truncated = groups.len() > query.limit;
    let span_minutes = |t: Option<i64>| -> f64 {
        match (t, query.granularity) {
            (Some(_), Some(g)) => (g.max(60) / 60) as f64,
            _ => ((query.to - query.from) / 60).max(1) as f64,
        }
    };
    let rows = groups
        .into_iter()
        .take(query.limit)
        .map(|((t, dims), (cell, errors))| Row {
            timestamp: t,
            dimensions: query.dimensions.iter().copied().zip(dims).collect(),
            metrics: query
                .metrics
                .iter()
                .map(|m| (*m, metric(*m, &cell, errors, span_minutes(t))))
                .collect(),
        })
        .collect();
    Answer { rows, truncated }
}

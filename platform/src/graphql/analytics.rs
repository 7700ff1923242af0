//! `analytics(query)`: traffic as Konnect's analytics API names it (metrics,
//! dimensions, filters, granularity, a relative or absolute time range), over
//! the 1-minute rollups of the nodes' batches. Needs `analytics` read, and only
//! ever covers the control planes the caller may read.

use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use futures_util::Stream;

use super::error::{Gql, gql};
use super::guard::{caller, check, state};
use crate::analytics::query::{self as q, Dimension, Filter, Metric, Query};
use crate::auth::{self, Action, Resource};
use crate::error::{Error, Field};

/// Rows read per query, at most.
const MAX_ROWS: u64 = 500_000;

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::analytics::query::Metric")]
pub enum AnalyticsMetric {
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

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::analytics::query::Dimension")]
pub enum AnalyticsDimension {
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

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum Granularity {
    Minutely,
    FiveMinutely,
    Hourly,
    Daily,
}

impl Granularity {
    fn seconds(self) -> i64 {
        match self {
            Granularity::Minutely => 60,
            Granularity::FiveMinutely => 300,
            Granularity::Hourly => 3600,
            Granularity::Daily => 86_400,
        }
    }
}

/// Konnect's relative ranges.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum RelativeTime {
    #[graphql(name = "LAST_15M")]
    Last15m,
    #[graphql(name = "LAST_1H")]
    Last1h,
    #[graphql(name = "LAST_6H")]
    Last6h,
    #[graphql(name = "LAST_12H")]
    Last12h,
    #[graphql(name = "LAST_24H")]
    Last24h,
    #[graphql(name = "LAST_7D")]
    Last7d,
    #[graphql(name = "LAST_30D")]
    Last30d,
}

impl RelativeTime {
    fn seconds(self) -> i64 {
        match self {
            RelativeTime::Last15m => 900,
            RelativeTime::Last1h => 3600,
            RelativeTime::Last6h => 6 * 3600,
            RelativeTime::Last12h => 12 * 3600,
            RelativeTime::Last24h => 86_400,
            RelativeTime::Last7d => 7 * 86_400,
            RelativeTime::Last30d => 30 * 86_400,
        }
    }
}

#[derive(InputObject, Clone)]
pub struct TimeRangeInput {
    pub relative: Option<RelativeTime>,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
}

#[derive(InputObject, Clone)]
pub struct AnalyticsFilterInput {
    pub dimension: AnalyticsDimension,
    /// Rows whose dimension is one of these (ids; status codes as numbers;
    /// status classes as `2XX`).
    pub values: Vec<String>,
}

#[derive(InputObject, Clone)]
pub struct AnalyticsQueryInput {
    pub metrics: Vec<AnalyticsMetric>,
    #[graphql(default)]
    pub dimensions: Vec<AnalyticsDimension>,
    #[graphql(default)]
    pub filters: Vec<AnalyticsFilterInput>,
    /// Adds time as a dimension, in buckets of this size.
    pub granularity: Option<Granularity>,
    pub time_range: TimeRangeInput,
    /// Rows (groups) at most; default 1,000, at most 10,000.
    pub limit: Option<i32>,
}

#[derive(SimpleObject)]
pub struct AnalyticsMeta {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub granularity: Option<Granularity>,
    /// More groups than the limit: the rest were left out.
    pub truncated: bool,
    /// The control planes the answer covers (those the caller may read).
    pub control_plane_ids: Vec<String>,
}

#[derive(SimpleObject)]
pub struct DimensionValue {
    pub dimension: AnalyticsDimension,
    /// The id (or status code, or class); empty for none.
    pub id: String,
}

#[derive(SimpleObject)]
pub struct MetricValue {
    pub metric: AnalyticsMetric,
    /// Latencies in milliseconds, sizes in bytes, error rate as a fraction.
    pub value: Option<f64>,
}

#[derive(SimpleObject)]
pub struct AnalyticsRow {
    pub timestamp: Option<DateTime<Utc>>,
    pub dimensions: Vec<DimensionValue>,
    pub metrics: Vec<MetricValue>,
}

#[derive(SimpleObject)]
pub struct AnalyticsResult {
    pub meta: AnalyticsMeta,
    pub rows: Vec<AnalyticsRow>,
}

#[derive(Default)]
pub struct AnalyticsQuery;

#[Object]
impl AnalyticsQuery {
    /// Traffic over the nodes' analytics, grouped and measured as asked.
    async fn analytics(
        &self,
        ctx: &Context<'_>,
        query: AnalyticsQueryInput,
    ) -> Result<AnalyticsResult> {
        let planes = readable_planes(ctx).await?;
        run(state(ctx), &planes, &query).await
    }
}

/// The control planes the caller may read, once `analytics` read is granted.
pub async fn readable_planes(ctx: &Context<'_>) -> Result<Vec<String>> {
    check(ctx, &Resource::Analytics("default".into()), Action::Read).await?;
    let c = caller(ctx)?;
    let st = state(ctx);
    Ok(st
        .access
        .allowed_each(c, st.planes.views(), |v| auth::plane(v.id), Action::Read)
        .await
        .into_iter()
        .map(|v| v.id.to_string())
        .collect())
}

/// Answers `query` over `planes`.
pub async fn run(
    st: &crate::state::AppState,
    planes: &[String],
    query: &AnalyticsQueryInput,
) -> Result<AnalyticsResult> {
    let now = Utc::now().timestamp();
    let tr = &query.time_range;
    let (from, to) = match (tr.relative, tr.start, tr.end) {
        (Some(r), None, None) => (now - r.seconds(), now + 60),
        (None, Some(s), e) => (s.timestamp(), e.map_or(now + 60, |e| e.timestamp())),
        _ => {
            return Err(gql(Error::invalid(
                Field::Input("timeRange".into()),
                "give relative, or start (and end)",
            )));
        }
    };
    if to <= from || to - from > 400 * 86_400 {
        return Err(gql(Error::invalid(
            Field::Input("timeRange".into()),
            "end after start, at most 400 days",
        )));
    }
    if query.metrics.is_empty() || query.metrics.len() > 30 || query.dimensions.len() > 5 {
        return Err(gql(Error::invalid(
            Field::Input("metrics".into()),
            "1 to 30 metrics and at most 5 dimensions",
        )));
    }
    let limit = query.limit.unwrap_or(1000);
    if !(1..=10_000).contains(&limit) {
        return Err(gql(Error::invalid(
            Field::Input("limit".into()),
            "1 to 10000",
        )));
    }
    // the finest tier that still holds the range, no finer than asked
    let tier = crate::analytics::Retention::default().tier_for(
        now,
        from,
        query.granularity.map(Granularity::seconds),
    );
    let from = from - from.rem_euclid(tier);
    let q = Query {
        metrics: query.metrics.iter().map(|m| (*m).into()).collect(),
        dimensions: query.dimensions.iter().map(|d| (*d).into()).collect(),
        filters: query
            .filters
            .iter()
            .map(|f| Filter {
                dimension: f.dimension.into(),
                values: f.values.clone(),
            })
            .collect(),
        granularity: query.granularity.map(Granularity::seconds),
        from,
        to,
        limit: limit as usize,
    };
    let rows = crate::analytics::read_rollups(&st.analytics.db, tier, planes, from, to, MAX_ROWS)
        .await
        .gql()?;
    let answer = q::evaluate(&q, &rows);
    Ok(AnalyticsResult {
        meta: AnalyticsMeta {
            start: crate::graphql::connection::datetime(from * 1000),
            end: crate::graphql::connection::datetime(to * 1000),
            granularity: query.granularity,
            truncated: answer.truncated || rows.len() as u64 >= MAX_ROWS,
            control_plane_ids: planes.to_vec(),
        },
        rows: answer
            .rows
            .into_iter()
            .map(|r| AnalyticsRow {
                timestamp: r
                    .timestamp
                    .map(|t| crate::graphql::connection::datetime(t * 1000)),
                dimensions: r
                    .dimensions
                    .into_iter()
                    .map(|(d, id): (Dimension, String)| DimensionValue {
                        dimension: d.into(),
                        id,
                    })
                    .collect(),
                metrics: r
                    .metrics
                    .into_iter()
                    .map(|(m, value): (Metric, Option<f64>)| MetricValue {
                        metric: m.into(),
                        value,
                    })
                    .collect(),
            })
            .collect(),
    })
}

#[derive(Default)]
pub struct AnalyticsSubscription;

#[Subscription]
impl AnalyticsSubscription {
    /// The query's answer now, and again whenever nodes' batches arrive (at
    /// most once a second): a live view of a relative time range.
    async fn analytics_live(
        &self,
        ctx: &Context<'_>,
        query: AnalyticsQueryInput,
    ) -> Result<impl Stream<Item = Result<AnalyticsResult>> + use<>> {
        let planes = readable_planes(ctx).await?;
        let st = state(ctx).clone();
        // refuse a bad query at once, not on the first batch
        run(&st, &planes, &query).await?;
        let rx = st.analytics.subscribe();
        Ok(futures_util::stream::unfold(
            (st, rx, true),
            move |(st, mut rx, first)| {
                let (planes, query) = (planes.clone(), query.clone());
                async move {
                    if !first {
                        if let Err(tokio::sync::broadcast::error::RecvError::Closed) =
                            rx.recv().await
                        {
                            return None;
                        }
                        // batches arriving together: one answer
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                        while rx.try_recv().is_ok() {}
                    }
                    let r = run(&st, &planes, &query).await;
                    Some((r, (st, rx, false)))
                }
            },
        ))
    }
}

//! `apiRequests`: the request explorer over the sampled records the nodes
//! send (errors and slow requests first), newest first, with the sampling
//! ratio of the time range. Same access as `analytics`.

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::connection::{CursorKey, Page, PageInfo, Paging, connection, datetime};
use super::error::Gql;
use super::guard::state;

connection!(ApiRequestConnection, ApiRequestEdge, ApiRequest);

/// One sampled request, as the node saw it.
#[derive(SimpleObject, Clone)]
pub struct ApiRequest {
    pub id: ID,
    pub at: DateTime<Utc>,
    pub request_id: String,
    pub trace_id: Option<String>,
    pub control_plane_id: ID,
    pub node_id: ID,
    pub service_id: Option<ID>,
    pub route_id: Option<ID>,
    pub consumer_id: Option<ID>,
    pub application_id: Option<ID>,
    pub api_id: Option<ID>,
    pub status: i32,
    pub upstream_status: Option<i32>,
    /// UPSTREAM, GATEWAY or CACHE.
    pub response_source: String,
    pub method: String,
    pub host: String,
    /// Without the query string.
    pub path: String,
    pub client_ip: String,
    pub request_bytes: u64,
    pub response_bytes: u64,
    /// Milliseconds.
    pub latency: f64,
    pub upstream_latency: Option<f64>,
    pub gateway_latency: f64,
}

#[derive(InputObject, Default)]
pub struct ApiRequestFilter {
    /// Since when (default: the last hour).
    pub since: Option<DateTime<Utc>>,
    pub status: Option<u16>,
}

#[derive(SimpleObject)]
pub struct ApiRequestPage {
    pub requests: ApiRequestConnection,
    /// Sampled records over requests counted in the same time (1: every
    /// request is here).
    pub sampling_ratio: Option<f64>,
}

fn id(u: Option<uuid::Uuid>) -> Option<ID> {
    u.map(|u| ID(u.to_string()))
}

impl ApiRequest {
    fn from_row(m: crate::analytics::SampleRow) -> Option<ApiRequest> {
        let r: graphql_schema::analytics::Record = serde_json::from_str(&m.record).ok()?;
        let ms = |us: u64| us as f64 / 1000.0;
        Some(ApiRequest {
            id: ID(m.id),
            at: datetime(r.at_ms),
            request_id: r.request_id,
            trace_id: r.trace_id,
            control_plane_id: ID(m.control_plane_id),
            node_id: ID(m.node_id),
            service_id: id(r.service),
            route_id: id(r.route),
            consumer_id: id(r.consumer),
            application_id: id(r.application),
            api_id: id(r.api),
            status: i32::from(r.status),
            upstream_status: r.upstream_status.map(i32::from),
            response_source: format!("{:?}", r.source).to_uppercase(),
            method: r.method,
            host: r.host,
            path: r.path,
            client_ip: r.client_ip,
            request_bytes: r.request_bytes,
            response_bytes: r.response_bytes,
            latency: ms(r.total_us),
            upstream_latency: r.upstream_us.map(ms),
            gateway_latency: ms(r.total_us.saturating_sub(r.upstream_us.unwrap_or(0))),
        })
    }
}

#[derive(Default)]
pub struct ApiRequestsQuery;

#[Object]
impl ApiRequestsQuery {
    /// Sampled requests, newest first.
    async fn api_requests(
        &self,
        ctx: &Context<'_>,
        filter: Option<ApiRequestFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<ApiRequestPage> {
        let planes = super::analytics::readable_planes(ctx).await?;
        let st = state(ctx);
        let f = filter.unwrap_or_default();
        let since = f
            .since
            .map_or(Utc::now().timestamp_millis() - 3_600_000, |s| {
                s.timestamp_millis()
            });
        let p = Paging::new(first, after, None, None);
        let (size, _) = p.size().gql()?;
        let after = p.after_key::<String>().gql()?;
        let (rows, sampled, counted) = crate::analytics::read_samples(
            &st.analytics.db,
            &planes,
            since,
            f.status,
            after.as_deref(),
            size as u64 + 1,
        )
        .await
        .gql()?;
        super::limits::charge(ctx, rows.len())?;
        let more = rows.len() > size;
        let items: Vec<(String, ApiRequest)> = rows
            .into_iter()
            .take(size)
            .filter_map(|m| {
                let cursor = m.id.cursor();
                ApiRequest::from_row(m).map(|r| (cursor, r))
            })
            .collect();
        Ok(ApiRequestPage {
            requests: Page {
                info: PageInfo {
                    has_next_page: more,
                    has_previous_page: false,
                    start_cursor: items.first().map(|(c, _)| c.clone()),
                    end_cursor: items.last().map(|(c, _)| c.clone()),
                },
                items,
                total: sampled as usize,
            }
            .into(),
            sampling_ratio: (counted > 0).then(|| (sampled as f64 / counted as f64).min(1.0)),
        })
    }
}

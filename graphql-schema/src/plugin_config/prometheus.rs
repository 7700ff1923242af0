//! `prometheus`: request counts, latencies and bandwidth per service, route and
//! status on the node's `/metrics` (status listener). Label values come only from
//! config (service, route, consumer names) and status codes, so label sets are
//! bounded by the config.

use serde::{Deserialize, Serialize};

use super::CheckConfig;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(name = "PrometheusConfig")
)]
pub struct PrometheusConfig {
    pub per_consumer: bool,
    pub status_code_metrics: bool,
    pub latency_metrics: bool,
    pub bandwidth_metrics: bool,
    pub upstream_health_metrics: bool,
    /// Kong's AI Gateway metrics: Portico has no AI plugins, so nothing to count.
    pub ai_metrics: bool,
    /// Kong's Wasm filter metrics: Portico runs no Wasm filters.
    pub wasm_metrics: bool,
}

impl CheckConfig for PrometheusConfig {}

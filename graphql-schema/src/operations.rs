//! The node's GraphQL operations against the cluster schema
//! (`cluster.graphql`), kept as files in `operations/node/` so both sides and the
//! drift test read the same text.

/// `subscription ConfigUpdates($sinceVersion: Int!)`: snapshots and deltas.
pub const CONFIG_UPDATES: &str = include_str!("../operations/node/ConfigUpdates.graphql");

/// `mutation Heartbeat($report: JSON!)`: the node's report.
pub const HEARTBEAT: &str = include_str!("../operations/node/Heartbeat.graphql");

/// `mutation AnalyticsBatch($batch: JSON!)`: a batch of the node's analytics.
pub const ANALYTICS_BATCH: &str = include_str!("../operations/node/AnalyticsBatch.graphql");

/// Every operation a node sends, by name.
pub const ALL: [(&str, &str); 3] = [
    ("ConfigUpdates", CONFIG_UPDATES),
    ("Heartbeat", HEARTBEAT),
    ("AnalyticsBatch", ANALYTICS_BATCH),
];

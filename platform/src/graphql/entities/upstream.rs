//! Upstreams (load-balanced groups of targets) and their targets.

use async_graphql::{Context, Enum, Result};
use graphql_schema::entity::upstream::{Algorithm, HashOn as KongHashOn, Healthchecks};

use super::{Target, TargetConnection, Upstream, children, entity_object, page_of, paging};
use crate::config::Kind;

/// How an upstream picks a target.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpstreamAlgorithm {
    RoundRobin,
    ConsistentHashing,
    LeastConnections,
}

/// What consistent hashing hashes on.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HashOn {
    None,
    Consumer,
    Ip,
    Header,
    Cookie,
    Path,
    QueryArg,
    UriCapture,
}

fn hash_on(h: &KongHashOn) -> HashOn {
    match h {
        KongHashOn::None => HashOn::None,
        KongHashOn::Consumer => HashOn::Consumer,
        KongHashOn::Ip => HashOn::Ip,
        KongHashOn::Header(_) => HashOn::Header,
        KongHashOn::Cookie { .. } => HashOn::Cookie,
        KongHashOn::Path => HashOn::Path,
        KongHashOn::QueryArg(_) => HashOn::QueryArg,
        KongHashOn::UriCapture(_) => HashOn::UriCapture,
    }
}

/// The name a `header`, `query_arg` or `uri_capture` hash uses.
fn hash_name(h: &KongHashOn, want: HashOn) -> Option<String> {
    match (h, want) {
        (KongHashOn::Header(n), HashOn::Header)
        | (KongHashOn::QueryArg(n), HashOn::QueryArg)
        | (KongHashOn::UriCapture(n), HashOn::UriCapture)
        | (KongHashOn::Cookie { name: n, .. }, HashOn::Cookie) => Some(n.clone()),
        _ => None,
    }
}

entity_object!(
    /// A virtual host name that balances over its targets (Kong's Upstream).
    Upstream, Kind::Upstream, {
    async fn name(&self) -> Result<String> {
        Ok(self.0.get(|t, id| t.upstream(id))?.name.clone())
    }

    async fn algorithm(&self) -> Result<UpstreamAlgorithm> {
        Ok(match self.0.get(|t, id| t.upstream(id))?.algorithm {
            Algorithm::RoundRobin => UpstreamAlgorithm::RoundRobin,
            Algorithm::ConsistentHashing => UpstreamAlgorithm::ConsistentHashing,
            Algorithm::LeastConnections => UpstreamAlgorithm::LeastConnections,
        })
    }

    async fn hash_on(&self) -> Result<HashOn> {
        Ok(hash_on(&self.0.get(|t, id| t.upstream(id))?.hash_on))
    }

    async fn hash_fallback(&self) -> Result<HashOn> {
        Ok(hash_on(&self.0.get(|t, id| t.upstream(id))?.hash_fallback))
    }

    async fn hash_on_header(&self) -> Result<Option<String>> {
        Ok(hash_name(&self.0.get(|t, id| t.upstream(id))?.hash_on, HashOn::Header))
    }

    async fn hash_fallback_header(&self) -> Result<Option<String>> {
        Ok(hash_name(&self.0.get(|t, id| t.upstream(id))?.hash_fallback, HashOn::Header))
    }

    async fn hash_on_cookie(&self) -> Result<Option<String>> {
        Ok(hash_name(&self.0.get(|t, id| t.upstream(id))?.hash_on, HashOn::Cookie))
    }

    async fn hash_on_cookie_path(&self) -> Result<Option<String>> {
        Ok(match &self.0.get(|t, id| t.upstream(id))?.hash_on {
            KongHashOn::Cookie { path, .. } => Some(path.clone()),
            _ => None,
        })
    }

    async fn hash_on_query_arg(&self) -> Result<Option<String>> {
        Ok(hash_name(&self.0.get(|t, id| t.upstream(id))?.hash_on, HashOn::QueryArg))
    }

    async fn hash_fallback_query_arg(&self) -> Result<Option<String>> {
        Ok(hash_name(&self.0.get(|t, id| t.upstream(id))?.hash_fallback, HashOn::QueryArg))
    }

    async fn hash_on_uri_capture(&self) -> Result<Option<String>> {
        Ok(hash_name(&self.0.get(|t, id| t.upstream(id))?.hash_on, HashOn::UriCapture))
    }

    async fn hash_fallback_uri_capture(&self) -> Result<Option<String>> {
        Ok(hash_name(&self.0.get(|t, id| t.upstream(id))?.hash_fallback, HashOn::UriCapture))
    }

    async fn slots(&self) -> Result<i32> {
        Ok(self.0.get(|t, id| t.upstream(id))?.slots as i32)
    }

    async fn healthchecks(&self) -> Result<Healthchecks> {
        Ok(self.0.get(|t, id| t.upstream(id))?.healthchecks.clone())
    }

    async fn host_header(&self) -> Result<Option<String>> {
        Ok(self.0.get(|t, id| t.upstream(id))?.host_header.clone())
    }

    async fn use_srv_name(&self) -> Result<bool> {
        Ok(self.0.get(|t, id| t.upstream(id))?.use_srv_name)
    }

    /// Its targets, in creation order.
    async fn targets(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<TargetConnection> {
        let list = children(&self.0, Kind::Target);
        Ok(page_of(ctx, &self.0.view, list, &paging(first, after, last, before), Target)?.into())
    }
});

entity_object!(
    /// One address of an upstream, with its weight.
    Target, Kind::Target, {
    /// `host:port`.
    async fn target(&self) -> Result<String> {
        Ok(self.0.get(|t, id| t.target(id))?.target())
    }

    async fn weight(&self) -> Result<i32> {
        Ok(self.0.get(|t, id| t.target(id))?.weight as i32)
    }

    async fn upstream(&self) -> Result<Upstream> {
        Ok(Upstream(
            self.0.other(self.0.get(|t, id| t.target(id))?.upstream_id),
        ))
    }
});

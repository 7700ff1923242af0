//! `acl` (priority 950): after authentication, lets consumers through by their ACL
//! groups (`allow`) or keeps them out (`deny`). Kong's answers: 401 `Unauthorized`
//! without a consumer, 403 `You cannot consume this service` when the groups do
//! not fit. The consumer's groups go upstream in `X-Consumer-Groups` unless
//! `hide_groups_header`.

use graphql_schema::plugin_config::acl::AclConfig;
use http::{HeaderName, HeaderValue, StatusCode};

use crate::plugin::{Ctx, Flow, Plugin};

pub struct Acl {
    cfg: AclConfig,
}

impl Acl {
    pub fn new(cfg: AclConfig) -> Acl {
        Acl { cfg }
    }
}

impl Plugin for Acl {
    fn name(&self) -> &'static str {
        "acl"
    }

    fn access(&self, ctx: &mut Ctx<'_>) -> Flow {
        let Some(id) = &ctx.identity else {
            return Flow::Respond(crate::plugins::message(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
            ));
        };
        let mut groups: Vec<&str> = id.consumer.acl_groups.iter().map(String::as_str).collect();
        if self.cfg.include_consumer_groups
            && let Some(g) = &id.consumer.groups
        {
            groups.extend(g.split(", "));
        }
        let has = |list: &Option<Vec<String>>| {
            list.iter().flatten().any(|g| groups.contains(&g.as_str()))
        };
        let blocked = if self.cfg.allow.as_ref().is_some_and(|a| !a.is_empty()) {
            !has(&self.cfg.allow)
        } else {
            has(&self.cfg.deny)
        };
        if blocked {
            return Flow::Respond(crate::plugins::message(
                StatusCode::FORBIDDEN,
                "You cannot consume this service",
            ));
        }
        if !self.cfg.hide_groups_header
            && !groups.is_empty()
            && let Ok(v) = HeaderValue::from_str(&groups.join(", "))
        {
            ctx.headers
                .insert(const { HeaderName::from_static("x-consumer-groups") }, v);
        }
        Flow::Continue
    }
}

//! `ip-restriction` (priority 990): clients in `deny` are refused; with `allow`,
//! clients outside it are refused too. Answer: 403 `Your IP address is not allowed`
//! (or the configured status and message).

use graphql_schema::plugin_config::ip_restriction::{Cidr, IpRestrictionConfig};
use http::StatusCode;

use crate::plugin::{Ctx, Flow, Plugin};

pub struct IpRestriction {
    allow: Vec<Cidr>,
    deny: Vec<Cidr>,
    status: StatusCode,
    message: String,
}

impl IpRestriction {
    pub fn new(cfg: IpRestrictionConfig) -> Result<IpRestriction, String> {
        let parse = |l: &Option<Vec<String>>| {
            l.iter()
                .flatten()
                .map(|c| Cidr::parse(c))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(IpRestriction {
            allow: parse(&cfg.allow)?,
            deny: parse(&cfg.deny)?,
            status: cfg
                .status
                .and_then(|s| u16::try_from(s).ok())
                .and_then(|s| StatusCode::from_u16(s).ok())
                .unwrap_or(StatusCode::FORBIDDEN),
            message: cfg
                .message
                .unwrap_or_else(|| "Your IP address is not allowed".into()),
        })
    }
}

impl Plugin for IpRestriction {
    fn name(&self) -> &'static str {
        "ip-restriction"
    }

    fn access(&self, ctx: &mut Ctx<'_>) -> Flow {
        let ip = ctx.conn.remote.ip();
        let denied = self.deny.iter().any(|c| c.contains(ip));
        let not_allowed = !self.allow.is_empty() && !self.allow.iter().any(|c| c.contains(ip));
        if denied || not_allowed {
            return Flow::Respond(crate::plugins::message(self.status, &self.message));
        }
        Flow::Continue
    }
}

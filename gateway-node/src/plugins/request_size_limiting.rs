//! `request-size-limiting` (priority 951): a `Content-Length` above the limit gets
//! 413 `Request size limit exceeded` (417 with `Expect: 100-continue`, as Kong)
//! before anything is proxied; a body without one is counted while it streams and
//! the request fails with the same 413 once it passes the limit; with
//! `require_content_length`, a body without one gets 411.

use graphql_schema::plugin_config::request_size_limiting::RequestSizeLimitingConfig;
use http::{StatusCode, header};

use crate::plugin::{Ctx, Flow, Plugin};

pub struct RequestSizeLimiting {
    limit: u64,
    require_content_length: bool,
}

impl RequestSizeLimiting {
    pub fn new(cfg: RequestSizeLimitingConfig) -> RequestSizeLimiting {
        RequestSizeLimiting {
            limit: cfg.limit_bytes(),
            require_content_length: cfg.require_content_length,
        }
    }
}

pub const TOO_LARGE: &str = "Request size limit exceeded";

impl Plugin for RequestSizeLimiting {
    fn name(&self) -> &'static str {
        "request-size-limiting"
    }

    fn access(&self, ctx: &mut Ctx<'_>) -> Flow {
        match ctx
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().parse::<u64>())
        {
            Some(Ok(n)) if n > self.limit => {
                // as Kong: 417 to a client waiting for `100 Continue`
                let expects = ctx
                    .headers
                    .get(header::EXPECT)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.trim().eq_ignore_ascii_case("100-continue"));
                let status = if expects {
                    StatusCode::EXPECTATION_FAILED
                } else {
                    StatusCode::PAYLOAD_TOO_LARGE
                };
                Flow::Respond(crate::plugins::message(status, TOO_LARGE))
            }
            Some(Ok(_)) => Flow::Continue,
            Some(Err(_)) => Flow::Respond(crate::plugins::message(
                StatusCode::LENGTH_REQUIRED,
                "A valid Content-Length header is required",
            )),
            None if self.require_content_length => Flow::Respond(crate::plugins::message(
                StatusCode::LENGTH_REQUIRED,
                "A valid Content-Length header is required",
            )),
            None => {
                ctx.max_body_bytes =
                    Some(ctx.max_body_bytes.map_or(self.limit, |m| m.min(self.limit)));
                Flow::Continue
            }
        }
    }
}

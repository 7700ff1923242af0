//! `request-termination` (priority 2): answers with a fixed status and body instead
//! of proxying; with `trigger`, only requests carrying that header or query
//! argument are terminated; with `echo`, the answer describes the request.

use graphql_schema::plugin_config::request_termination::RequestTerminationConfig;
use http::StatusCode;

use crate::plugin::{Ctx, Flow, Plugin};

pub struct RequestTermination {
    cfg: RequestTerminationConfig,
    status: StatusCode,
}

impl RequestTermination {
    pub fn new(cfg: RequestTerminationConfig) -> RequestTermination {
        let status = u16::try_from(cfg.status_code)
            .ok()
            .and_then(|s| StatusCode::from_u16(s).ok())
            .unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        RequestTermination { cfg, status }
    }
}

/// Kong's default messages for `request-termination`.
fn default_message(s: StatusCode) -> String {
    match s.as_u16() {
        401 => "Unauthorized".into(),
        404 => "Not found".into(),
        405 => "Method not allowed".into(),
        500 => "An unexpected error occurred".into(),
        502 => "Bad Gateway".into(),
        503 => "Service unavailable".into(),
        _ => s.canonical_reason().unwrap_or("").to_string(),
    }
}

impl Plugin for RequestTermination {
    fn name(&self) -> &'static str {
        "request-termination"
    }

    fn access(&self, ctx: &mut Ctx<'_>) -> Flow {
        if let Some(t) = &self.cfg.trigger {
            let in_header = ctx.headers.contains_key(t.to_ascii_lowercase().as_str());
            let in_query = ctx.query.as_deref().is_some_and(|q| {
                q.split('&')
                    .any(|kv| kv.split('=').next() == Some(t.as_str()))
            });
            if !in_header && !in_query {
                return Flow::Continue;
            }
        }
        if self.cfg.echo {
            let headers: serde_json::Map<String, serde_json::Value> = ctx
                .headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_string(),
                        serde_json::Value::String(
                            String::from_utf8_lossy(v.as_bytes()).into_owned(),
                        ),
                    )
                })
                .collect();
            let body = serde_json::json!({
                "message": self.cfg.message.clone().unwrap_or_else(|| default_message(self.status)),
                "request": {
                    "method": ctx.method.as_str(),
                    "path": ctx.path,
                    "query": ctx.query,
                    "headers": headers,
                    "consumer": ctx.identity.as_ref().map(|i| i.consumer.id.to_string()),
                },
            });
            return Flow::Respond(crate::plugins::respond(
                self.status,
                "application/json; charset=utf-8",
                body.to_string(),
            ));
        }
        if let Some(body) = &self.cfg.body {
            let ct = self
                .cfg
                .content_type
                .as_deref()
                .unwrap_or("application/json; charset=utf-8");
            return Flow::Respond(crate::plugins::respond(self.status, ct, body.clone()));
        }
        let msg = self
            .cfg
            .message
            .clone()
            .unwrap_or_else(|| default_message(self.status));
        Flow::Respond(crate::plugins::message(self.status, &msg))
    }
}

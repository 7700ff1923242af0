//! `correlation-id` (priority 100001): every request carries an id in
//! `header_name` upstream (a client's own id is kept), and back to the client with
//! `echo_downstream`.

use std::sync::atomic::{AtomicU64, Ordering};

use graphql_schema::plugin_config::correlation_id::CorrelationIdConfig;
use http::{HeaderName, HeaderValue};

use http::{HeaderMap, Response};

use crate::plugin::{Ctx, Flow, Plugin, RewriteCtx};
use crate::proxy::ConnInfo;
use crate::upstream::pool::ProxyBody;

pub struct CorrelationId {
    header: HeaderName,
    generator: Generator,
    echo: bool,
    /// `uuid#counter`: one random prefix per plugin instance and a counter.
    prefix: String,
    counter: AtomicU64,
}

enum Generator {
    Uuid,
    UuidCounter,
    Tracker,
}

impl CorrelationId {
    pub fn new(cfg: CorrelationIdConfig) -> Result<CorrelationId, String> {
        let header = HeaderName::from_bytes(cfg.header_name.to_ascii_lowercase().as_bytes())
            .map_err(|e| format!("header_name: {e}"))?;
        let generator = match cfg.generator.as_str() {
            "uuid" => Generator::Uuid,
            "tracker" => Generator::Tracker,
            _ => Generator::UuidCounter,
        };
        Ok(CorrelationId {
            header,
            generator,
            echo: cfg.echo_downstream,
            prefix: uuid::Uuid::new_v4().to_string(),
            counter: AtomicU64::new(0),
        })
    }

    fn generate(&self, conn: &ConnInfo) -> String {
        match self.generator {
            Generator::Uuid => uuid::Uuid::new_v4().to_string(),
            Generator::UuidCounter => format!(
                "{}#{}",
                self.prefix,
                self.counter.fetch_add(1, Ordering::Relaxed) + 1
            ),
            Generator::Tracker => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs_f64())
                    .unwrap_or(0.0);
                format!(
                    "{}-{}-{}-{}-{}-{now:.3}",
                    conn.remote.ip(),
                    conn.local_port,
                    std::process::id(),
                    conn.remote.port(),
                    self.counter.fetch_add(1, Ordering::Relaxed) + 1
                )
            }
        }
    }
}

impl CorrelationId {
    /// Keeps the client's id or sets a new one; returns the id to echo.
    fn ensure(&self, conn: &ConnInfo, headers: &mut HeaderMap) -> Option<HeaderValue> {
        let id = match headers.get(&self.header) {
            Some(v) => v.clone(),
            None => {
                let v = HeaderValue::from_str(&self.generate(conn)).ok()?;
                headers.insert(self.header.clone(), v.clone());
                v
            }
        };
        self.echo.then_some(id)
    }
}

impl Plugin for CorrelationId {
    fn name(&self) -> &'static str {
        "correlation-id"
    }

    /// A global instance sets the id before routing, so the router's own answers
    /// (a 404) carry it too.
    fn rewrite(&self, ctx: &mut RewriteCtx<'_>) -> Option<Response<ProxyBody>> {
        if let Some(id) = self.ensure(ctx.conn, ctx.headers) {
            ctx.response_headers.push((self.header.clone(), id));
        }
        None
    }

    fn rewrites(&self) -> bool {
        true
    }

    /// Route-, service- or consumer-scoped instances (a global one finds its id
    /// already set and only echoes it again).
    fn access(&self, ctx: &mut Ctx<'_>) -> Flow {
        if let Some(id) = self.ensure(ctx.conn, ctx.headers) {
            ctx.response_headers.push((self.header.clone(), id));
        }
        Flow::Continue
    }
}

//! `correlation-id` (priority 100001): every request carries an id in
//! `header_name` upstream (a client's own id is kept), and back to the client with
//! `echo_downstream`.

use std::sync::atomic::{AtomicU64, Ordering};

use graphql_schema::plugin_config::correlation_id::CorrelationIdConfig;
use http::{HeaderName, HeaderValue};

use crate::plugin::{Ctx, Flow, Plugin};

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

    fn generate(&self, ctx: &Ctx<'_>) -> String {
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
                    ctx.conn.remote.ip(),
                    ctx.conn.local_port,
                    std::process::id(),
                    ctx.conn.remote.port(),
                    self.counter.fetch_add(1, Ordering::Relaxed) + 1
                )
            }
        }
    }
}

impl Plugin for CorrelationId {
    fn name(&self) -> &'static str {
        "correlation-id"
    }

    fn access(&self, ctx: &mut Ctx<'_>) -> Flow {
        let id = match ctx.headers.get(&self.header) {
            Some(v) => v.clone(),
            None => match HeaderValue::from_str(&self.generate(ctx)) {
                Ok(v) => {
                    ctx.headers.insert(self.header.clone(), v.clone());
                    v
                }
                Err(_) => return Flow::Continue,
            },
        };
        if self.echo {
            ctx.response_headers.push((self.header.clone(), id));
        }
        Flow::Continue
    }
}

//! Portal events (a developer registered, a registration requested or decided,
//! a key created, rotated or revoked): each is written to the audit log and
//! queued for every webhook of the portal that wants it. A worker POSTs the
//! queued deliveries as JSON signed with the webhook's secret
//! (`X-Portico-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`),
//! retries failures with exponential backoff, and keeps every attempt's
//! outcome in the delivery log.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;
use serde_json::{Value, json};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::actors::catalog::CatalogHandle;
use crate::auth::AuditLog;
use crate::auth::audit::Entry;
use crate::seal::Sealer;
use crate::store::{self, webhooks as rows};

pub use rows::delivery::Model as DeliveryRecord;

/// A webhook's deliveries, newest first, `limit` older than the delivery
/// `before`; and how many it has in all.
pub async fn deliveries(
    db: &DatabaseConnection,
    webhook: Uuid,
    before: Option<&str>,
    limit: u64,
) -> Result<(Vec<DeliveryRecord>, u64), crate::error::Error> {
    Ok(rows::of_webhook(db, &webhook.to_string(), before, limit).await?)
}

/// The events a webhook may ask for.
pub const EVENTS: &[&str] = &[
    "developer.registered",
    "registration.requested",
    "registration.decided",
    "credential.created",
    "credential.rotated",
    "credential.revoked",
];

/// Attempts before a delivery is given up.
pub const MAX_ATTEMPTS: i64 = 8;
/// The first retry's wait; each next one doubles, up to an hour.
const FIRST_RETRY_MS: i64 = 1000;

/// One thing that happened in a portal.
#[derive(Clone, Debug)]
pub struct PortalEvent {
    pub portal: Uuid,
    pub name: &'static str,
    /// `developer:<id>`, `user:<id>`, ...
    pub actor: String,
    /// What it is about (`application:<id>`, `credential:<id>`, ...).
    pub target: String,
    pub data: Value,
}

pub struct Events {
    db: DatabaseConnection,
    audit: Arc<AuditLog>,
    catalog: CatalogHandle,
    sealer: Arc<Sealer>,
    wake: Notify,
}

/// The signature header's value for `body` sent at `t` (Unix seconds).
pub fn signature(secret: &str, t: i64, body: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let tag = ring::hmac::sign(&key, format!("{t}.{body}").as_bytes());
    format!(
        "t={t},v1={}",
        graphql_schema::entity::consumer::hex(tag.as_ref())
    )
}

impl Events {
    pub fn new(
        db: DatabaseConnection,
        audit: Arc<AuditLog>,
        catalog: CatalogHandle,
        sealer: Arc<Sealer>,
    ) -> Arc<Events> {
        Arc::new(Events {
            db,
            audit,
            catalog,
            sealer,
            wake: Notify::new(),
        })
    }

    /// Audits the event and queues it for the portal's webhooks.
    pub async fn publish(&self, e: PortalEvent) {
        self.audit
            .write(Entry {
                actor: e.actor.clone(),
                action: format!("portal.{}", e.name),
                target: Some(e.target.clone()),
                result: "ok".into(),
                source_ip: None,
                detail: Some(e.data.to_string()),
            })
            .await;
        let now = store::now_ms();
        let event_id = Uuid::now_v7();
        let payload = json!({
            "id": event_id,
            "event": e.name,
            "portal_id": e.portal,
            "occurred_at": now,
            "actor": e.actor,
            "data": e.data,
        })
        .to_string();
        let cat = self.catalog.view();
        let mut queued = false;
        for (w, d) in cat.webhooks() {
            if d.portal_id != e.portal
                || !d.enabled
                || !(d.events.is_empty() || d.events.iter().any(|x| x == e.name))
            {
                continue;
            }
            let m = rows::delivery::Model {
                id: Uuid::now_v7().to_string(),
                webhook_id: w.id.to_string(),
                portal_id: e.portal.to_string(),
                event: e.name.into(),
                payload: payload.clone(),
                status: "pending".into(),
                attempts: 0,
                next_attempt_at: now,
                response_status: None,
                error: None,
                created_at: now,
                delivered_at: None,
            };
            match rows::queue(&self.db, m).await {
                Ok(()) => queued = true,
                Err(err) => tracing::error!("cannot queue a webhook delivery: {err}"),
            }
        }
        if queued {
            self.wake.notify_one();
        }
    }

    /// Delivers what is due, then waits for more (or the next retry).
    pub fn start(self: &Arc<Events>) {
        let me = self.clone();
        tokio::spawn(async move {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let http = match reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .redirect(reqwest::redirect::Policy::none())
                .build()
            {
                Ok(h) => h,
                Err(e) => {
                    tracing::error!("webhooks are off: {e}");
                    return;
                }
            };
            loop {
                let n = me.deliver_due(&http).await;
                if n == 0 {
                    let _ =
                        tokio::time::timeout(Duration::from_millis(500), me.wake.notified()).await;
                }
            }
        });
    }

    async fn deliver_due(&self, http: &reqwest::Client) -> usize {
        let due = match rows::due(&self.db, store::now_ms(), 20).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!("webhook deliveries: {e}");
                return 0;
            }
        };
        let n = due.len();
        let cat = self.catalog.view();
        for d in due {
            let hook = Uuid::parse_str(&d.webhook_id)
                .ok()
                .and_then(|id| cat.webhook(id));
            let (status, code, error) = match hook {
                None => ("failed", None, Some("the webhook was deleted".to_string())),
                Some(h) => match self.sealer.open_str(&h.secret_sealed) {
                    Err(e) => (
                        "failed",
                        None,
                        Some(format!("the secret cannot be read: {e}")),
                    ),
                    Ok(secret) => {
                        let t = store::now_ms() / 1000;
                        let r = http
                            .post(&h.url)
                            .header("content-type", "application/json")
                            .header("user-agent", "Portico-Webhooks/1")
                            .header("x-portico-event", &d.event)
                            .header("x-portico-delivery", &d.id)
                            .header("x-portico-signature", signature(&secret, t, &d.payload))
                            .body(d.payload.clone())
                            .send()
                            .await;
                        match r {
                            Ok(r) if r.status().is_success() => {
                                ("delivered", Some(i64::from(r.status().as_u16())), None)
                            }
                            Ok(r) => (
                                "pending",
                                Some(i64::from(r.status().as_u16())),
                                Some(format!("answered {}", r.status())),
                            ),
                            Err(e) => ("pending", None, Some(e.to_string())),
                        }
                    }
                },
            };
            let now = store::now_ms();
            let status = if status == "pending" && d.attempts + 1 >= MAX_ATTEMPTS {
                "failed"
            } else {
                status
            };
            let wait = (FIRST_RETRY_MS << d.attempts.clamp(0, 20)).min(3_600_000);
            let delivered = (status == "delivered").then_some(now);
            if let Err(e) =
                rows::attempted(&self.db, &d, status, now + wait, code, error, delivered).await
            {
                tracing::warn!("webhook delivery {}: {e}", d.id);
            }
        }
        n
    }
}

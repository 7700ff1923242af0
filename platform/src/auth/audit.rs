//! The audit log: every mutation and every login attempt (who, what, target,
//! result, source address, time), in the database and, when configured, POSTed
//! to a webhook from a bounded queue the request path never waits on.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sea_orm::DatabaseConnection;
use uuid::Uuid;

use crate::store::{self, identity as rows};

/// One entry to write.
#[derive(Clone, Debug, Default)]
pub struct Entry {
    /// `user:<id>`, `sa:<id>`, the email tried at a login, or `anonymous`.
    pub actor: String,
    /// The mutation (or `login`).
    pub action: String,
    pub target: Option<String>,
    /// `ok`, `denied`, `unauthenticated` or `error`.
    pub result: String,
    pub source_ip: Option<String>,
    pub detail: Option<String>,
}

pub struct AuditLog {
    db: DatabaseConnection,
    webhook: std::sync::OnceLock<tokio::sync::mpsc::Sender<serde_json::Value>>,
    /// Entries the webhook queue had no room for.
    dropped: AtomicU64,
}

impl AuditLog {
    pub fn new(db: DatabaseConnection) -> AuditLog {
        AuditLog {
            db,
            webhook: Default::default(),
            dropped: AtomicU64::new(0),
        }
    }

    /// Delivers entries to `url` from a bounded queue (10,000 entries), each
    /// tried up to 4 times with backoff.
    pub fn start_webhook(&self, url: String) -> anyhow::Result<()> {
        let parsed: reqwest::Url = url
            .parse()
            .map_err(|e| anyhow::anyhow!("--audit-webhook {url}: {e}"))?;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<serde_json::Value>(10_000);
        let _ = self.webhook.set(tx);
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        tokio::spawn(async move {
            while let Some(entry) = rx.recv().await {
                let mut wait = Duration::from_millis(200);
                for attempt in 0..4 {
                    match http.post(parsed.clone()).json(&entry).send().await {
                        Ok(r) if r.status().is_success() => break,
                        Ok(r) => {
                            tracing::warn!(status = %r.status(), attempt, "audit webhook refused an entry")
                        }
                        Err(e) => tracing::warn!(attempt, "audit webhook: {e}"),
                    }
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
            }
        });
        Ok(())
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    pub async fn write(&self, e: Entry) {
        let m = rows::audit::Model {
            id: Uuid::now_v7().to_string(),
            at: store::now_ms(),
            actor: e.actor,
            action: e.action,
            target: e.target,
            result: e.result,
            source_ip: e.source_ip,
            detail: e.detail,
        };
        if let Err(err) = rows::insert_audit(&self.db, m.clone()).await {
            tracing::error!("audit log write failed: {err}");
            return;
        }
        if let Some(tx) = self.webhook.get() {
            let v = serde_json::json!({
                "id": m.id, "at": m.at, "actor": m.actor, "action": m.action,
                "target": m.target, "result": m.result, "sourceIp": m.source_ip,
                "detail": m.detail,
            });
            if tx.try_send(v).is_err() {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

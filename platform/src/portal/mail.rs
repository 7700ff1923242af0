//! Mail to developers (verification, password reset, approval): every message
//! is kept in the outbox table, and sent through SMTP when `--smtp-url` is
//! given (`smtp://host:port` plain, `smtp+starttls://` or `smtps://` with TLS,
//! optionally `user:password@`). Without SMTP the outbox is where an admin reads
//! them, so `portico up` works offline.

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use crate::error::Error;
use crate::store::{self, catalog as rows};

#[derive(Clone)]
pub struct Mailer {
    db: DatabaseConnection,
    smtp: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
}

impl Mailer {
    /// A mailer for `smtp_url` (none: the outbox only), sending as `from`.
    pub fn new(
        db: DatabaseConnection,
        smtp_url: Option<&str>,
        from: &str,
    ) -> anyhow::Result<Mailer> {
        let from: Mailbox = from
            .parse()
            .map_err(|e| anyhow::anyhow!("--mail-from {from:?}: {e}"))?;
        let smtp = match smtp_url {
            None => None,
            Some(u) => Some(transport(u)?),
        };
        Ok(Mailer { db, smtp, from })
    }

    /// Keeps the message in the outbox and, with SMTP, sends it. A failed send
    /// is recorded with its error and logged; the caller's operation stands.
    pub async fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), Error> {
        let id = Uuid::now_v7().to_string();
        rows::queue_mail(
            &self.db,
            rows::mail::Model {
                id: id.clone(),
                to_addr: to.to_string(),
                subject: subject.to_string(),
                body: body.to_string(),
                created_at: store::now_ms(),
                sent_at: None,
                error: None,
            },
        )
        .await?;
        let Some(smtp) = &self.smtp else {
            return Ok(());
        };
        let to_box: Mailbox = match to.parse() {
            Ok(m) => m,
            Err(e) => {
                rows::mail_sent(&self.db, &id, Some(format!("bad address: {e}"))).await?;
                return Ok(());
            }
        };
        let msg = Message::builder()
            .from(self.from.clone())
            .to(to_box)
            .subject(subject)
            .body(body.to_string())
            .map_err(Error::internal)?;
        let result = smtp.send(msg).await;
        if let Err(e) = &result {
            tracing::warn!(%to, "sending mail failed: {e}");
        }
        rows::mail_sent(&self.db, &id, result.err().map(|e| e.to_string())).await?;
        Ok(())
    }
}

fn transport(url: &str) -> anyhow::Result<AsyncSmtpTransport<Tokio1Executor>> {
    let u: url::Url = url
        .parse()
        .map_err(|e| anyhow::anyhow!("--smtp-url {url:?}: {e}"))?;
    let host = u
        .host_str()
        .ok_or_else(|| anyhow::anyhow!("--smtp-url {url:?}: no host"))?
        .to_string();
    let mut b = match u.scheme() {
        "smtp" => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&host)
            .port(u.port().unwrap_or(25)),
        "smtp+starttls" => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&host)?
            .port(u.port().unwrap_or(587)),
        "smtps" => {
            AsyncSmtpTransport::<Tokio1Executor>::relay(&host)?.port(u.port().unwrap_or(465))
        }
        s => anyhow::bail!("--smtp-url {url:?}: scheme {s:?}; use smtp, smtp+starttls or smtps"),
    };
    if !u.username().is_empty() {
        b = b.credentials(Credentials::new(
            u.username().to_string(),
            u.password().unwrap_or("").to_string(),
        ));
    }
    Ok(b.timeout(Some(std::time::Duration::from_secs(15))).build())
}

pub use rows::mail::Model as MailRecord;

/// Mails, newest first: at most `limit` older than the mail `after`, and how
/// many match in all.
pub async fn outbox(
    db: &DatabaseConnection,
    to: Option<&str>,
    after: Option<&str>,
    limit: u64,
) -> Result<(Vec<MailRecord>, u64), Error> {
    Ok(rows::mails(db, to, after, limit).await?)
}

//! Logins: email and password for a 12-hour session token, with failures limited
//! per account (5) and per address (20) in 15 minutes. Refusals past the limit
//! reach the audit log once a minute per key, with a count; the emails it keeps
//! are bounded.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::audit::{AuditLog, Entry};
use super::passwords::verify_password;
use super::tokens::{digest, new_token};
use crate::error::Error;
use crate::store::{self, identity as rows};

/// How many accounts and addresses are tracked at once.
const MAX_TRACKED: usize = 100_000;
/// The longest email an audit entry keeps (as `inviteUser` accepts).
const MAX_EMAIL: usize = 254;

/// Failed logins per account and per address.
#[derive(Default)]
pub struct LoginLimits {
    failures: std::sync::Mutex<HashMap<String, Vec<Instant>>>,
    /// Refused logins per key: when the last audit entry was written, and how
    /// many were refused since.
    refusals: std::sync::Mutex<HashMap<String, (Instant, u64)>>,
}

impl LoginLimits {
    pub(crate) fn limited(&self, key: &str, max: usize) -> bool {
        let Ok(mut m) = self.failures.lock() else {
            return false;
        };
        let v = m.entry(key.to_string()).or_default();
        v.retain(|t| t.elapsed() < Duration::from_secs(900));
        v.len() >= max
    }

    pub(crate) fn fail(&self, key: &str) {
        if let Ok(mut m) = self.failures.lock() {
            if m.len() >= MAX_TRACKED {
                m.retain(|_, v| v.iter().any(|t| t.elapsed() < Duration::from_secs(900)));
                if m.len() >= MAX_TRACKED {
                    m.clear();
                }
            }
            m.entry(key.to_string()).or_default().push(Instant::now());
        }
    }

    /// A refused login for `key`: `Some(n)` when an audit entry is due (`n`
    /// refusals since the last one), `None` while they are being counted.
    fn refused(&self, key: &str) -> Option<u64> {
        let mut m = self.refusals.lock().ok()?;
        if m.len() >= MAX_TRACKED {
            m.retain(|_, (t, _)| t.elapsed() < Duration::from_secs(60));
        }
        match m.get_mut(key) {
            Some((t, n)) if t.elapsed() < Duration::from_secs(60) => {
                *n += 1;
                None
            }
            Some((t, n)) => {
                let since = *n + 1;
                *t = Instant::now();
                *n = 0;
                Some(since)
            }
            None => {
                m.insert(key.to_string(), (Instant::now(), 0));
                Some(1)
            }
        }
    }

    pub(crate) fn clear(&self, key: &str) {
        if let Ok(mut m) = self.failures.lock() {
            m.remove(key);
        }
    }
}

/// An email as the audit log keeps it: bounded, no control characters.
fn bounded_email(email: &str) -> String {
    email
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_EMAIL)
        .collect()
}

/// A new session: its token, when it expires, and the user.
pub struct Session {
    pub token: String,
    pub expires_at: i64,
    pub user: rows::user::Model,
}

/// A login, or an error that does not say whether the account exists.
pub async fn login(
    db: &DatabaseConnection,
    limits: &LoginLimits,
    audit: &AuditLog,
    email: &str,
    password: &str,
    ip: Option<String>,
) -> Result<Session, Error> {
    let email = bounded_email(email);
    let acct = format!("acct:{}", email.to_lowercase());
    let addr = format!("ip:{}", ip.clone().unwrap_or_default());
    let entry = |result: &str, detail: Option<String>| Entry {
        actor: email.clone(),
        action: "login".into(),
        target: None,
        result: result.into(),
        source_ip: ip.clone(),
        detail,
    };
    let by_acct = limits.limited(&acct, 5);
    if by_acct || limits.limited(&addr, 20) {
        let key = if by_acct { &acct } else { &addr };
        if let Some(n) = limits.refused(key) {
            audit
                .write(entry(
                    "denied",
                    Some(format!(
                        "rate limited ({}): {n} refused since the last entry",
                        if by_acct { "account" } else { "address" }
                    )),
                ))
                .await;
        }
        return Err(Error::RateLimited(
            "too many failed logins; try again later".into(),
        ));
    }
    let u = rows::user_by_email(db, &email.to_lowercase()).await?;
    let ok = u.as_ref().is_some_and(|u| {
        u.active && !u.password_hash.is_empty() && verify_password(&u.password_hash, password)
    });
    let Some(mut u) = u.filter(|_| ok) else {
        limits.fail(&acct);
        limits.fail(&addr);
        audit.write(entry("unauthenticated", None)).await;
        return Err(Error::Unauthenticated("wrong email or password".into()));
    };
    limits.clear(&acct);
    let token = new_token(super::SESSION_PREFIX);
    let expires_at = store::now_ms() + 12 * 3600 * 1000;
    rows::insert_token(
        db,
        rows::api_token::Model {
            id: Uuid::new_v4().to_string(),
            name: "session".into(),
            digest: digest(&token),
            created_at: store::now_ms(),
            owner: format!("user:{}", u.id),
            kind: "session".into(),
            expires_at: Some(expires_at),
            revoked_at: None,
        },
    )
    .await?;
    u.last_login_at = Some(store::now_ms());
    let u = rows::update_user(db, u).await?;
    audit
        .write(Entry {
            actor: format!("user:{}", u.id),
            ..entry("ok", None)
        })
        .await;
    Ok(Session {
        token,
        expires_at,
        user: u,
    })
}

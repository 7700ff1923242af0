//! API tokens: personal access tokens, system-account tokens and sessions, shown
//! once and stored as SHA-256 digests, resolved to their caller (cached), and
//! checked again for long-lived subscriptions.

use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::{Access, Caller};
use crate::store::{self, identity as rows};

pub fn digest(token: &str) -> String {
    graphql_schema::entity::consumer::digest(token)
}

/// A new random token with a recognisable prefix.
pub fn new_token(prefix: &str) -> String {
    format!(
        "{prefix}{}{}",
        Uuid::new_v4().simple(),
        Uuid::new_v4().simple()
    )
}

/// The caller a bearer token stands for, if it is valid now (its user active).
pub async fn resolve(
    db: &DatabaseConnection,
    access: &Access,
    token: &str,
    ip: Option<String>,
) -> Option<Caller> {
    let d = digest(token);
    if let Some(mut c) = access.cached(&d) {
        c.ip = ip;
        return Some(c);
    }
    let t = rows::token_by_digest(db, &d).await.ok()??;
    if t.revoked_at.is_some() || t.expires_at.is_some_and(|e| e <= store::now_ms()) {
        return None;
    }
    let user_id = t
        .owner
        .strip_prefix("user:")
        .and_then(|u| Uuid::parse_str(u).ok());
    if let Some(u) = user_id
        && !user_active(db, u).await
    {
        return None;
    }
    let c = Caller {
        member: t.owner,
        user_id,
        token_id: t.id,
        token_kind: t.kind,
        ip,
    };
    access.cache(&d, &c, t.expires_at);
    Some(c)
}

async fn user_active(db: &DatabaseConnection, id: Uuid) -> bool {
    rows::user(db, &id.to_string())
        .await
        .ok()
        .flatten()
        .is_some_and(|u| u.active)
}

/// Whether the caller still stands (for long-lived subscriptions): the token is
/// neither revoked nor expired, and its user is still active.
pub async fn still_valid(db: &DatabaseConnection, c: &Caller) -> bool {
    let Ok(Some(t)) = rows::token(db, &c.token_id).await else {
        return false;
    };
    if t.revoked_at.is_some() || t.expires_at.is_some_and(|e| e <= store::now_ms()) {
        return false;
    }
    match c.user_id {
        None => true,
        Some(u) => user_active(db, u).await,
    }
}

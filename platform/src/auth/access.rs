//! Who may do what: the casbin authorizer built from teams, roles and
//! memberships (kept current incrementally by the team actors, rebuilt from the
//! database on start and when another replica says so), a cache of resolved
//! tokens, and the tick open subscriptions watch to re-check their caller.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use policies::{Action, Resource};
use sea_orm::DatabaseConnection;

use super::Caller;
use crate::error::Error;
use crate::store::{self, Notice, identity as rows};

/// A resolved token: the caller, its expiry, when it was read.
type CachedToken = (Caller, Option<i64>, Instant);

pub struct Access {
    authz: tokio::sync::RwLock<policies::Authorizer>,
    /// Bumped on every change of teams, roles, memberships, users or tokens:
    /// open subscriptions re-check their caller.
    tick: tokio::sync::watch::Sender<u64>,
    /// Token digest -> caller, so a request costs no database read; emptied on
    /// every access change (revocations, deactivations, team changes), and each
    /// entry is trusted for a minute at most.
    tokens: std::sync::Mutex<HashMap<String, CachedToken>>,
}

impl Access {
    /// The authorizer as the database has it now.
    pub async fn load(db: &DatabaseConnection) -> anyhow::Result<Access> {
        let a = Access {
            authz: tokio::sync::RwLock::new(empty().await?),
            tick: tokio::sync::watch::channel(0).0,
            tokens: Default::default(),
        };
        a.reload(db).await?;
        Ok(a)
    }

    /// Rebuilds the authorizer from the database.
    pub async fn reload(&self, db: &DatabaseConnection) -> anyhow::Result<()> {
        let mut a = empty().await?;
        let mut by_team: HashMap<String, Vec<policies::Assignment>> = HashMap::new();
        for r in rows::all_team_roles(db).await? {
            by_team
                .entry(r.team_id.clone())
                .or_default()
                .push(policies::Assignment {
                    resource_type: r.resource_type,
                    role: r.role,
                    scope: r.scope,
                });
        }
        for (t, asg) in by_team {
            a.set_team(&format!("team:{t}"), &asg)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        let mut members: HashMap<String, Vec<String>> = HashMap::new();
        for m in rows::all_team_members(db).await? {
            members
                .entry(m.member)
                .or_default()
                .push(format!("team:{}", m.team_id));
        }
        for (m, ts) in members {
            a.set_member(&m, &ts)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        *self.authz.write().await = a;
        self.changed();
        Ok(())
    }

    /// Whether `c` may do `action` on `object`.
    pub async fn allowed(&self, c: &Caller, resource: &Resource, action: Action) -> bool {
        self.authz.read().await.permits(&c.member, resource, action)
    }

    /// A filter over many objects: one read lock for all of them.
    pub async fn allowed_each<T>(
        &self,
        c: &Caller,
        items: impl IntoIterator<Item = T>,
        resource: impl Fn(&T) -> Resource,
        action: Action,
    ) -> Vec<T> {
        let a = self.authz.read().await;
        items
            .into_iter()
            .filter(|t| a.permits(&c.member, &resource(t), action))
            .collect()
    }

    pub async fn set_team(&self, team: &str, roles: &[policies::Assignment]) -> Result<(), Error> {
        self.authz
            .write()
            .await
            .set_team(team, roles)
            .await
            .map_err(Error::internal)
    }

    pub async fn set_member(&self, member: &str, teams: &[String]) -> Result<(), Error> {
        self.authz
            .write()
            .await
            .set_member(member, teams)
            .await
            .map_err(Error::internal)
    }

    pub async fn remove_team(&self, team: &str) -> Result<(), Error> {
        self.authz
            .write()
            .await
            .remove_team(team)
            .await
            .map_err(Error::internal)
    }

    /// Something about access changed here: cached tokens are dropped and
    /// subscriptions re-check.
    pub fn changed(&self) {
        if let Ok(mut m) = self.tokens.lock() {
            m.clear();
        }
        self.tick.send_modify(|t| *t += 1);
    }

    /// An access change here and, through the database, on the other replicas.
    pub async fn changed_everywhere(&self, db: &DatabaseConnection) {
        self.changed();
        let _ = store::announce(db, &Notice::Access).await;
    }

    /// Changes whenever access may have changed.
    pub fn watch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.tick.subscribe()
    }

    pub(super) fn cached(&self, digest: &str) -> Option<Caller> {
        let m = self.tokens.lock().ok()?;
        let (c, exp, at) = m.get(digest)?;
        (at.elapsed() < Duration::from_secs(60) && exp.is_none_or(|e| e > store::now_ms()))
            .then(|| c.clone())
    }

    pub(super) fn cache(&self, digest: &str, c: &Caller, expires_at: Option<i64>) {
        if let Ok(mut m) = self.tokens.lock() {
            if m.len() > 100_000 {
                m.clear();
            }
            m.insert(digest.to_string(), (c.clone(), expires_at, Instant::now()));
        }
    }
}

async fn empty() -> anyhow::Result<policies::Authorizer> {
    policies::Authorizer::new()
        .await
        .map_err(|e| anyhow::anyhow!("authorization model: {e}"))
}

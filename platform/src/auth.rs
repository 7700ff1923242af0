//! Identities and access: users (argon2 passwords, sessions), personal access
//! tokens and system-account tokens (shown once, stored as SHA-256 digests, with
//! a recognisable prefix), teams with roles (the predefined ones from
//! `policies`), the casbin authorizer kept current with them, the check every
//! resolver makes, login rate limiting, and the audit log.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_graphql::{Context, ErrorExtensions};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use crate::actor::Shared;
use crate::error::{ApiError, Code};
use crate::store::{self, api_token, audit, team, team_member, team_role, user};

/// Token prefixes: personal access tokens, system-account tokens, sessions.
pub const PAT_PREFIX: &str = "ppat_";
pub const SYSTEM_PREFIX: &str = "pspat_";
pub const SESSION_PREFIX: &str = "psess_";

/// Who is calling: a member (`user:<id>` or `sa:<id>`) and the token used.
#[derive(Clone, Debug)]
pub struct Caller {
    pub member: String,
    pub user_id: Option<Uuid>,
    pub token_id: String,
    pub token_kind: String,
    pub ip: Option<String>,
}

/// The source address of a request, for the audit log.
#[derive(Clone, Debug)]
pub struct SourceIp(pub Option<String>);

/// Authorization state shared by every request.
pub struct Access {
    pub authz: tokio::sync::RwLock<policies::Authorizer>,
    /// Bumped on every change of teams, roles, memberships or tokens: open
    /// subscriptions re-check their caller.
    pub tick: tokio::sync::watch::Sender<u64>,
    failures: std::sync::Mutex<HashMap<String, Vec<Instant>>>,
    /// Refused (rate-limited) logins per account or address: when the last one
    /// was written to the audit log, and how many were refused since. The log
    /// gets one entry per minute per key, with the count, not one per attempt.
    refusals: std::sync::Mutex<HashMap<String, (Instant, u64)>>,
    /// Token digest -> caller, so a request costs no database read; emptied on
    /// every access change (revocations, deactivations, team changes), and each
    /// entry is trusted for a minute at most.
    tokens: std::sync::Mutex<HashMap<String, CachedToken>>,
    /// Audit entries for the webhook, when one is configured.
    webhook: std::sync::OnceLock<tokio::sync::mpsc::Sender<serde_json::Value>>,
    /// Entries the webhook queue had no room for.
    pub webhook_dropped: std::sync::atomic::AtomicU64,
}

/// How many accounts and addresses login limiting tracks at once.
const MAX_TRACKED: usize = 100_000;

/// The longest email an audit entry keeps (as `inviteUser` accepts).
const MAX_EMAIL: usize = 254;

/// An email as the audit log keeps it: at most [`MAX_EMAIL`] characters, no
/// control characters.
fn bounded_email(email: &str) -> String {
    email
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_EMAIL)
        .collect()
}

/// A resolved token: the caller, its expiry, when it was read.
type CachedToken = (Caller, Option<i64>, Instant);

impl Access {
    pub async fn new() -> anyhow::Result<Access> {
        Ok(Access {
            authz: tokio::sync::RwLock::new(
                policies::Authorizer::new()
                    .await
                    .map_err(|e| anyhow::anyhow!("authorization model: {e}"))?,
            ),
            tick: tokio::sync::watch::channel(0).0,
            failures: Default::default(),
            refusals: Default::default(),
            tokens: Default::default(),
            webhook: Default::default(),
            webhook_dropped: Default::default(),
        })
    }

    pub fn changed(&self) {
        if let Ok(mut m) = self.tokens.lock() {
            m.clear();
        }
        self.tick.send_modify(|t| *t += 1);
    }

    /// Login attempts: at most 5 failures per account and 20 per address in 15
    /// minutes.
    fn limited(&self, key: &str, max: usize) -> bool {
        let Ok(mut m) = self.failures.lock() else {
            return false;
        };
        let v = m.entry(key.to_string()).or_default();
        v.retain(|t| t.elapsed() < Duration::from_secs(900));
        v.len() >= max
    }

    fn fail(&self, key: &str) {
        if let Ok(mut m) = self.failures.lock() {
            // bounded: forget stale keys when many accumulate
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

    fn clear(&self, key: &str) {
        if let Ok(mut m) = self.failures.lock() {
            m.remove(key);
        }
    }
}

pub fn digest(token: &str) -> String {
    graphql_schema::entity::consumer::digest(token)
}

pub fn new_token(prefix: &str) -> String {
    format!(
        "{prefix}{}{}",
        Uuid::new_v4().simple(),
        Uuid::new_v4().simple()
    )
}

pub fn hash_password(pw: &str) -> Result<String, ApiError> {
    use argon2::PasswordHasher;
    argon2::Argon2::default()
        .hash_password(pw.as_bytes())
        .map(|h| h.to_string())
        .map_err(ApiError::internal)
}

pub fn verify_password(hash: &str, pw: &str) -> bool {
    use argon2::PasswordVerifier;
    let Ok(parsed) = argon2::PasswordHash::new(hash) else {
        return false;
    };
    argon2::Argon2::default()
        .verify_password(pw.as_bytes(), &parsed)
        .is_ok()
}

pub fn check_password(pw: &str) -> Result<(), ApiError> {
    if pw.chars().count() < 12 {
        return Err(ApiError::field(
            Code::Validation,
            "input.password",
            "at least 12 characters",
        ));
    }
    Ok(())
}

/// What the first start created, to print once.
pub struct Bootstrap {
    pub email: String,
    /// Only when generated (not given by `PORTICO_ADMIN_PASSWORD`).
    pub password: Option<String>,
    /// The owner's first personal access token (only when generated).
    pub token: Option<String>,
}

/// On first start: the predefined teams, the organization owner (in
/// Organization Admin) and a personal access token for the owner.
pub async fn bootstrap(
    db: &DatabaseConnection,
    email: &str,
    password: Option<String>,
    token: Option<String>,
) -> anyhow::Result<Option<Bootstrap>> {
    if user::Entity::find().one(db).await?.is_some() {
        return Ok(None);
    }
    let now = store::now_ms();
    let mut admin_team = String::new();
    for (name, roles) in policies::predefined_teams() {
        let id = Uuid::new_v4().to_string();
        if name == "Organization Admin" {
            admin_team = id.clone();
        }
        team::ActiveModel {
            id: Set(id.clone()),
            name: Set(name.clone()),
            description: Set(Some(format!("predefined: {name}"))),
            predefined: Set(true),
            created_at: Set(now),
        }
        .insert(db)
        .await?;
        for r in roles {
            team_role::ActiveModel {
                id: Set(Uuid::new_v4().to_string()),
                team_id: Set(id.clone()),
                resource_type: Set(r.resource_type),
                role: Set(r.role),
                scope: Set(r.scope),
            }
            .insert(db)
            .await?;
        }
    }
    let generated = password.is_none();
    let pw = password.unwrap_or_else(|| new_token("").chars().take(24).collect());
    let owner = Uuid::new_v4();
    user::ActiveModel {
        id: Set(owner.to_string()),
        email: Set(email.to_string()),
        name: Set("Organization owner".into()),
        password_hash: Set(hash_password(&pw).map_err(|e| anyhow::anyhow!("{e}"))?),
        active: Set(true),
        invite_digest: Set(None),
        created_at: Set(now),
        last_login_at: Set(None),
    }
    .insert(db)
    .await?;
    team_member::ActiveModel {
        team_id: Set(admin_team),
        member: Set(format!("user:{owner}")),
    }
    .insert(db)
    .await?;
    let token_generated = token.is_none();
    let tok = token.unwrap_or_else(|| new_token(PAT_PREFIX));
    store::insert_token(
        db,
        api_token::Model {
            id: Uuid::new_v4().to_string(),
            name: "admin (first start)".into(),
            digest: digest(&tok),
            created_at: now,
            owner: format!("user:{owner}"),
            kind: "pat".into(),
            expires_at: None,
            revoked_at: None,
        },
    )
    .await?;
    Ok(Some(Bootstrap {
        email: email.to_string(),
        password: generated.then_some(pw),
        token: token_generated.then_some(tok),
    }))
}

/// Rebuilds the authorizer from the database.
pub async fn reload(shared: &Shared) -> anyhow::Result<()> {
    let db = &shared.db;
    let mut a = policies::Authorizer::new()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let roles = team_role::Entity::find().all(db).await?;
    let mut by_team: HashMap<String, Vec<policies::Assignment>> = HashMap::new();
    for r in roles {
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
    for m in team_member::Entity::find().all(db).await? {
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
    *shared.access.authz.write().await = a;
    shared.access.changed();
    Ok(())
}

/// The caller a bearer token stands for, if it is valid now.
pub async fn resolve(shared: &Shared, token: &str, ip: Option<String>) -> Option<Caller> {
    let d = digest(token);
    if let Ok(m) = shared.access.tokens.lock()
        && let Some((c, exp, at)) = m.get(&d)
        && at.elapsed() < Duration::from_secs(60)
        && exp.is_none_or(|e| e > store::now_ms())
    {
        let mut c = c.clone();
        c.ip = ip;
        return Some(c);
    }
    let c = resolve_db(shared, &d, ip).await?;
    Some(c)
}

async fn resolve_db(shared: &Shared, d: &str, ip: Option<String>) -> Option<Caller> {
    let t = store::token_by_digest(&shared.db, d).await.ok()??;
    if t.revoked_at.is_some() || t.expires_at.is_some_and(|e| e <= store::now_ms()) {
        return None;
    }
    let user_id = t
        .owner
        .strip_prefix("user:")
        .and_then(|u| Uuid::parse_str(u).ok());
    if let Some(u) = user_id {
        let active = user::Entity::find_by_id(u.to_string())
            .one(&shared.db)
            .await
            .ok()
            .flatten()
            .is_some_and(|u| u.active);
        if !active {
            return None;
        }
    }
    let c = Caller {
        member: t.owner,
        user_id,
        token_id: t.id,
        token_kind: t.kind,
        ip,
    };
    if let Ok(mut m) = shared.access.tokens.lock() {
        if m.len() > 100_000 {
            m.clear();
        }
        m.insert(d.to_string(), (c.clone(), t.expires_at, Instant::now()));
    }
    Some(c)
}

/// An access change here and, through the database, on the other replicas.
pub async fn changed_everywhere(sh: &Shared) {
    sh.access.changed();
    let _ = store::notify(&sh.db, "access").await;
}

/// Whether the caller still stands (for long-lived subscriptions): the token is
/// neither revoked nor expired, and its user is still active.
pub async fn still_valid(shared: &Shared, c: &Caller) -> bool {
    let Ok(Some(t)) = api_token::Entity::find_by_id(c.token_id.clone())
        .one(&shared.db)
        .await
    else {
        return false;
    };
    if t.revoked_at.is_some() || t.expires_at.is_some_and(|e| e <= store::now_ms()) {
        return false;
    }
    match c.user_id {
        None => true,
        Some(u) => user::Entity::find_by_id(u.to_string())
            .one(&shared.db)
            .await
            .ok()
            .flatten()
            .is_some_and(|u| u.active),
    }
}

pub fn unauthenticated() -> async_graphql::Error {
    async_graphql::Error::new("a valid token is required: Authorization: Bearer <token>")
        .extend_with(|_, e| e.set("code", "UNAUTHENTICATED"))
}

pub fn forbidden() -> async_graphql::Error {
    async_graphql::Error::new("not allowed").extend_with(|_, e| e.set("code", "FORBIDDEN"))
}

pub fn caller<'a>(ctx: &Context<'a>) -> Result<&'a Caller, async_graphql::Error> {
    ctx.data_opt::<Caller>().ok_or_else(unauthenticated)
}

/// Allowed, or FORBIDDEN (UNAUTHENTICATED without a caller).
pub async fn check(
    ctx: &Context<'_>,
    object: &str,
    action: &str,
) -> Result<(), async_graphql::Error> {
    let c = caller(ctx)?;
    let sh = ctx.data_unchecked::<Arc<Shared>>();
    if sh
        .access
        .authz
        .read()
        .await
        .allowed(&c.member, object, action)
    {
        Ok(())
    } else {
        Err(forbidden())
    }
}

pub async fn allowed(sh: &Shared, c: &Caller, object: &str, action: &str) -> bool {
    sh.access
        .authz
        .read()
        .await
        .allowed(&c.member, object, action)
}

pub fn plane(id: Uuid) -> String {
    format!("control-planes/{id}")
}

/// A login: a session token valid for 12 hours, or an error that does not say
/// whether the account exists.
pub async fn login(
    sh: &Shared,
    email: &str,
    password: &str,
    ip: Option<String>,
) -> Result<(String, i64, user::Model), ApiError> {
    let email = bounded_email(email);
    let email = email.as_str();
    let acct = format!("acct:{}", email.to_lowercase());
    let addr = format!("ip:{}", ip.clone().unwrap_or_default());
    let refuse = |why: &str| ApiError::new(Code::Unauthenticated, why.to_string());
    let by_acct = sh.access.limited(&acct, 5);
    if by_acct || sh.access.limited(&addr, 20) {
        let key = if by_acct { &acct } else { &addr };
        if let Some(n) = sh.access.refused(key) {
            audit_write(
                sh,
                email,
                "login",
                None,
                "denied",
                ip.clone(),
                Some(format!(
                    "rate limited ({}): {n} refused since the last entry",
                    if by_acct { "account" } else { "address" }
                )),
            )
            .await;
        }
        return Err(refuse("too many failed logins; try again later"));
    }
    let u = user::Entity::find()
        .filter(user::Column::Email.eq(email.to_lowercase()))
        .one(&sh.db)
        .await
        .map_err(ApiError::internal)?;
    let ok = u.as_ref().is_some_and(|u| {
        u.active && !u.password_hash.is_empty() && verify_password(&u.password_hash, password)
    });
    let Some(u) = u.filter(|_| ok) else {
        sh.access.fail(&acct);
        sh.access.fail(&addr);
        audit_write(sh, email, "login", None, "unauthenticated", ip, None).await;
        return Err(refuse("wrong email or password"));
    };
    sh.access.clear(&acct);
    let token = new_token(SESSION_PREFIX);
    let expires = store::now_ms() + 12 * 3600 * 1000;
    store::insert_token(
        &sh.db,
        api_token::Model {
            id: Uuid::new_v4().to_string(),
            name: "session".into(),
            digest: digest(&token),
            created_at: store::now_ms(),
            owner: format!("user:{}", u.id),
            kind: "session".into(),
            expires_at: Some(expires),
            revoked_at: None,
        },
    )
    .await
    .map_err(ApiError::internal)?;
    let mut am: user::ActiveModel = u.clone().into();
    am.last_login_at = Set(Some(store::now_ms()));
    let _ = am.update(&sh.db).await;
    audit_write(sh, &format!("user:{}", u.id), "login", None, "ok", ip, None).await;
    Ok((token, expires, u))
}

/// Delivers audit entries to `url` from a bounded queue (10,000 entries), each
/// tried up to 4 times with backoff; the request path never waits on it.
pub fn start_webhook(sh: &Shared, url: String) -> anyhow::Result<()> {
    let parsed: reqwest::Url = url
        .parse()
        .map_err(|e| anyhow::anyhow!("--audit-webhook {url}: {e}"))?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<serde_json::Value>(10_000);
    let _ = sh.access.webhook.set(tx);
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

pub async fn audit_write(
    sh: &Shared,
    actor: &str,
    action: &str,
    target: Option<String>,
    result: &str,
    ip: Option<String>,
    detail: Option<String>,
) {
    let r = audit::ActiveModel {
        id: Set(Uuid::now_v7().to_string()),
        at: Set(store::now_ms()),
        actor: Set(actor.to_string()),
        action: Set(action.to_string()),
        target: Set(target),
        result: Set(result.to_string()),
        source_ip: Set(ip),
        detail: Set(detail),
    }
    .insert(&sh.db)
    .await;
    match r {
        Err(e) => tracing::error!("audit log write failed: {e}"),
        Ok(m) => {
            if let Some(tx) = sh.access.webhook.get() {
                let v = serde_json::json!({
                    "id": m.id, "at": m.at, "actor": m.actor, "action": m.action,
                    "target": m.target, "result": m.result, "sourceIp": m.source_ip,
                    "detail": m.detail,
                });
                if tx.try_send(v).is_err() {
                    sh.access
                        .webhook_dropped
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// the audit extension: every mutation, with who, what, target and result

pub struct AuditExtension;

impl async_graphql::extensions::ExtensionFactory for AuditExtension {
    fn create(&self) -> Arc<dyn async_graphql::extensions::Extension> {
        Arc::new(AuditExt)
    }
}

struct AuditExt;

#[derive(Clone)]
struct Vars(async_graphql::Variables);

#[async_trait::async_trait]
impl async_graphql::extensions::Extension for AuditExt {
    async fn prepare_request(
        &self,
        ctx: &async_graphql::extensions::ExtensionContext<'_>,
        request: async_graphql::Request,
        next: async_graphql::extensions::NextPrepareRequest<'_>,
    ) -> async_graphql::ServerResult<async_graphql::Request> {
        let vars = Vars(request.variables.clone());
        let request = request.data(vars);
        next.run(ctx, request).await
    }

    async fn resolve(
        &self,
        ctx: &async_graphql::extensions::ExtensionContext<'_>,
        info: async_graphql::extensions::ResolveInfo<'_>,
        next: async_graphql::extensions::NextResolve<'_>,
    ) -> async_graphql::ServerResult<Option<async_graphql::Value>> {
        if info.parent_type != "Mutation" || info.name == "login" {
            return next.run(ctx, info).await;
        }
        let name = info.name.to_string();
        let target = target_of(ctx, info.field);
        let r = next.run(ctx, info).await;
        let (Some(sh), caller) = (ctx.data_opt::<Arc<Shared>>(), ctx.data_opt::<Caller>()) else {
            return r;
        };
        let result = match &r {
            Ok(_) => "ok",
            Err(e) => match e
                .extensions
                .as_ref()
                .and_then(|x| x.get("code"))
                .map(|v| v.to_string())
                .as_deref()
            {
                Some("\"FORBIDDEN\"") => "denied",
                Some("\"UNAUTHENTICATED\"") => "unauthenticated",
                _ => "error",
            },
        };
        let detail = r.as_ref().err().map(|e| e.message.clone());
        let actor = caller
            .map(|c| c.member.clone())
            .unwrap_or_else(|| "anonymous".into());
        let ip = ctx
            .data_opt::<SourceIp>()
            .and_then(|s| s.0.clone())
            .or_else(|| caller.and_then(|c| c.ip.clone()));
        audit_write(sh, &actor, &name, target, result, ip, detail).await;
        r
    }
}

/// The target of a mutation: the first id-like field of its `input` (or `id`).
fn target_of(
    ctx: &async_graphql::extensions::ExtensionContext<'_>,
    field: &async_graphql::parser::types::Field,
) -> Option<String> {
    let vars = ctx.data_opt::<Vars>();
    for (name, value) in &field.arguments {
        let v = value
            .node
            .clone()
            .into_const_with(|n| vars.and_then(|x| x.0.get(&n).cloned()).ok_or(()))
            .ok()?;
        match (name.node.as_str(), &v) {
            ("id", async_graphql::Value::String(s)) => return Some(s.clone()),
            ("input", async_graphql::Value::Object(m)) => {
                for k in [
                    "id",
                    "controlPlaneId",
                    "controlPlane",
                    "teamId",
                    "email",
                    "name",
                ] {
                    if let Some(async_graphql::Value::String(s)) = m.get(k) {
                        return Some(format!("{k}={s}"));
                    }
                }
            }
            _ => {}
        }
    }
    None
}

//! The GraphQL side of identities: login/logout, users and invitations, personal
//! access tokens, system accounts, teams and their roles and members, and the
//! audit log. Every operation is checked against the caller's roles.

use std::sync::Arc;

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use uuid::Uuid;

use crate::actor::Shared;
use crate::auth::{self, Caller};
use crate::error::{ApiError, Code};
use crate::store::{self, api_token, audit, system_account, team, team_member, team_role, user};
use crate::teams::TeamMsg;

fn shared<'a>(ctx: &Context<'a>) -> &'a Arc<Shared> {
    ctx.data_unchecked::<Arc<Shared>>()
}

fn gql(e: ApiError) -> async_graphql::Error {
    e.into_graphql().remove(0)
}

fn internal(e: impl std::fmt::Display) -> async_graphql::Error {
    gql(ApiError::internal(e))
}

fn parse(id: &ID, field: &str) -> Result<Uuid> {
    Uuid::parse_str(id.as_str())
        .map_err(|_| gql(ApiError::field(Code::Validation, field, "expected a UUID")))
}

#[derive(SimpleObject, Clone)]
pub struct User {
    pub id: ID,
    pub email: String,
    pub name: String,
    pub active: bool,
    /// Invited and not yet accepted.
    pub pending: bool,
    pub created_at: i64,
    pub last_login_at: Option<i64>,
}

impl From<user::Model> for User {
    fn from(u: user::Model) -> User {
        User {
            id: ID(u.id),
            email: u.email,
            name: u.name,
            active: u.active,
            pending: u.invite_digest.is_some(),
            created_at: u.created_at,
            last_login_at: u.last_login_at,
        }
    }
}

#[derive(SimpleObject, Clone)]
pub struct TeamRole {
    pub id: ID,
    pub resource_type: String,
    pub role: String,
    /// A resource id, or `*` for all of the type.
    pub scope: String,
}

#[derive(SimpleObject, Clone)]
pub struct Team {
    pub id: ID,
    pub name: String,
    pub description: Option<String>,
    pub predefined: bool,
    pub roles: Vec<TeamRole>,
    /// `user:<id>` / `sa:<id>`.
    pub members: Vec<String>,
}

async fn team_out(sh: &Shared, t: team::Model) -> Result<Team> {
    let roles = team_role::Entity::find()
        .filter(team_role::Column::TeamId.eq(&t.id))
        .all(&sh.db)
        .await
        .map_err(internal)?;
    let members = team_member::Entity::find()
        .filter(team_member::Column::TeamId.eq(&t.id))
        .all(&sh.db)
        .await
        .map_err(internal)?;
    Ok(Team {
        id: ID(t.id),
        name: t.name,
        description: t.description,
        predefined: t.predefined,
        roles: roles
            .into_iter()
            .map(|r| TeamRole {
                id: ID(r.id),
                resource_type: r.resource_type,
                role: r.role,
                scope: r.scope,
            })
            .collect(),
        members: members.into_iter().map(|m| m.member).collect(),
    })
}

async fn team_by_id(sh: &Shared, id: Uuid) -> Result<team::Model> {
    team::Entity::find_by_id(id.to_string())
        .one(&sh.db)
        .await
        .map_err(internal)?
        .ok_or_else(|| gql(ApiError::not_found(format!("team {id}"))))
}

#[derive(SimpleObject, Clone)]
pub struct TokenInfo {
    pub id: ID,
    pub name: String,
    /// `pat`, `session` or `system`.
    pub kind: String,
    pub owner: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked: bool,
}

impl From<api_token::Model> for TokenInfo {
    fn from(t: api_token::Model) -> TokenInfo {
        TokenInfo {
            id: ID(t.id),
            name: t.name,
            kind: t.kind,
            owner: t.owner,
            created_at: t.created_at,
            expires_at: t.expires_at,
            revoked: t.revoked_at.is_some(),
        }
    }
}

/// A new token: the secret is in this answer only.
#[derive(SimpleObject, Clone)]
pub struct NewToken {
    pub token: String,
    pub info: TokenInfo,
}

#[derive(SimpleObject, Clone)]
pub struct SystemAccount {
    pub id: ID,
    pub name: String,
    pub description: Option<String>,
    pub created_at: i64,
}

#[derive(SimpleObject, Clone)]
pub struct AuditEntry {
    pub id: ID,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub result: String,
    pub source_ip: Option<String>,
    pub detail: Option<String>,
}

#[derive(SimpleObject)]
pub struct AuditConnection {
    pub nodes: Vec<AuditEntry>,
    pub total_count: u64,
    pub page_info: crate::api::PageInfo,
}

#[derive(InputObject, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub result: Option<String>,
    /// Entries at or after this time (Unix ms).
    pub since: Option<i64>,
}

#[derive(Default)]
pub struct IdentityQuery;

#[Object]
impl IdentityQuery {
    /// The caller.
    async fn me(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let c = auth::caller(ctx)?;
        let Some(u) = c.user_id else { return Ok(None) };
        Ok(user::Entity::find_by_id(u.to_string())
            .one(&shared(ctx).db)
            .await
            .map_err(internal)?
            .map(User::from))
    }

    async fn users(&self, ctx: &Context<'_>) -> Result<Vec<User>> {
        auth::check(ctx, "organization", "read").await?;
        Ok(user::Entity::find()
            .order_by_asc(user::Column::CreatedAt)
            .limit(1000)
            .all(&shared(ctx).db)
            .await
            .map_err(internal)?
            .into_iter()
            .map(User::from)
            .collect())
    }

    async fn teams(&self, ctx: &Context<'_>) -> Result<Vec<Team>> {
        auth::check(ctx, "organization", "read").await?;
        let sh = shared(ctx);
        let mut out = Vec::new();
        for t in team::Entity::find()
            .order_by_asc(team::Column::CreatedAt)
            .limit(1000)
            .all(&sh.db)
            .await
            .map_err(internal)?
        {
            out.push(team_out(sh, t).await?);
        }
        Ok(out)
    }

    async fn system_accounts(&self, ctx: &Context<'_>) -> Result<Vec<SystemAccount>> {
        auth::check(ctx, "organization", "read").await?;
        Ok(system_account::Entity::find()
            .limit(1000)
            .all(&shared(ctx).db)
            .await
            .map_err(internal)?
            .into_iter()
            .map(|s| SystemAccount {
                id: ID(s.id),
                name: s.name,
                description: s.description,
                created_at: s.created_at,
            })
            .collect())
    }

    /// The caller's own tokens (secrets are never shown again).
    async fn personal_access_tokens(&self, ctx: &Context<'_>) -> Result<Vec<TokenInfo>> {
        let c = auth::caller(ctx)?;
        Ok(api_token::Entity::find()
            .filter(api_token::Column::Owner.eq(&c.member))
            .filter(api_token::Column::Kind.eq("pat"))
            .order_by_asc(api_token::Column::CreatedAt)
            .limit(1000)
            .all(&shared(ctx).db)
            .await
            .map_err(internal)?
            .into_iter()
            .map(TokenInfo::from)
            .collect())
    }

    /// The audit log, newest first (organization admins).
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        filter: Option<AuditFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<AuditConnection> {
        auth::check(ctx, "organization", "audit.read").await?;
        let f = filter.unwrap_or_default();
        let mut q = audit::Entity::find();
        if let Some(a) = f.actor {
            q = q.filter(audit::Column::Actor.eq(a));
        }
        if let Some(a) = f.action {
            q = q.filter(audit::Column::Action.eq(a));
        }
        if let Some(r) = f.result {
            q = q.filter(audit::Column::Result.eq(r));
        }
        if let Some(s) = f.since {
            q = q.filter(audit::Column::At.gte(s));
        }
        let sh = shared(ctx);
        let total = q.clone().count(&sh.db).await.map_err(internal)?;
        let first = first.unwrap_or(100).clamp(0, 1000) as u64;
        let offset: u64 = after.and_then(|a| a.parse().ok()).unwrap_or(0);
        let rows = q
            .order_by_desc(audit::Column::Id)
            .offset(offset)
            .limit(first)
            .all(&sh.db)
            .await
            .map_err(internal)?;
        crate::limits::charge(ctx, rows.len())?;
        let end = offset + rows.len() as u64;
        Ok(AuditConnection {
            nodes: rows
                .into_iter()
                .map(|r| AuditEntry {
                    id: ID(r.id),
                    at: r.at,
                    actor: r.actor,
                    action: r.action,
                    target: r.target,
                    result: r.result,
                    source_ip: r.source_ip,
                    detail: r.detail,
                })
                .collect(),
            total_count: total,
            page_info: crate::api::PageInfo {
                has_next_page: end < total,
                end_cursor: Some(end.to_string()),
            },
        })
    }
}

#[derive(InputObject)]
pub struct LoginInput {
    pub email: String,
    pub password: String,
}

#[derive(SimpleObject)]
pub struct Session {
    /// A session token (`psess_...`): `Authorization: Bearer <token>`.
    pub token: String,
    pub expires_at: i64,
    pub user: User,
}

#[derive(InputObject)]
pub struct InviteUserInput {
    pub email: String,
    pub name: String,
    pub team_ids: Option<Vec<ID>>,
}

#[derive(SimpleObject)]
pub struct Invitation {
    pub user: User,
    /// Give this to the user; `acceptInvitation` sets their password with it.
    pub invitation_token: String,
}

#[derive(InputObject)]
pub struct AcceptInvitationInput {
    pub token: String,
    pub password: String,
}

#[derive(InputObject)]
pub struct CreateTokenInput {
    pub name: String,
    /// Days until it expires (default 90, at most 365).
    pub expires_in_days: Option<i32>,
    /// For a system account's token: its id (organization admins only).
    pub system_account_id: Option<ID>,
}

#[derive(InputObject)]
pub struct CreateSystemAccountInput {
    pub name: String,
    pub description: Option<String>,
}

#[derive(InputObject)]
pub struct CreateTeamInput {
    pub name: String,
    pub description: Option<String>,
}

#[derive(InputObject)]
pub struct TeamRoleInput {
    pub team_id: ID,
    /// `control-planes`, `organization`, `portals`, `analytics`, `api-products`.
    pub resource_type: String,
    pub role: String,
    /// A resource id, or `*` for all of the type.
    pub scope: String,
}

#[derive(InputObject)]
pub struct TeamMemberInput {
    pub team_id: ID,
    pub user_id: Option<ID>,
    pub system_account_id: Option<ID>,
}

fn member_of(i: &TeamMemberInput) -> Result<String> {
    match (&i.user_id, &i.system_account_id) {
        (Some(u), None) => Ok(format!("user:{}", parse(u, "input.userId")?)),
        (None, Some(s)) => Ok(format!("sa:{}", parse(s, "input.systemAccountId")?)),
        _ => Err(gql(ApiError::field(
            Code::Validation,
            "input",
            "give exactly one of userId and systemAccountId",
        ))),
    }
}

fn ip(ctx: &Context<'_>) -> Option<String> {
    ctx.data_opt::<auth::SourceIp>().and_then(|s| s.0.clone())
}

/// A name (of a team, system account or token): 1 to 128 characters, none of
/// them control characters.
fn name_ok(field: &str, name: &str) -> Result<()> {
    let n = name.chars().count();
    if n == 0 || n > 128 || name.chars().any(char::is_control) {
        return Err(gql(ApiError::field(
            Code::Validation,
            field,
            "1 to 128 characters, no control characters",
        )));
    }
    Ok(())
}

async fn insert_token(
    sh: &Shared,
    owner: &str,
    kind: &str,
    name: &str,
    days: Option<i32>,
) -> Result<NewToken> {
    name_ok("input.name", name)?;
    let days = i64::from(days.unwrap_or(90));
    if !(1..=365).contains(&days) {
        return Err(gql(ApiError::field(
            Code::Validation,
            "input.expiresInDays",
            "1 to 365",
        )));
    }
    let prefix = if kind == "system" {
        auth::SYSTEM_PREFIX
    } else {
        auth::PAT_PREFIX
    };
    let token = auth::new_token(prefix);
    let m = api_token::Model {
        id: Uuid::new_v4().to_string(),
        name: name.to_string(),
        digest: auth::digest(&token),
        created_at: store::now_ms(),
        owner: owner.to_string(),
        kind: kind.to_string(),
        expires_at: Some(store::now_ms() + days * 86_400_000),
        revoked_at: None,
    };
    store::insert_token(&sh.db, m.clone())
        .await
        .map_err(internal)?;
    Ok(NewToken {
        token,
        info: m.into(),
    })
}

#[derive(Default)]
pub struct IdentityMutation;

#[Object]
impl IdentityMutation {
    /// Email and password for a session token (12 hours). Failed attempts are
    /// limited per account and per address.
    async fn login(&self, ctx: &Context<'_>, input: LoginInput) -> Result<Session> {
        let (token, expires_at, u) =
            auth::login(shared(ctx), &input.email, &input.password, ip(ctx))
                .await
                .map_err(gql)?;
        Ok(Session {
            token,
            expires_at,
            user: u.into(),
        })
    }

    /// Ends the caller's session (revokes the token used).
    async fn logout(&self, ctx: &Context<'_>) -> Result<bool> {
        let c = auth::caller(ctx)?;
        revoke_token(shared(ctx), &c.token_id).await?;
        Ok(true)
    }

    async fn invite_user(&self, ctx: &Context<'_>, input: InviteUserInput) -> Result<Invitation> {
        auth::check(ctx, "organization", "users.manage").await?;
        let sh = shared(ctx);
        let email = input.email.trim().to_lowercase();
        if !email.contains('@') || email.len() > 254 {
            return Err(gql(ApiError::field(
                Code::Validation,
                "input.email",
                "not an email address",
            )));
        }
        // every team exists before anything is written
        let mut teams = Vec::new();
        for (i, t) in input.team_ids.unwrap_or_default().iter().enumerate() {
            let t = parse(t, &format!("input.teamIds[{i}]"))?;
            team_by_id(sh, t).await.map_err(|_| {
                gql(ApiError::field(
                    Code::Validation,
                    format!("input.teamIds[{i}]"),
                    format!("team {t} does not exist"),
                ))
            })?;
            teams.push(t);
        }
        if input.name.chars().count() > 256 {
            return Err(gql(ApiError::field(
                Code::Validation,
                "input.name",
                "at most 256 characters",
            )));
        }
        let token = auth::new_token("pinv_");
        let id = Uuid::new_v4();
        user::ActiveModel {
            id: Set(id.to_string()),
            email: Set(email),
            name: Set(input.name),
            password_hash: Set(String::new()),
            active: Set(true),
            invite_digest: Set(Some(auth::digest(&token))),
            created_at: Set(store::now_ms()),
            last_login_at: Set(None),
        }
        .insert(&sh.db)
        .await
        .map_err(|e| {
            gql(ApiError::unique(
                e,
                "input.email",
                "a user with this email exists",
            ))
        })?;
        for t in teams {
            let m = format!("user:{id}");
            sh.teams
                .call(sh, t, |r| TeamMsg::AddMember(m, r))
                .await
                .map_err(gql)?;
        }
        let u = user::Entity::find_by_id(id.to_string())
            .one(&sh.db)
            .await
            .map_err(internal)?
            .ok_or_else(|| internal("invited user missing"))?;
        Ok(Invitation {
            user: u.into(),
            invitation_token: token,
        })
    }

    /// Sets the invited user's password (no token needed: the invitation is one).
    async fn accept_invitation(
        &self,
        ctx: &Context<'_>,
        input: AcceptInvitationInput,
    ) -> Result<User> {
        auth::check_password(&input.password).map_err(gql)?;
        let sh = shared(ctx);
        let u = user::Entity::find()
            .filter(user::Column::InviteDigest.eq(auth::digest(&input.token)))
            .one(&sh.db)
            .await
            .map_err(internal)?
            .ok_or_else(auth::unauthenticated)?;
        let mut am: user::ActiveModel = u.into();
        am.password_hash = Set(auth::hash_password(&input.password).map_err(gql)?);
        am.invite_digest = Set(None);
        Ok(am.update(&sh.db).await.map_err(internal)?.into())
    }

    /// A deactivated user's tokens and sessions stop working at once.
    async fn set_user_active(&self, ctx: &Context<'_>, id: ID, active: bool) -> Result<User> {
        auth::check(ctx, "organization", "users.manage").await?;
        let sh = shared(ctx);
        let id = parse(&id, "id")?;
        let u = user::Entity::find_by_id(id.to_string())
            .one(&sh.db)
            .await
            .map_err(internal)?
            .ok_or_else(|| gql(ApiError::not_found(format!("user {id}"))))?;
        let mut am: user::ActiveModel = u.into();
        am.active = Set(active);
        let u = am.update(&sh.db).await.map_err(internal)?;
        auth::changed_everywhere(sh).await;
        Ok(u.into())
    }

    /// A personal access token for the caller (or, for organization admins, a
    /// system account's token). Shown once.
    async fn create_token(&self, ctx: &Context<'_>, input: CreateTokenInput) -> Result<NewToken> {
        let c: Caller = auth::caller(ctx)?.clone();
        let sh = shared(ctx);
        match &input.system_account_id {
            Some(sa) => {
                auth::check(ctx, "organization", "users.manage").await?;
                let sa = parse(sa, "input.systemAccountId")?;
                system_account::Entity::find_by_id(sa.to_string())
                    .one(&sh.db)
                    .await
                    .map_err(internal)?
                    .ok_or_else(|| gql(ApiError::not_found(format!("system account {sa}"))))?;
                insert_token(
                    sh,
                    &format!("sa:{sa}"),
                    "system",
                    &input.name,
                    input.expires_in_days,
                )
                .await
            }
            None => {
                if c.user_id.is_none() {
                    return Err(auth::forbidden());
                }
                insert_token(sh, &c.member, "pat", &input.name, input.expires_in_days).await
            }
        }
    }

    /// Revokes a token: the caller's own, or any with `tokens.manage`. Refused
    /// from the next request on.
    async fn revoke_token(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let c = auth::caller(ctx)?;
        let sh = shared(ctx);
        let t = api_token::Entity::find_by_id(id.to_string())
            .one(&sh.db)
            .await
            .map_err(internal)?;
        let own = t.as_ref().is_some_and(|t| t.owner == c.member);
        if !own {
            auth::check(ctx, "organization", "tokens.manage").await?;
        }
        if t.is_none() {
            return Err(gql(ApiError::not_found(format!("token {}", id.as_str()))));
        }
        revoke_token(sh, id.as_str()).await?;
        Ok(true)
    }

    async fn create_system_account(
        &self,
        ctx: &Context<'_>,
        input: CreateSystemAccountInput,
    ) -> Result<SystemAccount> {
        auth::check(ctx, "organization", "users.manage").await?;
        name_ok("input.name", &input.name)?;
        crate::actor::check_text("input.description", &input.description, 1000).map_err(gql)?;
        let m = system_account::Model {
            id: Uuid::new_v4().to_string(),
            name: input.name,
            description: input.description,
            created_at: store::now_ms(),
        };
        system_account::ActiveModel {
            id: Set(m.id.clone()),
            name: Set(m.name.clone()),
            description: Set(m.description.clone()),
            created_at: Set(m.created_at),
        }
        .insert(&shared(ctx).db)
        .await
        .map_err(|e| {
            gql(ApiError::unique(
                e,
                "input.name",
                "a system account with this name exists",
            ))
        })?;
        Ok(SystemAccount {
            id: ID(m.id),
            name: m.name,
            description: m.description,
            created_at: m.created_at,
        })
    }

    async fn create_team(&self, ctx: &Context<'_>, input: CreateTeamInput) -> Result<Team> {
        auth::check(ctx, "organization", "teams.manage").await?;
        name_ok("input.name", &input.name)?;
        crate::actor::check_text("input.description", &input.description, 1000).map_err(gql)?;
        let sh = shared(ctx);
        let m = team::ActiveModel {
            id: Set(Uuid::new_v4().to_string()),
            name: Set(input.name),
            description: Set(input.description),
            predefined: Set(false),
            created_at: Set(store::now_ms()),
        }
        .insert(&sh.db)
        .await
        .map_err(|e| {
            gql(ApiError::unique(
                e,
                "input.name",
                "a team with this name exists",
            ))
        })?;
        team_out(sh, m).await
    }

    async fn delete_team(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        auth::check(ctx, "organization", "teams.manage").await?;
        let sh = shared(ctx);
        let t = team_by_id(sh, parse(&id, "id")?).await?;
        if t.predefined {
            return Err(gql(ApiError::new(
                Code::Conflict,
                "predefined teams cannot be deleted",
            )));
        }
        team_role::Entity::delete_many()
            .filter(team_role::Column::TeamId.eq(&t.id))
            .exec(&sh.db)
            .await
            .map_err(internal)?;
        team_member::Entity::delete_many()
            .filter(team_member::Column::TeamId.eq(&t.id))
            .exec(&sh.db)
            .await
            .map_err(internal)?;
        team::Entity::delete_by_id(t.id.clone())
            .exec(&sh.db)
            .await
            .map_err(internal)?;
        if let Ok(id) = Uuid::parse_str(&t.id) {
            sh.teams.stop(id).await;
            sh.access
                .authz
                .write()
                .await
                .remove_team(&format!("team:{id}"))
                .await
                .map_err(internal)?;
        }
        auth::changed_everywhere(sh).await;
        Ok(true)
    }

    async fn assign_team_role(&self, ctx: &Context<'_>, input: TeamRoleInput) -> Result<Team> {
        auth::check(ctx, "organization", "teams.manage").await?;
        let sh = shared(ctx);
        let tid = parse(&input.team_id, "input.teamId")?;
        let t = team_by_id(sh, tid).await?;
        let a = policies::Assignment {
            resource_type: input.resource_type,
            role: input.role,
            scope: input.scope,
        };
        sh.teams
            .call(sh, tid, |r| TeamMsg::AssignRole(a, r))
            .await
            .map_err(gql)?;
        team_out(sh, t).await
    }

    async fn remove_team_role(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        auth::check(ctx, "organization", "teams.manage").await?;
        let sh = shared(ctx);
        let role = team_role::Entity::find_by_id(id.to_string())
            .one(&sh.db)
            .await
            .map_err(internal)?
            .ok_or_else(|| gql(ApiError::not_found(format!("team role {}", id.as_str()))))?;
        let tid = Uuid::parse_str(&role.team_id).map_err(internal)?;
        sh.teams
            .call(sh, tid, |r| TeamMsg::RemoveRole(role.id, r))
            .await
            .map_err(gql)?;
        Ok(true)
    }

    async fn add_team_member(&self, ctx: &Context<'_>, input: TeamMemberInput) -> Result<Team> {
        membership(ctx, &input, TeamMsg::AddMember).await
    }

    async fn remove_team_member(&self, ctx: &Context<'_>, input: TeamMemberInput) -> Result<Team> {
        membership(ctx, &input, TeamMsg::RemoveMember).await
    }
}

/// Adds a member to a team or removes one, through the team's actor.
async fn membership(
    ctx: &Context<'_>,
    input: &TeamMemberInput,
    msg: fn(String, ractor::RpcReplyPort<Result<(), ApiError>>) -> TeamMsg,
) -> Result<Team> {
    auth::check(ctx, "organization", "teams.manage").await?;
    let sh = shared(ctx);
    let tid = parse(&input.team_id, "input.teamId")?;
    let t = team_by_id(sh, tid).await?;
    let m = member_of(input)?;
    sh.teams.call(sh, tid, |r| msg(m, r)).await.map_err(gql)?;
    team_out(sh, t).await
}

async fn revoke_token(sh: &Shared, id: &str) -> Result<()> {
    api_token::Entity::update_many()
        .col_expr(
            api_token::Column::RevokedAt,
            sea_orm::sea_query::Expr::value(store::now_ms()),
        )
        .filter(api_token::Column::Id.eq(id))
        .exec(&sh.db)
        .await
        .map_err(internal)?;
    auth::changed_everywhere(sh).await;
    Ok(())
}

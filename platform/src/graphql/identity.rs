//! Users and their credentials in the API: login and logout, the caller, users
//! and invitations, personal access tokens and system accounts with their tokens.
//! Every operation is checked against the caller's roles; the work is
//! `auth::identity`'s.

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};

use super::error::{Gql, gql};
use super::guard::{caller, check, forbidden, parse_id, state};
use crate::actors::team::TeamMsg;
use crate::auth::identity::{self as id, SystemAccountRecord, TokenKind, TokenRecord, UserRecord};
use crate::auth::{self, SourceIp};
use crate::error::{Error, Field};

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

impl From<UserRecord> for User {
    fn from(u: UserRecord) -> User {
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

impl From<TokenRecord> for TokenInfo {
    fn from(t: TokenRecord) -> TokenInfo {
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

impl From<id::NewToken> for NewToken {
    fn from(t: id::NewToken) -> NewToken {
        NewToken {
            token: t.token,
            info: t.record.into(),
        }
    }
}

impl From<SystemAccountRecord> for SystemAccount {
    fn from(s: SystemAccountRecord) -> SystemAccount {
        SystemAccount {
            id: ID(s.id),
            name: s.name,
            description: s.description,
            created_at: s.created_at,
        }
    }
}

#[derive(Default)]
pub struct IdentityQuery;

#[Object]
impl IdentityQuery {
    /// The caller.
    async fn me(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let c = caller(ctx)?;
        let Some(u) = c.user_id else { return Ok(None) };
        Ok(id::user(&state(ctx).db, u).await.gql()?.map(User::from))
    }

    async fn users(&self, ctx: &Context<'_>) -> Result<Vec<User>> {
        check(ctx, "organization", "read").await?;
        let list = id::users(&state(ctx).db, 1000).await.gql()?;
        super::limits::charge(ctx, list.len())?;
        Ok(list.into_iter().map(User::from).collect())
    }

    async fn system_accounts(&self, ctx: &Context<'_>) -> Result<Vec<SystemAccount>> {
        check(ctx, "organization", "read").await?;
        Ok(id::system_accounts(&state(ctx).db, 1000)
            .await
            .gql()?
            .into_iter()
            .map(SystemAccount::from)
            .collect())
    }

    /// The caller's own tokens (secrets are never shown again).
    async fn personal_access_tokens(&self, ctx: &Context<'_>) -> Result<Vec<TokenInfo>> {
        let c = caller(ctx)?;
        Ok(id::personal_tokens(&state(ctx).db, &c.member, 1000)
            .await
            .gql()?
            .into_iter()
            .map(TokenInfo::from)
            .collect())
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

fn ip(ctx: &Context<'_>) -> Option<String> {
    ctx.data_opt::<SourceIp>().and_then(|s| s.0.clone())
}

#[derive(Default)]
pub struct IdentityMutation;

#[Object]
impl IdentityMutation {
    /// Email and password for a session token (12 hours). Failed attempts are
    /// limited per account and per address.
    async fn login(&self, ctx: &Context<'_>, input: LoginInput) -> Result<Session> {
        let st = state(ctx);
        let s = auth::login::login(
            &st.db,
            &st.logins,
            &st.audit,
            &input.email,
            &input.password,
            ip(ctx),
        )
        .await
        .gql()?;
        Ok(Session {
            token: s.token,
            expires_at: s.expires_at,
            user: s.user.into(),
        })
    }

    /// Ends the caller's session (revokes the token used).
    async fn logout(&self, ctx: &Context<'_>) -> Result<bool> {
        let c = caller(ctx)?;
        let st = state(ctx);
        id::revoke_token(&st.db, &st.access, &c.token_id)
            .await
            .gql()?;
        Ok(true)
    }

    async fn invite_user(&self, ctx: &Context<'_>, input: InviteUserInput) -> Result<Invitation> {
        check(ctx, "organization", "users.manage").await?;
        let st = state(ctx);
        // every team exists before anything is written
        let mut teams = Vec::new();
        for (i, t) in input.team_ids.unwrap_or_default().iter().enumerate() {
            let t = parse_id(t, &format!("input.teamIds[{i}]"))?;
            id::team(&st.db, t).await.map_err(|_| {
                gql(Error::invalid(
                    Field::Input(format!("teamIds[{i}]")),
                    format!("team {t} does not exist"),
                ))
            })?;
            teams.push(t);
        }
        let (u, token) = id::invite(&st.db, &input.email, input.name).await.gql()?;
        for t in teams {
            let m = format!("user:{}", u.id);
            st.teams.call(t, |r| TeamMsg::AddMember(m, r)).await.gql()?;
        }
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
        let st = state(ctx);
        Ok(id::accept_invitation(&st.db, &input.token, &input.password)
            .await
            .gql()?
            .into())
    }

    /// A deactivated user's tokens and sessions stop working at once, and their
    /// open subscriptions end.
    async fn set_user_active(&self, ctx: &Context<'_>, id: ID, active: bool) -> Result<User> {
        check(ctx, "organization", "users.manage").await?;
        let st = state(ctx);
        let user = parse_id(&id, "id")?;
        Ok(id::set_user_active(&st.db, &st.access, user, active)
            .await
            .gql()?
            .into())
    }

    /// A personal access token for the caller (or, for organization admins, a
    /// system account's token). Shown once.
    async fn create_token(&self, ctx: &Context<'_>, input: CreateTokenInput) -> Result<NewToken> {
        let c = caller(ctx)?.clone();
        let st = state(ctx);
        match &input.system_account_id {
            Some(sa) => {
                check(ctx, "organization", "users.manage").await?;
                let sa = parse_id(sa, "input.systemAccountId")?;
                id::system_account(&st.db, sa).await.gql()?;
                Ok(id::create_token(
                    &st.db,
                    &format!("sa:{sa}"),
                    TokenKind::System,
                    &input.name,
                    input.expires_in_days,
                )
                .await
                .gql()?
                .into())
            }
            None => {
                if c.user_id.is_none() {
                    return Err(forbidden());
                }
                Ok(id::create_token(
                    &st.db,
                    &c.member,
                    TokenKind::Personal,
                    &input.name,
                    input.expires_in_days,
                )
                .await
                .gql()?
                .into())
            }
        }
    }

    /// Revokes a token: the caller's own, or any with `tokens.manage`. Refused
    /// from the next request on.
    async fn revoke_token(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let c = caller(ctx)?;
        let st = state(ctx);
        let t = id::token(&st.db, id.as_str()).await.gql()?;
        let own = t.as_ref().is_some_and(|t| t.owner == c.member);
        if !own {
            check(ctx, "organization", "tokens.manage").await?;
        }
        if t.is_none() {
            return Err(gql(Error::NotFound(format!("token {}", id.as_str()))));
        }
        id::revoke_token(&st.db, &st.access, id.as_str())
            .await
            .gql()?;
        Ok(true)
    }

    async fn create_system_account(
        &self,
        ctx: &Context<'_>,
        input: CreateSystemAccountInput,
    ) -> Result<SystemAccount> {
        check(ctx, "organization", "users.manage").await?;
        let st = state(ctx);
        Ok(
            id::create_system_account(&st.db, input.name, input.description)
                .await
                .gql()?
                .into(),
        )
    }
}

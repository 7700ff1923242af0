//! Users and their credentials in the API: login and logout, the caller, users
//! and invitations, personal access tokens and system accounts with their tokens.
//! Every operation is checked against the caller's roles; the work is
//! `auth::identity`'s.

use async_graphql::{
    ComplexObject, Context, Enum, ID, InputObject, Object, Result, SimpleObject, Union,
};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::connection::{Page, Paging, connection, datetime, page};
use super::error::{Gql, gql};
use super::guard::{caller, check, forbidden, parse_id, state};
use crate::actors::team::TeamMsg;
use crate::auth::identity::{self as id, SystemAccountRecord, TokenRecord, UserRecord};
use crate::auth::{self, SourceIp};
use crate::auth::{Action, Resource};
use crate::error::{Error, Field};
use crate::state::AppState;

#[derive(SimpleObject, Clone)]
pub struct User {
    pub id: ID,
    pub email: String,
    pub name: String,
    pub active: bool,
    /// Invited and not yet accepted.
    pub pending: bool,
    pub created_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
    #[graphql(skip)]
    pub key: (i64, String),
}

impl From<UserRecord> for User {
    fn from(u: UserRecord) -> User {
        User {
            key: (u.created_at, u.id.clone()),
            id: ID(u.id),
            email: u.email,
            name: u.name,
            active: u.active,
            pending: u.invite_digest.is_some(),
            created_at: datetime(u.created_at),
            last_login_at: u.last_login_at.map(datetime),
        }
    }
}

#[derive(SimpleObject, Clone)]
pub struct SystemAccount {
    pub id: ID,
    pub name: String,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
    #[graphql(skip)]
    pub key: (i64, String),
}

impl From<SystemAccountRecord> for SystemAccount {
    fn from(s: SystemAccountRecord) -> SystemAccount {
        SystemAccount {
            key: (s.created_at, s.id.clone()),
            id: ID(s.id),
            name: s.name,
            description: s.description,
            created_at: datetime(s.created_at),
        }
    }
}

/// Who can be in a team or own a token: a user or a system account.
#[derive(Union, Clone)]
pub enum Member {
    User(User),
    SystemAccount(SystemAccount),
}

/// The member a `user:<id>` / `sa:<id>` string names, if it still exists.
pub async fn member(st: &AppState, m: &str) -> Result<Option<Member>, Error> {
    let parse = |s: &str| Uuid::parse_str(s).ok();
    if let Some(u) = m.strip_prefix("user:").and_then(parse) {
        return Ok(id::user(&st.db, u).await?.map(|u| Member::User(u.into())));
    }
    if let Some(sa) = m.strip_prefix("sa:").and_then(parse) {
        return match id::system_account(&st.db, sa).await {
            Ok(s) => Ok(Some(Member::SystemAccount(s.into()))),
            Err(Error::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        };
    }
    Ok(None)
}

/// What a token is.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// A user's personal access token (`ppat_`).
    PersonalAccessToken,
    /// A system account's token (`pspat_`).
    SystemAccountToken,
    /// A login session (`psess_`).
    Session,
}

#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct TokenInfo {
    pub id: ID,
    pub name: String,
    pub kind: TokenKind,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked: bool,
    #[graphql(skip)]
    pub owner_ref: String,
    #[graphql(skip)]
    pub key: (i64, String),
}

#[ComplexObject]
impl TokenInfo {
    /// Whose token it is (null once they are gone).
    async fn owner(&self, ctx: &Context<'_>) -> Result<Option<Member>> {
        member(state(ctx), &self.owner_ref).await.gql()
    }
}

impl From<TokenRecord> for TokenInfo {
    fn from(t: TokenRecord) -> TokenInfo {
        TokenInfo {
            key: (t.created_at, t.id.clone()),
            id: ID(t.id),
            name: t.name,
            kind: match t.kind.as_str() {
                "system" => TokenKind::SystemAccountToken,
                "session" => TokenKind::Session,
                _ => TokenKind::PersonalAccessToken,
            },
            owner_ref: t.owner,
            created_at: datetime(t.created_at),
            expires_at: t.expires_at.map(datetime),
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

impl From<id::NewToken> for NewToken {
    fn from(t: id::NewToken) -> NewToken {
        NewToken {
            token: t.token,
            info: t.record.into(),
        }
    }
}

connection!(UserConnection, UserEdge, User);
connection!(SystemAccountConnection, SystemAccountEdge, SystemAccount);
connection!(TokenConnection, TokenEdge, TokenInfo);

/// A page of a list sorted by (creation time, id).
fn page_by_time<T>(
    ctx: &Context<'_>,
    mut list: Vec<T>,
    key: fn(&T) -> (i64, String),
    p: Paging,
) -> Result<Page<T>> {
    list.sort_by_key(key);
    let p = page(list, key, &p).gql()?;
    super::limits::charge(ctx, p.items.len())?;
    Ok(p)
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

    /// Users, oldest first.
    async fn users(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<UserConnection> {
        check(ctx, &Resource::Organization, Action::Read).await?;
        let list: Vec<User> = id::users(&state(ctx).db)
            .await
            .gql()?
            .into_iter()
            .map(User::from)
            .collect();
        let p = Paging::new(first, after, last, before);
        Ok(page_by_time(ctx, list, |u| u.key.clone(), p)?.into())
    }

    /// System accounts, oldest first.
    async fn system_accounts(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<SystemAccountConnection> {
        check(ctx, &Resource::Organization, Action::Read).await?;
        let list: Vec<SystemAccount> = id::system_accounts(&state(ctx).db)
            .await
            .gql()?
            .into_iter()
            .map(SystemAccount::from)
            .collect();
        let p = Paging::new(first, after, last, before);
        Ok(page_by_time(ctx, list, |s| s.key.clone(), p)?.into())
    }

    /// The caller's own personal access tokens, oldest first (secrets are never
    /// shown again).
    async fn personal_access_tokens(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<TokenConnection> {
        let c = caller(ctx)?;
        let list: Vec<TokenInfo> = id::personal_tokens(&state(ctx).db, &c.member)
            .await
            .gql()?
            .into_iter()
            .map(TokenInfo::from)
            .collect();
        let p = Paging::new(first, after, last, before);
        Ok(page_by_time(ctx, list, |t| t.key.clone(), p)?.into())
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
    pub expires_at: DateTime<Utc>,
    pub user: User,
}

#[derive(InputObject)]
pub struct SetUserActiveInput {
    pub user_id: ID,
    pub active: bool,
}

#[derive(InputObject)]
pub struct RevokeTokenInput {
    pub id: ID,
}

#[derive(SimpleObject)]
pub struct RevokeTokenPayload {
    pub revoked_token_id: ID,
}

#[derive(SimpleObject)]
pub struct LogoutPayload {
    /// The session (or token) that no longer works.
    pub revoked_token_id: ID,
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
            expires_at: datetime(s.expires_at),
            user: s.user.into(),
        })
    }

    /// Ends the caller's session (revokes the token used).
    async fn logout(&self, ctx: &Context<'_>) -> Result<LogoutPayload> {
        let c = caller(ctx)?;
        let st = state(ctx);
        id::revoke_token(&st.db, &st.access, &c.token_id)
            .await
            .gql()?;
        Ok(LogoutPayload {
            revoked_token_id: ID(c.token_id.clone()),
        })
    }

    async fn invite_user(&self, ctx: &Context<'_>, input: InviteUserInput) -> Result<Invitation> {
        check(ctx, &Resource::Organization, Action::UsersManage).await?;
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
    async fn set_user_active(&self, ctx: &Context<'_>, input: SetUserActiveInput) -> Result<User> {
        check(ctx, &Resource::Organization, Action::UsersManage).await?;
        let st = state(ctx);
        let user = parse_id(&input.user_id, "input.userId")?;
        Ok(id::set_user_active(&st.db, &st.access, user, input.active)
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
                check(ctx, &Resource::Organization, Action::UsersManage).await?;
                let sa = parse_id(sa, "input.systemAccountId")?;
                id::system_account(&st.db, sa).await.gql()?;
                Ok(id::create_token(
                    &st.db,
                    &format!("sa:{sa}"),
                    id::TokenKind::System,
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
                    id::TokenKind::Personal,
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
    async fn revoke_token(
        &self,
        ctx: &Context<'_>,
        input: RevokeTokenInput,
    ) -> Result<RevokeTokenPayload> {
        let c = caller(ctx)?;
        let st = state(ctx);
        let id = input.id;
        let t = id::token(&st.db, id.as_str()).await.gql()?;
        let own = t.as_ref().is_some_and(|t| t.owner == c.member);
        if !own {
            check(ctx, &Resource::Organization, Action::TokensManage).await?;
        }
        if t.is_none() {
            return Err(gql(Error::NotFound(format!("token {}", id.as_str()))));
        }
        id::revoke_token(&st.db, &st.access, id.as_str())
            .await
            .gql()?;
        Ok(RevokeTokenPayload {
            revoked_token_id: id,
        })
    }

    async fn create_system_account(
        &self,
        ctx: &Context<'_>,
        input: CreateSystemAccountInput,
    ) -> Result<SystemAccount> {
        check(ctx, &Resource::Organization, Action::UsersManage).await?;
        let st = state(ctx);
        Ok(
            id::create_system_account(&st.db, input.name, input.description)
                .await
                .gql()?
                .into(),
        )
    }
}

//! Users and their credentials in the API: login and logout, the caller, users
//! and invitations, personal access tokens and system accounts with their tokens.
//! Every operation is checked against the caller's roles.

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use uuid::Uuid;

use super::error::{Gql, gql};
use super::guard::{caller, check, forbidden, parse_id, state, unauthenticated};
use super::team::{name_ok, team_by_id};
use crate::actors::team::TeamMsg;
use crate::auth::{self, SourceIp};
use crate::error::{Error, Field};
use crate::state::AppState;
use crate::store::{self, identity as rows};

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

impl From<rows::user::Model> for User {
    fn from(u: rows::user::Model) -> User {
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

impl From<rows::api_token::Model> for TokenInfo {
    fn from(t: rows::api_token::Model) -> TokenInfo {
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

impl From<rows::system_account::Model> for SystemAccount {
    fn from(s: rows::system_account::Model) -> SystemAccount {
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
        Ok(rows::user(&state(ctx).db, &u.to_string())
            .await
            .map_err(Error::from)
            .gql()?
            .map(User::from))
    }

    async fn users(&self, ctx: &Context<'_>) -> Result<Vec<User>> {
        check(ctx, "organization", "read").await?;
        let list = rows::users(&state(ctx).db, 1000)
            .await
            .map_err(Error::from)
            .gql()?;
        super::limits::charge(ctx, list.len())?;
        Ok(list.into_iter().map(User::from).collect())
    }

    async fn system_accounts(&self, ctx: &Context<'_>) -> Result<Vec<SystemAccount>> {
        check(ctx, "organization", "read").await?;
        Ok(rows::system_accounts(&state(ctx).db, 1000)
            .await
            .map_err(Error::from)
            .gql()?
            .into_iter()
            .map(SystemAccount::from)
            .collect())
    }

    /// The caller's own tokens (secrets are never shown again).
    async fn personal_access_tokens(&self, ctx: &Context<'_>) -> Result<Vec<TokenInfo>> {
        let c = caller(ctx)?;
        Ok(rows::tokens_of(&state(ctx).db, &c.member, "pat", 1000)
            .await
            .map_err(Error::from)
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

async fn insert_token(
    st: &AppState,
    owner: &str,
    kind: &str,
    name: &str,
    days: Option<i32>,
) -> Result<NewToken, Error> {
    name_ok("name", name)?;
    let days = i64::from(days.unwrap_or(90));
    if !(1..=365).contains(&days) {
        return Err(Error::invalid(
            Field::Input("expiresInDays".into()),
            "1 to 365",
        ));
    }
    let prefix = if kind == "system" {
        auth::SYSTEM_PREFIX
    } else {
        auth::PAT_PREFIX
    };
    let token = auth::tokens::new_token(prefix);
    let m = rows::api_token::Model {
        id: Uuid::new_v4().to_string(),
        name: name.to_string(),
        digest: auth::tokens::digest(&token),
        created_at: store::now_ms(),
        owner: owner.to_string(),
        kind: kind.to_string(),
        expires_at: Some(store::now_ms() + days * 86_400_000),
        revoked_at: None,
    };
    rows::insert_token(&st.db, m.clone()).await?;
    Ok(NewToken {
        token,
        info: m.into(),
    })
}

async fn revoke_token(st: &AppState, id: &str) -> Result<(), Error> {
    rows::revoke_token(&st.db, id).await?;
    st.access.changed_everywhere(&st.db).await;
    Ok(())
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
        revoke_token(state(ctx), &c.token_id).await.gql()?;
        Ok(true)
    }

    async fn invite_user(&self, ctx: &Context<'_>, input: InviteUserInput) -> Result<Invitation> {
        check(ctx, "organization", "users.manage").await?;
        let st = state(ctx);
        let email = input.email.trim().to_lowercase();
        if !email.contains('@') || email.len() > 254 {
            return Err(gql(Error::invalid(
                Field::Input("email".into()),
                "not an email address",
            )));
        }
        // every team exists before anything is written
        let mut teams = Vec::new();
        for (i, t) in input.team_ids.unwrap_or_default().iter().enumerate() {
            let t = parse_id(t, &format!("input.teamIds[{i}]"))?;
            team_by_id(st, t).await.map_err(|_| {
                gql(Error::invalid(
                    Field::Input(format!("teamIds[{i}]")),
                    format!("team {t} does not exist"),
                ))
            })?;
            teams.push(t);
        }
        if input.name.chars().count() > 256 {
            return Err(gql(Error::invalid(
                Field::Input("name".into()),
                "at most 256 characters",
            )));
        }
        let token = auth::tokens::new_token("pinv_");
        let u = rows::user::Model {
            id: Uuid::new_v4().to_string(),
            email,
            name: input.name,
            password_hash: String::new(),
            active: true,
            invite_digest: Some(auth::tokens::digest(&token)),
            created_at: store::now_ms(),
            last_login_at: None,
        };
        rows::insert_user(&st.db, u.clone())
            .await
            .map_err(|e| {
                Error::taken(
                    e,
                    Field::Input("email".into()),
                    "a user with this email exists",
                )
            })
            .gql()?;
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
        auth::passwords::check_password(&input.password).gql()?;
        let st = state(ctx);
        let mut u = rows::user_by_invitation(&st.db, &auth::tokens::digest(&input.token))
            .await
            .map_err(Error::from)
            .gql()?
            .ok_or_else(unauthenticated)?;
        u.password_hash = auth::passwords::hash_password(&input.password).gql()?;
        u.invite_digest = None;
        Ok(rows::update_user(&st.db, u)
            .await
            .map_err(Error::from)
            .gql()?
            .into())
    }

    /// A deactivated user's tokens and sessions stop working at once, and their
    /// open subscriptions end.
    async fn set_user_active(&self, ctx: &Context<'_>, id: ID, active: bool) -> Result<User> {
        check(ctx, "organization", "users.manage").await?;
        let st = state(ctx);
        let id = parse_id(&id, "id")?;
        let mut u = rows::user(&st.db, &id.to_string())
            .await
            .map_err(Error::from)
            .gql()?
            .ok_or_else(|| gql(Error::NotFound(format!("user {id}"))))?;
        u.active = active;
        let u = rows::update_user(&st.db, u)
            .await
            .map_err(Error::from)
            .gql()?;
        st.access.changed_everywhere(&st.db).await;
        Ok(u.into())
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
                rows::system_account(&st.db, &sa.to_string())
                    .await
                    .map_err(Error::from)
                    .gql()?
                    .ok_or_else(|| gql(Error::NotFound(format!("system account {sa}"))))?;
                insert_token(
                    st,
                    &format!("sa:{sa}"),
                    "system",
                    &input.name,
                    input.expires_in_days,
                )
                .await
                .gql()
            }
            None => {
                if c.user_id.is_none() {
                    return Err(forbidden());
                }
                insert_token(st, &c.member, "pat", &input.name, input.expires_in_days)
                    .await
                    .gql()
            }
        }
    }

    /// Revokes a token: the caller's own, or any with `tokens.manage`. Refused
    /// from the next request on.
    async fn revoke_token(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let c = caller(ctx)?;
        let st = state(ctx);
        let t = rows::token(&st.db, id.as_str())
            .await
            .map_err(Error::from)
            .gql()?;
        let own = t.as_ref().is_some_and(|t| t.owner == c.member);
        if !own {
            check(ctx, "organization", "tokens.manage").await?;
        }
        if t.is_none() {
            return Err(gql(Error::NotFound(format!("token {}", id.as_str()))));
        }
        revoke_token(st, id.as_str()).await.gql()?;
        Ok(true)
    }

    async fn create_system_account(
        &self,
        ctx: &Context<'_>,
        input: CreateSystemAccountInput,
    ) -> Result<SystemAccount> {
        check(ctx, "organization", "users.manage").await?;
        name_ok("name", &input.name).gql()?;
        crate::config::rules::check_text("description", &input.description, 1000).gql()?;
        let m = rows::system_account::Model {
            id: Uuid::new_v4().to_string(),
            name: input.name,
            description: input.description,
            created_at: store::now_ms(),
        };
        rows::insert_system_account(&state(ctx).db, m.clone())
            .await
            .map_err(|e| {
                Error::taken(
                    e,
                    Field::Input("name".into()),
                    "a system account with this name exists",
                )
            })
            .gql()?;
        Ok(m.into())
    }
}

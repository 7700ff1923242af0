//! Developers' account mutations: sign up (with a password; a mail confirms the
//! address), confirm, sign in (a session token, also set as an HttpOnly cookie
//! for browsers), sign out, and reset a forgotten password by mail. Sign-in
//! failures are limited; none of these tells whether an email is registered.

use async_graphql::{Context, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::objects::DeveloperProfile;
use super::{PortalCtx, SESSION_COOKIE, portal, session};
use crate::error::Error;
use crate::graphql::connection::datetime;
use crate::graphql::error::{Gql, gql};
use crate::graphql::guard::state;
use crate::graphql::portal::DeveloperStatus;
use crate::portal::developers::{self, Links};
use crate::portal::events::PortalEvent;

#[derive(InputObject)]
pub struct RegisterDeveloperInput {
    pub email: String,
    pub full_name: String,
    /// 12 characters or more.
    #[graphql(secret)]
    pub password: String,
}

#[derive(SimpleObject)]
pub struct RegisterDeveloperPayload {
    /// Where the confirmation mail went (sent only for a new address).
    pub email: String,
}

#[derive(InputObject)]
pub struct TokenInput {
    /// From the mail's link.
    #[graphql(secret)]
    pub token: String,
}

#[derive(SimpleObject)]
pub struct VerifyDeveloperEmailPayload {
    pub email: String,
    /// Whether an admin still has to approve the account.
    pub pending_approval: bool,
}

#[derive(InputObject)]
pub struct LoginDeveloperInput {
    pub email: String,
    #[graphql(secret)]
    pub password: String,
}

#[derive(SimpleObject)]
pub struct DeveloperSession {
    /// `Authorization: Bearer <token>` (browsers also get it as an HttpOnly
    /// cookie).
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub developer: DeveloperProfile,
}

#[derive(SimpleObject)]
pub struct LogoutDeveloperPayload {
    pub signed_out: bool,
}

#[derive(InputObject)]
pub struct RequestPasswordResetInput {
    pub email: String,
}

#[derive(SimpleObject)]
pub struct RequestPasswordResetPayload {
    /// Where the reset mail went, if that address is registered.
    pub email: String,
}

#[derive(InputObject)]
pub struct ResetPasswordInput {
    #[graphql(secret)]
    pub token: String,
    #[graphql(secret)]
    pub password: String,
}

#[derive(SimpleObject)]
pub struct ResetPasswordPayload {
    pub email: String,
}

fn links(p: &PortalCtx) -> Links {
    Links {
        base: p.base_url.clone(),
        portal_name: p.name.clone(),
    }
}

/// Sign-ups and sign-ins need the portal's authentication on.
fn accounts_on(ctx: &Context<'_>) -> Result<()> {
    let on = state(ctx)
        .catalog
        .view()
        .portal(portal(ctx).id)
        .is_some_and(|p| p.authentication_enabled);
    if on {
        Ok(())
    } else {
        Err(gql(Error::Forbidden(
            "this portal is public: it has no developer accounts".into(),
        )))
    }
}

fn cookie(p: &PortalCtx, value: &str, max_age: i64) -> String {
    format!(
        "{SESSION_COOKIE}={value}; Path=/portals/{}; Max-Age={max_age}; HttpOnly; SameSite=Lax{}",
        p.name,
        if p.secure { "; Secure" } else { "" }
    )
}

#[derive(Default)]
pub struct DeveloperMutation;

#[Object(name = "DeveloperAccountMutation")]
impl DeveloperMutation {
    async fn register_developer(
        &self,
        ctx: &Context<'_>,
        input: RegisterDeveloperInput,
    ) -> Result<RegisterDeveloperPayload> {
        accounts_on(ctx)?;
        let st = state(ctx);
        let p = portal(ctx);
        let auto = st
            .catalog
            .view()
            .portal(p.id)
            .is_some_and(|x| x.auto_approve_developers);
        let new = developers::register(
            &st.db,
            &st.mailer,
            p.id,
            auto,
            &input.email,
            &input.full_name,
            &input.password,
            &links(p),
        )
        .await
        .gql()?;
        if let Some(d) = new {
            st.events
                .publish(PortalEvent {
                    portal: p.id,
                    name: "developer.registered",
                    actor: format!("developer:{}", d.id),
                    target: format!("developer:{}", d.id),
                    data: serde_json::json!({
                        "developer_id": d.id, "email": d.email,
                        "full_name": d.full_name, "status": d.status,
                    }),
                })
                .await;
        }
        Ok(RegisterDeveloperPayload {
            email: input.email.trim().to_lowercase(),
        })
    }

    async fn verify_developer_email(
        &self,
        ctx: &Context<'_>,
        input: TokenInput,
    ) -> Result<VerifyDeveloperEmailPayload> {
        let st = state(ctx);
        let d = developers::verify_email(&st.db, portal(ctx).id, &input.token)
            .await
            .gql()?;
        Ok(VerifyDeveloperEmailPayload {
            pending_approval: developers::DeveloperStatus::parse(&d.status)
                == developers::DeveloperStatus::Pending,
            email: d.email,
        })
    }

    async fn login_developer(
        &self,
        ctx: &Context<'_>,
        input: LoginDeveloperInput,
    ) -> Result<DeveloperSession> {
        accounts_on(ctx)?;
        let st = state(ctx);
        let p = portal(ctx);
        let ip = ctx
            .data_opt::<crate::auth::SourceIp>()
            .and_then(|s| s.0.clone());
        let s = developers::login(
            &st.db,
            &st.logins,
            p.id,
            &input.email,
            &input.password,
            ip.as_deref(),
        )
        .await
        .gql()?;
        ctx.append_http_header("Set-Cookie", cookie(p, &s.token, 12 * 3600));
        let d = s.developer;
        Ok(DeveloperSession {
            token: s.token,
            expires_at: datetime(s.expires_at),
            developer: DeveloperProfile {
                id: async_graphql::ID(d.id.clone()),
                email: d.email.clone(),
                full_name: d.full_name.clone(),
                status: DeveloperStatus::Approved,
                teams: Vec::new(),
            },
        })
    }

    /// Ends this session (and clears the cookie).
    async fn logout_developer(&self, ctx: &Context<'_>) -> Result<LogoutDeveloperPayload> {
        let p = portal(ctx);
        ctx.append_http_header("Set-Cookie", cookie(p, "", 0));
        let Some(s) = session(ctx) else {
            return Ok(LogoutDeveloperPayload { signed_out: false });
        };
        developers::logout(&state(ctx).db, &s.developer.id, &s.token_id)
            .await
            .gql()?;
        Ok(LogoutDeveloperPayload { signed_out: true })
    }

    async fn request_password_reset(
        &self,
        ctx: &Context<'_>,
        input: RequestPasswordResetInput,
    ) -> Result<RequestPasswordResetPayload> {
        accounts_on(ctx)?;
        let st = state(ctx);
        let p = portal(ctx);
        developers::request_reset(&st.db, &st.mailer, p.id, &input.email, &links(p))
            .await
            .gql()?;
        Ok(RequestPasswordResetPayload {
            email: input.email.trim().to_lowercase(),
        })
    }

    /// Sets a new password (every session of the developer ends).
    async fn reset_password(
        &self,
        ctx: &Context<'_>,
        input: ResetPasswordInput,
    ) -> Result<ResetPasswordPayload> {
        let st = state(ctx);
        let d = developers::reset_password(&st.db, portal(ctx).id, &input.token, &input.password)
            .await
            .gql()?;
        Ok(ResetPasswordPayload { email: d.email })
    }
}

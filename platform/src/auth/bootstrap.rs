//! The first start: Konnect's predefined teams, the organization owner (in
//! Organization Admin) and a personal access token for the owner, all in one
//! transaction.

use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::passwords::hash_password;
use super::tokens::{digest, new_token};
use crate::store::{self, identity as rows};

/// What the first start created, to show once.
pub struct Bootstrap {
    pub email: String,
    /// Only when generated (not given by `PORTICO_ADMIN_PASSWORD`).
    pub password: Option<String>,
    /// The owner's first personal access token (only when generated).
    pub token: Option<String>,
}

/// The first start's rows, or `None` when the organization exists.
pub async fn bootstrap(
    db: &DatabaseConnection,
    email: &str,
    password: Option<String>,
    token: Option<String>,
) -> anyhow::Result<Option<Bootstrap>> {
    if rows::any_user(db).await? {
        return Ok(None);
    }
    let now = store::now_ms();
    let mut admin_team = String::new();
    let mut teams = Vec::new();
    for (name, roles) in policies::predefined_teams() {
        let id = Uuid::new_v4().to_string();
        if name == "Organization Admin" {
            admin_team = id.clone();
        }
        let roles = roles
            .into_iter()
            .map(|r| rows::team_role::Model {
                id: Uuid::new_v4().to_string(),
                team_id: id.clone(),
                resource_type: r.resource_type,
                role: r.role,
                scope: r.scope,
            })
            .collect();
        teams.push((
            rows::team::Model {
                id,
                description: Some(format!("predefined: {name}")),
                name,
                predefined: true,
                created_at: now,
            },
            roles,
        ));
    }
    let generated = password.is_none();
    let pw = password.unwrap_or_else(|| new_token("").chars().take(24).collect());
    let owner = Uuid::new_v4();
    let token_generated = token.is_none();
    let tok = token.unwrap_or_else(|| new_token(super::PAT_PREFIX));
    rows::bootstrap(
        db,
        teams,
        rows::user::Model {
            id: owner.to_string(),
            email: email.to_string(),
            name: "Organization owner".into(),
            password_hash: hash_password(&pw).map_err(|e| anyhow::anyhow!("{e}"))?,
            active: true,
            invite_digest: None,
            created_at: now,
            last_login_at: None,
        },
        &admin_team,
        rows::api_token::Model {
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

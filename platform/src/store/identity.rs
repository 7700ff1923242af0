//! Users, teams with their roles and members, system accounts, API tokens
//! (SHA-256 digests only) and the audit log.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};

use super::{now_ms, row};

/// API tokens, stored as SHA-256 digests only.
pub mod api_token {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "api_tokens")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub name: String,
        #[sea_orm(unique)]
        pub digest: String,
        pub created_at: i64,
        /// `user:<id>` or `sa:<id>` (system account).
        pub owner: String,
        /// `pat`, `session` or `system`.
        pub kind: String,
        pub expires_at: Option<i64>,
        pub revoked_at: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod user {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "users")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        #[sea_orm(unique)]
        pub email: String,
        pub name: String,
        /// argon2 PHC string; empty until an invitation is accepted.
        pub password_hash: String,
        pub active: bool,
        /// SHA-256 of a pending invitation's token.
        pub invite_digest: Option<String>,
        pub created_at: i64,
        pub last_login_at: Option<i64>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod team {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "teams")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        #[sea_orm(unique)]
        pub name: String,
        pub description: Option<String>,
        pub predefined: bool,
        pub created_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod team_role {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "team_roles")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub team_id: String,
        pub resource_type: String,
        pub role: String,
        pub scope: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod team_member {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "team_members")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub team_id: String,
        /// `user:<id>` or `sa:<id>`.
        #[sea_orm(primary_key, auto_increment = false)]
        pub member: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod system_account {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "system_accounts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        #[sea_orm(unique)]
        pub name: String,
        pub description: Option<String>,
        pub created_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod audit {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_log")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub at: i64,
        /// `user:<id>`, `sa:<id>`, or the email tried at a login.
        pub actor: String,
        /// The mutation (or `login`).
        pub action: String,
        pub target: Option<String>,
        /// `ok`, `denied`, `unauthenticated` or `error`.
        pub result: String,
        pub source_ip: Option<String>,
        #[sea_orm(column_type = "Text", nullable)]
        pub detail: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub async fn insert_token(db: &DatabaseConnection, m: api_token::Model) -> Result<(), DbErr> {
    row(m).insert(db).await.map(|_| ())
}

pub async fn token_by_digest(
    db: &DatabaseConnection,
    digest: &str,
) -> Result<Option<api_token::Model>, DbErr> {
    api_token::Entity::find()
        .filter(api_token::Column::Digest.eq(digest))
        .one(db)
        .await
}

pub async fn any_user(db: &DatabaseConnection) -> Result<bool, DbErr> {
    Ok(user::Entity::find().one(db).await?.is_some())
}

/// The first start's rows, in one transaction: the predefined teams with their
/// roles, the owner in `owner_team`, and the owner's first token.
pub async fn bootstrap(
    db: &DatabaseConnection,
    teams: Vec<(team::Model, Vec<team_role::Model>)>,
    owner: user::Model,
    owner_team: &str,
    token: api_token::Model,
) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    for (t, roles) in teams {
        row(t).insert(&txn).await?;
        for r in roles {
            row(r).insert(&txn).await?;
        }
    }
    let member = format!("user:{}", owner.id);
    row(owner).insert(&txn).await?;
    row(team_member::Model {
        team_id: owner_team.to_string(),
        member,
    })
    .insert(&txn)
    .await?;
    row(token).insert(&txn).await?;
    txn.commit().await
}

pub async fn user(db: &DatabaseConnection, id: &str) -> Result<Option<user::Model>, DbErr> {
    user::Entity::find_by_id(id.to_string()).one(db).await
}

pub async fn user_by_email(
    db: &DatabaseConnection,
    email: &str,
) -> Result<Option<user::Model>, DbErr> {
    user::Entity::find()
        .filter(user::Column::Email.eq(email))
        .one(db)
        .await
}

pub async fn user_by_invitation(
    db: &DatabaseConnection,
    digest: &str,
) -> Result<Option<user::Model>, DbErr> {
    user::Entity::find()
        .filter(user::Column::InviteDigest.eq(digest))
        .one(db)
        .await
}

pub async fn users(db: &DatabaseConnection, limit: u64) -> Result<Vec<user::Model>, DbErr> {
    user::Entity::find()
        .order_by_asc(user::Column::CreatedAt)
        .limit(limit)
        .all(db)
        .await
}

pub async fn insert_user(db: &DatabaseConnection, m: user::Model) -> Result<(), DbErr> {
    row(m).insert(db).await.map(|_| ())
}

pub async fn update_user(db: &DatabaseConnection, m: user::Model) -> Result<user::Model, DbErr> {
    row(m).update(db).await
}

pub async fn teams(db: &DatabaseConnection, limit: u64) -> Result<Vec<team::Model>, DbErr> {
    team::Entity::find()
        .order_by_asc(team::Column::CreatedAt)
        .limit(limit)
        .all(db)
        .await
}

pub async fn team(db: &DatabaseConnection, id: &str) -> Result<Option<team::Model>, DbErr> {
    team::Entity::find_by_id(id.to_string()).one(db).await
}

pub async fn insert_team(db: &DatabaseConnection, m: team::Model) -> Result<(), DbErr> {
    row(m).insert(db).await.map(|_| ())
}

/// Deletes a team with its roles and memberships, in one transaction.
pub async fn delete_team(db: &DatabaseConnection, id: &str) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    team_role::Entity::delete_many()
        .filter(team_role::Column::TeamId.eq(id))
        .exec(&txn)
        .await?;
    team_member::Entity::delete_many()
        .filter(team_member::Column::TeamId.eq(id))
        .exec(&txn)
        .await?;
    team::Entity::delete_by_id(id.to_string())
        .exec(&txn)
        .await?;
    txn.commit().await
}

pub async fn team_roles(
    db: &DatabaseConnection,
    team: &str,
) -> Result<Vec<team_role::Model>, DbErr> {
    team_role::Entity::find()
        .filter(team_role::Column::TeamId.eq(team))
        .all(db)
        .await
}

pub async fn all_team_roles(db: &DatabaseConnection) -> Result<Vec<team_role::Model>, DbErr> {
    team_role::Entity::find().all(db).await
}

pub async fn team_role(
    db: &DatabaseConnection,
    id: &str,
) -> Result<Option<team_role::Model>, DbErr> {
    team_role::Entity::find_by_id(id.to_string()).one(db).await
}

pub async fn insert_team_role(db: &DatabaseConnection, m: team_role::Model) -> Result<(), DbErr> {
    row(m).insert(db).await.map(|_| ())
}

pub async fn delete_team_role(db: &DatabaseConnection, team: &str, id: &str) -> Result<(), DbErr> {
    team_role::Entity::delete_many()
        .filter(team_role::Column::Id.eq(id))
        .filter(team_role::Column::TeamId.eq(team))
        .exec(db)
        .await
        .map(|_| ())
}

pub async fn team_members(
    db: &DatabaseConnection,
    team: &str,
) -> Result<Vec<team_member::Model>, DbErr> {
    team_member::Entity::find()
        .filter(team_member::Column::TeamId.eq(team))
        .all(db)
        .await
}

pub async fn all_team_members(db: &DatabaseConnection) -> Result<Vec<team_member::Model>, DbErr> {
    team_member::Entity::find().all(db).await
}

/// The teams a member (`user:<id>` or `sa:<id>`) belongs to.
pub async fn member_teams(db: &DatabaseConnection, member: &str) -> Result<Vec<String>, DbErr> {
    Ok(team_member::Entity::find()
        .filter(team_member::Column::Member.eq(member))
        .all(db)
        .await?
        .into_iter()
        .map(|m| m.team_id)
        .collect())
}

/// Adds a member to a team (nothing when it is one already).
pub async fn add_team_member(
    db: &DatabaseConnection,
    team: &str,
    member: &str,
) -> Result<(), DbErr> {
    let exists = team_member::Entity::find_by_id((team.to_string(), member.to_string()))
        .one(db)
        .await?
        .is_some();
    if !exists {
        row(team_member::Model {
            team_id: team.to_string(),
            member: member.to_string(),
        })
        .insert(db)
        .await?;
    }
    Ok(())
}

pub async fn remove_team_member(
    db: &DatabaseConnection,
    team: &str,
    member: &str,
) -> Result<(), DbErr> {
    team_member::Entity::delete_many()
        .filter(team_member::Column::TeamId.eq(team))
        .filter(team_member::Column::Member.eq(member))
        .exec(db)
        .await
        .map(|_| ())
}

pub async fn system_accounts(
    db: &DatabaseConnection,
    limit: u64,
) -> Result<Vec<system_account::Model>, DbErr> {
    system_account::Entity::find()
        .order_by_asc(system_account::Column::CreatedAt)
        .limit(limit)
        .all(db)
        .await
}

pub async fn system_account(
    db: &DatabaseConnection,
    id: &str,
) -> Result<Option<system_account::Model>, DbErr> {
    system_account::Entity::find_by_id(id.to_string())
        .one(db)
        .await
}

pub async fn insert_system_account(
    db: &DatabaseConnection,
    m: system_account::Model,
) -> Result<(), DbErr> {
    row(m).insert(db).await.map(|_| ())
}

pub async fn token(db: &DatabaseConnection, id: &str) -> Result<Option<api_token::Model>, DbErr> {
    api_token::Entity::find_by_id(id.to_string()).one(db).await
}

/// An owner's tokens of one kind, oldest first.
pub async fn tokens_of(
    db: &DatabaseConnection,
    owner: &str,
    kind: &str,
    limit: u64,
) -> Result<Vec<api_token::Model>, DbErr> {
    api_token::Entity::find()
        .filter(api_token::Column::Owner.eq(owner))
        .filter(api_token::Column::Kind.eq(kind))
        .order_by_asc(api_token::Column::CreatedAt)
        .limit(limit)
        .all(db)
        .await
}

pub async fn revoke_token(db: &DatabaseConnection, id: &str) -> Result<(), DbErr> {
    api_token::Entity::update_many()
        .col_expr(api_token::Column::RevokedAt, Expr::value(now_ms()))
        .filter(api_token::Column::Id.eq(id))
        .exec(db)
        .await
        .map(|_| ())
}

pub async fn insert_audit(db: &DatabaseConnection, m: audit::Model) -> Result<(), DbErr> {
    row(m).insert(db).await.map(|_| ())
}

/// What the audit log is filtered by.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub result: Option<String>,
    /// Entries at or after this time (Unix ms).
    pub since: Option<i64>,
}

/// A window of the audit log in its order, newest first (ids are UUIDv7, so
/// later entries have larger ids).
pub struct AuditWindow {
    pub rows: Vec<audit::Model>,
    pub total: u64,
    pub has_previous: bool,
    pub has_next: bool,
}

/// `size` entries after the entry `after` (older than it), or the `size`
/// entries before `before` (newer) when `from_end`; both bounds may be given.
pub async fn audit_window(
    db: &DatabaseConnection,
    f: AuditFilter,
    after: Option<String>,
    before: Option<String>,
    size: u64,
    from_end: bool,
) -> Result<AuditWindow, DbErr> {
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
    let total = q.clone().count(db).await?;
    let mut w = q.clone();
    if let Some(a) = &after {
        w = w.filter(audit::Column::Id.lt(a.clone()));
    }
    if let Some(b) = &before {
        w = w.filter(audit::Column::Id.gt(b.clone()));
    }
    let rows = if from_end {
        let mut r = w
            .order_by_asc(audit::Column::Id)
            .limit(size)
            .all(db)
            .await?;
        r.reverse();
        r
    } else {
        w.order_by_desc(audit::Column::Id)
            .limit(size)
            .all(db)
            .await?
    };
    // entries newer than the window, and older
    let newer = match (rows.first(), &after) {
        (Some(r), _) => Some(audit::Column::Id.gt(r.id.clone())),
        (None, Some(a)) => Some(audit::Column::Id.gte(a.clone())),
        (None, None) => None,
    };
    let older = match (rows.last(), &before) {
        (Some(r), _) => Some(audit::Column::Id.lt(r.id.clone())),
        (None, Some(b)) => Some(audit::Column::Id.lte(b.clone())),
        (None, None) => None,
    };
    let has_previous = match newer {
        Some(c) => q.clone().filter(c).count(db).await? > 0,
        None => false,
    };
    let has_next = match older {
        Some(c) => q.filter(c).count(db).await? > 0,
        None => false,
    };
    Ok(AuditWindow {
        rows,
        total,
        has_previous,
        has_next,
    })
}

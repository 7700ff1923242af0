//! The catalog and the Dev Portal: catalog records (one row each, versioned as
//! a whole), spec contents, developers with their tokens and team memberships,
//! and the mail outbox.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};

use super::{StoreError, now_ms, row};

/// The catalog's version (one row, `id = "catalog"`).
pub mod catalog_state {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "catalog_state")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub version: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod catalog_object {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "catalog_objects")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub kind: String,
        #[sea_orm(column_type = "Text")]
        pub data: String,
        pub seq: i64,
        pub created_at: i64,
        pub updated_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A spec's text, by API version id.
pub mod spec_content {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "api_spec_contents")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        #[sea_orm(column_type = "Text")]
        pub content: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod developer {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "developers")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub portal_id: String,
        /// Lower case; unique in its portal.
        pub email: String,
        pub full_name: String,
        /// argon2; empty until the developer sets a password.
        pub password_hash: String,
        /// `approved`, `pending`, `revoked` or `rejected`.
        pub status: String,
        pub email_verified: bool,
        pub created_at: i64,
        pub updated_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Developers' sessions and one-time tokens (email verification, password
/// reset), as SHA-256 digests.
pub mod developer_token {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "developer_tokens")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub developer_id: String,
        pub portal_id: String,
        #[sea_orm(unique)]
        pub digest: String,
        /// `session`, `verify` or `reset`.
        pub kind: String,
        pub expires_at: i64,
        pub used_at: Option<i64>,
        pub created_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod team_member {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "developer_team_members")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub team_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub developer_id: String,
        pub portal_id: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod mail {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "mail_outbox")]
    pub struct Model {
        /// UUIDv7: later mails sort after earlier ones.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub to_addr: String,
        pub subject: String,
        #[sea_orm(column_type = "Text")]
        pub body: String,
        pub created_at: i64,
        /// When it went out through SMTP; never without SMTP configured.
        pub sent_at: Option<i64>,
        pub error: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub async fn catalog_version(db: &DatabaseConnection) -> Result<i64, DbErr> {
    Ok(catalog_state::Entity::find_by_id("catalog".to_string())
        .one(db)
        .await?
        .map_or(0, |s| s.version))
}

pub async fn catalog_objects(db: &DatabaseConnection) -> Result<Vec<catalog_object::Model>, DbErr> {
    catalog_object::Entity::find()
        .order_by_asc(catalog_object::Column::Seq)
        .all(db)
        .await
}

pub async fn spec_content(db: &DatabaseConnection, id: &str) -> Result<Option<String>, DbErr> {
    Ok(spec_content::Entity::find_by_id(id.to_string())
        .one(db)
        .await?
        .map(|c| c.content))
}

/// One catalog commit: rows to write (insert or update), rows to delete, spec
/// contents to store or remove, in one transaction at `version` (which must
/// follow the stored one).
pub struct CatalogWrite {
    pub version: i64,
    pub upserts: Vec<(catalog_object::Model, bool)>,
    pub deletes: Vec<String>,
    pub contents: Vec<(String, Option<String>)>,
}

pub async fn commit_catalog(
    db: &DatabaseConnection,
    w: CatalogWrite,
    notice: &str,
) -> Result<(), StoreError> {
    let txn = db.begin().await?;
    let res = catalog_state::Entity::update_many()
        .col_expr(catalog_state::Column::Version, Expr::value(w.version))
        .filter(catalog_state::Column::Id.eq("catalog"))
        .filter(catalog_state::Column::Version.eq(w.version - 1))
        .exec(&txn)
        .await?;
    if res.rows_affected != 1 {
        return Err(StoreError::VersionConflict {
            plane: "catalog".into(),
            expected: w.version - 1,
        });
    }
    for (m, existed) in w.upserts {
        let am = row(m);
        if existed {
            am.update(&txn).await?;
        } else {
            am.insert(&txn).await?;
        }
    }
    if !w.deletes.is_empty() {
        catalog_object::Entity::delete_many()
            .filter(catalog_object::Column::Id.is_in(w.deletes.clone()))
            .exec(&txn)
            .await?;
        spec_content::Entity::delete_many()
            .filter(spec_content::Column::Id.is_in(w.deletes))
            .exec(&txn)
            .await?;
    }
    for (id, content) in w.contents {
        spec_content::Entity::delete_by_id(id.clone())
            .exec(&txn)
            .await?;
        if let Some(content) = content {
            row(spec_content::Model { id, content })
                .insert(&txn)
                .await?;
        }
    }
    super::notify(&txn, notice).await?;
    txn.commit().await?;
    Ok(())
}

/// Deletes a portal's developers, their tokens and memberships.
pub async fn delete_portal_people(db: &DatabaseConnection, portal: &str) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    developer_token::Entity::delete_many()
        .filter(developer_token::Column::PortalId.eq(portal))
        .exec(&txn)
        .await?;
    team_member::Entity::delete_many()
        .filter(team_member::Column::PortalId.eq(portal))
        .exec(&txn)
        .await?;
    developer::Entity::delete_many()
        .filter(developer::Column::PortalId.eq(portal))
        .exec(&txn)
        .await?;
    txn.commit().await
}

pub async fn developer(
    db: &DatabaseConnection,
    id: &str,
) -> Result<Option<developer::Model>, DbErr> {
    developer::Entity::find_by_id(id.to_string()).one(db).await
}

pub async fn developer_by_email(
    db: &DatabaseConnection,
    portal: &str,
    email: &str,
) -> Result<Option<developer::Model>, DbErr> {
    developer::Entity::find()
        .filter(developer::Column::PortalId.eq(portal))
        .filter(developer::Column::Email.eq(email))
        .one(db)
        .await
}

pub async fn developers(
    db: &DatabaseConnection,
    portal: &str,
) -> Result<Vec<developer::Model>, DbErr> {
    developer::Entity::find()
        .filter(developer::Column::PortalId.eq(portal))
        .order_by_asc(developer::Column::CreatedAt)
        .all(db)
        .await
}

pub async fn insert_developer(db: &DatabaseConnection, m: developer::Model) -> Result<(), DbErr> {
    row(m).insert(db).await.map(|_| ())
}

pub async fn update_developer(
    db: &DatabaseConnection,
    mut m: developer::Model,
) -> Result<developer::Model, DbErr> {
    m.updated_at = now_ms();
    row(m).update(db).await
}

pub async fn insert_developer_token(
    db: &DatabaseConnection,
    m: developer_token::Model,
) -> Result<(), DbErr> {
    row(m).insert(db).await.map(|_| ())
}

pub async fn developer_token(
    db: &DatabaseConnection,
    digest: &str,
) -> Result<Option<developer_token::Model>, DbErr> {
    developer_token::Entity::find()
        .filter(developer_token::Column::Digest.eq(digest))
        .one(db)
        .await
}

pub async fn developer_token_by_id(
    db: &DatabaseConnection,
    id: &str,
) -> Result<Option<developer_token::Model>, DbErr> {
    developer_token::Entity::find_by_id(id.to_string())
        .one(db)
        .await
}

/// Marks a one-time token used; false when it was used already (or is gone).
pub async fn use_developer_token(db: &DatabaseConnection, id: &str) -> Result<bool, DbErr> {
    let r = developer_token::Entity::update_many()
        .col_expr(developer_token::Column::UsedAt, Expr::value(now_ms()))
        .filter(developer_token::Column::Id.eq(id))
        .filter(developer_token::Column::UsedAt.is_null())
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// Ends a developer's sessions (all, or one).
pub async fn end_sessions(
    db: &DatabaseConnection,
    developer: &str,
    only: Option<&str>,
) -> Result<(), DbErr> {
    let mut q = developer_token::Entity::update_many()
        .col_expr(developer_token::Column::UsedAt, Expr::value(now_ms()))
        .filter(developer_token::Column::DeveloperId.eq(developer))
        .filter(developer_token::Column::Kind.eq("session"))
        .filter(developer_token::Column::UsedAt.is_null());
    if let Some(id) = only {
        q = q.filter(developer_token::Column::Id.eq(id));
    }
    q.exec(db).await.map(|_| ())
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

/// The teams a developer is in.
pub async fn developer_teams(
    db: &DatabaseConnection,
    developer: &str,
) -> Result<Vec<String>, DbErr> {
    Ok(team_member::Entity::find()
        .filter(team_member::Column::DeveloperId.eq(developer))
        .all(db)
        .await?
        .into_iter()
        .map(|m| m.team_id)
        .collect())
}

pub async fn add_team_member(db: &DatabaseConnection, m: team_member::Model) -> Result<(), DbErr> {
    let exists = team_member::Entity::find_by_id((m.team_id.clone(), m.developer_id.clone()))
        .one(db)
        .await?
        .is_some();
    if !exists {
        row(m).insert(db).await?;
    }
    Ok(())
}

pub async fn remove_team_member(
    db: &DatabaseConnection,
    team: &str,
    developer: &str,
) -> Result<(), DbErr> {
    team_member::Entity::delete_by_id((team.to_string(), developer.to_string()))
        .exec(db)
        .await
        .map(|_| ())
}

/// Memberships of teams that no longer exist.
pub async fn remove_team_memberships(
    db: &DatabaseConnection,
    teams: &[String],
) -> Result<(), DbErr> {
    if teams.is_empty() {
        return Ok(());
    }
    team_member::Entity::delete_many()
        .filter(team_member::Column::TeamId.is_in(teams.to_vec()))
        .exec(db)
        .await
        .map(|_| ())
}

pub async fn queue_mail(db: &DatabaseConnection, m: mail::Model) -> Result<(), DbErr> {
    row(m).insert(db).await.map(|_| ())
}

pub async fn mail_sent(
    db: &DatabaseConnection,
    id: &str,
    error: Option<String>,
) -> Result<(), DbErr> {
    let mut q = mail::Entity::update_many().filter(mail::Column::Id.eq(id));
    q = match error {
        None => q.col_expr(mail::Column::SentAt, Expr::value(now_ms())),
        Some(e) => q.col_expr(mail::Column::Error, Expr::value(e)),
    };
    q.exec(db).await.map(|_| ())
}

/// The newest mails first, `limit` after the mail `after` (older than it).
pub async fn mails(
    db: &DatabaseConnection,
    to: Option<&str>,
    after: Option<&str>,
    limit: u64,
) -> Result<(Vec<mail::Model>, u64), DbErr> {
    let mut q = mail::Entity::find();
    if let Some(t) = to {
        q = q.filter(mail::Column::ToAddr.eq(t));
    }
    let total = q.clone().count(db).await?;
    if let Some(a) = after {
        q = q.filter(mail::Column::Id.lt(a));
    }
    let rows = q
        .order_by_desc(mail::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    Ok((rows, total))
}

//! Storage: sea-orm entities, migrations run from code, and the few queries the
//! platform needs. SQLite (a file in the data directory) by default, PostgreSQL
//! with a `postgres://` URL. Ids are UUID strings, times are Unix milliseconds and
//! JSON is text, so both databases hold the same bytes.

use sea_orm::sea_query::Index;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection,
    DbErr, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, Schema, Set, TransactionTrait,
};
use sea_orm_migration::prelude::*;

pub mod control_plane {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "control_planes")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        #[sea_orm(unique)]
        pub name: String,
        pub description: Option<String>,
        #[sea_orm(column_type = "Text")]
        pub labels: String,
        pub version: i64,
        pub created_at: i64,
        pub updated_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// One config entity of one control plane, in Kong's own JSON form.
pub mod config_entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "config_entities")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub control_plane_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub kind: String,
        /// Creation order: route order breaks router ties, as in a decK file.
        pub seq: i64,
        #[sea_orm(column_type = "Text")]
        pub data: String,
        pub created_at: i64,
        pub updated_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// One committed version of a control plane: the changes that made it.
pub mod change_log {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "change_log")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub control_plane_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub version: i64,
        pub at: i64,
        #[sea_orm(column_type = "Text")]
        pub changes: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

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

/// Cluster PKI: the platform's server CA, each control plane's cluster CA, and
/// node certificates (issued or pinned; revocable).
pub mod cluster_cert {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "cluster_certs")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub control_plane_id: String,
        /// `server-ca`, `plane-ca`, `node` or `pinned`.
        pub kind: String,
        pub name: String,
        #[sea_orm(column_type = "Text")]
        pub cert_pem: String,
        /// CAs only: node keys are handed out once and never stored.
        #[sea_orm(column_type = "Text", nullable)]
        pub key_pem: Option<String>,
        #[sea_orm(unique)]
        pub fingerprint: String,
        pub revoked_at: Option<i64>,
        pub created_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(M0001Init),
            Box::new(M0002ClusterCerts),
            Box::new(M0003Identities),
            Box::new(M0004Settings),
        ]
    }
}

struct M0001Init;

impl MigrationName for M0001Init {
    fn name(&self) -> &str {
        "m0001_init"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0001Init {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let schema = Schema::new(manager.get_database_backend());
        manager
            .create_table(schema.create_table_from_entity(control_plane::Entity))
            .await?;
        manager
            .create_table(schema.create_table_from_entity(config_entity::Entity))
            .await?;
        manager
            .create_table(schema.create_table_from_entity(change_log::Entity))
            .await?;
        // spelled out: later migrations add columns to it (tables created from the
        // live entity would already have them)
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("api_tokens"))
                    .col(
                        ColumnDef::new(Alias::new("id"))
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Alias::new("name")).string().not_null())
                    .col(
                        ColumnDef::new(Alias::new("digest"))
                            .string()
                            .not_null()
                            .unique_key(),
                    )
                    .col(
                        ColumnDef::new(Alias::new("created_at"))
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("config_entities_by_plane_seq")
                    .table(config_entity::Entity)
                    .col(config_entity::Column::ControlPlaneId)
                    .col(config_entity::Column::Seq)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            "api_tokens",
            "change_log",
            "config_entities",
            "control_planes",
        ] {
            manager
                .drop_table(Table::drop().table(Alias::new(t)).to_owned())
                .await?;
        }
        Ok(())
    }
}

struct M0002ClusterCerts;

impl MigrationName for M0002ClusterCerts {
    fn name(&self) -> &str {
        "m0002_cluster_certs"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0002ClusterCerts {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let schema = Schema::new(manager.get_database_backend());
        manager
            .create_table(schema.create_table_from_entity(cluster_cert::Entity))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Alias::new("cluster_certs")).to_owned())
            .await
    }
}

pub async fn cluster_certs(db: &DatabaseConnection) -> Result<Vec<cluster_cert::Model>, DbErr> {
    cluster_cert::Entity::find()
        .order_by_asc(cluster_cert::Column::CreatedAt)
        .all(db)
        .await
}

pub async fn insert_cluster_cert(
    db: &DatabaseConnection,
    m: cluster_cert::Model,
) -> Result<(), DbErr> {
    row(m).insert(db).await.map(|_| ())
}

pub async fn revoke_cluster_cert(db: &DatabaseConnection, id: &str) -> Result<(), DbErr> {
    cluster_cert::Entity::update_many()
        .col_expr(cluster_cert::Column::RevokedAt, Expr::value(now_ms()))
        .filter(cluster_cert::Column::Id.eq(id))
        .exec(db)
        .await
        .map(|_| ())
}

/// Users, teams, system accounts, the audit log; tokens get an owner, a kind,
/// an expiry and revocation.
struct M0003Identities;

impl MigrationName for M0003Identities {
    fn name(&self) -> &str {
        "m0003_identities"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0003Identities {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let schema = Schema::new(manager.get_database_backend());
        manager
            .create_table(schema.create_table_from_entity(user::Entity))
            .await?;
        manager
            .create_table(schema.create_table_from_entity(team::Entity))
            .await?;
        manager
            .create_table(schema.create_table_from_entity(team_role::Entity))
            .await?;
        manager
            .create_table(schema.create_table_from_entity(team_member::Entity))
            .await?;
        manager
            .create_table(schema.create_table_from_entity(system_account::Entity))
            .await?;
        manager
            .create_table(schema.create_table_from_entity(audit::Entity))
            .await?;
        let t = || Table::alter().table(Alias::new("api_tokens")).to_owned();
        manager
            .alter_table(
                t().add_column(
                    ColumnDef::new(Alias::new("owner"))
                        .string()
                        .not_null()
                        .default(""),
                )
                .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                t().add_column(
                    ColumnDef::new(Alias::new("kind"))
                        .string()
                        .not_null()
                        .default("pat"),
                )
                .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                t().add_column(
                    ColumnDef::new(Alias::new("expires_at"))
                        .big_integer()
                        .null(),
                )
                .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                t().add_column(
                    ColumnDef::new(Alias::new("revoked_at"))
                        .big_integer()
                        .null(),
                )
                .to_owned(),
            )
            .await
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration("m0003 cannot be reverted".into()))
    }
}

/// Platform-wide settings (`secret_key_check`: a value derived from the secret
/// key the database's secrets are sealed with).
struct M0004Settings;

impl MigrationName for M0004Settings {
    fn name(&self) -> &str {
        "m0004_settings"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0004Settings {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("settings"))
                    .col(
                        ColumnDef::new(Alias::new("key"))
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Alias::new("value")).text().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Alias::new("settings")).to_owned())
            .await
    }
}

pub mod setting {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "settings")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub key: String,
        #[sea_orm(column_type = "Text")]
        pub value: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub async fn setting(db: &DatabaseConnection, key: &str) -> Result<Option<String>, DbErr> {
    Ok(setting::Entity::find_by_id(key.to_string())
        .one(db)
        .await?
        .map(|m| m.value))
}

pub async fn insert_setting(db: &DatabaseConnection, key: &str, value: &str) -> Result<(), DbErr> {
    row(setting::Model {
        key: key.into(),
        value: value.into(),
    })
    .insert(db)
    .await
    .map(|_| ())
}

/// Every config entity row of every plane.
pub async fn all_entities(db: &DatabaseConnection) -> Result<Vec<config_entity::Model>, DbErr> {
    config_entity::Entity::find().all(db).await
}

/// Rewrites entity rows and cluster certificates in place, and empties the
/// change log (subscribers further behind than now get a snapshot), in one
/// transaction: the one-time sealing of a database written before secrets were.
pub async fn reseal(
    db: &DatabaseConnection,
    entities: Vec<config_entity::Model>,
    certs: Vec<cluster_cert::Model>,
) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    for e in entities {
        row(e).update(&txn).await?;
    }
    for c in certs {
        row(c).update(&txn).await?;
    }
    change_log::Entity::delete_many().exec(&txn).await?;
    txn.commit().await
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

/// A model as an active model with every column set, to insert or update whole.
fn row<M, A>(m: M) -> A
where
    M: IntoActiveModel<A>,
    A: ActiveModelTrait,
{
    m.into_active_model().reset_all()
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Opens the database (creating a SQLite file or a missing PostgreSQL database)
/// and applies migrations.
pub async fn connect(url: &str) -> anyhow::Result<DatabaseConnection> {
    let mut opts = ConnectOptions::new(url.to_string());
    opts.sqlx_logging(false);
    let sqlite = url.starts_with("sqlite:");
    if sqlite {
        opts.max_connections(1);
    } else {
        opts.max_connections(8);
    }
    let db = match Database::connect(opts.clone()).await {
        Ok(db) => db,
        Err(e) if !sqlite && e.to_string().contains("does not exist") => {
            create_postgres_database(url).await?;
            Database::connect(opts).await?
        }
        Err(e) => return Err(anyhow::anyhow!("cannot open the database {url}: {e}")),
    };
    if sqlite {
        db.execute_unprepared(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
        )
        .await?;
    }
    Migrator::up(&db, None).await?;
    Ok(db)
}

/// `CREATE DATABASE` for the database a `postgres://` URL names, through the
/// server's `postgres` database.
async fn create_postgres_database(url: &str) -> anyhow::Result<()> {
    let (base, rest) = url
        .rsplit_once('/')
        .ok_or_else(|| anyhow::anyhow!("no database name in {url}"))?;
    let name = rest.split('?').next().unwrap_or(rest);
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        anyhow::bail!("database name {name:?} must be letters, digits and _");
    }
    let admin = Database::connect(format!("{base}/postgres")).await?;
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await?;
    admin.close().await?;
    Ok(())
}

pub async fn control_planes(db: &DatabaseConnection) -> Result<Vec<control_plane::Model>, DbErr> {
    control_plane::Entity::find()
        .order_by_asc(control_plane::Column::CreatedAt)
        .all(db)
        .await
}

pub async fn control_plane(
    db: &DatabaseConnection,
    id: &str,
) -> Result<Option<control_plane::Model>, DbErr> {
    control_plane::Entity::find_by_id(id.to_string())
        .one(db)
        .await
}

pub async fn entities(
    db: &DatabaseConnection,
    plane: &str,
) -> Result<Vec<config_entity::Model>, DbErr> {
    config_entity::Entity::find()
        .filter(config_entity::Column::ControlPlaneId.eq(plane))
        .order_by_asc(config_entity::Column::Seq)
        .all(db)
        .await
}

pub async fn changes_since(
    db: &DatabaseConnection,
    plane: &str,
    since: i64,
) -> Result<Vec<change_log::Model>, DbErr> {
    change_log::Entity::find()
        .filter(change_log::Column::ControlPlaneId.eq(plane))
        .filter(change_log::Column::Version.gt(since))
        .order_by_asc(change_log::Column::Version)
        .all(db)
        .await
}

/// Drops change-log rows at or below `upto`.
pub async fn prune_changes(db: &DatabaseConnection, plane: &str, upto: i64) -> Result<(), DbErr> {
    change_log::Entity::delete_many()
        .filter(change_log::Column::ControlPlaneId.eq(plane))
        .filter(change_log::Column::Version.lte(upto))
        .exec(db)
        .await
        .map(|_| ())
}

/// The oldest version the change log still holds for a plane.
pub async fn oldest_change(db: &DatabaseConnection, plane: &str) -> Result<Option<i64>, DbErr> {
    Ok(change_log::Entity::find()
        .filter(change_log::Column::ControlPlaneId.eq(plane))
        .order_by_asc(change_log::Column::Version)
        .one(db)
        .await?
        .map(|m| m.version))
}

/// A row to write: created or replaced (`Some`), or deleted (`None`).
pub struct EntityWrite {
    pub id: String,
    pub row: Option<config_entity::Model>,
    pub existed: bool,
}

/// Writes entity rows, the plane's new version and its change-log row in one
/// transaction. Fails (and writes nothing) when the stored version is not
/// `version - 1`: another writer got there first.
pub async fn commit(
    db: &DatabaseConnection,
    plane: &str,
    version: i64,
    writes: Vec<EntityWrite>,
    changes_json: String,
) -> anyhow::Result<()> {
    let txn = db.begin().await?;
    let now = now_ms();
    let res = control_plane::Entity::update_many()
        .col_expr(control_plane::Column::Version, Expr::value(version))
        .col_expr(control_plane::Column::UpdatedAt, Expr::value(now))
        .filter(control_plane::Column::Id.eq(plane))
        .filter(control_plane::Column::Version.eq(version - 1))
        .exec(&txn)
        .await?;
    if res.rows_affected != 1 {
        anyhow::bail!(
            "control plane {plane} {CONFLICT} (expected version {})",
            version - 1
        );
    }
    for w in writes {
        match w.row {
            Some(row) => {
                let am = self::row(row);
                if w.existed {
                    am.update(&txn).await?;
                } else {
                    am.insert(&txn).await?;
                }
            }
            None => {
                config_entity::Entity::delete_many()
                    .filter(config_entity::Column::ControlPlaneId.eq(plane))
                    .filter(config_entity::Column::Id.eq(w.id))
                    .exec(&txn)
                    .await?;
            }
        }
    }
    change_log::ActiveModel {
        control_plane_id: Set(plane.to_string()),
        version: Set(version),
        at: Set(now),
        changes: Set(changes_json),
    }
    .insert(&txn)
    .await?;
    notify(&txn, &format!("plane:{plane}:{version}")).await?;
    txn.commit().await?;
    Ok(())
}

/// What a failed optimistic commit says.
pub const CONFLICT: &str = "changed underneath";

/// The channel replicas on one PostgreSQL tell each other about changes on.
pub const CHANNEL: &str = "portico_config";

/// `NOTIFY` the other replicas (PostgreSQL only; inside a transaction it is
/// delivered on commit). A no-op on SQLite.
pub async fn notify(db: &impl ConnectionTrait, payload: &str) -> Result<(), DbErr> {
    if db.get_database_backend() != sea_orm::DbBackend::Postgres {
        return Ok(());
    }
    db.execute_raw(sea_orm::Statement::from_sql_and_values(
        sea_orm::DbBackend::Postgres,
        "SELECT pg_notify($1, $2)",
        [CHANNEL.into(), payload.into()],
    ))
    .await
    .map(|_| ())
}

pub async fn insert_control_plane(
    db: &DatabaseConnection,
    m: control_plane::Model,
) -> Result<(), DbErr> {
    row(m).insert(db).await.map(|_| ())
}

pub async fn update_control_plane(
    db: &DatabaseConnection,
    m: control_plane::Model,
) -> Result<(), DbErr> {
    row(m).update(db).await.map(|_| ())
}

/// Deletes a plane with its entities and change log, in one transaction.
pub async fn delete_control_plane(db: &DatabaseConnection, id: &str) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    config_entity::Entity::delete_many()
        .filter(config_entity::Column::ControlPlaneId.eq(id))
        .exec(&txn)
        .await?;
    change_log::Entity::delete_many()
        .filter(change_log::Column::ControlPlaneId.eq(id))
        .exec(&txn)
        .await?;
    control_plane::Entity::delete_by_id(id.to_string())
        .exec(&txn)
        .await?;
    txn.commit().await
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

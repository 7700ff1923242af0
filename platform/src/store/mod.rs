//! Storage: sea-orm entities, migrations run from code (spelled out, never
//! derived from the live entities), and the queries of each domain, one module
//! per domain. SQLite (a file in the data directory) by default, PostgreSQL with a
//! `postgres://` URL. Ids are UUID strings, times are Unix milliseconds and JSON is
//! text, so both databases hold the same bytes.

pub mod analytics;
pub mod catalog;
pub mod cluster;
pub mod control_planes;
pub mod identity;
pub mod migrations;
pub mod settings;
pub mod webhooks;

use sea_orm::{
    ActiveModelTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr,
    IntoActiveModel,
};
use sea_orm_migration::MigratorTrait;

/// What a write can go wrong with, typed: callers match on the variant, never
/// on error text.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An optimistic write found another version than the one it expected:
    /// another replica committed first.
    #[error("control plane {plane} changed underneath (expected version {expected})")]
    VersionConflict { plane: String, expected: i64 },
    /// A unique constraint refused the row.
    #[error("a unique value is taken: {0}")]
    Unique(String),
    #[error(transparent)]
    Db(DbErr),
}

impl From<DbErr> for StoreError {
    fn from(e: DbErr) -> StoreError {
        match e.sql_err() {
            Some(sea_orm::SqlErr::UniqueConstraintViolation(m)) => StoreError::Unique(m),
            _ => StoreError::Db(e),
        }
    }
}

/// A model as an active model with every column set, to insert or update whole.
pub(crate) fn row<M, A>(m: M) -> A
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
    // a database that stops answering fails the caller instead of hanging it
    opts.acquire_timeout(std::time::Duration::from_secs(10));
    let db = match Database::connect(opts.clone()).await {
        Ok(db) => db,
        Err(e) if !sqlite && is_missing_database(&e) => {
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
    migrations::Migrator::up(&db, None).await?;
    Ok(db)
}

/// PostgreSQL's SQLSTATE `3D000` (invalid_catalog_name): the database the URL
/// names is not there yet.
fn is_missing_database(e: &DbErr) -> bool {
    let (DbErr::Conn(sea_orm::RuntimeErr::SqlxError(e))
    | DbErr::Exec(sea_orm::RuntimeErr::SqlxError(e))
    | DbErr::Query(sea_orm::RuntimeErr::SqlxError(e))) = e
    else {
        return false;
    };
    match e.as_ref() {
        sea_orm::sqlx::Error::Database(d) => d.code().as_deref() == Some("3D000"),
        _ => false,
    }
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

/// The channel replicas on one PostgreSQL tell each other about changes on.
pub const CHANNEL: &str = "portico_config";

/// What one replica tells the others (as JSON over `NOTIFY`): what changed, so
/// they reload it from the database.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "notice", rename_all = "snake_case")]
pub enum Notice {
    /// A plane committed `version`.
    Committed {
        plane: uuid::Uuid,
        version: i64,
    },
    PlaneCreated {
        plane: uuid::Uuid,
    },
    /// A plane's name, description or labels changed.
    PlaneMeta {
        plane: uuid::Uuid,
    },
    /// A plane was deleted (its node certificates revoked with it).
    PlaneDeleted {
        plane: uuid::Uuid,
    },
    /// Node certificates were added or revoked.
    Certs,
    /// Teams, roles, memberships, users or tokens changed.
    Access,
    /// A plane's node list changed.
    Nodes {
        plane: uuid::Uuid,
    },
    /// The catalog (APIs, portals, pages, ...) committed `version`.
    Catalog {
        version: i64,
    },
}

impl Notice {
    pub fn payload(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn parse(payload: &str) -> Option<Notice> {
        serde_json::from_str(payload).ok()
    }
}

/// Tells the other replicas about `n` (outside a transaction: now).
pub async fn announce(db: &impl ConnectionTrait, n: &Notice) -> Result<(), DbErr> {
    notify(db, &n.payload()).await
}

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

/// A migrated in-memory SQLite database, for unit tests.
#[cfg(test)]
pub(crate) async fn memory() -> DatabaseConnection {
    let db = Database::connect("sqlite::memory:")
        .await
        .expect("in-memory SQLite");
    migrations::Migrator::up(&db, None)
        .await
        .expect("migrations");
    db
}

#[cfg(test)]
mod tests {
    use super::Notice;

    #[test]
    fn notices_round_trip() {
        let n = Notice::Committed {
            plane: uuid::Uuid::new_v4(),
            version: 7,
        };
        assert_eq!(Notice::parse(&n.payload()), Some(n));
        assert_eq!(Notice::parse("plane:x:1"), None);
    }
}

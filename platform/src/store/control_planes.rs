//! Control planes, their config entities (Kong's JSON, one row per entity) and
//! their change log (one row per committed version).

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    Set, TransactionTrait,
};

use super::{StoreError, cluster::cluster_cert, now_ms, row};

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
    notice: &str,
) -> Result<(), StoreError> {
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
        return Err(StoreError::VersionConflict {
            plane: plane.to_string(),
            expected: version - 1,
        });
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
    super::notify(&txn, notice).await?;
    txn.commit().await?;
    Ok(())
}

pub async fn update_control_plane(
    db: &DatabaseConnection,
    m: control_plane::Model,
) -> Result<(), DbErr> {
    row(m).update(db).await.map(|_| ())
}

/// Creates a plane at version 0 with its cluster CA, in one transaction: both or
/// neither.
pub async fn create_control_plane(
    db: &DatabaseConnection,
    plane: control_plane::Model,
    ca: cluster_cert::Model,
    notice: &str,
) -> Result<(), StoreError> {
    let txn = db.begin().await?;
    row(plane).insert(&txn).await?;
    row(ca).insert(&txn).await?;
    super::notify(&txn, notice).await?;
    txn.commit().await?;
    Ok(())
}

/// Deletes a plane with its entities, change log and node list, and revokes
/// its node certificates, in one transaction.
pub async fn delete_control_plane(
    db: &DatabaseConnection,
    id: &str,
    notice: &str,
) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    cluster_cert::Entity::update_many()
        .col_expr(cluster_cert::Column::RevokedAt, Expr::value(now_ms()))
        .filter(cluster_cert::Column::ControlPlaneId.eq(id))
        .filter(cluster_cert::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    super::cluster::data_plane_node::Entity::delete_many()
        .filter(super::cluster::data_plane_node::Column::ControlPlaneId.eq(id))
        .exec(&txn)
        .await?;
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
    super::notify(&txn, notice).await?;
    txn.commit().await
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

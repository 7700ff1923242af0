//! Cluster PKI (the platform's server CA, each plane's cluster CA, node
//! certificates issued or pinned, with revocation) and the node list.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
};

use super::{now_ms, row};

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

/// A gateway node a control plane has seen: its last report (JSON), where it
/// connected from, whether it is connected (and to which replica), and when it
/// was last heard from.
pub mod data_plane_node {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "data_plane_nodes")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub control_plane_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub cert_id: String,
        #[sea_orm(column_type = "Text")]
        pub report: String,
        pub remote: String,
        pub connected: bool,
        pub connected_since: Option<i64>,
        pub last_seen: i64,
        #[sea_orm(column_type = "Text", nullable)]
        pub incompatible: Option<String>,
        /// The replica the node is connected to (its process id).
        pub replica: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Writes a node's row (inserted or replaced).
pub async fn save_node(db: &DatabaseConnection, m: data_plane_node::Model) -> Result<(), DbErr> {
    let exists = data_plane_node::Entity::find_by_id((m.control_plane_id.clone(), m.id.clone()))
        .one(db)
        .await?
        .is_some();
    if exists {
        row(m).update(db).await.map(|_| ())
    } else {
        row(m).insert(db).await.map(|_| ())
    }
}

pub async fn node(
    db: &DatabaseConnection,
    plane: &str,
    id: &str,
) -> Result<Option<data_plane_node::Model>, DbErr> {
    data_plane_node::Entity::find_by_id((plane.to_string(), id.to_string()))
        .one(db)
        .await
}

/// A plane's nodes, by id.
pub async fn nodes(
    db: &DatabaseConnection,
    plane: &str,
) -> Result<Vec<data_plane_node::Model>, DbErr> {
    data_plane_node::Entity::find()
        .filter(data_plane_node::Column::ControlPlaneId.eq(plane))
        .order_by_asc(data_plane_node::Column::Id)
        .all(db)
        .await
}

/// Nodes a replica had connected when it stopped are not connected any more.
pub async fn disconnect_replica_nodes(db: &DatabaseConnection, replica: &str) -> Result<(), DbErr> {
    data_plane_node::Entity::update_many()
        .col_expr(data_plane_node::Column::Connected, Expr::value(false))
        .col_expr(
            data_plane_node::Column::ConnectedSince,
            Expr::value(Option::<i64>::None),
        )
        .filter(data_plane_node::Column::Replica.eq(replica))
        .filter(data_plane_node::Column::Connected.eq(true))
        .exec(db)
        .await
        .map(|_| ())
}

//! The schema's history, spelled out table by table and column by column, never
//! derived from the live entities: a column added to an entity later cannot
//! change what an old migration creates on a fresh install.

use sea_orm_migration::prelude::*;

mod later;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(M0001Init),
            Box::new(M0002ClusterCerts),
            Box::new(M0003Identities),
            Box::new(M0004Settings),
            Box::new(M0005DataPlaneNodes),
            Box::new(M0006Catalog),
            Box::new(later::M0007WebhookDeliveries),
            Box::new(later::M0008Analytics),
        ]
    }
}

fn t(name: &str) -> Alias {
    Alias::new(name)
}

/// A required text column (ids, names).
fn string(name: &str) -> ColumnDef {
    ColumnDef::new(t(name)).string().not_null().to_owned()
}

fn string_null(name: &str) -> ColumnDef {
    ColumnDef::new(t(name)).string().null().to_owned()
}

fn text(name: &str) -> ColumnDef {
    ColumnDef::new(t(name)).text().not_null().to_owned()
}

fn text_null(name: &str) -> ColumnDef {
    ColumnDef::new(t(name)).text().null().to_owned()
}

fn int(name: &str) -> ColumnDef {
    ColumnDef::new(t(name)).big_integer().not_null().to_owned()
}

fn int_null(name: &str) -> ColumnDef {
    ColumnDef::new(t(name)).big_integer().null().to_owned()
}

fn boolean(name: &str) -> ColumnDef {
    ColumnDef::new(t(name)).boolean().not_null().to_owned()
}

fn id(name: &str) -> ColumnDef {
    string(name).primary_key().to_owned()
}

fn unique(name: &str) -> ColumnDef {
    string(name).unique_key().to_owned()
}

/// A table with these columns and, when given, a composite primary key.
fn table(name: &str, cols: Vec<ColumnDef>, key: &[&str]) -> TableCreateStatement {
    let mut s = Table::create().table(t(name)).to_owned();
    for mut c in cols {
        s.col(&mut c);
    }
    if !key.is_empty() {
        let mut pk = Index::create();
        for k in key {
            pk.col(t(k));
        }
        s.primary_key(&mut pk);
    }
    s
}

async fn drop_tables(manager: &SchemaManager<'_>, names: &[&str]) -> Result<(), DbErr> {
    for n in names {
        manager
            .drop_table(Table::drop().table(t(n)).to_owned())
            .await?;
    }
    Ok(())
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
        manager
            .create_table(table(
                "control_planes",
                vec![
                    id("id"),
                    unique("name"),
                    string_null("description"),
                    text("labels"),
                    int("version"),
                    int("created_at"),
                    int("updated_at"),
                ],
                &[],
            ))
            .await?;
        manager
            .create_table(table(
                "config_entities",
                vec![
                    string("control_plane_id"),
                    string("id"),
                    string("kind"),
                    int("seq"),
                    text("data"),
                    int("created_at"),
                    int("updated_at"),
                ],
                &["control_plane_id", "id"],
            ))
            .await?;
        manager
            .create_table(table(
                "change_log",
                vec![
                    string("control_plane_id"),
                    int("version"),
                    int("at"),
                    text("changes"),
                ],
                &["control_plane_id", "version"],
            ))
            .await?;
        manager
            .create_table(table(
                "api_tokens",
                vec![
                    id("id"),
                    string("name"),
                    unique("digest"),
                    int("created_at"),
                ],
                &[],
            ))
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("config_entities_by_plane_seq")
                    .table(t("config_entities"))
                    .col(t("control_plane_id"))
                    .col(t("seq"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            &[
                "api_tokens",
                "change_log",
                "config_entities",
                "control_planes",
            ],
        )
        .await
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
        manager
            .create_table(table(
                "cluster_certs",
                vec![
                    id("id"),
                    string("control_plane_id"),
                    string("kind"),
                    string("name"),
                    text("cert_pem"),
                    text_null("key_pem"),
                    unique("fingerprint"),
                    int_null("revoked_at"),
                    int("created_at"),
                ],
                &[],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["cluster_certs"]).await
    }
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
        manager
            .create_table(table(
                "users",
                vec![
                    id("id"),
                    unique("email"),
                    string("name"),
                    string("password_hash"),
                    boolean("active"),
                    string_null("invite_digest"),
                    int("created_at"),
                    int_null("last_login_at"),
                ],
                &[],
            ))
            .await?;
        manager
            .create_table(table(
                "teams",
                vec![
                    id("id"),
                    unique("name"),
                    string_null("description"),
                    boolean("predefined"),
                    int("created_at"),
                ],
                &[],
            ))
            .await?;
        manager
            .create_table(table(
                "team_roles",
                vec![
                    id("id"),
                    string("team_id"),
                    string("resource_type"),
                    string("role"),
                    string("scope"),
                ],
                &[],
            ))
            .await?;
        manager
            .create_table(table(
                "team_members",
                vec![string("team_id"), string("member")],
                &["team_id", "member"],
            ))
            .await?;
        manager
            .create_table(table(
                "system_accounts",
                vec![
                    id("id"),
                    unique("name"),
                    string_null("description"),
                    int("created_at"),
                ],
                &[],
            ))
            .await?;
        manager
            .create_table(table(
                "audit_log",
                vec![
                    id("id"),
                    int("at"),
                    string("actor"),
                    string("action"),
                    string_null("target"),
                    string("result"),
                    string_null("source_ip"),
                    text_null("detail"),
                ],
                &[],
            ))
            .await?;
        let tokens = || Table::alter().table(t("api_tokens")).to_owned();
        for col in [
            string("owner").default("").to_owned(),
            string("kind").default("pat").to_owned(),
            int_null("expires_at"),
            int_null("revoked_at"),
        ] {
            let mut col = col;
            manager
                .alter_table(tokens().add_column(&mut col).to_owned())
                .await?;
        }
        Ok(())
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
            .create_table(table("settings", vec![id("key"), text("value")], &[]))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["settings"]).await
    }
}

/// The gateway nodes each control plane has seen, connected or not: every
/// replica lists the same nodes, and a restart forgets none.
struct M0005DataPlaneNodes;

impl MigrationName for M0005DataPlaneNodes {
    fn name(&self) -> &str {
        "m0005_data_plane_nodes"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0005DataPlaneNodes {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(table(
                "data_plane_nodes",
                vec![
                    string("control_plane_id"),
                    string("id"),
                    string("cert_id"),
                    text("report"),
                    string("remote"),
                    boolean("connected"),
                    int_null("connected_since"),
                    int("last_seen"),
                    text_null("incompatible"),
                    string("replica"),
                ],
                &["control_plane_id", "id"],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["data_plane_nodes"]).await
    }
}

/// The API catalog and the Dev Portal: catalog records (versioned as a whole),
/// spec contents, developers, their tokens and team memberships, and the mail
/// outbox.
struct M0006Catalog;

impl MigrationName for M0006Catalog {
    fn name(&self) -> &str {
        "m0006_catalog"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0006Catalog {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(table("catalog_state", vec![id("id"), int("version")], &[]))
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(t("catalog_state"))
                    .columns([t("id"), t("version")])
                    .values_panic(["catalog".into(), 0i64.into()])
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(table(
                "catalog_objects",
                vec![
                    id("id"),
                    string("kind"),
                    text("data"),
                    int("seq"),
                    int("created_at"),
                    int("updated_at"),
                ],
                &[],
            ))
            .await?;
        manager
            .create_table(table(
                "api_spec_contents",
                vec![id("id"), text("content")],
                &[],
            ))
            .await?;
        manager
            .create_table(table(
                "developers",
                vec![
                    id("id"),
                    string("portal_id"),
                    string("email"),
                    string("full_name"),
                    string("password_hash"),
                    string("status"),
                    boolean("email_verified"),
                    int("created_at"),
                    int("updated_at"),
                ],
                &[],
            ))
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("developers_portal_email")
                    .table(t("developers"))
                    .col(t("portal_id"))
                    .col(t("email"))
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(table(
                "developer_tokens",
                vec![
                    id("id"),
                    string("developer_id"),
                    string("portal_id"),
                    unique("digest"),
                    string("kind"),
                    int("expires_at"),
                    int_null("used_at"),
                    int("created_at"),
                ],
                &[],
            ))
            .await?;
        manager
            .create_table(table(
                "developer_team_members",
                vec![
                    string("team_id"),
                    string("developer_id"),
                    string("portal_id"),
                ],
                &["team_id", "developer_id"],
            ))
            .await?;
        manager
            .create_table(table(
                "mail_outbox",
                vec![
                    id("id"),
                    string("to_addr"),
                    string("subject"),
                    text("body"),
                    int("created_at"),
                    int_null("sent_at"),
                    text_null("error"),
                ],
                &[],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            &[
                "mail_outbox",
                "developer_team_members",
                "developer_tokens",
                "developers",
                "api_spec_contents",
                "catalog_objects",
                "catalog_state",
            ],
        )
        .await
    }
}

//! The actors on an in-memory SQLite database: creating a plane (row, CA and
//! version 0 together), committing changes, catching up with a commit another
//! replica made first, restarting from the database after a crash, and deleting
//! a plane (its node certificates revoked with it).

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use uuid::Uuid;

use super::control_planes::{NewPlane, Planes, PlanesDeps};
use crate::config::{ChangeEvent, Kind, Op};
use crate::error::Error;
use crate::seal::Sealer;
use crate::store::{self, cluster as certs, control_planes as rows};

async fn planes() -> (Planes, sea_orm::DatabaseConnection) {
    let db = store::memory().await;
    let planes = Planes::start(PlanesDeps {
        db: db.clone(),
        sealer: Arc::new(Sealer::new([3; 32], "test").expect("key")),
        metrics: Arc::default(),
        retention: 100,
    })
    .await
    .expect("supervisor");
    (planes, db)
}

fn service(name: &str) -> Op {
    Op::Create {
        kind: Kind::Service,
        data: json!({"name": name, "url": "http://127.0.0.1:9"})
            .as_object()
            .cloned()
            .unwrap_or_default(),
    }
}

async fn new_plane(planes: &Planes, name: &str) -> Uuid {
    planes
        .create(NewPlane {
            name: name.into(),
            description: None,
            labels: json!({}),
        })
        .await
        .expect("created")
        .id
}

#[tokio::test]
async fn a_plane_is_created_with_its_ca_at_version_0() {
    let (planes, db) = planes().await;
    let id = new_plane(&planes, "a").await;
    let v = planes.view(id).expect("view");
    assert_eq!(v.version, 0);
    let cas: Vec<_> = certs::cluster_certs(&db)
        .await
        .expect("certs")
        .into_iter()
        .filter(|c| c.kind == "plane-ca" && c.control_plane_id == id.to_string())
        .collect();
    assert_eq!(cas.len(), 1);
    assert!(
        cas[0]
            .key_pem
            .as_deref()
            .is_some_and(|k| k.starts_with("penc:"))
    );
    // a second plane of the same name is refused, and leaves nothing behind
    let r = planes
        .create(NewPlane {
            name: "a".into(),
            description: None,
            labels: json!({}),
        })
        .await;
    assert!(matches!(r, Err(Error::Conflict { .. })), "{r:?}");
    assert_eq!(rows::control_planes(&db).await.expect("planes").len(), 1);
}

#[tokio::test]
async fn changes_commit_in_order_and_invalid_ones_change_nothing() {
    let (planes, db) = planes().await;
    let id = new_plane(&planes, "a").await;
    let c = planes.mutate(id, service("s1")).await.expect("committed");
    assert_eq!(c.version, 1);
    let bad = Op::Create {
        kind: Kind::Route,
        data: json!({"paths": ["no-slash"]})
            .as_object()
            .cloned()
            .unwrap_or_default(),
    };
    assert!(matches!(
        planes.mutate(id, bad).await,
        Err(Error::Invalid(_))
    ));
    assert_eq!(planes.view(id).expect("view").version, 1);
    let log = rows::changes_since(&db, &id.to_string(), 0)
        .await
        .expect("log");
    assert_eq!(log.len(), 1);
}

#[tokio::test]
async fn a_commit_made_elsewhere_is_caught_up_on_and_the_change_retried() {
    let (planes, db) = planes().await;
    let id = new_plane(&planes, "a").await;
    planes.mutate(id, service("s1")).await.expect("committed");
    // another replica commits version 2 behind this one's back
    let ev = ChangeEvent {
        control_plane_id: id,
        version: 2,
        hash: planes.view(id).expect("view").hash.clone(),
        at: store::now_ms(),
        changes: Vec::new(),
    };
    rows::commit(
        &db,
        &id.to_string(),
        2,
        Vec::new(),
        serde_json::to_string(&ev).expect("json"),
        "",
    )
    .await
    .expect("the other replica's commit");
    let c = planes.mutate(id, service("s2")).await.expect("retried");
    assert_eq!(c.version, 3);
}

#[tokio::test]
async fn a_crashed_plane_actor_restarts_from_the_database() {
    let (planes, _db) = planes().await;
    let id = new_plane(&planes, "a").await;
    planes.mutate(id, service("s1")).await.expect("committed");
    planes.crash(id).expect("crash");
    // the supervisor restarts it; the next change lands on version 2
    let mut r = planes.mutate(id, service("s2")).await;
    for _ in 0..500 {
        if r.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        r = planes.mutate(id, service("s2")).await;
    }
    assert_eq!(r.expect("after the restart").version, 2);
    assert_eq!(
        planes
            .view(id)
            .expect("view")
            .list(Some(Kind::Service))
            .len(),
        2
    );
}

#[tokio::test]
async fn deleting_a_plane_revokes_its_node_certificates() {
    let (planes, db) = planes().await;
    let id = new_plane(&planes, "a").await;
    certs::insert_cluster_cert(
        &db,
        certs::cluster_cert::Model {
            id: Uuid::new_v4().to_string(),
            control_plane_id: id.to_string(),
            kind: "node".into(),
            name: "n".into(),
            cert_pem: String::new(),
            key_pem: None,
            fingerprint: "f".into(),
            revoked_at: None,
            created_at: 0,
        },
    )
    .await
    .expect("node certificate");
    planes.delete(id).await.expect("deleted");
    assert!(planes.view(id).is_none());
    let node = certs::cluster_certs(&db)
        .await
        .expect("certs")
        .into_iter()
        .find(|c| c.kind == "node")
        .expect("still listed");
    assert!(node.revoked_at.is_some(), "revoked with its plane");
    assert!(
        rows::control_plane(&db, &id.to_string())
            .await
            .expect("read")
            .is_none()
    );
}

#[tokio::test]
async fn a_stored_config_that_no_longer_validates_is_loud_and_a_change_can_fix_it() {
    use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, Set};
    let (planes, db) = planes().await;
    let id = new_plane(&planes, "a").await;
    let s = planes.mutate(id, service("s1")).await.expect("committed");
    let good_hash = planes.view(id).expect("view").hash.clone();
    assert!(!good_hash.is_empty());
    let sid = s.record.expect("the created service").id;
    // the stored row goes bad behind the platform's back (an older release's
    // rules, a hand edit): the service's URL loses its scheme
    let row = rows::config_entity::Entity::find_by_id((id.to_string(), sid.to_string()))
        .one(&db)
        .await
        .expect("read")
        .expect("the row");
    let mut bad = row.into_active_model();
    bad.data = Set(json!({"name": "s1", "host": "", "port": 0}).to_string());
    bad.update(&db).await.expect("corrupted");
    // reloaded from the database (a restart), the plane says so instead of
    // serving an empty config as if it were fine
    planes.crash(id).expect("crash");
    let mut v = planes.view(id);
    for _ in 0..500 {
        if v.as_ref().is_some_and(|v| v.invalid.is_some()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        v = planes.view(id);
    }
    let v = v.expect("view");
    let why = v.invalid.as_deref().expect("marked invalid");
    assert!(why.contains("host") || why.contains("port"), "{why}");
    assert_eq!(v.hash, "", "no config hash for an invalid config");
    let m = crate::metrics::Metrics::default().render(&planes.views());
    assert!(m.contains("portico_platform_invalid_configs 1"), "{m}");
    // a change that repairs the entity makes it valid again
    let fix = Op::Update {
        id: sid,
        patch: json!({"host": "127.0.0.1", "port": 9})
            .as_object()
            .cloned()
            .unwrap_or_default(),
    };
    let mut r = planes.mutate(id, fix.clone()).await;
    for _ in 0..500 {
        if r.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        r = planes.mutate(id, fix.clone()).await;
    }
    r.expect("the fix commits");
    let v = planes.view(id).expect("view");
    assert!(v.invalid.is_none(), "{:?}", v.invalid);
    assert!(!v.hash.is_empty());
}

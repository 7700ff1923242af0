//! The permission matrix: every predefined team against representative
//! operations on each resource type.

use super::*;

const CP: &str = "control-planes/7f0c6d1e-0000-4000-8000-000000000001";
const OTHER_CP: &str = "control-planes/7f0c6d1e-0000-4000-8000-000000000002";
const NEW_CP: &str = "control-planes/new";
const PORTAL: &str = "portals/p1";
const ANALYTICS: &str = "analytics/default";
const PRODUCT: &str = "api-products/a1";
const ORG: &str = "organization";

/// (object, action) pairs, in the matrix's column order.
const OPS: &[(&str, &str)] = &[
    (CP, "read"),
    (CP, "update"),
    (CP, "delete"),
    (CP, "deploy"),
    (CP, "nodes.manage"),
    (CP, "entities.write.SERVICE"),
    (CP, "entities.write.PLUGIN"),
    (CP, "entities.write.KEY_AUTH_CREDENTIAL"),
    (NEW_CP, "create"),
    (PORTAL, "read"),
    (PORTAL, "update"),
    (ANALYTICS, "read"),
    (ANALYTICS, "update"),
    (PRODUCT, "read"),
    (PRODUCT, "publish"),
    (ORG, "read"),
    (ORG, "users.manage"),
    (ORG, "audit.read"),
];

/// One row per predefined team: 'Y' allowed, '.' denied, in `OPS` order.
const MATRIX: &[(&str, &str)] = &[
    ("Organization Admin", "YYYYYYYYYYYYYYYYYY"),
    ("Organization Admin (Read Only)", "Y........Y.Y.Y.Y.."),
    ("Control Plane Admin", "YYYYYYYYY........."),
    ("Portal Admin", ".........YY......."),
    ("Analytics Admin", "...........YY....."),
    ("Analytics Viewer", "...........Y......"),
    ("API Product Admin", ".............YY..."),
    ("API Product Developer", ".............Y...."),
];

#[tokio::test]
async fn predefined_teams_allow_exactly_the_matrix() {
    let mut a = Authorizer::new().await.expect("model");
    let teams = predefined_teams();
    assert_eq!(teams.len(), MATRIX.len(), "every predefined team has a row");
    for (name, assignments) in &teams {
        let team = format!("team:{name}");
        a.set_team(&team, assignments)
            .await
            .expect("valid assignments");
        a.set_member(&format!("user:{name}"), &[team])
            .await
            .expect("member");
    }
    let mut failures = Vec::new();
    for (name, row) in MATRIX {
        assert_eq!(row.len(), OPS.len(), "{name}");
        for ((obj, act), want) in OPS.iter().zip(row.chars()) {
            let got = a.allowed(&format!("user:{name}"), obj, act);
            if got != (want == 'Y') {
                failures.push(format!(
                    "{name}: {act} on {obj}: got {got}, want {}",
                    want == 'Y'
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn scoped_roles_cover_their_resource_only_and_teams_add_up() {
    let mut a = Authorizer::new().await.expect("model");
    let cp_id = CP.trim_start_matches("control-planes/");
    a.set_team(
        "team:svc",
        &[Assignment {
            resource_type: "control-planes".into(),
            role: "Gateway Service Admin".into(),
            scope: cp_id.into(),
        }],
    )
    .await
    .expect("team");
    a.set_team(
        "team:viewers",
        &[Assignment {
            resource_type: "control-planes".into(),
            role: "Viewer".into(),
            scope: "*".into(),
        }],
    )
    .await
    .expect("team");
    a.set_member("user:1", &["team:svc".into()])
        .await
        .expect("m");
    assert!(a.allowed("user:1", CP, "entities.write.SERVICE"));
    assert!(a.allowed("user:1", CP, "entities.write.ROUTE"));
    assert!(!a.allowed("user:1", CP, "entities.write.PLUGIN"));
    assert!(!a.allowed("user:1", CP, "deploy"));
    // another control plane: nothing
    assert!(!a.allowed("user:1", OTHER_CP, "read"));
    assert!(!a.allowed("user:1", OTHER_CP, "entities.write.SERVICE"));
    // in two teams: the union
    a.set_member("user:1", &["team:svc".into(), "team:viewers".into()])
        .await
        .expect("m");
    assert!(a.allowed("user:1", OTHER_CP, "read"));
    assert!(!a.allowed("user:1", OTHER_CP, "entities.write.SERVICE"));
    assert_eq!(a.teams_of("user:1").len(), 2);
    // removed from all teams: nothing
    a.set_member("user:1", &[]).await.expect("m");
    assert!(!a.allowed("user:1", CP, "read"));
    // a team's role taken away: its members lose it at once
    a.set_member("user:2", &["team:svc".into()])
        .await
        .expect("m");
    a.set_team("team:svc", &[]).await.expect("team");
    assert!(!a.allowed("user:2", CP, "entities.write.SERVICE"));
    // unknown members and actions are denied
    assert!(!a.allowed("user:nobody", CP, "read"));
}

#[test]
fn assignments_are_checked() {
    let bad = |t: &str, r: &str, s: &str| {
        check(&Assignment {
            resource_type: t.into(),
            role: r.into(),
            scope: s.into(),
        })
        .err()
        .unwrap_or_default()
    };
    assert!(bad("planes", "Admin", "*").contains("unknown resource type"));
    assert!(bad("control-planes", "Owner", "*").contains("unknown role"));
    assert!(bad("control-planes", "Admin", "a/b").contains("scope"));
    assert!(bad("control-planes", "Admin", "ab*").contains("scope"));
    assert_eq!(bad("control-planes", "Admin", "*"), "");
}

//! Teams, users, tokens and role-based access through the real server: a scoped
//! team's user can do what its role allows on its control plane only; lists show
//! only what the caller may see; unknown and forbidden look the same; tokens are
//! refused on the next request once revoked; a subscription ends when its user
//! loses access; logins are rate-limited; the audit log records all of it.

use integration::platform::{Db, Platform};
use serde_json::{Value, json};

fn code(r: &Value) -> &str {
    r["errors"][0]["extensions"]["code"].as_str().unwrap_or("")
}

async fn as_user(p: &Platform, token: &str, q: &str, v: Value) -> (u16, Value) {
    p.gql_with(Some(token), q, v).await
}

const CREATE: &str = "mutation($i: CreateEntityInput!) { createEntity(input: $i) { id } }";

async fn team_id(p: &Platform, name: &str) -> String {
    p.team_id(name).await
}

/// Invites a user into `teams`, accepts, logs in: (user id, session token).
async fn user_in(p: &Platform, email: &str, teams: &[String]) -> (String, String) {
    p.user_in(email, teams).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_scope_what_each_user_can_do() {
    let p = Platform::start(Db::Sqlite).await;
    let a = p.create_plane("team-a").await;
    let b = p.create_plane("team-b").await;
    // a custom team: Gateway Service Admin of control plane a only
    let d = p
        .ok(
            "mutation { createTeam(input: {name: \"svc-a\"}) { id } }",
            json!({}),
        )
        .await;
    let svc_team = d["createTeam"]["id"].as_str().expect("team").to_string();
    p.ok(
        "mutation($i: TeamRoleInput!) { assignTeamRole(input: $i) { roles { role scope } } }",
        json!({"i": {"teamId": svc_team, "resourceType": "CONTROL_PLANES", "role": "GATEWAY_SERVICE_ADMIN", "scope": a}}),
    )
    .await;
    // a bad role assignment names the problem
    let r = p
        .gql(
            "mutation($i: TeamRoleInput!) { assignTeamRole(input: $i) { id } }",
            json!({"i": {"teamId": svc_team, "resourceType": "CONTROL_PLANES", "role": "DEVELOPER", "scope": "*"}}),
        )
        .await;
    assert_eq!(code(&r), "VALIDATION", "{r}");

    let (svc_uid, svc) = user_in(&p, "svc@example.com", std::slice::from_ref(&svc_team)).await;
    let ro_team = team_id(&p, "Organization Admin (Read Only)").await;
    let (_, ro) = user_in(&p, "ro@example.com", &[ro_team]).await;

    // lists show only what the caller may read
    let q = "{ controlPlanes { nodes { name } } }";
    let (_, r) = as_user(&p, &svc, q, json!({})).await;
    assert_eq!(
        r["data"]["controlPlanes"]["nodes"],
        json!([{"name": "team-a"}]),
        "{r}"
    );
    let (_, r) = as_user(&p, &ro, q, json!({})).await;
    assert_eq!(
        r["data"]["controlPlanes"]["nodes"].as_array().map(Vec::len),
        Some(2)
    );

    // the scoped role: services on a, nothing else
    let svc_on = |cp: &str, kind: &str, data: Value| json!({"i": {"controlPlaneId": cp, "kind": kind, "data": data}});
    let (_, r) = as_user(
        &p,
        &svc,
        CREATE,
        svc_on(
            &a,
            "SERVICE",
            json!({"name": "s", "url": "http://127.0.0.1:9"}),
        ),
    )
    .await;
    assert!(r.get("errors").is_none(), "{r}");
    let (_, r) = as_user(
        &p,
        &svc,
        CREATE,
        svc_on(&a, "PLUGIN", json!({"name": "cors"})),
    )
    .await;
    assert_eq!(code(&r), "FORBIDDEN", "{r}");
    let (_, r) = as_user(
        &p,
        &svc,
        CREATE,
        svc_on(
            &b,
            "SERVICE",
            json!({"name": "s", "url": "http://127.0.0.1:9"}),
        ),
    )
    .await;
    assert_eq!(code(&r), "FORBIDDEN", "cross-control-plane: {r}");
    // forbidden and unknown look the same
    let q = "query($id: ID) { controlPlane(id: $id) { name } }";
    let (_, r1) = as_user(&p, &svc, q, json!({"id": b})).await;
    let (_, r2) = as_user(
        &p,
        &svc,
        q,
        json!({"id": "00000000-0000-4000-8000-000000000009"}),
    )
    .await;
    assert_eq!(code(&r1), "FORBIDDEN");
    assert_eq!(r1["errors"][0]["message"], r2["errors"][0]["message"]);
    assert_eq!(code(&r2), "FORBIDDEN");
    for (q, v) in [
        (
            "mutation { createControlPlane(input: {name: \"x\"}) { id } }",
            json!({}),
        ),
        ("{ auditLog { totalCount } }", json!({})),
        ("{ users { nodes { email } } }", json!({})),
        // applyConfig is authorized entity by entity: a consumer is not theirs
        (
            "mutation($i: ApplyConfigInput!) { applyConfig(input: $i) { configVersion } }",
            json!({"i": {"controlPlane": a, "document": {"_format_version": "3.0", "consumers": [{"username": "c"}]}}}),
        ),
    ] {
        let (_, r) = as_user(&p, &svc, q, v).await;
        assert_eq!(code(&r), "FORBIDDEN", "{q}: {r}");
    }
    // read-only: reads everything, changes nothing
    let (_, r) = as_user(
        &p,
        &ro,
        CREATE,
        svc_on(
            &b,
            "SERVICE",
            json!({"name": "s", "url": "http://127.0.0.1:9"}),
        ),
    )
    .await;
    assert_eq!(code(&r), "FORBIDDEN");
    let (_, r) = as_user(
        &p,
        &ro,
        "query($id: ID!) { controlPlaneConfig(id: $id) { version } }",
        json!({"id": b}),
    )
    .await;
    assert!(r.get("errors").is_none(), "{r}");

    // a personal access token works until revoked, then fails on the next request
    let (_, r) = as_user(&p, &svc, "mutation { createToken(input: {name: \"ci\", expiresInDays: 7}) { token info { id kind } } }", json!({})).await;
    let pat = r["data"]["createToken"]["token"]
        .as_str()
        .unwrap_or_else(|| panic!("{r}"))
        .to_string();
    let pat_id = r["data"]["createToken"]["info"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    assert!(pat.starts_with("ppat_"));
    let (st, _) = as_user(&p, &pat, "{ me { email } }", json!({})).await;
    assert_eq!(st, 200);
    let (_, r) = as_user(
        &p,
        &svc,
        "mutation($i: RevokeTokenInput!) { revokeToken(input: $i) { revokedTokenId } }",
        json!({"i": {"id": pat_id}}),
    )
    .await;
    assert_eq!(r["data"]["revokeToken"]["revokedTokenId"], pat_id, "{r}");
    let (st, r) = as_user(&p, &pat, "{ me { email } }", json!({})).await;
    assert_eq!(st, 401);
    assert_eq!(code(&r), "UNAUTHENTICATED");

    // a subscription ends when its user loses access
    let mut ws = p
        .subscribe(
            &svc,
            "subscription($cp: ID!) { configChanges(controlPlaneId: $cp) { version } }",
            json!({"cp": a}),
        )
        .await;
    let mut next = async || integration::platform::next_message(&mut ws).await;
    p.create(&a, "CONSUMER", json!({"username": "u1"})).await;
    let m = next().await;
    assert_eq!(m["type"], "next", "{m}");
    p.ok(
        "mutation($i: TeamMemberInput!) { removeTeamMember(input: $i) { id } }",
        json!({"i": {"teamId": svc_team, "userId": svc_uid}}),
    )
    .await;
    let m = next().await;
    assert_eq!(m["type"], "complete", "the subscription ended: {m}");

    // a deactivated user's session stops working
    p.ok(
        "mutation($i: SetUserActiveInput!) { setUserActive(input: $i) { active } }",
        json!({"i": {"userId": svc_uid, "active": false}}),
    )
    .await;
    let (st, _) = as_user(&p, &svc, "{ me { email } }", json!({})).await;
    assert_eq!(st, 401);

    // logins: wrong passwords are limited per account
    for _ in 0..5 {
        let (_, r) = p
            .gql_with(None, "mutation { login(input: {email: \"ro@example.com\", password: \"wrong wrong wrong\"}) { token } }", json!({}))
            .await;
        assert_eq!(code(&r), "UNAUTHENTICATED");
    }
    let (_, r) = p
        .gql_with(None, "mutation { login(input: {email: \"ro@example.com\", password: \"correct horse battery\"}) { token } }", json!({}))
        .await;
    assert!(
        r["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("too many"),
        "{r}"
    );

    // the audit log has it all, for organization admins
    let d = p
        .ok(
            "{ auditLog(first: 200) { totalCount nodes { actor action target result sourceIp } } }",
            json!({}),
        )
        .await;
    let rows = d["auditLog"]["nodes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let has = |actor: &str, action: &str, result: &str| {
        rows.iter().any(|r| {
            r["actor"].as_str().is_some_and(|a| a.contains(actor))
                && r["action"] == action
                && r["result"] == result
        })
    };
    assert!(has(&svc_uid, "createEntity", "OK"), "{rows:?}");
    assert!(has(&svc_uid, "createEntity", "DENIED"));
    assert!(has(&svc_uid, "revokeToken", "OK"));
    assert!(has(&svc_uid, "login", "OK"));
    assert!(has("ro@example.com", "login", "UNAUTHENTICATED"));
    assert!(has("ro@example.com", "login", "DENIED"));
    assert!(
        rows.iter()
            .all(|r| r["sourceIp"].is_string() || r["action"] != "createEntity")
    );
    let d = p
        .ok(
            "{ auditLog(filter: {result: DENIED, action: \"createEntity\"}) { totalCount } }",
            json!({}),
        )
        .await;
    assert!(d["auditLog"]["totalCount"].as_u64().unwrap_or(0) >= 3);
}

/// Every predefined team through the real server, against representative
/// operations (the same expectations as the matrix in `policies`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_predefined_team_does_what_the_matrix_says() {
    let p = Platform::start(Db::Sqlite).await;
    let cp = p.create_plane("matrix").await;
    let svc = p
        .create(
            &cp,
            "SERVICE",
            json!({"name": "s", "url": "http://127.0.0.1:9"}),
        )
        .await;
    assert!(svc.get("errors").is_none(), "{svc}");
    // (operation, query, variables)
    let ops: Vec<(&str, &str, Value)> = vec![
        (
            "read plane",
            "query($id: ID) { controlPlane(id: $id) { name } }",
            json!({"id": cp}),
        ),
        (
            "write service",
            CREATE,
            json!({"i": {"controlPlaneId": cp, "kind": "UPSTREAM", "data": {"name": "u"}}}),
        ),
        (
            "write plugin",
            CREATE,
            json!({"i": {"controlPlaneId": cp, "kind": "PLUGIN", "data": {"name": "cors"}}}),
        ),
        (
            "deploy",
            "mutation($i: ApplyConfigInput!) { applyConfig(input: $i) { configVersion } }",
            json!({"i": {"controlPlane": cp, "document": {"_format_version": "3.0", "services": [{"name": "s", "url": "http://127.0.0.1:9"}]}, "dryRun": false}}),
        ),
        (
            "create plane",
            "mutation($i: CreateControlPlaneInput!) { createControlPlane(input: $i) { id } }",
            json!({"i": {"name": format!("new-{}", integration::free_port())}}),
        ),
        ("list users", "{ users { nodes { email } } }", json!({})),
        ("audit", "{ auditLog { totalCount } }", json!({})),
    ];
    // 'Y' allowed, '.' denied, in `ops` order
    let matrix = [
        ("Organization Admin", "YYYYYYY"),
        ("Organization Admin (Read Only)", "Y....Y."),
        ("Control Plane Admin", "YYYYY.."),
        ("Portal Admin", "......."),
        ("Analytics Admin", "......."),
        ("Analytics Viewer", "......."),
        ("API Product Admin", "......."),
        ("API Product Developer", "......."),
    ];
    let mut failures = Vec::new();
    for (i, (team, row)) in matrix.iter().enumerate() {
        let tid = team_id(&p, team).await;
        let (_, token) = user_in(&p, &format!("m{i}@example.com"), &[tid]).await;
        for ((what, q, v), want) in ops.iter().zip(row.chars()) {
            let (_, r) = as_user(&p, &token, q, v.clone()).await;
            let allowed = code(&r) != "FORBIDDEN";
            if allowed != (want == 'Y') {
                failures.push(format!(
                    "{team}: {what}: allowed={allowed}, want {} ({r})",
                    want == 'Y'
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_entries_reach_the_webhook_with_retries() {
    // the collector refuses the first delivery: the entry is retried
    let (addr, got, calls) = integration::collector(1).await;
    let url = format!("http://{addr}/audit");
    let p = Platform::start_args(Db::Sqlite, &["--audit-webhook", &url]).await;
    p.create_plane("hooked").await;
    let (_, r) = p
        .gql_with(
            None,
            "mutation { login(input: {email: \"nobody@example.com\", password: \"x\"}) { token } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&r), "UNAUTHENTICATED");
    let start = std::time::Instant::now();
    loop {
        let entries = got.lock().await.clone();
        let seen = |action: &str, result: &str| {
            entries
                .iter()
                .any(|e| e["action"] == action && e["result"] == result)
        };
        if seen("createControlPlane", "ok") && seen("login", "unauthenticated") {
            assert!(
                entries
                    .iter()
                    .all(|e| e["at"].is_i64() && e["actor"].is_string()),
                "{entries:?}"
            );
            break;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "webhook got {entries:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        calls.load(std::sync::atomic::Ordering::SeqCst) >= 3,
        "one refused delivery was retried"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_accounts_act_through_their_teams_with_their_own_tokens() {
    let p = Platform::start(Db::Sqlite).await;
    let cp = p.create_plane("automation").await;
    let d = p
        .ok("mutation { createSystemAccount(input: {name: \"ci-bot\", description: \"deploys\"}) { id } }", json!({}))
        .await;
    let sa = d["createSystemAccount"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let d = p
        .ok(
            "mutation($i: CreateTokenInput!) { createToken(input: $i) { token info { kind owner { ... on SystemAccount { id } } expiresAt } } }",
            json!({"i": {"name": "ci", "systemAccountId": sa, "expiresInDays": 30}}),
        )
        .await;
    let token = d["createToken"]["token"]
        .as_str()
        .expect("token")
        .to_string();
    assert!(token.starts_with("pspat_"));
    assert_eq!(d["createToken"]["info"]["kind"], "SYSTEM_ACCOUNT_TOKEN");
    assert_eq!(d["createToken"]["info"]["owner"]["id"], sa);
    // no team yet: nothing allowed
    let (_, r) = as_user(
        &p,
        &token,
        "query($id: ID!) { controlPlaneConfig(id: $id) { version } }",
        json!({"id": cp}),
    )
    .await;
    assert_eq!(code(&r), "FORBIDDEN");
    // a Deployer team on this plane: it can apply, not delete the plane
    let d = p
        .ok(
            "mutation { createTeam(input: {name: \"deployers\"}) { id } }",
            json!({}),
        )
        .await;
    let team = d["createTeam"]["id"].as_str().expect("team").to_string();
    p.ok(
        "mutation($i: TeamRoleInput!) { assignTeamRole(input: $i) { id } }",
        json!({"i": {"teamId": team, "resourceType": "CONTROL_PLANES", "role": "DEPLOYER", "scope": cp}}),
    )
    .await;
    p.ok(
        "mutation($i: TeamMemberInput!) { addTeamMember(input: $i) { id } }",
        json!({"i": {"teamId": team, "systemAccountId": sa}}),
    )
    .await;
    let (_, r) = as_user(
        &p,
        &token,
        "mutation($i: ApplyConfigInput!) { applyConfig(input: $i) { configVersion } }",
        json!({"i": {"controlPlane": cp, "document": {"_format_version": "3.0", "services": [{"name": "s", "url": "http://127.0.0.1:9"}]}}}),
    )
    .await;
    assert_eq!(r["data"]["applyConfig"]["configVersion"], 1, "{r}");
    let (_, r) = as_user(
        &p,
        &token,
        "mutation($i: DeleteControlPlaneInput!) { deleteControlPlane(input: $i) { deletedControlPlaneId } }",
        json!({"i": {"id": cp}}),
    )
    .await;
    assert_eq!(code(&r), "FORBIDDEN");
    // the CLI works with it too
    let file = p.dir.join("bot.yaml");
    std::fs::write(
        &file,
        "_format_version: \"3.0\"\nservices:\n- name: s\n  url: http://127.0.0.1:9\n",
    )
    .expect("write");
    let out = std::process::Command::new(integration::platform::portico_bin())
        .args([
            "diff",
            "-f",
            &file.display().to_string(),
            "--control-plane",
            "automation",
        ])
        .env("PORTICO_URL", p.url(""))
        .env("PORTICO_TOKEN", &token)
        .output()
        .expect("portico diff");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

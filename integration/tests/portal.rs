//! The API catalog and the Dev Portal through the real server, on SQLite and
//! PostgreSQL: specs of every kind (broken ones stored with their messages),
//! operations against real routes (drift both ways), who sees what in a portal
//! (anonymous, developer, team member; public and private APIs and pages),
//! sign-up with email verification through a real SMTP server on loopback,
//! sign-in by token and cookie, password reset, `catalogChanges` on publish,
//! and bad input refused with its field.

use integration::platform::{Db, Platform, next_message};
use integration::smtp::SmtpSink;
use serde_json::{Value, json};

integration::both!(specs_of_every_kind_and_drift_against_routes);
integration::both!(who_sees_what_in_a_portal);

const PETS: &str = "openapi: 3.0.3
info: {title: Pets, version: 1.0.0}
paths:
  /pets:
    get: {operationId: listPets, summary: List pets, responses: {'200': {description: ok}}}
    post: {operationId: createPet, responses: {'201': {description: created}}}
  /pets/{petId}:
    get: {operationId: getPet, deprecated: true, responses: {'200': {description: ok}}}
";

fn code(r: &Value) -> &str {
    r["errors"][0]["extensions"]["code"].as_str().unwrap_or("")
}

fn field(r: &Value) -> &str {
    r["errors"][0]["extensions"]["field"].as_str().unwrap_or("")
}

async fn create_api(p: &Platform, name: &str, spec: Option<&str>) -> Value {
    p.ok(
        "mutation($i: CreateApiInput!) { createApi(input: $i) { id slug version currentVersion { id version spec { type specVersion format validationMessages { path message } } } } }",
        json!({"i": {"name": name, "specContent": spec}}),
    )
    .await["createApi"]
        .clone()
}

async fn specs_of_every_kind_and_drift_against_routes(db: Db) {
    let p = Platform::start(db).await;
    let api = create_api(&p, "Pets", Some(PETS)).await;
    assert_eq!(api["version"], "1.0.0", "the version comes from the spec");
    assert_eq!(api["slug"], "pets-1-0-0");
    let spec = &api["currentVersion"]["spec"];
    assert_eq!(spec["type"], "OAS3");
    assert_eq!(spec["format"], "yaml");
    assert_eq!(spec["validationMessages"], json!([]));
    let api_id = api["id"].as_str().expect("id").to_string();

    // every kind, and broken ones: stored with their messages
    let kinds = [
        (
            r#"{"swagger":"2.0","info":{"title":"Old","version":"2"},"paths":{"/a":{"get":{"responses":{}}}}}"#,
            "OAS2",
            "json",
        ),
        (
            "openapi: 3.1.0\ninfo: {title: New, version: '3'}\nwebhooks: {}\n",
            "OAS3",
            "yaml",
        ),
        (
            "asyncapi: 2.6.0\ninfo: {title: Events, version: '1'}\nchannels:\n  user/signedup:\n    subscribe: {operationId: onSignup}\n",
            "ASYNCAPI",
            "yaml",
        ),
        (
            "asyncapi: 3.0.0\ninfo: {title: Events3, version: '1'}\nchannels:\n  s: {address: user/signedup}\noperations:\n  onSignup: {action: receive, channel: {$ref: '#/channels/s'}}\n",
            "ASYNCAPI",
            "yaml",
        ),
    ];
    for (i, (content, ty, format)) in kinds.iter().enumerate() {
        let a = create_api(&p, &format!("kind-{i}"), Some(content)).await;
        let s = &a["currentVersion"]["spec"];
        assert_eq!(s["type"], *ty, "{a}");
        assert_eq!(s["format"], *format);
        assert_eq!(s["validationMessages"], json!([]), "{a}");
    }
    let broken = create_api(
        &p,
        "Broken",
        Some("openapi: 3.0.0\ninfo: {version: '1'}\npaths:\n  nope: {get: {}}\n"),
    )
    .await;
    let msgs = broken["currentVersion"]["spec"]["validationMessages"].to_string();
    assert!(
        msgs.contains("/info") && msgs.contains("'title' is required"),
        "{msgs}"
    );
    assert!(msgs.contains("/paths/nope"), "{msgs}");
    // text that is not YAML or JSON at all is refused, with its field
    let r = p
        .gql(
            "mutation($i: CreateApiVersionInput!) { createApiVersion(input: $i) { id } }",
            json!({"i": {"apiId": api_id, "version": "9", "spec": {"content": "{ not json"}}}),
        )
        .await;
    assert_eq!(code(&r), "VALIDATION", "{r}");
    assert_eq!(field(&r), "input.spec.content");
    let huge = format!(
        "openapi: 3.0.0\ninfo: {{title: t, version: '1'}}\nx-pad: '{}'\n",
        "a".repeat(5 * 1024 * 1024)
    );
    let r = p
        .gql(
            "mutation($i: CreateApiVersionInput!) { createApiVersion(input: $i) { id } }",
            json!({"i": {"apiId": api_id, "version": "9", "spec": {"content": huge}}}),
        )
        .await;
    assert_eq!(
        code(&r),
        "VALIDATION",
        "{}",
        &r.to_string()[..200.min(r.to_string().len())]
    );
    // validating stores nothing
    let d = p
        .ok(
            "query($c: String!) { validateApiSpec(content: $c) { spec { type validationMessages { message } } operations { method path } } }",
            json!({"c": PETS}),
        )
        .await;
    assert_eq!(
        d["validateApiSpec"]["operations"].as_array().map(Vec::len),
        Some(3)
    );
    // a duplicate name and version is a conflict
    let r = p
        .gql(
            "mutation { createApi(input: {name: \"Pets\", version: \"1.0.0\"}) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&r), "CONFLICT", "{r}");

    // the service that implements it, with routes that do and do not match
    let cp = p.create_plane("pets").await;
    p.ok(
        "mutation($i: ApplyConfigInput!) { applyConfig(input: $i) { configVersion } }",
        json!({"i": {"controlPlane": cp, "document": {"_format_version": "3.0", "services": [{
        "name": "pets-svc", "url": "http://127.0.0.1:9", "routes": [
            {"name": "list", "methods": ["GET"], "paths": ["/pets"]},
            {"name": "one", "paths": ["~/pets/\\d+$"]},
            {"name": "internal", "paths": ["/internal"]}
        ]}]}}}),
    )
    .await;
    let svc = p
        .ok(
            "query($id: ID) { controlPlane(id: $id) { services { nodes { id } } } }",
            json!({"id": cp}),
        )
        .await["controlPlane"]["services"]["nodes"][0]["id"]
        .clone();
    p.ok(
        "mutation($i: LinkApiImplementationInput!) { linkApiImplementation(input: $i) { service { name } } }",
        json!({"i": {"apiId": api_id, "controlPlaneId": cp, "serviceId": svc}}),
    )
    .await;
    let d = p
        .ok(
            "query($id: ID) { api(id: $id) { operations { method path implemented routes { name } } undocumentedRoutes { name } implementations { service { name } } } }",
            json!({"id": api_id}),
        )
        .await;
    let ops = &d["api"]["operations"];
    assert_eq!(
        ops,
        &json!([
            {"method": "GET", "path": "/pets", "implemented": true, "routes": [{"name": "list"}]},
            {"method": "POST", "path": "/pets", "implemented": false, "routes": []},
            // Kong matches paths by prefix: `/pets` serves `/pets/1` too
            {"method": "GET", "path": "/pets/{petId}", "implemented": true, "routes": [{"name": "list"}, {"name": "one"}]}
        ])
    );
    assert_eq!(
        d["api"]["undocumentedRoutes"],
        json!([{"name": "internal"}])
    );
    // a service cannot implement two APIs
    let other = create_api(&p, "Other", None).await["id"].clone();
    let r = p
        .gql(
            "mutation($i: LinkApiImplementationInput!) { linkApiImplementation(input: $i) { id } }",
            json!({"i": {"apiId": other, "controlPlaneId": cp, "serviceId": svc}}),
        )
        .await;
    assert_eq!(code(&r), "CONFLICT", "{r}");
}

/// A developer signed up, verified (the token read from the outbox) and
/// signed in: the session token.
fn names(v: &Value, key: &str) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x[key].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

async fn who_sees_what_in_a_portal(db: Db) {
    let p = Platform::start(db).await;
    let portal = p
        .ok(
            "mutation { createPortal(input: {name: \"dev\", displayName: \"Dev Portal\", rbacEnabled: true, autoApproveDevelopers: true}) { id } }",
            json!({}),
        )
        .await["createPortal"]["id"]
        .clone();
    let mut apis = Vec::new();
    for (name, vis) in [
        ("open", "PUBLIC"),
        ("team", "PRIVATE"),
        ("hidden", "PRIVATE"),
    ] {
        let a = create_api(&p, name, Some(PETS)).await;
        p.ok(
            "mutation($i: PublishApiInput!) { publishApi(input: $i) { visibility } }",
            json!({"i": {"apiId": a["id"], "portalId": portal, "visibility": vis}}),
        )
        .await;
        apis.push((
            a["id"].clone(),
            a["slug"].as_str().unwrap_or("").to_string(),
        ));
    }
    let page = |slug: &str, vis: &str, status: &str, parent: Value| {
        json!({"i": {"portalId": portal, "slug": slug, "content": format!("# {slug}\n\nsecret sauce <script>alert(1)</script>"),
               "visibility": vis, "status": status, "parentPageId": parent}})
    };
    let create_page =
        "mutation($i: CreatePortalPageInput!) { createPortalPage(input: $i) { id path content } }";
    let home = p
        .ok(create_page, page("/", "PUBLIC", "PUBLISHED", Value::Null))
        .await;
    // markdown is kept as written; front ends sanitize what they render
    assert!(
        home["createPortalPage"]["content"]
            .as_str()
            .unwrap_or("")
            .contains("<script>")
    );
    let guides = p
        .ok(
            create_page,
            page("guides", "PRIVATE", "PUBLISHED", Value::Null),
        )
        .await["createPortalPage"]["id"]
        .clone();
    p.ok(
        create_page,
        page("secret", "PUBLIC", "PUBLISHED", guides.clone()),
    )
    .await;
    p.ok(
        create_page,
        page("draft", "PUBLIC", "UNPUBLISHED", Value::Null),
    )
    .await;
    // reserved paths are refused
    let r = p
        .gql(
            create_page,
            page("login", "PUBLIC", "PUBLISHED", Value::Null),
        )
        .await;
    assert_eq!(code(&r), "VALIDATION", "{r}");
    assert_eq!(field(&r), "input.slug");

    let member = p.developer("dev", "member@example.com").await;
    let outsider = p.developer("dev", "outsider@example.com").await;
    let team = p
        .ok(
            "mutation($i: CreateDeveloperTeamInput!) { createDeveloperTeam(input: $i) { id } }",
            json!({"i": {"portalId": portal, "name": "gold"}}),
        )
        .await["createDeveloperTeam"]["id"]
        .clone();
    let devs = p
        .ok(
            "query($id: ID) { portal(id: $id) { developers { nodes { id email status } } } }",
            json!({"id": portal}),
        )
        .await;
    let member_id = devs["portal"]["developers"]["nodes"]
        .as_array()
        .and_then(|a| a.iter().find(|d| d["email"] == "member@example.com"))
        .map(|d| d["id"].clone())
        .expect("member listed");
    p.ok(
        "mutation($i: TeamMembershipInput!) { addDeveloperToTeam(input: $i) { id } }",
        json!({"i": {"teamId": team, "developerId": member_id}}),
    )
    .await;
    p.ok(
        "mutation($i: AssignDeveloperTeamRoleInput!) { assignDeveloperTeamRole(input: $i) { roles { role } } }",
        json!({"i": {"teamId": team, "apiId": apis[1].0, "role": "API_VIEWER"}}),
    )
    .await;

    let view = async |token: Option<&str>| {
        let (st, r, _) = p
            .portal_gql(
                "dev",
                token,
                "query($team: String!) { apis { nodes { slug actions { register } } } pages { path } team: api(slug: $team) { name } guides: page(path: \"/guides\") { title } }",
                json!({"team": apis[1].1}),
            )
            .await;
        assert_eq!(st, 200, "{r}");
        assert!(r.get("errors").is_none(), "{r}");
        r["data"].clone()
    };
    let anon = view(None).await;
    assert_eq!(names(&anon["apis"]["nodes"], "slug"), [apis[0].1.clone()]);
    assert_eq!(names(&anon["pages"], "path"), ["/"]);
    assert!(anon["team"].is_null() && anon["guides"].is_null(), "{anon}");
    let out = view(Some(&outsider)).await;
    assert_eq!(
        names(&out["apis"]["nodes"], "slug"),
        [apis[0].1.clone()],
        "role-based: no role, no private API"
    );
    assert_eq!(
        names(&out["pages"], "path"),
        ["/", "/guides", "/guides/secret"]
    );
    assert_eq!(out["guides"]["title"], "guides");
    let mem = view(Some(&member)).await;
    assert_eq!(
        names(&mem["apis"]["nodes"], "slug"),
        [apis[0].1.clone(), apis[1].1.clone()]
    );
    assert_eq!(mem["team"]["name"], "team");
    // an API Viewer reads; an API Consumer may also register
    assert_eq!(mem["apis"]["nodes"][1]["actions"]["register"], false);
    p.ok(
        "mutation($i: AssignDeveloperTeamRoleInput!) { assignDeveloperTeamRole(input: $i) { id } }",
        json!({"i": {"teamId": team, "apiId": apis[1].0, "role": "API_CONSUMER"}}),
    )
    .await;
    assert_eq!(
        view(Some(&member)).await["apis"]["nodes"][1]["actions"]["register"],
        true
    );
    // without role-based access, any signed-in developer sees private APIs
    p.ok(
        "mutation($id: ID!) { updatePortal(input: {id: $id, rbacEnabled: false}) { rbacEnabled } }",
        json!({"id": portal}),
    )
    .await;
    assert_eq!(
        view(Some(&outsider)).await["apis"]["nodes"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
    assert_eq!(
        view(None).await["apis"]["nodes"].as_array().map(Vec::len),
        Some(1)
    );
    // search finds only what the viewer may see
    let (_, r, _) = p
        .portal_gql(
            "dev",
            None,
            "{ search(text: \"secret sauce\") { nodes { kind path } } }",
            json!({}),
        )
        .await;
    assert_eq!(names(&r["data"]["search"]["nodes"], "path"), ["/"], "{r}");
    // a bad token is refused, not taken as anonymous
    let (st, _, _) = p
        .portal_gql("dev", Some("pdev_nope"), "{ me { email } }", json!({}))
        .await;
    assert_eq!(st, 401);
    // admin tokens mean nothing in the developer realm
    let (st, _, _) = p
        .portal_gql("dev", Some(&p.token.clone()), "{ me { email } }", json!({}))
        .await;
    assert_eq!(st, 401);
    // an unknown portal
    let (st, _, _) = p
        .portal_gql("nope", None, "{ me { email } }", json!({}))
        .await;
    assert_eq!(st, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_with_email_verification_through_smtp() {
    let smtp = SmtpSink::start().await;
    let p = Platform::start_args(
        Db::Sqlite,
        &[
            "--smtp-url",
            &smtp.url(),
            "--mail-from",
            "Portal <portal@example.com>",
        ],
    )
    .await;
    let portal = p
        .ok(
            "mutation { createPortal(input: {name: \"acme\", displayName: \"ACME\"}) { id } }",
            json!({}),
        )
        .await["createPortal"]["id"]
        .clone();
    let gql =
        async |token: Option<&str>, q: &str, v: Value| p.portal_gql("acme", token, q, v).await;
    let register =
        "mutation($i: RegisterDeveloperInput!) { registerDeveloper(input: $i) { email } }";
    let login = "mutation($i: LoginDeveloperInput!) { loginDeveloper(input: $i) { token expiresAt developer { email } } }";
    let (_, r, _) = gql(
        None,
        register,
        json!({"i": {"email": "Ann@Example.com", "fullName": "Ann", "password": "short"}}),
    )
    .await;
    assert_eq!(r["errors"][0]["extensions"]["code"], "VALIDATION", "{r}");
    let (_, r, _) = gql(None, register, json!({"i": {"email": "Ann@Example.com", "fullName": "Ann", "password": "correct horse battery"}})).await;
    assert_eq!(
        r["data"]["registerDeveloper"]["email"], "ann@example.com",
        "{r}"
    );
    let mail = smtp.wait_for("ann@example.com", 1).await;
    assert_eq!(mail.from, "portal@example.com");
    assert!(
        mail.data.contains("Subject: Confirm your email address"),
        "{}",
        mail.data
    );
    let token = mail.token("token").expect("a token in the mail");
    // the same address again: no second account, no hint
    let (_, r, _) = gql(None, register, json!({"i": {"email": "ann@example.com", "fullName": "Ann", "password": "another horse battery"}})).await;
    assert!(r.get("errors").is_none(), "{r}");
    let creds = json!({"i": {"email": "ann@example.com", "password": "correct horse battery"}});
    let (_, r, _) = gql(None, login, creds.clone()).await;
    assert!(
        r["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("confirm"),
        "{r}"
    );
    let (_, r, _) = gql(None, "mutation($t: String!) { verifyDeveloperEmail(input: {token: $t}) { email pendingApproval } }", json!({"t": token})).await;
    assert_eq!(
        r["data"]["verifyDeveloperEmail"]["pendingApproval"], true,
        "{r}"
    );
    // a used token does not work twice
    let (_, r, _) = gql(
        None,
        "mutation($t: String!) { verifyDeveloperEmail(input: {token: $t}) { email } }",
        json!({"t": token}),
    )
    .await;
    assert_eq!(r["errors"][0]["extensions"]["field"], "input.token", "{r}");
    let (_, r, _) = gql(None, login, creds.clone()).await;
    assert!(
        r["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("pending approval"),
        "{r}"
    );
    // an admin approves; the developer hears of it
    let dev = p
        .ok(
            "query($id: ID) { portal(id: $id) { developers(status: PENDING) { nodes { id } } } }",
            json!({"id": portal}),
        )
        .await["portal"]["developers"]["nodes"][0]["id"]
        .clone();
    p.ok(
        "mutation($i: DeveloperInput!) { approveDeveloper(input: $i) { status } }",
        json!({"i": {"portalId": portal, "developerId": dev}}),
    )
    .await;
    let approved = smtp.wait_for("ann@example.com", 2).await;
    assert!(approved.data.contains("approved"), "{}", approved.data);
    let (_, r, headers) = gql(None, login, creds.clone()).await;
    let session = r["data"]["loginDeveloper"]["token"]
        .as_str()
        .unwrap_or_else(|| panic!("{r}"))
        .to_string();
    let set_cookie = headers
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    for part in [
        "portico_portal_session=",
        "HttpOnly",
        "SameSite=Lax",
        "Path=/portals/acme",
    ] {
        assert!(set_cookie.contains(part), "{set_cookie}");
    }
    let (st, r, _) = gql(
        Some(&session),
        "{ me { email fullName status } }",
        json!({}),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(
        r["data"]["me"],
        json!({"email": "ann@example.com", "fullName": "Ann", "status": "APPROVED"})
    );
    // the cookie works for JSON requests (a browser's)
    let cookie_value = set_cookie.split(';').next().unwrap_or("").to_string();
    let r: Value = reqwest::Client::new()
        .post(p.url("/portals/acme/graphql"))
        .header("cookie", &cookie_value)
        .json(&json!({"query": "{ me { email } }"}))
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("json");
    assert_eq!(r["data"]["me"]["email"], "ann@example.com", "{r}");
    // ...and not for a cross-site form post
    let r: Value = reqwest::Client::new()
        .post(p.url("/portals/acme/graphql"))
        .header("cookie", &cookie_value)
        .header("content-type", "text/plain")
        .body(json!({"query": "{ me { email } }"}).to_string())
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("json");
    assert!(r["data"]["me"].is_null(), "{r}");
    // a forgotten password, reset by mail: every session ends
    let (_, r, _) = gql(
        None,
        "mutation { requestPasswordReset(input: {email: \"ann@example.com\"}) { email } }",
        json!({}),
    )
    .await;
    assert!(r.get("errors").is_none(), "{r}");
    let reset = smtp.wait_for("ann@example.com", 3).await;
    let rt = reset.token("token").expect("reset token");
    let (_, r, _) = gql(None, "mutation($t: String!) { resetPassword(input: {token: $t, password: \"a brand new battery\"}) { email } }", json!({"t": rt})).await;
    assert_eq!(
        r["data"]["resetPassword"]["email"], "ann@example.com",
        "{r}"
    );
    let (st, _, _) = gql(Some(&session), "{ me { email } }", json!({})).await;
    assert_eq!(st, 401, "the old session ended");
    let (_, r, _) = gql(
        None,
        login,
        json!({"i": {"email": "ann@example.com", "password": "a brand new battery"}}),
    )
    .await;
    assert!(r["data"]["loginDeveloper"]["token"].is_string(), "{r}");
    // an unknown address gets the same answer and no mail
    let before = smtp.mails().len();
    let (_, r, _) = gql(
        None,
        "mutation { requestPasswordReset(input: {email: \"nobody@example.com\"}) { email } }",
        json!({}),
    )
    .await;
    assert!(r.get("errors").is_none(), "{r}");
    assert_eq!(smtp.mails().len(), before);
    // wrong passwords are limited
    let mut limited = false;
    for _ in 0..7 {
        let (_, r, _) = gql(
            None,
            login,
            json!({"i": {"email": "ann@example.com", "password": "wrong wrong wrong"}}),
        )
        .await;
        if r["errors"][0]["extensions"]["code"] == "RATE_LIMITED" {
            limited = true;
            break;
        }
    }
    assert!(limited, "sign-in failures are limited");
    // revoking a developer ends their access at once
    let (_, r, _) = gql(
        None,
        login,
        json!({"i": {"email": "ann@example.com", "password": "a brand new battery"}}),
    )
    .await;
    let _ = r;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_changes_reach_open_portal_clients_as_they_may_see_them() {
    let p = Platform::start(Db::Sqlite).await;
    let portal = p
        .ok(
            "mutation { createPortal(input: {name: \"live\"}) { id } }",
            json!({}),
        )
        .await["createPortal"]["id"]
        .clone();
    let private = create_api(&p, "private", None).await["id"].clone();
    let public = create_api(&p, "public", None).await;
    let mut ws = p
        .subscribe_at(
            "/portals/live/graphql/ws",
            json!({}),
            "subscription { catalogChanges { type apiSlug } }",
            json!({}),
        )
        .await;
    let publish = "mutation($i: PublishApiInput!) { publishApi(input: $i) { id } }";
    // a private API is not news to an anonymous viewer; the public one is
    p.ok(
        publish,
        json!({"i": {"apiId": private, "portalId": portal, "visibility": "PRIVATE"}}),
    )
    .await;
    p.ok(
        publish,
        json!({"i": {"apiId": public["id"], "portalId": portal, "visibility": "PUBLIC"}}),
    )
    .await;
    let m = next_message(&mut ws).await;
    assert_eq!(
        m["payload"]["data"]["catalogChanges"],
        json!({"type": "API_PUBLISHED", "apiSlug": public["slug"]}),
        "{m}"
    );
    p.ok(
        "mutation($i: UpdateApiInput!) { updateApi(input: $i) { id } }",
        json!({"i": {"id": public["id"], "description": "now with words"}}),
    )
    .await;
    let m = next_message(&mut ws).await;
    assert_eq!(
        m["payload"]["data"]["catalogChanges"]["type"], "API_UPDATED",
        "{m}"
    );
    p.ok(
        "mutation($i: UnpublishApiInput!) { unpublishApi(input: $i) { apiId } }",
        json!({"i": {"apiId": public["id"], "portalId": portal}}),
    )
    .await;
    let m = next_message(&mut ws).await;
    assert_eq!(
        m["payload"]["data"]["catalogChanges"]["type"], "API_UNPUBLISHED",
        "{m}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_portal_input_is_refused_with_its_field() {
    let p = Platform::start(Db::Sqlite).await;
    let portal = p
        .ok("mutation { createPortal(input: {name: \"look\"}) { id customization { specRenderer { tryItUi } } } }", json!({}))
        .await["createPortal"]
        .clone();
    assert_eq!(portal["customization"]["specRenderer"]["tryItUi"], true);
    let id = portal["id"].clone();
    let update = "mutation($i: UpdatePortalInput!) { updatePortal(input: $i) { customization { theme { colors { primary } } menu { main { path } } } } }";
    let r = p
        .gql(
            update,
            json!({"i": {"id": id, "customization": {"theme": {"colours": {}}}}}),
        )
        .await;
    assert_eq!(code(&r), "VALIDATION", "{r}");
    assert!(field(&r).starts_with("input.customization.theme"), "{r}");
    let r = p
        .gql(
            update,
            json!({"i": {"id": id, "customization": {"theme": {"colors": {"primary": "red"}}}}}),
        )
        .await;
    assert_eq!(field(&r), "input.customization.theme.colors.primary", "{r}");
    let d = p
        .ok(update, json!({"i": {"id": id, "customization": {"theme": {"colors": {"primary": "#ff0066"}}, "menu": {"main": [{"path": "/guides", "title": "Guides", "visibility": "public", "external": false}]}}}}))
        .await;
    assert_eq!(
        d["updatePortal"]["customization"]["theme"]["colors"]["primary"],
        "#ff0066"
    );
    // images: a known type, its bytes, a size limit
    let logo = "mutation($i: PortalImageInput!) { setPortalLogo(input: $i) { logo } }";
    let r = p
        .gql(
            logo,
            json!({"i": {"portalId": id, "data": "data:text/html;base64,PGgxPg=="}}),
        )
        .await;
    assert_eq!(code(&r), "VALIDATION", "{r}");
    let big = format!("data:image/png;base64,{}", "iVBORw0K".repeat(200_000));
    let r = p
        .gql(logo, json!({"i": {"portalId": id, "data": big}}))
        .await;
    assert_eq!(code(&r), "VALIDATION");
    let d = p
        .ok(
            logo,
            json!({"i": {"portalId": id, "data": "data:image/png;base64,iVBORw0KGgo="}}),
        )
        .await;
    assert_eq!(
        d["setPortalLogo"]["logo"],
        "data:image/png;base64,iVBORw0KGgo="
    );
    // a portal with published APIs is deleted only with force
    let api = create_api(&p, "pinned", None).await["id"].clone();
    p.ok(
        "mutation($i: PublishApiInput!) { publishApi(input: $i) { id } }",
        json!({"i": {"apiId": api, "portalId": id}}),
    )
    .await;
    let r = p
        .gql(
            "mutation($id: ID!) { deletePortal(input: {id: $id}) { deletedId } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(field(&r), "input.force", "{r}");
    p.ok(
        "mutation($id: ID!) { deletePortal(input: {id: $id, force: true}) { deletedId } }",
        json!({"id": id}),
    )
    .await;
    let d = p
        .ok(
            "query($id: ID) { api(id: $id) { publications { id } } }",
            json!({"id": api}),
        )
        .await;
    assert_eq!(d["api"]["publications"], json!([]));
}

integration::both!(portals_and_apis_as_code_round_trip);

async fn portals_and_apis_as_code_round_trip(db: Db) {
    let p = Platform::start(db).await;
    let dir = p.dir.join("as-code");
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("pets.yaml"), PETS).expect("spec");
    let file = dir.join("portal.yaml");
    std::fs::write(
        &file,
        r##"_format_version: "3.0"
services:
- name: pets-svc
  url: http://127.0.0.1:9
  routes:
  - name: pets
    paths: [/pets]
portals:
- name: dev
  display_name: Developers
  auto_approve_developers: true
  default_api_visibility: public
  default_page_visibility: public
  customization:
    theme: {colors: {primary: "#123456"}}
  pages:
  - slug: /
    title: Home
    content: "# Welcome"
    visibility: public
    status: published
  - slug: guides
    content: "---\ntitle: Guides\n---\nRead these."
    status: published
    pages:
    - slug: start
      content: Start here.
      status: published
  snippets:
  - name: footer
    content: Made with care.
    status: published
apis:
- name: Pets
  description: Everything about pets
  attributes: {domain: [animals]}
  versions:
  - spec: {file: pets.yaml}
  documents:
  - title: Getting started
    content: "# Start"
    status: published
    documents:
    - title: Auth
      content: Use a key.
  implementations:
  - control_plane: default
    service: pets-svc
  publications:
  - portal: dev
"##,
    )
    .expect("file");
    let path = file.to_string_lossy().to_string();
    let o = p.cli(&["apply", "-f", &path, "--control-plane", "default"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("creating portal dev"), "{out}");
    assert!(out.contains("creating api-publication"), "{out}");
    let d = p
        .ok(
            "{ api(slug: \"pets-1-0-0\") { version description currentVersion { spec { type } } documents { slug parent { slug } } implementations { service { name } } operations { path implemented } publications { visibility portal { name displayName } } } }",
            json!({}),
        )
        .await;
    let a = &d["api"];
    assert_eq!(a["version"], "1.0.0");
    assert_eq!(a["currentVersion"]["spec"]["type"], "OAS3");
    assert_eq!(a["documents"][1]["parent"]["slug"], "getting-started");
    assert_eq!(a["implementations"][0]["service"]["name"], "pets-svc");
    assert_eq!(a["operations"][0]["implemented"], true);
    assert_eq!(a["publications"][0]["visibility"], "PUBLIC");
    assert_eq!(a["publications"][0]["portal"]["displayName"], "Developers");
    let (_, r, _) = p
        .portal_gql("dev", None, "{ pages { path title } apis { nodes { slug } } snippet(name: \"footer\") { content } }", json!({}))
        .await;
    assert_eq!(
        r["data"]["pages"],
        json!([{"path": "/", "title": "Home"}, {"path": "/guides", "title": "Guides"}, {"path": "/guides/start", "title": "start"}]),
        "{r}"
    );
    assert_eq!(r["data"]["apis"]["nodes"][0]["slug"], "pets-1-0-0");
    // an unchanged file plans nothing (exit 0), and the dump applies back as is
    let o = p.cli(&["diff", "-f", &path, "--control-plane", "default"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let dumped = dir.join("dump.yaml");
    let o = p.cli(&[
        "dump",
        "--catalog",
        "--control-plane",
        "default",
        "-o",
        &dumped.to_string_lossy(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = p.cli(&[
        "diff",
        "-f",
        &dumped.to_string_lossy(),
        "--control-plane",
        "default",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    // a change is planned, then applied; what the file leaves out goes
    let changed = std::fs::read_to_string(&file)
        .expect("read")
        .replace(
            "  snippets:\n  - name: footer\n    content: Made with care.\n    status: published\n",
            "",
        )
        .replace("Everything about pets", "All about pets");
    std::fs::write(&file, changed).expect("write");
    let o = p.cli(&["diff", "-f", &path, "--control-plane", "default"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(
        out.contains("deleting snippet footer") && out.contains("updating api Pets"),
        "{out}"
    );
    let o = p.cli(&["apply", "-f", &path, "--control-plane", "default"]);
    assert!(o.status.success());
    let (_, r, _) = p
        .portal_gql("dev", None, "{ snippets { name } }", json!({}))
        .await;
    assert_eq!(r["data"]["snippets"], json!([]));
    // unknown fields are named with their path; nothing changes
    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        "portals:\n- name: dev\n  pages:\n  - slug: x\n    content: y\n    colour: red\n",
    )
    .expect("write");
    let o = p.cli(&["apply", "-f", &bad.to_string_lossy()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("colour"), "{err}");
    let d = p
        .gql("mutation($d: JSON!) { applyCatalog(input: {document: $d}) { version } }", json!({"d": {"portals": [{"name": "dev", "pages": [{"slug": "x", "content": "y", "colour": "red"}]}]}}))
        .await;
    assert_eq!(field(&d), "portals[0].pages[0].colour", "{d}");
}

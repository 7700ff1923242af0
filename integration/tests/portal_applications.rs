//! Register and consume, end to end with real processes: the platform, two
//! real gateway nodes of one control plane, a real upstream and a webhook
//! receiver on loopback. A developer signs up, creates an application,
//! registers it for an API (an admin approves), gets a key; `credentialStatus`
//! reports it active on both nodes; the key works through each node with the
//! application's headers at the upstream, is refused (403) on an API it is not
//! registered for, stops (401) after a revoke within one sync, keeps working
//! through a rotation's grace and then stops; a plan's quota ends in 429; an
//! imported key works; every portal event reaches the signed webhook and the
//! audit log.

use integration::platform::{Db, NodeCreds, Platform, next_message};
use integration::{EchoServer, Gateway, client, make_temp_dir, recorder, send, sha256_hex};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

integration::both!(a_developers_key_works_on_every_node);
integration::both!(bad_input_and_other_peoples_applications);

const DEADLINE: std::time::Duration = std::time::Duration::from_secs(60);

/// Polls `f` until it holds (every 50 ms, for at most a minute).
async fn until<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let end = tokio::time::Instant::now() + DEADLINE;
    while !f().await {
        assert!(tokio::time::Instant::now() < end, "timed out: {what}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> String {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |b: u8| k.iter().map(|x| x ^ b).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(msg)
        .finalize();
    let outer = Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize();
    outer.iter().map(|b| format!("{b:02x}")).collect()
}

async fn dev(p: &Platform, token: &str, query: &str, vars: Value) -> Value {
    let (st, r, _) = p.portal_gql("dev", Some(token), query, vars).await;
    assert_eq!(st, 200, "{r}");
    assert!(r.get("errors").is_none(), "{r}\n{}", p.log());
    r["data"].clone()
}

async fn status_of(c: &reqwest::Client, url: String, key: &str) -> u16 {
    send(c.get(url).header("apikey", key)).await.status
}

/// The config version a node serves.
async fn node_version(gw: &Gateway) -> i64 {
    gw.status_json().await["sync"]["config_version"]
        .as_i64()
        .unwrap_or(-1)
}

struct Setup {
    p: Platform,
    cp: String,
    portal: String,
    weather: String,
    gold_plan: String,
    tiny_plan: String,
}

async fn setup(db: Db, up: &EchoServer) -> Setup {
    let p = Platform::start(db).await;
    let cp = p.create_plane("prod").await;
    let mut services = Vec::new();
    for (name, path) in [("weather", "/weather"), ("other", "/other")] {
        let s = p
            .create(&cp, "SERVICE", json!({"name": name, "url": up.url()}))
            .await;
        let sid = s["data"]["createEntity"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{s}"))
            .to_string();
        let r = p
            .create(
                &cp,
                "ROUTE",
                json!({"name": name, "paths": [path], "service": {"id": sid}}),
            )
            .await;
        assert!(r.get("errors").is_none(), "{r}");
        services.push(sid);
    }
    let portal = p
        .ok(
            "mutation { createPortal(input: {name: \"dev\", autoApproveDevelopers: true, defaultApiVisibility: PUBLIC}) { id } }",
            json!({}),
        )
        .await["createPortal"]["id"]
        .as_str()
        .expect("portal")
        .to_string();
    let mut apis = Vec::new();
    for (name, sid, auto) in [
        ("Weather", &services[0], false),
        ("Other", &services[1], true),
    ] {
        let api = p
            .ok(
                "mutation($i: CreateApiInput!) { createApi(input: $i) { id } }",
                json!({"i": {"name": name, "version": "1"}}),
            )
            .await["createApi"]["id"]
            .as_str()
            .expect("api")
            .to_string();
        p.ok(
            "mutation($i: LinkApiImplementationInput!) { linkApiImplementation(input: $i) { id } }",
            json!({"i": {"apiId": api, "controlPlaneId": cp, "serviceId": sid}}),
        )
        .await;
        p.ok(
            "mutation($i: PublishApiInput!) { publishApi(input: $i) { id } }",
            json!({"i": {"apiId": api, "portalId": portal, "autoApproveRegistrations": auto}}),
        )
        .await;
        apis.push(api);
    }
    let publication = p
        .ok(
            "query($id: ID) { portal(id: $id) { publications { id api { id } } } }",
            json!({"id": portal}),
        )
        .await["portal"]["publications"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["api"]["id"] == apis[0].as_str()))
        .map(|x| x["id"].as_str().unwrap_or("").to_string())
        .expect("the weather publication");
    let plan = async |name: &str, limits: Value, quota: Value| {
        p.ok(
            "mutation($i: CreatePlanInput!) { createPlan(input: $i) { id name rateLimits { minute } quota } }",
            json!({"i": {"publicationId": publication, "name": name, "rateLimits": limits, "quota": quota}}),
        )
        .await["createPlan"]["id"]
            .as_str()
            .expect("plan")
            .to_string()
    };
    let gold_plan = plan("gold", json!({"minute": 1000}), json!(100000)).await;
    let tiny_plan = plan("tiny", json!({}), json!(2)).await;
    Setup {
        weather: apis[0].clone(),
        p,
        cp,
        portal,
        gold_plan,
        tiny_plan,
    }
}

async fn node(p: &Platform, cp: &str, name: &str) -> Gateway {
    let dir = make_temp_dir("portico-app-node");
    let creds: NodeCreds = p.node_creds(cp, name, &dir).await;
    let mut args = p.node_args(&creds, &dir.join("cache"));
    args.extend(["--analytics-flush-ms".into(), "200".into()]);
    Gateway::start_args(None, &args).await
}

async fn a_developers_key_works_on_every_node(db: Db) {
    let up = EchoServer::start("up").await;
    let s = setup(db, &up).await;
    let p = &s.p;
    let (hook_addr, hooks, _) = recorder(1).await;
    let secret = "whsec_test_secret_0123456789";
    p.ok(
        "mutation($i: CreatePortalWebhookInput!) { createPortalWebhook(input: $i) { webhook { id } secret } }",
        json!({"i": {"portalId": s.portal, "url": format!("http://{hook_addr}/hook"), "secret": secret}}),
    )
    .await;
    let gws = [
        node(p, &s.cp, "node-1").await,
        node(p, &s.cp, "node-2").await,
    ];
    let c = client();

    // sign up, an application, a registration on the gold plan
    let token = p.developer("dev", "ann@example.com").await;
    let app = dev(
        p,
        &token,
        "mutation { createApplication(input: {name: \"weather-app\"}) { id name } }",
        json!({}),
    )
    .await["createApplication"]["id"]
        .as_str()
        .expect("app")
        .to_string();
    let reg = dev(
        p,
        &token,
        "mutation($i: RequestRegistrationInput!) { requestRegistration(input: $i) { id status plan { name } } }",
        json!({"i": {"applicationId": app, "apiId": s.weather, "planId": s.gold_plan, "message": "please"}}),
    )
    .await["requestRegistration"]
        .clone();
    assert_eq!(reg["status"], "PENDING", "{reg}");
    assert_eq!(reg["plan"]["name"], "gold");

    // the admin sees it pending, and approves
    let pending = p
        .ok(
            "query($p: ID!) { portalRegistrations(portalId: $p, filter: {status: PENDING}) { totalCount nodes { id message application { name } } } }",
            json!({"p": s.portal}),
        )
        .await;
    assert_eq!(pending["portalRegistrations"]["totalCount"], 1, "{pending}");
    assert_eq!(
        pending["portalRegistrations"]["nodes"][0]["message"],
        "please"
    );
    p.ok(
        "mutation($i: DecideRegistrationInput!) { decideRegistration(input: $i) { status } }",
        json!({"i": {"registrationId": reg["id"], "status": "APPROVED", "reason": "welcome"}}),
    )
    .await;

    // a key, shown once; its propagation followed to both nodes
    let created = dev(
        p,
        &token,
        "mutation($a: ID!) { createCredential(input: {applicationId: $a, displayName: \"laptop\"}) { key credential { id prefix status expiresAt } } }",
        json!({"a": app}),
    )
    .await["createCredential"]
        .clone();
    let key = created["key"].as_str().expect("key").to_string();
    let cred = created["credential"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    assert!(key.starts_with(created["credential"]["prefix"].as_str().unwrap_or("-")));
    assert_eq!(created["credential"]["status"], "ACTIVE");
    let mut ws = p
        .subscribe_at(
            "/portals/dev/graphql/ws",
            json!({"token": token}),
            "subscription($c: ID!) { credentialStatus(credentialId: $c) { status activeNodes connectedNodes controlPlanes { controlPlaneName activeNodes connectedNodes configVersion } } }",
            json!({"c": cred}),
        )
        .await;
    let active = tokio::time::timeout(DEADLINE, async {
        loop {
            let m = next_message(&mut ws).await;
            let v = m["payload"]["data"]["credentialStatus"].clone();
            assert!(m["type"] == "next", "{m}");
            if v["status"] == "ACTIVE" && v["connectedNodes"] == 2 {
                return v;
            }
        }
    })
    .await
    .expect("the key active on both nodes in time");
    assert_eq!(active["activeNodes"], 2, "{active}");
    assert_eq!(active["controlPlanes"][0]["controlPlaneName"], "prod");

    // through each node: the application's headers at the upstream
    for gw in &gws {
        let r = send(c.get(gw.url("/weather/today")).header("apikey", &key)).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(
            r.upstream_header("x-application-id").as_deref(),
            Some(app.as_str())
        );
        assert_eq!(
            r.upstream_header("x-application-name").as_deref(),
            Some("weather-app")
        );
        assert!(r.upstream_header("x-developer-id").is_some());
        assert_eq!(
            r.upstream_header("x-portal-id").as_deref(),
            Some(s.portal.as_str())
        );
        assert_eq!(r.upstream_header("apikey"), None, "the key is not sent on");
        assert_eq!(r.header("ratelimit-limit").as_deref(), Some("1000"));
        // not registered for the other API; no key at all
        assert_eq!(status_of(&c, gw.url("/other"), &key).await, 403);
        assert_eq!(send(c.get(gw.url("/weather"))).await.status, 401);
    }

    // rotation: the old key works through the grace, then stops
    let rotated = dev(
        p,
        &token,
        "mutation($c: ID!) { rotateCredential(input: {credentialId: $c, graceSeconds: 4}) { key credential { id } } }",
        json!({"c": cred}),
    )
    .await["rotateCredential"]
        .clone();
    let new_key = rotated["key"].as_str().expect("key").to_string();
    let new_cred = rotated["credential"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    for gw in &gws {
        until("the new key on the node", || async {
            status_of(&c, gw.url("/weather"), &new_key).await == 200
        })
        .await;
        assert_eq!(
            status_of(&c, gw.url("/weather"), &key).await,
            200,
            "in grace"
        );
    }
    for gw in &gws {
        until("the old key stops after its grace", || async {
            status_of(&c, gw.url("/weather"), &key).await == 401
        })
        .await;
    }

    // revoke: once a node has the plane's version, the key is refused there
    dev(
        p,
        &token,
        "mutation($c: ID!) { revokeCredential(input: {credentialId: $c}) { status } }",
        json!({"c": new_cred}),
    )
    .await;
    let v = p.version(&s.cp).await;
    for gw in &gws {
        until("the node at the revoke's version", || async {
            node_version(gw).await >= v
        })
        .await;
        assert_eq!(status_of(&c, gw.url("/weather"), &new_key).await, 401);
    }

    // a key brought along by its SHA-256 works as it is
    p.ok(
        "mutation($i: ImportCredentialInput!) { importCredential(input: $i) { id imported prefix } }",
        json!({"i": {"applicationId": app, "keySha256": sha256_hex(b"migrated-key-0001")}}),
    )
    .await;
    until("the imported key works", || async {
        status_of(&c, gws[0].url("/weather"), "migrated-key-0001").await == 200
    })
    .await;

    // a plan change is a config change: on the tiny plan (a quota of 2 a
    // month) this application is over its quota at once
    p.ok(
        "mutation($i: ChangeRegistrationPlanInput!) { changeRegistrationPlan(input: $i) { plan { name } } }",
        json!({"i": {"registrationId": reg["id"], "planId": s.tiny_plan}}),
    )
    .await;
    let v = p.version(&s.cp).await;
    until("node 2 has the tiny plan", || async {
        node_version(&gws[1]).await >= v
    })
    .await;
    let r = send(
        c.get(gws[1].url("/weather"))
            .header("apikey", "migrated-key-0001"),
    )
    .await;
    assert_eq!(r.status, 429, "{}", r.text());
    assert!(r.header("retry-after").is_some());
    assert_eq!(r.header("ratelimit-remaining").as_deref(), Some("0"));

    // a new application on the tiny plan: two requests, then 429
    let app2 = dev(
        p,
        &token,
        "mutation { createApplication(input: {name: \"quota-app\"}) { id } }",
        json!({}),
    )
    .await["createApplication"]["id"]
        .as_str()
        .expect("app")
        .to_string();
    let reg2 = dev(
        p,
        &token,
        "mutation($i: RequestRegistrationInput!) { requestRegistration(input: $i) { id } }",
        json!({"i": {"applicationId": app2, "apiId": s.weather, "planId": s.tiny_plan}}),
    )
    .await["requestRegistration"]["id"]
        .clone();
    p.ok(
        "mutation($i: DecideRegistrationInput!) { decideRegistration(input: $i) { status } }",
        json!({"i": {"registrationId": reg2, "status": "APPROVED"}}),
    )
    .await;
    let key2 = dev(
        p,
        &token,
        "mutation($a: ID!) { createCredential(input: {applicationId: $a}) { key } }",
        json!({"a": app2}),
    )
    .await["createCredential"]["key"]
        .as_str()
        .expect("key")
        .to_string();
    // an unknown key is not counted: the first 200 is the first request
    until("the quota app's key works", || async {
        status_of(&c, gws[1].url("/weather"), &key2).await == 200
    })
    .await;
    let second = send(c.get(gws[1].url("/weather")).header("apikey", &key2)).await;
    assert_eq!(second.status, 200, "{}", second.text());
    let third = send(c.get(gws[1].url("/weather")).header("apikey", &key2)).await;
    assert_eq!(third.status, 429, "{}", third.text());
    assert_eq!(third.json()["message"], "API rate limit exceeded");
    assert!(third.header("retry-after").is_some());

    // the developer sees the application's use of its quota (from analytics)
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let u = dev(
            p,
            &token,
            "query($a: ID!) { applicationUsage(applicationId: $a) { requests apis { requests quota remaining planName } } }",
            json!({"a": app2}),
        )
        .await["applicationUsage"]
            .clone();
        if u["requests"] == 3 {
            assert_eq!(u["apis"][0]["quota"], 2.0, "{u}");
            assert_eq!(u["apis"][0]["remaining"], 0.0, "{u}");
            assert_eq!(u["apis"][0]["planName"], "tiny", "{u}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "usage: {u}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    // every event reached the webhook, signed (the first try failed and was
    // retried), and the audit log
    let want = [
        "developer.registered",
        "registration.requested",
        "registration.decided",
        "credential.created",
        "credential.rotated",
        "credential.revoked",
    ];
    until("the webhook got every event", || async {
        let h = hooks.lock().map(|h| h.clone()).unwrap_or_default();
        let names: Vec<String> = h
            .iter()
            .filter_map(|(_, b)| serde_json::from_slice::<Value>(b).ok())
            .filter_map(|v| v["event"].as_str().map(str::to_string))
            .collect();
        want.iter().all(|w| names.iter().any(|n| n == w))
    })
    .await;
    let h = hooks.lock().map(|h| h.clone()).unwrap_or_default();
    for (headers, body) in &h {
        let sig = headers
            .get("x-portico-signature")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let (t, v1) = sig
            .split_once(",v1=")
            .map(|(t, v)| (t.trim_start_matches("t="), v))
            .unwrap_or(("", ""));
        let mut msg = format!("{t}.").into_bytes();
        msg.extend_from_slice(body);
        assert_eq!(v1, hmac_sha256(secret.as_bytes(), &msg), "{sig}");
    }
    let d = p
        .ok(
            "query($p: ID!) { portalWebhooks(portalId: $p) { deliveries(first: 50) { nodes { event status attempts } } } }",
            json!({"p": s.portal}),
        )
        .await;
    let deliveries = d["portalWebhooks"][0]["deliveries"]["nodes"].clone();
    assert!(
        deliveries
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x["attempts"].as_i64() >= Some(2))),
        "one delivery was retried: {deliveries}"
    );
    let audit = p
        .ok(
            "{ auditLog(first: 200) { nodes { action target } } }",
            json!({}),
        )
        .await
        .to_string();
    for w in want {
        assert!(audit.contains(&format!("portal.{w}")), "{w} audited");
    }
}

async fn bad_input_and_other_peoples_applications(db: Db) {
    let up = EchoServer::start("up").await;
    let s = setup(db, &up).await;
    let p = &s.p;
    let ann = p.developer("dev", "ann@example.com").await;
    let bob = p.developer("dev", "bob@example.com").await;
    let app = dev(
        p,
        &ann,
        "mutation { createApplication(input: {name: \"a\"}) { id } }",
        json!({}),
    )
    .await["createApplication"]["id"]
        .as_str()
        .expect("app")
        .to_string();
    // Bob does not see or touch Ann's application
    let (_, r, _) = p
        .portal_gql(
            "dev",
            Some(&bob),
            "mutation($a: ID!) { createCredential(input: {applicationId: $a}) { key } }",
            json!({"a": app}),
        )
        .await;
    assert_eq!(r["errors"][0]["extensions"]["code"], "NOT_FOUND", "{r}");
    let mine = dev(p, &bob, "{ myApplications { totalCount } }", json!({})).await;
    assert_eq!(mine["myApplications"]["totalCount"], 0);
    // anonymous callers cannot create applications
    let (_, r, _) = p
        .portal_gql(
            "dev",
            None,
            "mutation { createApplication(input: {name: \"x\"}) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(
        r["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{r}"
    );
    // a plan is required when the API has plans; a foreign plan is refused
    let (_, r, _) = p
        .portal_gql(
            "dev",
            Some(&ann),
            "mutation($i: RequestRegistrationInput!) { requestRegistration(input: $i) { id } }",
            json!({"i": {"applicationId": app, "apiId": s.weather}}),
        )
        .await;
    assert_eq!(r["errors"][0]["extensions"]["field"], "input.planId", "{r}");
    // names: too long, duplicate
    let (_, r, _) = p
        .portal_gql(
            "dev",
            Some(&ann),
            "mutation($n: String!) { createApplication(input: {name: $n}) { id } }",
            json!({"n": "x".repeat(300)}),
        )
        .await;
    assert_eq!(r["errors"][0]["extensions"]["field"], "input.name", "{r}");
    let (_, r, _) = p
        .portal_gql(
            "dev",
            Some(&ann),
            "mutation { createApplication(input: {name: \"a\"}) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(r["errors"][0]["extensions"]["code"], "CONFLICT", "{r}");
    // the per-application key limit is a portal setting
    p.ok(
        "mutation($id: ID!) { updatePortal(input: {id: $id, applicationLimits: {maxCredentialsPerApplication: 1}}) { applicationLimits { maxCredentialsPerApplication } } }",
        json!({"id": s.portal}),
    )
    .await;
    let q = "mutation($a: ID!) { createCredential(input: {applicationId: $a}) { key } }";
    dev(p, &ann, q, json!({"a": app})).await;
    let (_, r, _) = p.portal_gql("dev", Some(&ann), q, json!({"a": app})).await;
    assert_eq!(r["errors"][0]["extensions"]["code"], "VALIDATION", "{r}");
    // plans: bad limits named by field; webhooks: bad URL and unknown events
    let r = p
        .gql(
            "mutation($i: UpdatePlanInput!) { updatePlan(input: $i) { id } }",
            json!({"i": {"id": s.gold_plan, "rateLimits": {"minute": 0}}}),
        )
        .await;
    assert_eq!(
        r["errors"][0]["extensions"]["field"], "input.rateLimits.minute",
        "{r}"
    );
    let r = p
        .gql(
            "mutation($i: CreatePortalWebhookInput!) { createPortalWebhook(input: $i) { secret } }",
            json!({"i": {"portalId": s.portal, "url": "ftp://x", "events": []}}),
        )
        .await;
    assert_eq!(r["errors"][0]["extensions"]["field"], "input.url", "{r}");
    let r = p
        .gql(
            "mutation($i: CreatePortalWebhookInput!) { createPortalWebhook(input: $i) { secret } }",
            json!({"i": {"portalId": s.portal, "url": "http://127.0.0.1:9/", "events": ["nope"]}}),
        )
        .await;
    assert_eq!(
        r["errors"][0]["extensions"]["field"], "input.events[0]",
        "{r}"
    );
    // the portal's entities are its own: a user's decK apply leaves them
    let before = p
        .ok(
            "query($id: ID) { controlPlane(id: $id) { plugins { totalCount } } }",
            json!({"id": s.cp}),
        )
        .await;
    assert_eq!(
        before["controlPlane"]["plugins"]["totalCount"], 2,
        "{before}"
    );
    p.ok(
        "mutation($i: ApplyConfigInput!) { applyConfig(input: $i) { configVersion } }",
        json!({"i": {"controlPlane": s.cp, "document": {"_format_version": "3.0", "services": [
            {"name": "weather", "url": up.url(), "routes": [{"name": "weather", "paths": ["/weather"]}]},
            {"name": "other", "url": up.url(), "routes": [{"name": "other", "paths": ["/other"]}]}
        ]}}}),
    )
    .await;
    let after = p
        .ok(
            "query($id: ID) { controlPlane(id: $id) { plugins { totalCount } } }",
            json!({"id": s.cp}),
        )
        .await;
    assert_eq!(after["controlPlane"]["plugins"]["totalCount"], 2, "{after}");
}

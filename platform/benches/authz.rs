//! Authorization cost per request: resolving a (cached) bearer token and one
//! casbin check, next to executing a simple query (which includes the same
//! work), with 200 teams and 1,000 members loaded.
//! `cargo bench -p platform --bench authz`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (schema, shared) = rt.block_on(async {
        let db = platform::store::connect("sqlite::memory:")
            .await
            .expect("db");
        platform::auth::bootstrap::bootstrap(
            &db,
            "o@example.com",
            Some("a long enough password".into()),
            Some("bench-token".into()),
        )
        .await
        .expect("bootstrap");
        let state = platform::state::AppState::assemble(
            db,
            std::sync::Arc::new(platform::seal::Sealer::new([7; 32], "test").expect("key")),
            10_000,
        )
        .await
        .expect("platform");
        {
            // a realistic organization: 200 teams scoped to planes, 1,000 members
            let a = &state.access;
            for t in 0..200 {
                a.set_team(
                    &format!("team:t{t}"),
                    &[policies::Assignment {
                        resource_type: "control-planes".into(),
                        role: "Gateway Service Admin".into(),
                        scope: format!("plane-{t}"),
                    }],
                )
                .await
                .expect("team");
            }
            for m in 0..1000 {
                a.set_member(&format!("user:m{m}"), &[format!("team:t{}", m % 200)])
                    .await
                    .expect("member");
            }
        }
        (platform::graphql::schema(state.clone()), state)
    });
    let caller = rt
        .block_on(platform::auth::tokens::resolve(
            &shared.db,
            &shared.access,
            "bench-token",
            None,
        ))
        .expect("caller");
    let mut g = c.benchmark_group("authz");
    g.bench_function("resolve cached token + one check", |b| {
        b.to_async(&rt).iter(|| async {
            let c = platform::auth::tokens::resolve(
                &shared.db,
                &shared.access,
                black_box("bench-token"),
                None,
            )
            .await
            .expect("caller");
            black_box(
                shared
                    .access
                    .allowed(
                        &c,
                        &policies::Resource::ControlPlane("x".into()),
                        policies::Action::Read,
                    )
                    .await,
            )
        })
    });
    let member = platform::auth::Caller {
        member: "user:m17".into(),
        user_id: None,
        token_id: String::new(),
        token_kind: "pat".into(),
        ip: None,
    };
    g.bench_function("casbin check (scoped member, 200 teams)", |b| {
        b.to_async(&rt).iter(|| async {
            black_box(
                shared
                    .access
                    .allowed(
                        &member,
                        &policies::Resource::ControlPlane("plane-17".into()),
                        policies::Action::EntitiesWrite("SERVICE"),
                    )
                    .await,
            )
        })
    });
    g.bench_function("execute { controlPlanes { totalCount } }", |b| {
        b.to_async(&rt).iter(|| async {
            let r = schema
                .execute(
                    async_graphql::Request::new("{ controlPlanes { totalCount } }")
                        .data(caller.clone()),
                )
                .await;
            black_box(r)
        })
    });
    // the same simple query over HTTP, as clients send it (token checked,
    // plane list filtered): what the authorization cost is a share of
    let (url, token) = rt.block_on(async {
        let dir = std::env::temp_dir().join(format!("portico-authz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let r = platform::cli::serve::start(platform::cli::serve::Options {
            listen: "127.0.0.1:0".parse().expect("addr"),
            data_dir: dir,
            database_url: None,
            admin_token: Some("http-token".into()),
            cluster_listen: None,
            cluster_hostnames: Vec::new(),
            change_log_retention: 10_000,
            audit_webhook: None,
            tls: None,
            test_hooks: false,
            max_request_items: platform::graphql::limits::MAX_ITEMS,
            cors_allowed_origins: Vec::new(),
            smtp_url: None,
            mail_from: "Portico <portal@localhost>".into(),
        })
        .await
        .expect("platform");
        (
            format!("http://{}/graphql", r.addr),
            "http-token".to_string(),
        )
    });
    let http = reqwest::Client::new();
    g.bench_function("HTTP POST /graphql { controlPlanes { totalCount } }", |b| {
        b.to_async(&rt).iter(|| async {
            let r = http
                .post(&url)
                .bearer_auth(&token)
                .json(&serde_json::json!({"query": "{ controlPlanes { totalCount } }"}))
                .send()
                .await
                .expect("response");
            black_box(r.bytes().await.expect("body"))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

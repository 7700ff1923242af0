//! The decK file format (`_format_version: "3.0"`, JSON or YAML): services with
//! nested routes, upstreams with nested targets, certificates with nested snis,
//! ca_certificates; references by name or id. Every problem is reported with its
//! path in one pass; nothing is half-loaded. Entity types a later Portico release
//! adds (consumers, plugins, ...) are accepted with a "not supported yet" warning.

use std::collections::{HashMap, HashSet};

use serde_json::Value;
use uuid::Uuid;

use crate::config::Config;
use crate::entity::certificate::{SniConfig, SniObject};
use crate::entity::{AclGroupConfig, BasicAuthCredentialConfig, JwtSecretConfig};
use crate::entity::{
    CaCertificateConfig, CertificateConfig, ConsumerConfig, ConsumerGroupConfig,
    KeyAuthCredentialConfig, PluginConfig, PluginScope, RouteConfig, ServiceConfig, TargetConfig,
    UpstreamConfig,
};
use crate::error::{Errors, InvalidConfig, InvalidField, Path};
use crate::fields::{kind, read_entity, read_value};

/// A loaded file: the validated config and the warnings worth showing.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<InvalidField>,
}

const FORMAT_VERSIONS: &[&str] = &["1.1", "2.1", "3.0"];

mod prepare;
pub use prepare::{migrate_path, prepared, untransform};

/// Top-level keys Portico reads.
const META_KEYS: &[&str] = &[
    "_format_version",
    "_transform",
    "_info",
    "_workspace",
    "_konnect",
    "_comment",
    "_ignore",
];
const ENTITY_KEYS: &[&str] = &[
    "consumers",
    "consumer_groups",
    "consumer_group_consumers",
    "keyauth_credentials",
    "basicauth_credentials",
    "jwt_secrets",
    "acls",
    "plugins",
    "services",
    "routes",
    "upstreams",
    "targets",
    "certificates",
    "snis",
    "ca_certificates",
    "applications",
    "application_credentials",
];
/// decK entity types that Portico accepts but does not act on yet.
const LATER_KEYS: &[&str] = &[
    "vaults",
    "keys",
    "key_sets",
    "partials",
    "filter_chains",
    "custom_entities",
    "_plugin_configs",
];

/// Parses JSON or YAML text into a tree; syntax errors carry line and column.
pub fn parse_text(text: &str) -> Result<Value, InvalidConfig> {
    let err = |m: String| InvalidConfig {
        errors: vec![InvalidField::new(String::new(), m)],
    };
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return Err(err("the file is empty".into()));
    }
    if trimmed.starts_with('{') {
        serde_json::from_str(text).map_err(|e| err(format!("invalid JSON: {e}")))
    } else {
        serde_yaml_ng::from_str::<Value>(text).map_err(|e| err(format!("invalid YAML: {e}")))
    }
}

/// Loads and validates a decK file's text.
pub fn load_str(text: &str) -> Result<Loaded, InvalidConfig> {
    load_value(&parse_text(text)?)
}

/// Loads and validates an already parsed decK document.
pub fn load_value(doc: &Value) -> Result<Loaded, InvalidConfig> {
    let mut errors = Errors::default();
    let prepared = prepare::prepare(doc, &mut errors);
    let doc = prepared.as_ref().unwrap_or(doc);
    let mut warnings = Errors::default();
    let root = Path::root();
    let Value::Object(top) = doc else {
        errors.add(
            "",
            format!("expected an object at the top level, got {}", kind(doc)),
        );
        return Err(InvalidConfig {
            errors: errors.list,
        });
    };

    match top.get("_format_version") {
        None => errors.add("_format_version", "required field missing"),
        Some(Value::String(v)) if FORMAT_VERSIONS.contains(&v.as_str()) => {}
        Some(v) => errors.add(
            "_format_version",
            format!("unsupported version {v}: expected one of {FORMAT_VERSIONS:?}"),
        ),
    }
    if let Some(t) = top.get("_transform")
        && !t.is_boolean()
    {
        errors.add("_transform", format!("expected a boolean, got {}", kind(t)));
    }
    for (k, v) in top {
        if META_KEYS.contains(&k.as_str()) || ENTITY_KEYS.contains(&k.as_str()) {
            continue;
        }
        if LATER_KEYS.contains(&k.as_str()) {
            let n = v.as_array().map(|a| a.len()).unwrap_or(0);
            warnings.add(k, format!("not supported yet: {n} entries ignored"));
        } else {
            errors.add(k, "unknown field");
        }
    }

    let mut b = Builder::default();
    let list = |key: &str, errors: &mut Errors| -> Vec<(Path, Value)> {
        array_items(top.get(key), &root.field(key), errors)
    };

    // services, with nested routes
    let mut nested_routes: Vec<(Path, Value, Option<Uuid>, String)> = Vec::new();
    // plugins nested in services, routes, consumers and groups, with their scope
    let mut nested_plugins: Vec<(Path, Value, PluginScope)> = Vec::new();
    for (i, (p, v)) in list("services", &mut errors).into_iter().enumerate() {
        let cfg: Option<ServiceConfig> = read_entity(&v, &p, &["routes", "plugins"], &mut errors);
        let svc = cfg.and_then(|c| c.validate(i, &p, &mut errors));
        let key = svc
            .as_ref()
            .map(|s| s.name.clone().unwrap_or_else(|| s.id.to_string()))
            .unwrap_or_default();
        let sid = svc.as_ref().map(|s| s.id);
        for (rp, rv) in array_items(v.get("routes"), &p.field("routes"), &mut errors) {
            nested_routes.push((rp, rv, sid, key.clone()));
        }
        if let Some(s) = svc {
            let scope = PluginScope {
                service: Some(s.id),
                ..PluginScope::default()
            };
            collect_plugins(&v, &p, scope, &mut nested_plugins, &mut errors);
            b.add_service(s, &p, &mut errors);
        }
    }
    for (rp, rv, sid, key) in nested_routes {
        let cfg: Option<RouteConfig> = read_entity(&rv, &rp, &["plugins"], &mut errors);
        if let Some(c) = cfg {
            if c.service.is_some() {
                errors.add(
                    rp.field("service"),
                    "must not be set on a route nested in a service",
                );
                continue;
            }
            let order = b.config.routes.len();
            if let Some(r) = c.validate(order, sid, &key, &rp, &mut errors) {
                let scope = PluginScope {
                    route: Some(r.id),
                    ..PluginScope::default()
                };
                collect_plugins(&rv, &rp, scope, &mut nested_plugins, &mut errors);
                b.add_route(r, &rp, &mut errors);
            }
        }
    }
    // top-level routes referencing a service
    for (rp, rv) in list("routes", &mut errors) {
        let cfg: Option<RouteConfig> = read_entity(&rv, &rp, &["plugins"], &mut errors);
        if let Some(c) = cfg {
            let sid = match &c.service {
                None | Some(Value::Null) => None,
                Some(r) => b.resolve(
                    &b.service_ids,
                    r,
                    &rp.field("service"),
                    "service",
                    &mut errors,
                ),
            };
            let order = b.config.routes.len();
            let key = sid.map(|s| s.to_string()).unwrap_or_default();
            if let Some(r) = c.validate(order, sid, &key, &rp, &mut errors) {
                let scope = PluginScope {
                    route: Some(r.id),
                    ..PluginScope::default()
                };
                collect_plugins(&rv, &rp, scope, &mut nested_plugins, &mut errors);
                b.add_route(r, &rp, &mut errors);
            }
        }
    }

    // upstreams with nested targets
    for (p, v) in list("upstreams", &mut errors) {
        let cfg: Option<UpstreamConfig> = read_entity(&v, &p, &["targets"], &mut errors);
        let up = cfg.and_then(|c| c.validate(&p, &mut errors));
        let targets = array_items(v.get("targets"), &p.field("targets"), &mut errors);
        if let Some(u) = up {
            for (tp, tv) in targets {
                let t: Option<TargetConfig> = read_entity(&tv, &tp, &[], &mut errors);
                if let Some(t) = t {
                    if t.upstream.is_some() {
                        errors.add(
                            tp.field("upstream"),
                            "must not be set on a target nested in an upstream",
                        );
                    } else if let Some(t) = t.validate(&u, &tp, &mut errors) {
                        b.add_target(t, &tp, &mut errors);
                    }
                }
            }
            b.add_upstream(u, &p, &mut errors);
        }
    }
    for (tp, tv) in list("targets", &mut errors) {
        let t: Option<TargetConfig> = read_entity(&tv, &tp, &[], &mut errors);
        if let Some(t) = t {
            let Some(r) = &t.upstream else {
                errors.add(tp.field("upstream"), "required field missing");
                continue;
            };
            let Some(uid) = b.resolve(
                &b.upstream_ids,
                r,
                &tp.field("upstream"),
                "upstream",
                &mut errors,
            ) else {
                continue;
            };
            let Some(u) = b.config.upstreams.iter().find(|u| u.id == uid).cloned() else {
                continue;
            };
            if let Some(t) = t.validate(&u, &tp, &mut errors) {
                b.add_target(t, &tp, &mut errors);
            }
        }
    }

    // certificates with nested snis; top-level snis
    for (i, (p, v)) in list("certificates", &mut errors).into_iter().enumerate() {
        let cfg: Option<CertificateConfig> = read_entity(&v, &p, &["snis"], &mut errors);
        let cert = cfg.and_then(|c| c.validate(i, &p, &mut errors));
        let snis = array_items(v.get("snis"), &p.field("snis"), &mut errors);
        if let Some(c) = cert {
            for (sp, sv) in snis {
                let s: Option<SniConfig> = read_value(sv, &sp, &mut errors);
                if let Some(s) = s.and_then(|s| s.validate(&c, &sp, &mut errors)) {
                    b.add_sni(s, &sp, &mut errors);
                }
            }
            b.add_certificate(c, &p, &mut errors);
        }
    }
    for (sp, sv) in list("snis", &mut errors) {
        let s: Option<SniObject> = read_entity(&sv, &sp, &[], &mut errors);
        if let Some(s) = s {
            let Some(r) = &s.certificate else {
                errors.add(sp.field("certificate"), "required field missing");
                continue;
            };
            let Some(cid) = b.resolve(
                &b.certificate_ids,
                r,
                &sp.field("certificate"),
                "certificate",
                &mut errors,
            ) else {
                continue;
            };
            let Some(c) = b.config.certificates.iter().find(|c| c.id == cid).cloned() else {
                continue;
            };
            if let Some(s) = SniConfig::Object(s).validate(&c, &sp, &mut errors) {
                b.add_sni(s, &sp, &mut errors);
            }
        }
    }

    for (i, (p, v)) in list("ca_certificates", &mut errors).into_iter().enumerate() {
        let cfg: Option<CaCertificateConfig> = read_entity(&v, &p, &[], &mut errors);
        if let Some(c) = cfg.and_then(|c| c.validate(i, &p, &mut errors)) {
            b.add_ca(c, &p, &mut errors);
        }
    }

    // consumer groups, consumers (with their groups, credentials and plugins)
    for (p, v) in list("consumer_groups", &mut errors) {
        let cfg: Option<ConsumerGroupConfig> =
            read_entity(&v, &p, &["plugins", "consumers"], &mut errors);
        if let Some(g) = cfg.and_then(|c| c.validate(&p, &mut errors)) {
            let scope = PluginScope {
                consumer_group: Some(g.id),
                ..PluginScope::default()
            };
            collect_plugins(&v, &p, scope, &mut nested_plugins, &mut errors);
            if b.unique("consumer_group", "name", g.name.clone(), &p, &mut errors) {
                b.group_ids.insert(g.name.clone(), g.id);
                b.group_ids.insert(g.id.to_string(), g.id);
                b.config.consumer_groups.push(g);
            }
        }
    }
    // consumers; their credentials nested or, as `kong config db_export` writes
    // them, in top-level lists that reference their consumer
    let mut creds: Vec<(&'static str, Path, Value, Uuid)> = Vec::new();
    for (p, v) in list("consumers", &mut errors) {
        for later in LATER_CREDENTIALS {
            if let Some(list) = v.get(*later).and_then(Value::as_array) {
                warnings.add(
                    p.field(later),
                    format!("not supported yet: {} entries ignored", list.len()),
                );
            }
        }
        let cfg: Option<ConsumerConfig> = read_entity(&v, &p, &CONSUMER_NESTED, &mut errors);
        let Some(mut c) = cfg.and_then(|c| c.validate(&p, &mut errors)) else {
            continue;
        };
        for (gp, gv) in array_items(v.get("groups"), &p.field("groups"), &mut errors) {
            if let Some(gid) = b.resolve(&b.group_ids, &gv, &gp, "consumer_group", &mut errors) {
                c.groups.push(gid);
            }
        }
        for key in CREDENTIAL_KEYS {
            for (cp, cv) in array_items(v.get(key), &p.field(key), &mut errors) {
                if cv.get("consumer").is_some_and(|x| !x.is_null()) {
                    errors.add(
                        cp.field("consumer"),
                        "must not be set on a credential nested in a consumer",
                    );
                    continue;
                }
                creds.push((key, cp, cv, c.id));
            }
        }
        let scope = PluginScope {
            consumer: Some(c.id),
            ..PluginScope::default()
        };
        collect_plugins(&v, &p, scope, &mut nested_plugins, &mut errors);
        let mut ok = true;
        if let Some(u) = &c.username {
            ok &= b.unique("consumer", "username", u.clone(), &p, &mut errors);
            b.consumer_ids.insert(u.clone(), c.id);
        }
        if let Some(u) = &c.custom_id {
            ok &= b.unique("consumer", "custom_id", u.clone(), &p, &mut errors);
        }
        ok = ok && b.unique("consumer", "id", c.id.to_string(), &p, &mut errors);
        b.consumer_ids.insert(c.id.to_string(), c.id);
        if ok {
            b.config.consumers.push(c);
        }
    }
    for key in CREDENTIAL_KEYS {
        for (cp, cv) in list(key, &mut errors) {
            let Some(r) = cv.get("consumer").filter(|x| !x.is_null()) else {
                errors.add(cp.field("consumer"), "required field missing");
                continue;
            };
            let r = consumer_ref(r.clone());
            if let Some(cid) = b.resolve(
                &b.consumer_ids,
                &r,
                &cp.field("consumer"),
                "consumer",
                &mut errors,
            ) {
                creds.push((key, cp, cv, cid));
            }
        }
    }
    for (key, cp, cv, cid) in creds {
        let Some(c) = b.config.consumers.iter().find(|c| c.id == cid).cloned() else {
            continue;
        };
        b.add_credential(key, &c, &cp, &cv, &mut errors);
    }
    // group memberships: listed in a group, or as `consumer_group_consumers`
    let mut members: Vec<(Path, Value, Value)> = Vec::new();
    for (gp, gv) in list("consumer_groups", &mut errors) {
        let group = gv
            .get("id")
            .or_else(|| gv.get("name"))
            .cloned()
            .unwrap_or(Value::Null);
        for (mp, mv) in array_items(gv.get("consumers"), &gp.field("consumers"), &mut errors) {
            members.push((mp, group.clone(), consumer_ref(mv)));
        }
    }
    for (mp, mv) in list("consumer_group_consumers", &mut errors) {
        let group = mv.get("consumer_group").cloned().unwrap_or(Value::Null);
        let consumer = mv.get("consumer").cloned().unwrap_or(Value::Null);
        members.push((mp, group, consumer_ref(consumer)));
    }
    for (mp, group, consumer) in members {
        let gid = b.resolve(
            &b.group_ids,
            &group,
            &mp.field("consumer_group"),
            "consumer_group",
            &mut errors,
        );
        let cid = b.resolve(
            &b.consumer_ids,
            &consumer,
            &mp.field("consumer"),
            "consumer",
            &mut errors,
        );
        if let (Some(gid), Some(cid)) = (gid, cid)
            && let Some(c) = b.config.consumers.iter_mut().find(|c| c.id == cid)
            && !c.groups.contains(&gid)
        {
            c.groups.push(gid);
        }
    }

    // plugins: top level (scoped by references) and nested (scoped by their parent)
    let mut all_plugins = nested_plugins;
    for (p, v) in list("plugins", &mut errors) {
        let mut scope = PluginScope::default();
        for (field, kind) in [
            ("service", "service"),
            ("route", "route"),
            ("consumer", "consumer"),
            ("consumer_group", "consumer_group"),
        ] {
            let Some(r) = v.get(field).filter(|r| !r.is_null()) else {
                continue;
            };
            let map = match kind {
                "service" => &b.service_ids,
                "route" => &b.route_ids,
                "consumer" => &b.consumer_ids,
                _ => &b.group_ids,
            };
            let id = b.resolve(map, r, &p.field(field), kind, &mut errors);
            match field {
                "service" => scope.service = id,
                "route" => scope.route = id,
                "consumer" => scope.consumer = id,
                _ => scope.consumer_group = id,
            }
        }
        all_plugins.push((p, v, scope));
    }
    for (p, v, scope) in all_plugins {
        let cfg: Option<PluginConfig> = read_entity(&v, &p, &[], &mut errors);
        let Some(cfg) = cfg else { continue };
        let nested_ref = !p.as_str().starts_with("plugins[")
            && ["service", "route", "consumer", "consumer_group"]
                .iter()
                .any(|f| v.get(*f).is_some_and(|x| !x.is_null()));
        if nested_ref {
            errors.add(p.to_string(), "a nested plugin takes its scope from its parent: remove 'service', 'route', 'consumer' and 'consumer_group'");
            continue;
        }
        if let Some(pl) = cfg.validate(scope, &p, &mut errors) {
            let key = format!("{}|{}", pl.name, pl.id);
            let combo = format!("{} for {}", pl.name, describe_scope(&pl.scope));
            if b.unique("plugin", "name", combo, &p, &mut errors)
                && b.unique("plugin", "id", key, &p, &mut errors)
            {
                b.config.plugins.push(pl);
            }
        }
    }

    // Dev Portal applications and their keys
    let mut app_ids: HashMap<String, Uuid> = HashMap::new();
    for (p, v) in list("applications", &mut errors) {
        let cfg: Option<crate::entity::ApplicationConfig> = read_entity(&v, &p, &[], &mut errors);
        if let Some(a) = cfg.and_then(|c| c.validate(&p, &mut errors))
            && b.unique("application", "id", a.id.to_string(), &p, &mut errors)
        {
            app_ids.insert(a.id.to_string(), a.id);
            app_ids.insert(a.name.clone(), a.id);
            b.config.applications.push(a);
        }
    }
    for (p, v) in list("application_credentials", &mut errors) {
        let cfg: Option<crate::entity::ApplicationCredentialConfig> =
            read_entity(&v, &p, &[], &mut errors);
        let Some(c) = cfg else { continue };
        let Some(r) = c.application.clone().filter(|x| !x.is_null()) else {
            errors.add(p.field("application"), "required field missing");
            continue;
        };
        let Some(aid) = b.resolve(
            &app_ids,
            &r,
            &p.field("application"),
            "application",
            &mut errors,
        ) else {
            continue;
        };
        let Some(app) = b.config.applications.iter().find(|a| a.id == aid).cloned() else {
            continue;
        };
        if let Some(k) = c.validate(&app, &p, &mut errors)
            && b.unique(
                "application_credential",
                "key",
                k.key_sha256.clone(),
                &p,
                &mut errors,
            )
        {
            b.config.application_credentials.push(k);
        }
    }

    // references from services to CA certificates
    let cas: HashSet<Uuid> = b.config.ca_certificates.iter().map(|c| c.id).collect();
    for s in &b.config.services {
        for (i, ca) in s.ca_certificates.iter().enumerate() {
            if !cas.contains(ca) {
                errors.add(
                    format!("{}.ca_certificates[{i}]", s.source),
                    format!("references a ca_certificate that does not exist: {ca}"),
                );
            }
        }
    }
    for r in &b.config.routes {
        if r.path_handling == crate::entity::PathHandling::V1 {
            warnings.add(
                format!("{}.path_handling", r.source),
                "path_handling 'v1' is deprecated and behaves as 'v0' with Kong's default router; Portico does the same",
            );
        }
    }

    if !errors.is_empty() {
        return Err(InvalidConfig {
            errors: errors.list,
        });
    }
    Ok(Loaded {
        config: b.config,
        warnings: warnings.list,
    })
}

/// Credential types a later Portico release adds.
const LATER_CREDENTIALS: &[&str] = &[
    "hmacauth_credentials",
    "oauth2_credentials",
    "mtls_auth_credentials",
];
/// Credential lists: nested in a consumer, or top-level with a `consumer`.
const CREDENTIAL_KEYS: [&str; 4] = [
    "keyauth_credentials",
    "basicauth_credentials",
    "jwt_secrets",
    "acls",
];

/// A consumer reference as files write it (`{username}`, `{id}`, or a bare
/// username or id), as [`Builder::resolve`] reads it.
fn consumer_ref(v: Value) -> Value {
    match &v {
        Value::Object(o) if o.get("id").is_none() && o.get("name").is_none() => {
            match o.get("username") {
                Some(u) => serde_json::json!({ "name": u }),
                None => v,
            }
        }
        _ => v,
    }
}

const CONSUMER_NESTED: [&str; 9] = [
    "groups",
    "keyauth_credentials",
    "plugins",
    "basicauth_credentials",
    "jwt_secrets",
    "acls",
    "hmacauth_credentials",
    "oauth2_credentials",
    "mtls_auth_credentials",
];

fn collect_plugins(
    parent: &Value,
    path: &Path,
    scope: PluginScope,
    out: &mut Vec<(Path, Value, PluginScope)>,
    errors: &mut Errors,
) {
    for (p, v) in array_items(parent.get("plugins"), &path.field("plugins"), errors) {
        out.push((p, v, scope));
    }
}

fn describe_scope(s: &PluginScope) -> String {
    let parts: Vec<String> = [
        ("service", s.service),
        ("route", s.route),
        ("consumer", s.consumer),
        ("consumer_group", s.consumer_group),
    ]
    .iter()
    .filter_map(|(k, v)| v.map(|v| format!("{k}={v}")))
    .collect();
    if parts.is_empty() {
        "global".into()
    } else {
        parts.join(",")
    }
}

fn array_items(v: Option<&Value>, path: &Path, errors: &mut Errors) -> Vec<(Path, Value)> {
    match v {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .enumerate()
            .map(|(i, v)| (path.index(i), v.clone()))
            .collect(),
        Some(o) => {
            errors.add(path, format!("expected an array, got {}", kind(o)));
            Vec::new()
        }
    }
}

/// Accumulates entities, enforcing unique ids and names per entity type.
#[derive(Default)]
struct Builder {
    config: Config,
    route_ids: HashMap<String, Uuid>,
    consumer_ids: HashMap<String, Uuid>,
    group_ids: HashMap<String, Uuid>,
    service_ids: HashMap<String, Uuid>,
    upstream_ids: HashMap<String, Uuid>,
    certificate_ids: HashMap<String, Uuid>,
    seen: HashMap<(&'static str, String), String>,
}

impl Builder {
    /// A consumer's credential of list `key` (`keyauth_credentials`, ...).
    fn add_credential(
        &mut self,
        key: &str,
        c: &crate::entity::Consumer,
        p: &Path,
        v: &Value,
        errors: &mut Errors,
    ) {
        match key {
            "keyauth_credentials" => {
                let k: Option<KeyAuthCredentialConfig> = read_entity(v, p, &[], errors);
                if let Some(k) = k.and_then(|k| k.validate(c, p, errors))
                    && self.unique("keyauth_credential", "key", k.key_sha256.clone(), p, errors)
                {
                    self.config.keyauth_credentials.push(k);
                }
            }
            "basicauth_credentials" => {
                let k: Option<BasicAuthCredentialConfig> = read_entity(v, p, &[], errors);
                if let Some(k) = k.and_then(|k| k.validate(c, p, errors))
                    && self.unique(
                        "basicauth_credential",
                        "username",
                        k.username.clone(),
                        p,
                        errors,
                    )
                {
                    self.config.basicauth_credentials.push(k);
                }
            }
            "jwt_secrets" => {
                let j: Option<JwtSecretConfig> = read_entity(v, p, &[], errors);
                if let Some(j) = j.and_then(|j| j.validate(c, p, errors))
                    && self.unique("jwt_secret", "key", j.key.clone(), p, errors)
                {
                    self.config.jwt_secrets.push(j);
                }
            }
            _ => {
                let a: Option<AclGroupConfig> = read_entity(v, p, &[], errors);
                if let Some(a) = a.and_then(|a| a.validate(c, p, errors)) {
                    self.config.acls.push(a);
                }
            }
        }
    }

    /// Records `key` of `field` for `kind`; a second entity with the same key is
    /// an error that names where the first one was. Each field is its own
    /// namespace (a consumer's username may equal another's custom_id).
    fn unique(
        &mut self,
        kind: &'static str,
        field: &str,
        key: String,
        path: &Path,
        errors: &mut Errors,
    ) -> bool {
        let slot = (kind, format!("{field}\u{0}{key}"));
        match self.seen.get(&slot) {
            Some(first) => {
                errors.duplicate(
                    path.field(field),
                    format!("duplicate {kind} {field} '{key}' (first defined at {first})"),
                );
                false
            }
            None => {
                self.seen.insert(slot, path.to_string());
                true
            }
        }
    }

    fn add_service(&mut self, s: crate::entity::Service, p: &Path, errors: &mut Errors) {
        let mut ok = match &s.name {
            Some(n) => self.unique("service", "name", n.clone(), p, errors),
            None => true,
        };
        ok = ok && self.unique("service", "id", s.id.to_string(), p, errors);
        if let Some(n) = &s.name {
            self.service_ids.entry(n.clone()).or_insert(s.id);
        }
        self.service_ids.insert(s.id.to_string(), s.id);
        if ok {
            self.config.services.push(s);
        }
    }

    fn add_route(&mut self, r: crate::entity::Route, p: &Path, errors: &mut Errors) {
        if let Some(n) = &r.name {
            self.route_ids.entry(n.clone()).or_insert(r.id);
        }
        self.route_ids.insert(r.id.to_string(), r.id);
        // a duplicate name also derives a duplicate id: report the name only
        let mut ok = match &r.name {
            Some(n) => self.unique("route", "name", n.clone(), p, errors),
            None => true,
        };
        ok = ok && self.unique("route", "id", r.id.to_string(), p, errors);
        if ok {
            self.config.routes.push(r);
        }
    }

    fn add_upstream(&mut self, u: crate::entity::Upstream, p: &Path, errors: &mut Errors) {
        let ok = self.unique("upstream", "name", u.name.clone(), p, errors)
            && self.unique("upstream", "id", u.id.to_string(), p, errors);
        self.upstream_ids.entry(u.name.clone()).or_insert(u.id);
        self.upstream_ids.insert(u.id.to_string(), u.id);
        if ok {
            self.config.upstreams.push(u);
        }
    }

    fn add_target(&mut self, t: crate::entity::Target, p: &Path, errors: &mut Errors) {
        let ok = self.unique(
            "target",
            "target",
            format!("{}@{}", t.target(), t.upstream_id),
            p,
            errors,
        ) && self.unique("target", "id", t.id.to_string(), p, errors);
        if ok {
            self.config.targets.push(t);
        }
    }

    fn add_certificate(&mut self, c: crate::entity::Certificate, p: &Path, errors: &mut Errors) {
        if self.unique("certificate", "id", c.id.to_string(), p, errors) {
            self.certificate_ids.insert(c.id.to_string(), c.id);
            self.config.certificates.push(c);
        }
    }

    fn add_sni(&mut self, s: crate::entity::Sni, p: &Path, errors: &mut Errors) {
        let ok = self.unique("sni", "name", s.name.clone(), p, errors);
        if ok {
            self.config.snis.push(s);
        }
    }

    fn add_ca(&mut self, c: crate::entity::CaCertificate, p: &Path, errors: &mut Errors) {
        if self.unique("ca_certificate", "id", c.id.to_string(), p, errors) {
            self.config.ca_certificates.push(c);
        }
    }

    /// Resolves `{name: x}`, `{id: x}` or `"x"` against a name/id map.
    fn resolve(
        &self,
        map: &HashMap<String, Uuid>,
        r: &Value,
        path: &Path,
        what: &str,
        errors: &mut Errors,
    ) -> Option<Uuid> {
        let key = match r {
            Value::String(s) => Some(s.clone()),
            Value::Object(o) => o
                .get("id")
                .or_else(|| o.get("name"))
                .and_then(Value::as_str)
                .map(str::to_string),
            _ => None,
        };
        let Some(key) = key else {
            errors.add(
                path,
                format!("expected a {what} name, or an object with 'id' or 'name'"),
            );
            return None;
        };
        match map.get(&key).or_else(|| map.get(&key.to_ascii_lowercase())) {
            Some(id) => Some(*id),
            None => {
                errors.add(
                    path,
                    format!("references a {what} that does not exist: '{key}'"),
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests;

//! `key-auth` (priority 1250): the consumer is whoever owns the API key found in a
//! header or query argument named in `key_names`. Keys are compared as SHA-256
//! digests. Answers as Kong does: 401 `No API key found in request` with
//! `WWW-Authenticate: Key realm="kong"`, 401 `Unauthorized` for an unknown key;
//! with `anonymous` set, such requests go on as the anonymous consumer.

use std::sync::Arc;

use graphql_schema::plugin_config::key_auth::KeyAuthConfig;
use http::{HeaderName, HeaderValue, StatusCode};

use crate::plugin::{ConsumerRt, Consumers, Ctx, Flow, Identity, Plugin};

pub struct KeyAuth {
    cfg: KeyAuthConfig,
    source: KeySource,
    anonymous: Option<Arc<ConsumerRt>>,
    www_authenticate: HeaderValue,
}

impl KeyAuth {
    pub fn new(cfg: KeyAuthConfig, consumers: &Consumers) -> Result<KeyAuth, String> {
        let source = KeySource::new(&cfg.key_names, cfg.key_in_header, cfg.key_in_query)?;
        let anonymous = match &cfg.anonymous {
            None => None,
            Some(a) if a.is_empty() => None,
            Some(a) => Some(consumers.find(a).ok_or_else(|| {
                format!("anonymous consumer '{a}' is configured but doesn't exist")
            })?),
        };
        let realm = cfg.realm.clone().unwrap_or_else(|| "kong".into());
        let www_authenticate = HeaderValue::from_str(&format!("Key realm=\"{realm}\""))
            .map_err(|e| format!("realm: {e}"))?;
        Ok(KeyAuth {
            cfg,
            source,
            anonymous,
            www_authenticate,
        })
    }

    fn fail(&self, ctx: &mut Ctx<'_>, status: StatusCode, msg: &str, challenge: bool) -> Flow {
        if let Some(a) = &self.anonymous {
            ctx.identity = Some(Identity {
                consumer: a.clone(),
                credential: None,
                anonymous: true,
            });
            return Flow::Continue;
        }
        let mut r = crate::plugins::message(status, msg);
        if challenge {
            r.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                self.www_authenticate.clone(),
            );
        }
        Flow::Respond(r)
    }
}

impl Plugin for KeyAuth {
    fn name(&self) -> &'static str {
        "key-auth"
    }

    fn access(&self, ctx: &mut Ctx<'_>) -> Flow {
        if !self.cfg.run_on_preflight && ctx.method == http::Method::OPTIONS {
            return Flow::Continue;
        }
        // an earlier authentication already identified a real consumer
        if ctx.identity.as_ref().is_some_and(|i| !i.anonymous) && self.anonymous.is_some() {
            return Flow::Continue;
        }
        let Some(found) = self.source.find(ctx) else {
            return self.fail(
                ctx,
                StatusCode::UNAUTHORIZED,
                "No API key found in request",
                true,
            );
        };
        let digest = graphql_schema::entity::consumer::digest(&found.key);
        let Some((consumer, cred)) = ctx.consumers.keyauth.get(&digest).cloned() else {
            return self.fail(ctx, StatusCode::UNAUTHORIZED, "Unauthorized", true);
        };
        if self.cfg.hide_credentials {
            self.source.hide(ctx, &found);
        }
        ctx.identity = Some(Identity {
            consumer,
            credential: Some(cred),
            anonymous: false,
        });
        Flow::Continue
    }
}

/// Where a request's API key may be: headers and query arguments, by name.
pub struct KeySource {
    names: Vec<(HeaderName, String)>,
    in_header: bool,
    in_query: bool,
}

/// A key found in a request, and where.
pub struct Found {
    pub key: String,
    header: Option<HeaderName>,
    arg: Option<String>,
}

impl KeySource {
    pub fn new(names: &[String], in_header: bool, in_query: bool) -> Result<KeySource, String> {
        let names = names
            .iter()
            .map(|n| {
                HeaderName::from_bytes(n.to_ascii_lowercase().as_bytes())
                    .map(|h| (h, n.clone()))
                    .map_err(|e| format!("key_names: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(KeySource {
            names,
            in_header,
            in_query,
        })
    }

    /// The first key found: for each name in order, its header, then its query
    /// argument (as Kong looks).
    pub fn find(&self, ctx: &Ctx<'_>) -> Option<Found> {
        for (name, raw) in &self.names {
            if self.in_header
                && let Some(v) = ctx.headers.get(name).and_then(|v| v.to_str().ok())
            {
                return Some(Found {
                    key: v.to_string(),
                    header: Some(name.clone()),
                    arg: None,
                });
            }
            if self.in_query
                && let Some(v) = ctx.query.as_deref().and_then(|q| query_arg(q, raw))
            {
                return Some(Found {
                    key: v,
                    header: None,
                    arg: Some(raw.clone()),
                });
            }
        }
        None
    }

    /// Removes the found key from what goes upstream.
    pub fn hide(&self, ctx: &mut Ctx<'_>, found: &Found) {
        if let Some(h) = &found.header {
            ctx.headers.remove(h);
        }
        if let (Some(arg), Some(q)) = (&found.arg, ctx.query.take()) {
            let rest: Vec<&str> = q
                .split('&')
                .filter(|kv| kv.split('=').next() != Some(arg.as_str()))
                .collect();
            ctx.query = (!rest.is_empty()).then(|| rest.join("&"));
        }
    }
}

/// The first value of query argument `name` (percent-decoded).
fn query_arg(q: &str, name: &str) -> Option<String> {
    q.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(x) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(x);
            i += 3;
            continue;
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

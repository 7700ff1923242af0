//! `jwt` (priority 1450): a token from a query argument, cookie or header
//! (`Authorization: Bearer ...`) identifies the consumer owning the `jwt_secrets`
//! entry named by its `key_claim_name` claim (`iss` by default), once its signature
//! (HS256/384/512, RS256/384/512, ES256/384, PS*, EdDSA) and the claims in
//! `claims_to_verify` check out. Kong's answers: 401 `Unauthorized` without a token,
//! 401 `No mandatory 'iss' in claims`, 401 `No credentials found for given 'iss'`,
//! 403 `Invalid algorithm`, 401 `Invalid signature`, 401 `{"exp":"token expired"}`.

use std::collections::HashMap;
use std::sync::Arc;

use graphql_schema::plugin_config::jwt::JwtConfig;
use http::{HeaderName, StatusCode, header};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use crate::plugin::{ConsumerRt, Consumers, Ctx, Flow, Identity, Plugin};

/// A consumer's JWT credential, ready to verify with.
pub struct JwtKey {
    pub consumer: Arc<ConsumerRt>,
    pub credential: uuid::Uuid,
    pub algorithm: Algorithm,
    /// HMAC secret (raw text; base64-decoded per plugin when `secret_is_base64`).
    pub secret: Option<String>,
    /// Parsed public key for RS/ES/PS/EdDSA.
    pub public: Option<DecodingKey>,
}

impl std::fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JwtKey({:?}, {:?})", self.credential, self.algorithm)
    }
}

/// Builds the key table from the config's `jwt_secrets` (public keys parsed once).
pub fn keys(
    config: &graphql_schema::Config,
    consumers: &HashMap<uuid::Uuid, Arc<ConsumerRt>>,
) -> Result<HashMap<String, Arc<JwtKey>>, Vec<graphql_schema::InvalidField>> {
    let mut out = HashMap::new();
    let mut errors = Vec::new();
    for s in &config.jwt_secrets {
        let Some(consumer) = consumers.get(&s.consumer_id) else {
            continue;
        };
        let algorithm = match s.algorithm.parse::<Algorithm>() {
            Ok(a) => a,
            Err(e) => {
                errors.push(graphql_schema::InvalidField::new(
                    format!("{}.algorithm", s.source),
                    e.to_string(),
                ));
                continue;
            }
        };
        let public = match (&s.rsa_public_key, s.algorithm.as_str()) {
            (Some(pem), a) if a.starts_with("ES") => Some(DecodingKey::from_ec_pem(pem.as_bytes())),
            (Some(pem), "EdDSA") => Some(DecodingKey::from_ed_pem(pem.as_bytes())),
            (Some(pem), a) if !a.starts_with("HS") => {
                Some(DecodingKey::from_rsa_pem(pem.as_bytes()))
            }
            _ => None,
        }
        .transpose();
        let public = match public {
            Ok(p) => p,
            Err(e) => {
                errors.push(graphql_schema::InvalidField::new(
                    format!("{}.rsa_public_key", s.source),
                    format!("invalid public key: {e}"),
                ));
                continue;
            }
        };
        out.insert(
            s.key.clone(),
            Arc::new(JwtKey {
                consumer: consumer.clone(),
                credential: s.id,
                algorithm,
                secret: s.secret.clone(),
                public,
            }),
        );
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

pub struct Jwt {
    cfg: JwtConfig,
    headers: Vec<HeaderName>,
    anonymous: Option<Arc<ConsumerRt>>,
}

impl Jwt {
    pub fn new(cfg: JwtConfig, consumers: &Consumers) -> Result<Jwt, String> {
        let headers = cfg
            .header_names
            .iter()
            .map(|h| {
                HeaderName::from_bytes(h.to_ascii_lowercase().as_bytes())
                    .map_err(|e| format!("header_names: {e}"))
            })
            .collect::<Result<_, _>>()?;
        let anonymous = match cfg.anonymous.as_deref().filter(|a| !a.is_empty()) {
            None => None,
            Some(a) => Some(consumers.find(a).ok_or_else(|| {
                format!("anonymous consumer '{a}' is configured but doesn't exist")
            })?),
        };
        Ok(Jwt {
            cfg,
            headers,
            anonymous,
        })
    }

    fn token(&self, ctx: &Ctx<'_>) -> Result<Option<String>, ()> {
        let mut found: Vec<String> = Vec::new();
        if let Some(q) = ctx.query.as_deref() {
            for kv in q.split('&') {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                if self.cfg.uri_param_names.iter().any(|n| n == k) && !v.is_empty() {
                    found.push(v.to_string());
                }
            }
        }
        if !self.cfg.cookie_names.is_empty() {
            for c in ctx
                .headers
                .get_all(header::COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(';'))
            {
                if let Some((k, v)) = c.trim().split_once('=')
                    && self.cfg.cookie_names.iter().any(|n| n == k)
                {
                    found.push(v.to_string());
                }
            }
        }
        for h in &self.headers {
            for v in ctx
                .headers
                .get_all(h)
                .iter()
                .filter_map(|v| v.to_str().ok())
            {
                let t = match v.split_once(' ') {
                    Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
                    _ => v.trim(),
                };
                if !t.is_empty() {
                    found.push(t.to_string());
                }
            }
        }
        found.dedup();
        match found.len() {
            0 => Ok(None),
            1 => Ok(found.pop()),
            _ => Err(()),
        }
    }

    fn fail(&self, ctx: &mut Ctx<'_>, status: StatusCode, body: serde_json::Value) -> Flow {
        if let Some(a) = &self.anonymous {
            ctx.identity = Some(Identity {
                consumer: a.clone(),
                credential: None,
                anonymous: true,
            });
            return Flow::Continue;
        }
        Flow::Respond(crate::plugins::respond(
            status,
            "application/json; charset=utf-8",
            body.to_string(),
        ))
    }
}

fn msg(m: &str) -> serde_json::Value {
    serde_json::json!({ "message": m })
}

/// The payload of a token, read without checking anything (to find the key).
fn payload(token: &str) -> Option<serde_json::Value> {
    let part = token.split('.').nth(1)?;
    let bytes = base64url(part)?;
    serde_json::from_slice(&bytes).ok()
}

fn base64url(s: &str) -> Option<Vec<u8>> {
    let std: String = s
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    crate::plugins::basic_auth::base64_decode(&std)
}

impl Plugin for Jwt {
    fn name(&self) -> &'static str {
        "jwt"
    }

    fn access(&self, ctx: &mut Ctx<'_>) -> Flow {
        if !self.cfg.run_on_preflight && *ctx.method == http::Method::OPTIONS {
            return Flow::Continue;
        }
        if ctx.identity.as_ref().is_some_and(|i| !i.anonymous) && self.anonymous.is_some() {
            return Flow::Continue;
        }
        let token = match self.token(ctx) {
            Err(()) => {
                return self.fail(
                    ctx,
                    StatusCode::UNAUTHORIZED,
                    msg("Multiple tokens provided"),
                );
            }
            Ok(None) => return self.fail(ctx, StatusCode::UNAUTHORIZED, msg("Unauthorized")),
            Ok(Some(t)) => t,
        };
        let Ok(head) = jsonwebtoken::decode_header(&token) else {
            return self.fail(
                ctx,
                StatusCode::UNAUTHORIZED,
                msg("Bad token; invalid JSON"),
            );
        };
        let Some(claims) = payload(&token) else {
            return self.fail(
                ctx,
                StatusCode::UNAUTHORIZED,
                msg("Bad token; invalid JSON"),
            );
        };
        let claim = &self.cfg.key_claim_name;
        let key = claims
            .get(claim)
            .and_then(|v| v.as_str())
            .map(str::to_string)
            .or_else(|| {
                if claim == "kid" {
                    head.kid.clone()
                } else {
                    None
                }
            });
        let Some(key) = key else {
            return self.fail(
                ctx,
                StatusCode::UNAUTHORIZED,
                msg(&format!("No mandatory '{claim}' in claims")),
            );
        };
        let Some(cred) = ctx.consumers.jwt.get(&key).cloned() else {
            return self.fail(
                ctx,
                StatusCode::UNAUTHORIZED,
                msg(&format!("No credentials found for given '{claim}'")),
            );
        };
        if head.alg != cred.algorithm {
            return self.fail(ctx, StatusCode::FORBIDDEN, msg("Invalid algorithm"));
        }
        let decoding = match (&cred.public, &cred.secret) {
            (Some(p), _) => p.clone(),
            (None, Some(s)) if self.cfg.secret_is_base64 => {
                match DecodingKey::from_base64_secret(s) {
                    Ok(k) => k,
                    Err(_) => {
                        return self.fail(ctx, StatusCode::UNAUTHORIZED, msg("Invalid key/secret"));
                    }
                }
            }
            (None, Some(s)) => DecodingKey::from_secret(s.as_bytes()),
            (None, None) => {
                return self.fail(ctx, StatusCode::UNAUTHORIZED, msg("Invalid key/secret"));
            }
        };
        let mut v = Validation::new(cred.algorithm);
        v.validate_exp = false;
        v.validate_nbf = false;
        v.validate_aud = false;
        v.required_spec_claims.clear();
        if jsonwebtoken::decode::<serde_json::Value>(&token, &decoding, &v).is_err() {
            return self.fail(ctx, StatusCode::UNAUTHORIZED, msg("Invalid signature"));
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let mut errors = serde_json::Map::new();
        for c in self.cfg.claims_to_verify.iter().flatten() {
            match claims.get(c).and_then(serde_json::Value::as_f64) {
                None => {
                    errors.insert(c.clone(), "must be a number".into());
                }
                Some(t) if c == "exp" && now >= t => {
                    errors.insert("exp".into(), "token expired".into());
                }
                Some(t) if c == "nbf" && now < t => {
                    errors.insert("nbf".into(), "token not valid yet".into());
                }
                _ => {}
            }
        }
        if errors.is_empty()
            && self.cfg.maximum_expiration > 0.0
            && let Some(exp) = claims.get("exp").and_then(serde_json::Value::as_f64)
            && exp - now > self.cfg.maximum_expiration
        {
            errors.insert("exp".into(), "exceeds maximum allowed expiration".into());
        }
        if !errors.is_empty() {
            return self.fail(
                ctx,
                StatusCode::UNAUTHORIZED,
                serde_json::Value::Object(errors),
            );
        }
        ctx.identity = Some(Identity {
            consumer: cred.consumer.clone(),
            credential: Some(cred.credential),
            anonymous: false,
        });
        Flow::Continue
    }
}

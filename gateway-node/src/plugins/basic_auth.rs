//! `basic-auth` (priority 1100): `Authorization: Basic base64(user:password)` (or
//! `Proxy-Authorization`) identifies the consumer owning that credential. Passwords
//! are compared as salted SHA-256 digests. Kong's answers: 401 `Unauthorized` with
//! `WWW-Authenticate: Basic realm="service"`.

use std::sync::Arc;

use graphql_schema::plugin_config::basic_auth::BasicAuthConfig;
use http::{HeaderValue, StatusCode, header};

use crate::plugin::{ConsumerRt, Consumers, Ctx, Flow, Identity, Plugin};

pub struct BasicAuth {
    cfg: BasicAuthConfig,
    anonymous: Option<Arc<ConsumerRt>>,
    challenge: HeaderValue,
}

impl BasicAuth {
    pub fn new(cfg: BasicAuthConfig, consumers: &Consumers) -> Result<BasicAuth, String> {
        let anonymous = match cfg.anonymous.as_deref().filter(|a| !a.is_empty()) {
            None => None,
            Some(a) => Some(consumers.find(a).ok_or_else(|| {
                format!("anonymous consumer '{a}' is configured but doesn't exist")
            })?),
        };
        let challenge = HeaderValue::from_str(&format!("Basic realm=\"{}\"", cfg.realm))
            .map_err(|e| format!("realm: {e}"))?;
        Ok(BasicAuth {
            cfg,
            anonymous,
            challenge,
        })
    }

    fn fail(&self, ctx: &mut Ctx<'_>) -> Flow {
        if let Some(a) = &self.anonymous {
            ctx.identity = Some(Identity {
                consumer: a.clone(),
                credential: None,
                anonymous: true,
            });
            return Flow::Continue;
        }
        let mut r = crate::plugins::message(StatusCode::UNAUTHORIZED, "Unauthorized");
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, self.challenge.clone());
        Flow::Respond(r)
    }
}

impl Plugin for BasicAuth {
    fn name(&self) -> &'static str {
        "basic-auth"
    }

    fn access(&self, ctx: &mut Ctx<'_>) -> Flow {
        if ctx.identity.as_ref().is_some_and(|i| !i.anonymous) && self.anonymous.is_some() {
            return Flow::Continue;
        }
        let found = [header::AUTHORIZATION, header::PROXY_AUTHORIZATION]
            .into_iter()
            .find_map(|h| {
                let v = ctx.headers.get(&h)?.to_str().ok()?;
                let (scheme, b64) = v.trim().split_once(' ')?;
                if !scheme.eq_ignore_ascii_case("basic") {
                    return None;
                }
                let raw = base64_decode(b64.trim())?;
                let text = String::from_utf8(raw).ok()?;
                let (user, pass) = text.split_once(':')?;
                Some((h, user.to_string(), pass.to_string()))
            });
        let Some((h, user, pass)) = found else {
            return self.fail(ctx);
        };
        let Some((consumer, cred, digest)) = ctx.consumers.basicauth.get(&user).cloned() else {
            return self.fail(ctx);
        };
        if !digest.matches(consumer.id, &pass) {
            return self.fail(ctx);
        }
        if self.cfg.hide_credentials {
            ctx.headers.remove(h);
        }
        ctx.identity = Some(Identity {
            consumer,
            credential: Some(cred),
            anonymous: false,
        });
        Flow::Continue
    }
}

/// Standard base64 (with or without padding); `None` on anything else.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let bytes = s.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= val(*c)? << (18 - 6 * i);
        }
        match chunk.len() {
            4 => out.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8]),
            3 => out.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8]),
            2 => out.push((n >> 16) as u8),
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64() {
        assert_eq!(
            super::base64_decode("YWxpY2U6czNjcmV0").as_deref(),
            Some(b"alice:s3cret".as_slice())
        );
        assert_eq!(
            super::base64_decode("YQ==").as_deref(),
            Some(b"a".as_slice())
        );
        assert_eq!(
            super::base64_decode("YWI=").as_deref(),
            Some(b"ab".as_slice())
        );
        assert!(super::base64_decode("!!").is_none());
    }
}

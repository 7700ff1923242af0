//! `cors` (priority 2000): answers preflight requests (`OPTIONS` with `Origin` and
//! `Access-Control-Request-Method`) itself, unless `preflight_continue`, and adds
//! `Access-Control-Allow-Origin` (and credentials, exposed headers) to other
//! responses, as Kong's plugin does (to responses to requests without an `Origin`
//! only with `allow_origin_absent`, the default).

use graphql_schema::plugin_config::cors::{CorsConfig, is_plain_origin};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use regex::Regex;

use crate::plugin::{Ctx, Flow, Plugin};

pub struct Cors {
    cfg: CorsConfig,
    any: bool,
    exact: Vec<String>,
    regexes: Vec<Regex>,
    methods: HeaderValue,
}

impl Cors {
    pub fn new(cfg: CorsConfig) -> Result<Cors, String> {
        let origins = cfg.origins.clone().unwrap_or_default();
        let any = origins.is_empty() || origins.iter().any(|o| o == "*");
        let exact = origins
            .iter()
            .filter(|o| is_plain_origin(o))
            .map(|o| o.to_ascii_lowercase())
            .collect();
        let regexes = origins
            .iter()
            .filter(|o| *o != "*" && !is_plain_origin(o))
            .map(|o| Regex::new(&format!("^(?:{o})$")).map_err(|e| format!("origins: {e}")))
            .collect::<Result<_, _>>()?;
        let methods =
            HeaderValue::from_str(&cfg.methods.join(",")).map_err(|e| format!("methods: {e}"))?;
        Ok(Cors {
            cfg,
            any,
            exact,
            regexes,
            methods,
        })
    }

    /// The `Access-Control-Allow-Origin` value for a request's `Origin`.
    fn allow_origin(&self, origin: Option<&str>) -> Option<HeaderValue> {
        if self.any && !self.cfg.credentials {
            return Some(HeaderValue::from_static("*"));
        }
        let o = origin?;
        let lower = o.to_ascii_lowercase();
        if self.any || self.exact.contains(&lower) || self.regexes.iter().any(|r| r.is_match(o)) {
            HeaderValue::from_str(o).ok()
        } else {
            None
        }
    }

    fn common(&self, origin: Option<&str>, h: &mut HeaderMap) {
        if let Some(v) = self.allow_origin(origin) {
            let star = v.as_bytes() == b"*";
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
            if !star {
                h.append(header::VARY, HeaderValue::from_static("Origin"));
            }
            if self.cfg.credentials {
                h.insert(
                    header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                    HeaderValue::from_static("true"),
                );
            }
        }
    }
}

impl Plugin for Cors {
    fn name(&self) -> &'static str {
        "cors"
    }

    fn access(&self, ctx: &mut Ctx<'_>) -> Flow {
        let origin = ctx
            .headers
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let preflight = *ctx.method == Method::OPTIONS
            && origin.is_some()
            && ctx
                .headers
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        if preflight && !self.cfg.preflight_continue {
            let mut r = crate::plugins::respond(StatusCode::OK, "text/plain", "");
            let h = r.headers_mut();
            h.remove(header::CONTENT_TYPE);
            self.common(origin.as_deref(), h);
            h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, self.methods.clone());
            let allow_headers = match &self.cfg.headers {
                Some(list) if !list.is_empty() => HeaderValue::from_str(&list.join(",")).ok(),
                _ => ctx
                    .headers
                    .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
                    .cloned(),
            };
            if let Some(v) = allow_headers {
                h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v);
            }
            if let Some(age) = self.cfg.max_age {
                h.insert(
                    header::ACCESS_CONTROL_MAX_AGE,
                    HeaderValue::from(age as u64),
                );
            }
            if self.cfg.private_network
                && ctx
                    .headers
                    .contains_key("access-control-request-private-network")
            {
                h.insert(
                    const { HeaderName::from_static("access-control-allow-private-network") },
                    HeaderValue::from_static("true"),
                );
            }
            return Flow::Respond(r);
        }
        // Kong's `allow_origin_absent: false`: no CORS headers without an Origin
        if origin.as_deref().is_none_or(str::is_empty) && !self.cfg.allow_origin_absent {
            return Flow::Continue;
        }
        // the response phase needs the origin: remember what to add
        let mut h = HeaderMap::new();
        self.common(origin.as_deref(), &mut h);
        if let Some(list) = self.cfg.exposed_headers.as_ref().filter(|l| !l.is_empty())
            && h.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            && let Ok(v) = HeaderValue::from_str(&list.join(","))
        {
            h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, v);
        }
        for (k, v) in h.iter() {
            ctx.response_headers.push((k.clone(), v.clone()));
        }
        Flow::Continue
    }
}

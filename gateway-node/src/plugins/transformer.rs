//! `request-transformer` (priority 801) and `response-transformer` (800): Kong's
//! remove, rename, replace, add, append on headers and query arguments (request:
//! also `replace.uri` and `http_method`), applied in that order.

use graphql_schema::plugin_config::transformer::{
    RequestTransformerConfig, ResponseTransformerConfig, pair,
};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};

use crate::plugin::{Ctx, Flow, Plugin};

/// One header operation, parsed once.
enum HeaderOp {
    Remove(HeaderName),
    Rename(HeaderName, HeaderName),
    Replace(HeaderName, HeaderValue),
    Add(HeaderName, HeaderValue),
    Append(HeaderName, HeaderValue),
}

fn name(s: &str) -> Result<HeaderName, String> {
    HeaderName::from_bytes(s.trim().to_ascii_lowercase().as_bytes())
        .map_err(|e| format!("'{s}': {e}"))
}

fn value(s: &str) -> Result<HeaderValue, String> {
    HeaderValue::from_str(s).map_err(|e| format!("'{s}': {e}"))
}

fn split(item: &str) -> Result<(&str, &str), String> {
    pair(item).ok_or_else(|| format!("invalid value: {item}"))
}

fn header_ops(
    remove: &[String],
    rename: &[String],
    replace: &[String],
    add: &[String],
    append: &[String],
) -> Result<Vec<HeaderOp>, String> {
    let mut ops = Vec::new();
    for r in remove {
        ops.push(HeaderOp::Remove(name(r)?));
    }
    for r in rename {
        let (a, b) = split(r)?;
        ops.push(HeaderOp::Rename(name(a)?, name(b)?));
    }
    for r in replace {
        let (a, b) = split(r)?;
        ops.push(HeaderOp::Replace(name(a)?, value(b)?));
    }
    for r in add {
        let (a, b) = split(r)?;
        ops.push(HeaderOp::Add(name(a)?, value(b)?));
    }
    for r in append {
        let (a, b) = split(r)?;
        ops.push(HeaderOp::Append(name(a)?, value(b)?));
    }
    Ok(ops)
}

fn apply_headers(ops: &[HeaderOp], h: &mut HeaderMap) {
    for op in ops {
        match op {
            HeaderOp::Remove(n) => {
                h.remove(n);
            }
            HeaderOp::Rename(from, to) => {
                let values: Vec<HeaderValue> = h.get_all(from).iter().cloned().collect();
                if !values.is_empty() {
                    h.remove(from);
                    for v in values {
                        h.append(to.clone(), v);
                    }
                }
            }
            HeaderOp::Replace(n, v) => {
                if h.contains_key(n) {
                    h.insert(n.clone(), v.clone());
                }
            }
            HeaderOp::Add(n, v) => {
                if !h.contains_key(n) {
                    h.insert(n.clone(), v.clone());
                }
            }
            HeaderOp::Append(n, v) => {
                h.append(n.clone(), v.clone());
            }
        }
    }
}

/// Kong's remove/rename/replace/add/append lists as key operations, in that order.
fn kv_ops(
    remove: &[String],
    rename: &[String],
    replace: &[String],
    add: &[String],
    append: &[String],
) -> Result<Vec<QueryOp>, String> {
    let mut ops: Vec<QueryOp> = remove.iter().map(|k| QueryOp::Remove(k.clone())).collect();
    for (list, make) in [
        (rename, QueryOp::Rename as fn(String, String) -> QueryOp),
        (replace, QueryOp::Replace),
        (add, QueryOp::Add),
        (append, QueryOp::Append),
    ] {
        for item in list {
            let (a, b) = split(item)?;
            ops.push(make(a.to_string(), b.to_string()));
        }
    }
    Ok(ops)
}

/// Query operations on `k=v` pairs kept in order.
#[derive(Clone)]
enum QueryOp {
    Remove(String),
    Rename(String, String),
    Replace(String, String),
    Add(String, String),
    Append(String, String),
}

fn apply_query(ops: &[QueryOp], q: Option<String>) -> Option<String> {
    if ops.is_empty() {
        return q;
    }
    let mut args: Vec<(String, String)> = q
        .as_deref()
        .unwrap_or("")
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (kv.to_string(), String::new()),
        })
        .collect();
    for op in ops {
        match op {
            QueryOp::Remove(k) => args.retain(|(a, _)| a != k),
            QueryOp::Rename(from, to) => {
                for (a, _) in args.iter_mut().filter(|(a, _)| a == from) {
                    *a = to.clone();
                }
            }
            QueryOp::Replace(k, v) => {
                for (_, b) in args.iter_mut().filter(|(a, _)| a == k) {
                    *b = v.clone();
                }
            }
            QueryOp::Add(k, v) => {
                if !args.iter().any(|(a, _)| a == k) {
                    args.push((k.clone(), v.clone()));
                }
            }
            QueryOp::Append(k, v) => args.push((k.clone(), v.clone())),
        }
    }
    let s: Vec<String> = args
        .into_iter()
        .map(|(k, v)| if v.is_empty() { k } else { format!("{k}={v}") })
        .collect();
    (!s.is_empty()).then(|| s.join("&"))
}

/// Body operations on a JSON object's top-level keys or form fields, in Kong's
/// order (values are strings, as Kong's request-transformer sends them).
pub struct BodyOps {
    form: Vec<QueryOp>,
    /// The same operations for JSON bodies, with string values.
    json: JsonOps,
}

impl BodyOps {
    fn new(form: Vec<QueryOp>) -> BodyOps {
        let json = JsonOps {
            ops: form
                .iter()
                .map(|op| {
                    let v = match op {
                        QueryOp::Replace(_, v) | QueryOp::Add(_, v) | QueryOp::Append(_, v) => {
                            v.clone().into()
                        }
                        _ => serde_json::Value::Null,
                    };
                    (op.clone(), v)
                })
                .collect(),
        };
        BodyOps { form, json }
    }
}

impl crate::plugin::BodyRewrite for BodyOps {
    fn rewrite(&self, content_type: &str, body: &bytes::Bytes) -> Option<bytes::Bytes> {
        if content_type.starts_with("application/json") {
            // an empty JSON request body is an empty object to add to
            self.json.apply(body, true)
        } else {
            let text = std::str::from_utf8(body).ok()?;
            let out = apply_query(&self.form, Some(text.to_string())).unwrap_or_default();
            Some(bytes::Bytes::from(out))
        }
    }
}

pub struct RequestTransformer {
    /// The config, when its values use `$(...)` templates: rendered per request.
    templated: Option<RequestTransformerConfig>,
    body: Option<std::sync::Arc<BodyOps>>,
    headers: Vec<HeaderOp>,
    query: Vec<QueryOp>,
    uri: Option<String>,
    method: Option<Method>,
}

impl RequestTransformer {
    pub fn new(c: RequestTransformerConfig) -> Result<RequestTransformer, String> {
        let headers = header_ops(
            &c.remove.headers,
            &c.rename.headers,
            &c.replace.headers,
            &c.add.headers,
            &c.append.headers,
        )?;
        let query = kv_ops(
            &c.remove.querystring,
            &c.rename.querystring,
            &c.replace.querystring,
            &c.add.querystring,
            &c.append.querystring,
        )?;
        let method = c
            .http_method
            .as_deref()
            .map(|m| Method::from_bytes(m.as_bytes()).map_err(|e| format!("http_method: {e}")))
            .transpose()?;
        let body = kv_ops(
            &c.remove.body,
            &c.rename.body,
            &c.replace.body,
            &c.add.body,
            &c.append.body,
        )?;
        let body = (!body.is_empty()).then(|| std::sync::Arc::new(BodyOps::new(body)));
        let templated = has_templates(&c).then(|| c.clone());
        Ok(RequestTransformer {
            templated,
            body,
            headers,
            query,
            uri: c.replace.uri,
            method,
        })
    }
}

fn all_values(c: &RequestTransformerConfig) -> impl Iterator<Item = &String> {
    [&c.rename, &c.add, &c.append]
        .into_iter()
        .flat_map(|p| p.headers.iter().chain(&p.querystring).chain(&p.body))
        .chain(
            c.replace
                .headers
                .iter()
                .chain(&c.replace.querystring)
                .chain(&c.replace.body),
        )
        .chain(c.replace.uri.iter())
}

fn has_templates(c: &RequestTransformerConfig) -> bool {
    all_values(c).any(|v| v.contains("$("))
}

/// Substitutes `$(headers.x)`, `$(query_params.x)` and `$(uri_captures.x)` with
/// the request's values (empty when absent), as Kong's templates do.
fn render(v: &str, ctx: &Ctx<'_>) -> String {
    let mut out = String::with_capacity(v.len());
    let mut rest = v;
    while let Some(start) = rest.find("$(") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find(')') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let expr = &after[..end];
        if let Ok(refs) =
            graphql_schema::plugin_config::transformer::template_refs(&format!("$({expr})"))
            && let Some((scope, key)) = refs.into_iter().next()
        {
            let value = match scope.as_str() {
                "headers" => ctx
                    .headers
                    .get(key.to_ascii_lowercase().as_str())
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string),
                "query_params" => ctx.query.as_deref().and_then(|q| {
                    q.split('&').find_map(|kv| {
                        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                        (k == key).then(|| v.to_string())
                    })
                }),
                _ => ctx
                    .uri_captures
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, v)| v.clone()),
            };
            out.push_str(&value.unwrap_or_default());
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// The config with every template rendered for this request.
fn rendered(c: &RequestTransformerConfig, ctx: &Ctx<'_>) -> RequestTransformerConfig {
    let mut c = c.clone();
    let fix = |list: &mut Vec<String>| {
        for item in list.iter_mut() {
            if item.contains("$(")
                && let Some((k, v)) = item.split_once(':')
            {
                *item = format!("{k}:{}", render(v, ctx));
            }
        }
    };
    for p in [&mut c.rename, &mut c.add, &mut c.append] {
        fix(&mut p.headers);
        fix(&mut p.querystring);
        fix(&mut p.body);
    }
    fix(&mut c.replace.headers);
    fix(&mut c.replace.querystring);
    fix(&mut c.replace.body);
    if let Some(u) = c.replace.uri.as_mut() {
        *u = render(u, ctx);
    }
    c
}

impl Plugin for RequestTransformer {
    fn name(&self) -> &'static str {
        "request-transformer"
    }

    fn access(&self, ctx: &mut Ctx<'_>) -> Flow {
        if let Some(c) = &self.templated {
            // render from the request as it arrived, then apply like a plain config
            let mut once = match RequestTransformer::new(rendered(c, ctx)) {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!("request-transformer: template produced an invalid value: {e}");
                    return Flow::Continue;
                }
            };
            once.templated = None;
            return once.access(ctx);
        }
        apply_headers(&self.headers, ctx.headers);
        ctx.query = apply_query(&self.query, ctx.query.take());
        if let Some(u) = &self.uri {
            ctx.upstream_path = Some(u.clone());
        }
        if let Some(m) = &self.method {
            ctx.upstream_method = Some(m.clone());
        }
        if let Some(b) = &self.body {
            ctx.request_body = Some(b.clone());
        }
        Flow::Continue
    }
}

pub struct ResponseTransformer {
    headers: Vec<HeaderOp>,
    json: Option<std::sync::Arc<JsonOps>>,
}

/// response-transformer's JSON operations, with values typed by `json_types`.
pub struct JsonOps {
    ops: Vec<(QueryOp, serde_json::Value)>,
}

fn typed(v: &str, t: Option<&String>) -> serde_json::Value {
    match t.map(String::as_str) {
        Some("number") => v
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(serde_json::Value::Number)
            .unwrap_or_else(|| v.into()),
        Some("boolean") => serde_json::Value::Bool(v == "true"),
        _ => v.into(),
    }
}

impl JsonOps {
    /// Applies the operations to a JSON object body's top-level keys.
    fn apply(&self, body: &bytes::Bytes, empty_is_object: bool) -> Option<bytes::Bytes> {
        let mut v: serde_json::Value = if body.is_empty() && empty_is_object {
            serde_json::json!({})
        } else {
            serde_json::from_slice(body).ok()?
        };
        let obj = v.as_object_mut()?;
        for (op, val) in &self.ops {
            match op {
                QueryOp::Remove(k) => {
                    obj.remove(k);
                }
                QueryOp::Rename(from, to) => {
                    if let Some(x) = obj.remove(from) {
                        obj.insert(to.clone(), x);
                    }
                }
                QueryOp::Replace(k, _) => {
                    if let Some(x) = obj.get_mut(k) {
                        *x = val.clone();
                    }
                }
                QueryOp::Add(k, _) => {
                    obj.entry(k.clone()).or_insert_with(|| val.clone());
                }
                QueryOp::Append(k, _) => match obj.get_mut(k) {
                    Some(serde_json::Value::Array(a)) => a.push(val.clone()),
                    Some(x) => *x = serde_json::json!([x.clone(), val]),
                    None => {
                        obj.insert(k.clone(), val.clone());
                    }
                },
            }
        }
        serde_json::to_vec(&v).ok().map(bytes::Bytes::from)
    }
}

impl crate::plugin::BodyRewrite for JsonOps {
    fn rewrite(&self, _content_type: &str, body: &bytes::Bytes) -> Option<bytes::Bytes> {
        self.apply(body, false)
    }
}

impl ResponseTransformer {
    pub fn new(c: ResponseTransformerConfig) -> Result<ResponseTransformer, String> {
        let headers = header_ops(
            &c.remove.headers,
            &c.rename.headers,
            &c.replace.headers,
            &c.add.headers,
            &c.append.headers,
        )?;
        let mut ops = Vec::new();
        for k in &c.remove.json {
            ops.push((QueryOp::Remove(k.clone()), serde_json::Value::Null));
        }
        for item in &c.rename.json {
            let (a, b) = split(item)?;
            ops.push((
                QueryOp::Rename(a.to_string(), b.to_string()),
                serde_json::Value::Null,
            ));
        }
        for (parts, make) in [
            (
                &c.replace,
                QueryOp::Replace as fn(String, String) -> QueryOp,
            ),
            (&c.add, QueryOp::Add),
            (&c.append, QueryOp::Append),
        ] {
            for (i, item) in parts.json.iter().enumerate() {
                let (a, b) = split(item)?;
                ops.push((
                    make(a.to_string(), b.to_string()),
                    typed(b, parts.json_types.get(i)),
                ));
            }
        }
        let json = (!ops.is_empty()).then(|| std::sync::Arc::new(JsonOps { ops }));
        Ok(ResponseTransformer { headers, json })
    }
}

impl Plugin for ResponseTransformer {
    fn name(&self) -> &'static str {
        "response-transformer"
    }

    fn access(&self, ctx: &mut Ctx<'_>) -> Flow {
        if let Some(j) = &self.json {
            ctx.response_body = Some(j.clone());
        }
        Flow::Continue
    }

    fn response_headers(&self, _status: StatusCode, headers: &mut HeaderMap) {
        apply_headers(&self.headers, headers);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_ops_in_kongs_order() {
        let ops = vec![
            QueryOp::Remove("drop".into()),
            QueryOp::Rename("old".into(), "new".into()),
            QueryOp::Replace("r".into(), "2".into()),
            QueryOp::Add("a".into(), "1".into()),
            QueryOp::Add("keep".into(), "no".into()),
            QueryOp::Append("keep".into(), "yes".into()),
        ];
        assert_eq!(
            apply_query(&ops, Some("drop=1&old=x&r=1&keep=0".into())).as_deref(),
            Some("new=x&r=2&keep=0&a=1&keep=yes")
        );
        assert_eq!(
            apply_query(&[QueryOp::Remove("a".into())], Some("a=1".into())),
            None
        );
    }
}

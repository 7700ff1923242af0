//! `request-transformer` and `response-transformer`: Kong's `key:value` lists that
//! remove, rename, replace, add and append headers, query arguments (and for the
//! request, the path, the method, and JSON or form-encoded bodies; for the
//! response, JSON bodies with `json_types`). `$(...)` templates are not supported
//! yet and are refused with their path.

use serde::{Deserialize, Serialize};

use super::CheckConfig;
use crate::error::{Errors, Path};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(name = "RequestTransformerParts")
)]
pub struct RequestParts {
    pub headers: Vec<String>,
    pub querystring: Vec<String>,
    pub body: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(name = "RequestTransformerReplace")
)]
pub struct RequestReplace {
    pub headers: Vec<String>,
    pub querystring: Vec<String>,
    pub body: Vec<String>,
    pub uri: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(name = "RequestTransformerConfig")
)]
pub struct RequestTransformerConfig {
    pub http_method: Option<String>,
    pub remove: RequestParts,
    pub rename: RequestParts,
    pub replace: RequestReplace,
    pub add: RequestParts,
    pub append: RequestParts,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(name = "ResponseTransformerParts")
)]
pub struct ResponseParts {
    pub headers: Vec<String>,
    pub json: Vec<String>,
    pub json_types: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(name = "ResponseTransformerRemove")
)]
pub struct ResponseRemove {
    pub headers: Vec<String>,
    pub json: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(
    feature = "graphql",
    derive(async_graphql::SimpleObject),
    graphql(name = "ResponseTransformerConfig")
)]
pub struct ResponseTransformerConfig {
    pub remove: ResponseRemove,
    pub rename: ResponseRemove,
    pub replace: ResponseParts,
    pub add: ResponseParts,
    pub append: ResponseParts,
}

/// Splits `name:value` (the value may contain further colons).
pub fn pair(s: &str) -> Option<(&str, &str)> {
    s.split_once(':')
}

/// The `$(...)` expressions in a value: `headers.NAME`, `query_params.NAME`,
/// `uri_captures.NAME` (or with `["NAME"]`, or `[N]` for captures).
pub fn template_refs(v: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut rest = v;
    while let Some(start) = rest.find("$(") {
        let after = &rest[start + 2..];
        let end = after
            .find(')')
            .ok_or_else(|| format!("unclosed template in '{v}'"))?;
        let expr = after[..end].trim();
        let (scope, key) = if let Some((s, k)) = expr.split_once('[') {
            (
                s,
                k.trim_end_matches(']')
                    .trim_matches('"')
                    .trim_matches('\'')
                    .to_string(),
            )
        } else if let Some((s, k)) = expr.split_once('.') {
            (s, k.to_string())
        } else {
            return Err(format!("unsupported template expression '{expr}'"));
        };
        if !["headers", "query_params", "uri_captures"].contains(&scope) || key.is_empty() {
            return Err(format!(
                "unsupported template expression '{expr}' (use headers, query_params or uri_captures)"
            ));
        }
        out.push((scope.to_string(), key));
        rest = &after[end + 1..];
    }
    Ok(out)
}

fn check_list(list: &[String], needs_value: bool, path: &Path, errors: &mut Errors) {
    for (i, item) in list.iter().enumerate() {
        if let Err(m) = template_refs(item) {
            errors.add(path.index(i), m);
        } else if needs_value && pair(item).is_none_or(|(k, _)| k.is_empty()) {
            errors.add(
                path.index(i),
                format!("invalid value: {item} (expected name:value)"),
            );
        } else if !needs_value && item.is_empty() {
            errors.add(path.index(i), "length must be at least 1");
        }
    }
}

impl CheckConfig for RequestTransformerConfig {
    fn check(&self, path: &Path, errors: &mut Errors) {
        for (op, parts, needs) in [
            ("remove", &self.remove, false),
            ("rename", &self.rename, true),
            ("add", &self.add, true),
            ("append", &self.append, true),
        ] {
            let p = path.field(op);
            check_list(&parts.headers, needs, &p.field("headers"), errors);
            check_list(&parts.querystring, needs, &p.field("querystring"), errors);
            check_list(&parts.body, needs, &p.field("body"), errors);
        }
        let p = path.field("replace");
        check_list(&self.replace.headers, true, &p.field("headers"), errors);
        check_list(
            &self.replace.querystring,
            true,
            &p.field("querystring"),
            errors,
        );
        check_list(&self.replace.body, true, &p.field("body"), errors);
        if let Some(u) = &self.replace.uri {
            if let Err(m) = template_refs(u) {
                errors.add(p.field("uri"), m);
            } else if !u.starts_with('/') {
                errors.add(p.field("uri"), "should start with: /");
            }
        }
        if let Some(m) = &self.http_method
            && (m.is_empty() || !m.bytes().all(|b| b.is_ascii_uppercase()))
        {
            errors.add(path.field("http_method"), format!("invalid value: {m}"));
        }
    }
}

impl CheckConfig for ResponseTransformerConfig {
    fn check(&self, path: &Path, errors: &mut Errors) {
        check_list(
            &self.remove.headers,
            false,
            &path.field("remove").field("headers"),
            errors,
        );
        check_list(
            &self.rename.headers,
            true,
            &path.field("rename").field("headers"),
            errors,
        );
        check_list(
            &self.remove.json,
            false,
            &path.field("remove").field("json"),
            errors,
        );
        check_list(
            &self.rename.json,
            true,
            &path.field("rename").field("json"),
            errors,
        );
        for (op, parts) in [
            ("replace", &self.replace),
            ("add", &self.add),
            ("append", &self.append),
        ] {
            let p = path.field(op);
            check_list(&parts.headers, true, &p.field("headers"), errors);
            check_list(&parts.json, true, &p.field("json"), errors);
            for (i, t) in parts.json_types.iter().enumerate() {
                if !["boolean", "number", "string"].contains(&t.as_str()) {
                    errors.add(
                        p.field("json_types").index(i),
                        format!("expected one of: boolean, number, string; got '{t}'"),
                    );
                }
            }
            for (i, (item, t)) in parts.json.iter().zip(&parts.json_types).enumerate() {
                let v = pair(item).map(|(_, v)| v).unwrap_or("");
                let ok = match t.as_str() {
                    "number" => v.parse::<f64>().is_ok(),
                    "boolean" => v == "true" || v == "false",
                    _ => true,
                };
                if !ok {
                    errors.add(p.field("json").index(i), format!("'{v}' is not a {t}"));
                }
            }
        }
    }
}

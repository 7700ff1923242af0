//! API specifications: read as YAML or JSON, recognised by their version field
//! (OpenAPI 2.0, 3.0, 3.1; AsyncAPI 2.x, 3.x), checked for the mistakes that make
//! a spec unusable in a portal, and walked for the operations they describe.
//! A spec with problems is kept with its validation messages, as Konnect does;
//! only text that is not YAML or JSON at all is refused.

use serde_json::{Map, Value};

use crate::error::{Error, Field};

/// The largest spec accepted (bytes).
pub const MAX_SPEC_BYTES: usize = 5 * 1024 * 1024;

/// What kind of spec a document is (Konnect's `type`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpecType {
    Oas2,
    Oas3,
    Asyncapi,
    /// YAML or JSON, but none of the above.
    Unknown,
}

/// One operation a spec describes.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Operation {
    /// `GET`, `POST`, ... for OpenAPI; `SEND`/`RECEIVE` (AsyncAPI 3) or
    /// `PUBLISH`/`SUBSCRIBE` (AsyncAPI 2).
    pub method: String,
    /// The path template (`/pets/{id}`) or the channel.
    pub path: String,
    pub operation_id: Option<String>,
    pub summary: Option<String>,
    pub deprecated: bool,
}

/// One problem of a spec, where it is (a JSON pointer) and what.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ValidationMessage {
    pub path: String,
    pub message: String,
}

/// A spec as read.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Spec {
    pub spec_type: SpecType,
    /// The version the document declares (`3.1.0`, `2.6.0`, ...).
    pub spec_version: Option<String>,
    /// `json` or `yaml`.
    pub format: String,
    pub title: Option<String>,
    pub info_version: Option<String>,
    pub operations: Vec<Operation>,
    pub validation_messages: Vec<ValidationMessage>,
    /// The path the operations' paths are under (OpenAPI 3's first server's
    /// path, Swagger's `basePath`): `/v1` for `https://api.example.com/v1`.
    #[serde(default)]
    pub base_path: Option<String>,
}

const HTTP_METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Reads a spec. `field` names the input it came from, for the one error there
/// is: text that is neither YAML nor JSON (or too large).
pub fn read(content: &str, field: &str) -> Result<Spec, Error> {
    if content.len() > MAX_SPEC_BYTES {
        return Err(Error::invalid(
            Field::Input(field.into()),
            format!("a spec is at most {MAX_SPEC_BYTES} bytes"),
        ));
    }
    let trimmed = content.trim_start();
    let (doc, format) = if trimmed.starts_with('{') || trimmed.starts_with('[') {
        match serde_json::from_str::<Value>(content) {
            Ok(v) => (v, "json"),
            Err(e) => {
                return Err(Error::invalid(
                    Field::Input(field.into()),
                    format!("not valid JSON: {e}"),
                ));
            }
        }
    } else {
        match serde_yaml_ng::from_str::<Value>(content) {
            Ok(v) => (v, "yaml"),
            Err(e) => {
                return Err(Error::invalid(
                    Field::Input(field.into()),
                    format!("neither YAML nor JSON: {e}"),
                ));
            }
        }
    };
    let Value::Object(root) = doc else {
        return Err(Error::invalid(
            Field::Input(field.into()),
            "a spec is a YAML or JSON object",
        ));
    };
    Ok(examine(&root, format))
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The path of a server URL (`https://h/v1` -> `/v1`, `/v1` -> `/v1`).
fn server_path(url: &str) -> String {
    match url.split_once("://") {
        Some((_, rest)) => rest
            .find('/')
            .map(|i| rest[i..].to_string())
            .unwrap_or_default(),
        None => url.to_string(),
    }
}

/// `~` and `/` escaped for a JSON pointer segment.
fn seg(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

struct Check {
    messages: Vec<ValidationMessage>,
}

impl Check {
    fn add(&mut self, path: &str, message: impl Into<String>) {
        if self.messages.len() < 200 {
            self.messages.push(ValidationMessage {
                path: if path.is_empty() {
                    "/".into()
                } else {
                    path.into()
                },
                message: message.into(),
            });
        }
    }

    fn info(&mut self, root: &Map<String, Value>) {
        match root.get("info") {
            Some(Value::Object(info)) => {
                for f in ["title", "version"] {
                    if text(info.get(f)).is_none() {
                        self.add("/info", format!("'{f}' is required"));
                    }
                }
            }
            Some(_) => self.add("/info", "must be an object"),
            None => self.add("", "'info' is required"),
        }
    }
}

fn examine(root: &Map<String, Value>, format: &str) -> Spec {
    let mut c = Check {
        messages: Vec::new(),
    };
    let info = root.get("info").and_then(Value::as_object);
    let title = info.and_then(|i| text(i.get("title")));
    let info_version = info.and_then(|i| text(i.get("version")));
    let (spec_type, spec_version) = if let Some(v) = text(root.get("openapi")) {
        (SpecType::Oas3, Some(v))
    } else if let Some(v) = text(root.get("swagger")) {
        (SpecType::Oas2, Some(v))
    } else if let Some(v) = text(root.get("asyncapi")) {
        (SpecType::Asyncapi, Some(v))
    } else {
        (SpecType::Unknown, None)
    };
    let version = spec_version.clone().unwrap_or_default();
    let mut operations = Vec::new();
    match spec_type {
        SpecType::Unknown => c.add(
            "",
            "not an OpenAPI or AsyncAPI document: 'openapi', 'swagger' or 'asyncapi' is required",
        ),
        SpecType::Oas2 => {
            if version != "2.0" {
                c.add(
                    "/swagger",
                    format!("'{version}' is not a Swagger version; expected 2.0"),
                );
            }
            c.info(root);
            operations = openapi_paths(root, &mut c, true, false);
        }
        SpecType::Oas3 => {
            let v31 = version.starts_with("3.1");
            if !(version.starts_with("3.0") || v31) {
                c.add(
                    "/openapi",
                    format!("'{version}' is not an OpenAPI 3 version; expected 3.0.x or 3.1.x"),
                );
            }
            c.info(root);
            operations = openapi_paths(root, &mut c, !v31, v31);
        }
        SpecType::Asyncapi => {
            if !(version.starts_with("2.") || version.starts_with("3.")) {
                c.add(
                    "/asyncapi",
                    format!("'{version}' is not an AsyncAPI version; expected 2.x or 3.x"),
                );
            }
            c.info(root);
            operations = asyncapi_operations(root, &mut c, version.starts_with("3."));
        }
    }
    let whole = Value::Object(root.clone());
    refs(&whole, &whole, "", &mut c, 0);
    let base_path = match spec_type {
        SpecType::Oas2 => text(root.get("basePath")),
        SpecType::Oas3 => root
            .get("servers")
            .and_then(Value::as_array)
            .and_then(|s| s.first())
            .and_then(|s| text(s.get("url")))
            .map(|u| server_path(&u)),
        _ => None,
    }
    .map(|p| p.trim_end_matches('/').to_string())
    .filter(|p| !p.is_empty() && p.starts_with('/'));
    Spec {
        base_path,
        spec_type,
        spec_version,
        format: format.into(),
        title,
        info_version,
        operations,
        validation_messages: c.messages,
    }
}

fn openapi_paths(
    root: &Map<String, Value>,
    c: &mut Check,
    paths_required: bool,
    v31: bool,
) -> Vec<Operation> {
    let mut ops = Vec::new();
    let paths = match root.get("paths") {
        Some(Value::Object(p)) => p,
        Some(_) => {
            c.add("/paths", "must be an object");
            return ops;
        }
        None => {
            let has_other =
                v31 && (root.contains_key("webhooks") || root.contains_key("components"));
            if paths_required || !has_other {
                c.add("", "'paths' is required");
            }
            return ops;
        }
    };
    let mut ids = std::collections::HashSet::new();
    for (path, item) in paths {
        let p = format!("/paths/{}", seg(path));
        if path.starts_with("x-") {
            continue;
        }
        if !path.starts_with('/') {
            c.add(&p, "a path must start with '/'");
        }
        let Some(item) = item.as_object() else {
            c.add(&p, "a path item must be an object");
            continue;
        };
        for (method, op) in item {
            let lower = method.to_ascii_lowercase();
            if !HTTP_METHODS.contains(&lower.as_str()) {
                continue;
            }
            let op_path = format!("{p}/{method}");
            let Some(op) = op.as_object() else {
                c.add(&op_path, "an operation must be an object");
                continue;
            };
            if !op.contains_key("responses") && (paths_required || !v31) {
                c.add(&op_path, "'responses' is required");
            }
            let operation_id = text(op.get("operationId"));
            if let Some(id) = &operation_id
                && !ids.insert(id.clone())
            {
                c.add(
                    &format!("{op_path}/operationId"),
                    format!("operationId '{id}' is used twice"),
                );
            }
            if let Some(Value::Array(params)) = op.get("parameters") {
                for (i, prm) in params.iter().enumerate() {
                    let pp = format!("{op_path}/parameters/{i}");
                    if let Some(m) = prm.as_object()
                        && !m.contains_key("$ref")
                        && (text(m.get("name")).is_none() || text(m.get("in")).is_none())
                    {
                        c.add(&pp, "a parameter needs 'name' and 'in'");
                    }
                }
            }
            ops.push(Operation {
                method: lower.to_ascii_uppercase(),
                path: path.clone(),
                operation_id,
                summary: text(op.get("summary")),
                deprecated: op
                    .get("deprecated")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            });
        }
    }
    ops
}

fn asyncapi_operations(root: &Map<String, Value>, c: &mut Check, v3: bool) -> Vec<Operation> {
    let mut ops = Vec::new();
    let channels = root.get("channels").and_then(Value::as_object);
    if v3 {
        let Some(operations) = root.get("operations") else {
            return ops;
        };
        let Some(operations) = operations.as_object() else {
            c.add("/operations", "must be an object");
            return ops;
        };
        for (id, op) in operations {
            let p = format!("/operations/{}", seg(id));
            let Some(op) = op.as_object() else {
                c.add(&p, "an operation must be an object");
                continue;
            };
            let action = text(op.get("action")).unwrap_or_default();
            if action != "send" && action != "receive" {
                c.add(&format!("{p}/action"), "'action' is 'send' or 'receive'");
            }
            // `channel: {$ref: '#/channels/<name>'}`: the channel's address
            let channel = op
                .get("channel")
                .and_then(|ch| ch.get("$ref"))
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/channels/"))
                .map(|n| n.replace("~1", "/").replace("~0", "~"));
            let address = channel
                .as_ref()
                .and_then(|n| channels?.get(n))
                .and_then(|ch| text(ch.get("address")))
                .or(channel.clone())
                .unwrap_or_default();
            if channel.is_none() {
                c.add(
                    &format!("{p}/channel"),
                    "'channel' must reference a channel",
                );
            }
            ops.push(Operation {
                method: action.to_ascii_uppercase(),
                path: address,
                operation_id: Some(id.clone()),
                summary: text(op.get("summary")),
                deprecated: op
                    .get("deprecated")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            });
        }
    } else {
        let Some(channels) = channels else {
            c.add("", "'channels' is required");
            return ops;
        };
        for (name, ch) in channels {
            for action in ["publish", "subscribe"] {
                let Some(op) = ch.get(action).and_then(Value::as_object) else {
                    continue;
                };
                ops.push(Operation {
                    method: action.to_ascii_uppercase(),
                    path: name.clone(),
                    operation_id: text(op.get("operationId")),
                    summary: text(op.get("summary")),
                    deprecated: op
                        .get("deprecated")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                });
            }
        }
    }
    ops
}

/// Local `$ref`s (`#/...`) must point at something.
fn refs(root: &Value, v: &Value, path: &str, c: &mut Check, depth: usize) {
    if depth > 64 {
        return;
    }
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref")
                && let Some(pointer) = r.strip_prefix('#')
                && root.pointer(pointer).is_none()
            {
                c.add(&format!("{path}/$ref"), format!("'{r}' does not resolve"));
            }
            for (k, x) in m {
                refs(root, x, &format!("{path}/{}", seg(k)), c, depth + 1);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                refs(root, x, &format!("{path}/{i}"), c, depth + 1);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openapi_3_operations_and_problems() {
        let s = read(
            "openapi: 3.0.3\ninfo: {title: Pets, version: '1.0'}\npaths:\n  /pets:\n    get: {operationId: list, summary: List, responses: {'200': {description: ok}}}\n    post: {operationId: list, deprecated: true}\n  bad: {get: {responses: {}}}\n  /x:\n    get:\n      responses: {'200': {$ref: '#/components/responses/Missing'}}\n",
            "content",
        )
        .expect("read");
        assert_eq!(s.spec_type, SpecType::Oas3);
        assert_eq!(s.format, "yaml");
        assert_eq!(s.operations.len(), 4);
        assert_eq!(s.operations[0].method, "GET");
        assert!(s.operations[1].deprecated);
        let msgs: Vec<String> = s
            .validation_messages
            .iter()
            .map(|m| format!("{} {}", m.path, m.message))
            .collect();
        assert!(
            msgs.iter()
                .any(|m| m.contains("/paths/~1pets/post 'responses' is required")),
            "{msgs:?}"
        );
        assert!(msgs.iter().any(|m| m.contains("used twice")), "{msgs:?}");
        assert!(
            msgs.iter()
                .any(|m| m.starts_with("/paths/bad a path must start")),
            "{msgs:?}"
        );
        assert!(
            msgs.iter().any(|m| m.contains("does not resolve")),
            "{msgs:?}"
        );
    }

    #[test]
    fn each_kind_is_recognised() {
        let oas2 = read(r#"{"swagger":"2.0","info":{"title":"t","version":"1"},"paths":{"/a":{"get":{"responses":{}}}}}"#, "c").expect("oas2");
        assert_eq!(
            (oas2.spec_type, oas2.format.as_str()),
            (SpecType::Oas2, "json")
        );
        assert!(
            oas2.validation_messages.is_empty(),
            "{:?}",
            oas2.validation_messages
        );
        let oas31 = read(
            "openapi: 3.1.0\ninfo: {title: t, version: '1'}\nwebhooks: {}\n",
            "c",
        )
        .expect("3.1");
        assert!(
            oas31.validation_messages.is_empty(),
            "{:?}",
            oas31.validation_messages
        );
        let a2 = read("asyncapi: 2.6.0\ninfo: {title: t, version: '1'}\nchannels:\n  user/signedup:\n    subscribe: {operationId: onSignup}\n", "c").expect("async2");
        assert_eq!(a2.operations[0].method, "SUBSCRIBE");
        assert_eq!(a2.operations[0].path, "user/signedup");
        let a3 = read("asyncapi: 3.0.0\ninfo: {title: t, version: '1'}\nchannels:\n  signup: {address: 'user/signedup'}\noperations:\n  onSignup: {action: receive, channel: {$ref: '#/channels/signup'}}\n", "c").expect("async3");
        assert_eq!(a3.operations[0].method, "RECEIVE");
        assert_eq!(a3.operations[0].path, "user/signedup");
        assert!(
            a3.validation_messages.is_empty(),
            "{:?}",
            a3.validation_messages
        );
        let unknown = read("hello: world\n", "c").expect("yaml");
        assert_eq!(unknown.spec_type, SpecType::Unknown);
        assert!(!unknown.validation_messages.is_empty());
        assert!(read("{ not json", "content").is_err());
        assert!(read("- a list\n", "content").is_err());
        assert!(read(": : :\n  - [", "content").is_err());
    }
}

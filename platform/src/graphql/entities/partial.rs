//! `Partial<T>`: the input type of a config type `T` from the contract crate,
//! derived from `T`'s own GraphQL object type, so each plugin's config is
//! defined once. Every field is optional (an absent field takes the plugin
//! schema's default, exactly as in a decK file), nested objects become nested
//! inputs, and the value arrives as Kong's JSON (snake_case keys) for the same
//! validation decK files get.

use std::borrow::Cow;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::{Mutex, OnceLock};

use async_graphql::registry::{MetaInputValue, MetaType, Registry};
use async_graphql::{InputType, InputValueError, InputValueResult, OutputType, Value};
use serde_json::Map;

/// A config given as input: Kong's JSON form of the fields the caller set.
pub struct Partial<T> {
    pub fields: Map<String, serde_json::Value>,
    _t: PhantomData<fn() -> T>,
}

/// How to read one input object: GraphQL field name -> (Kong's name, the input
/// type of a nested object field).
type Shape = HashMap<String, (String, Option<String>)>;

fn shapes() -> &'static Mutex<HashMap<String, Shape>> {
    static SHAPES: OnceLock<Mutex<HashMap<String, Shape>>> = OnceLock::new();
    SHAPES.get_or_init(Default::default)
}

/// `keyNames` -> `key_names` (async-graphql's camelCase, undone).
pub fn snake(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The named type inside a type reference (`[Foo!]!` -> `Foo`).
fn named(ty: &str) -> &str {
    ty.trim_matches(|c| c == '[' || c == ']' || c == '!')
}

/// Registers `<object>Input` for the object type `object` (and its nested
/// objects); returns the input type's name.
fn register(registry: &mut Registry, object: &str) -> String {
    let input = format!("{object}Input");
    if registry.types.contains_key(&input) {
        return input;
    }
    let Some(MetaType::Object {
        fields,
        description,
        ..
    }) = registry.types.get(object).cloned()
    else {
        return input;
    };
    // a placeholder first, so that a self-referencing type terminates
    registry.types.insert(
        input.clone(),
        input_object(&input, None, Default::default()),
    );
    let mut shape = Shape::new();
    let mut input_fields = async_graphql::indexmap::IndexMap::new();
    for (name, f) in fields {
        if name.starts_with("__") {
            continue;
        }
        let inner = named(&f.ty).to_string();
        let nested = matches!(registry.types.get(&inner), Some(MetaType::Object { .. }));
        let mut ty = f.ty.trim_end_matches('!').to_string();
        let nested_input = if nested {
            let n = register(registry, &inner);
            ty = ty.replace(&inner, &n);
            Some(n)
        } else {
            None
        };
        shape.insert(name.clone(), (snake(&name), nested_input));
        input_fields.insert(
            name.clone(),
            MetaInputValue {
                name: name.clone(),
                description: f.description.clone(),
                ty,
                deprecation: Default::default(),
                default_value: None,
                visible: None,
                inaccessible: false,
                tags: Vec::new(),
                is_secret: false,
                directive_invocations: Vec::new(),
            },
        );
    }
    if let Ok(mut s) = shapes().lock() {
        s.insert(input.clone(), shape);
    }
    registry.types.insert(
        input.clone(),
        input_object(
            &input,
            description.map(|d| {
                format!("{d}\n\nEvery field is optional: an absent one takes Kong's default.")
            }),
            input_fields,
        ),
    );
    input
}

fn input_object(
    name: &str,
    description: Option<String>,
    input_fields: async_graphql::indexmap::IndexMap<String, MetaInputValue>,
) -> MetaType {
    MetaType::InputObject {
        name: name.to_string(),
        description,
        input_fields,
        visible: None,
        inaccessible: false,
        tags: Vec::new(),
        rust_typename: None,
        oneof: false,
        directive_invocations: Vec::new(),
    }
}

/// A GraphQL input value as Kong's JSON: field names of known input objects
/// back to snake_case, JSON-typed values untouched.
fn kong(value: Value, input: &str) -> Result<serde_json::Value, String> {
    let shape = shapes()
        .lock()
        .ok()
        .and_then(|s| s.get(input).cloned())
        .ok_or_else(|| format!("{input} is not registered"))?;
    let Value::Object(m) = value else {
        return Err("expected an object".into());
    };
    let mut out = Map::new();
    for (k, v) in m {
        let Some((kong_name, nested)) = shape.get(k.as_str()) else {
            return Err(format!("unknown field {k}"));
        };
        let v = match (nested, v) {
            (_, Value::Null) => continue,
            (Some(n), Value::List(items)) => serde_json::Value::Array(
                items
                    .into_iter()
                    .map(|i| kong(i, n))
                    .collect::<Result<_, _>>()?,
            ),
            (Some(n), v) => kong(v, n)?,
            (None, v) => v.into_json().map_err(|e| e.to_string())?,
        };
        out.insert(kong_name.clone(), v);
    }
    Ok(serde_json::Value::Object(out))
}

impl<T: OutputType> InputType for Partial<T> {
    type RawValueType = Self;

    fn type_name() -> Cow<'static, str> {
        Cow::Owned(format!("{}Input", T::type_name()))
    }

    fn create_type_info(registry: &mut Registry) -> String {
        T::create_type_info(registry);
        register(registry, &T::type_name());
        Self::qualified_type_name()
    }

    fn parse(value: Option<Value>) -> InputValueResult<Self> {
        let v = value.unwrap_or(Value::Object(Default::default()));
        match kong(v, &Self::type_name()) {
            Ok(serde_json::Value::Object(fields)) => Ok(Partial {
                fields,
                _t: PhantomData,
            }),
            Ok(_) => Err(InputValueError::custom("expected an object")),
            Err(e) => Err(InputValueError::custom(e)),
        }
    }

    fn to_value(&self) -> Value {
        Value::from_json(serde_json::Value::Object(self.fields.clone())).unwrap_or(Value::Null)
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::snake;

    #[test]
    fn camel_case_is_undone() {
        assert_eq!(snake("keyNames"), "key_names");
        assert_eq!(snake("minute"), "minute");
        assert_eq!(snake("redisSslVerify"), "redis_ssl_verify");
    }
}

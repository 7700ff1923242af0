//! Typed mutations per kind: `createService`, `updateService`,
//! `deleteService`, ... Each takes one input and returns a payload with the
//! entity, the config version it is in, and `userErrors` (every invalid field
//! with its path in the input, a conflict, or a missing entity): invalid input
//! changes nothing. Authorization failures stay top-level errors.

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::inputs::{
    AclFields, BasicAuthCredentialFields, CaCertificateFields, CertificateFields, ConsumerFields,
    ConsumerGroupFields, JwtSecretFields, KeyAuthCredentialFields, KongFields, PluginFields,
    RouteFields, ServiceFields, SniFields, TargetFields, UpstreamFields,
};
use super::plugin::PluginConfigInput;
use super::{
    Acl, BasicAuthCredential, CaCertificate, Certificate, Consumer, ConsumerGroup, Ent, JwtSecret,
    KeyAuthCredential, Plugin, Route, Service, Sni, Target, Upstream,
};
use crate::auth::{self, Action};
use crate::config::{Kind, Op};
use crate::error::{Error, Field, Invalid};
use crate::graphql::config::{DeleteEntityInput, PlanOut, UserErrorCode};
use crate::graphql::error::gql;
use crate::graphql::guard::{check, parse_id, state};

/// Something wrong with the input; nothing changed.
#[derive(SimpleObject, Clone, Debug)]
pub struct UserError {
    /// Where, in the mutation's arguments (`input.paths[0]`,
    /// `input.config.keyAuth.keyNames[0]`); null for the input as a whole.
    pub field: Option<String>,
    pub message: String,
    pub code: UserErrorCode,
}

/// `strip_path` -> `stripPath`, segment by segment (indexes kept).
fn camel_path(path: &str) -> String {
    path.split('.')
        .map(|seg| {
            let (name, rest) = seg.split_at(seg.find('[').unwrap_or(seg.len()));
            let mut out = String::new();
            let mut up = false;
            for c in name.chars() {
                if c == '_' {
                    up = true;
                } else if up {
                    out.push(c.to_ascii_uppercase());
                    up = false;
                } else {
                    out.push(c);
                }
            }
            out + rest
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// A path in an entity's Kong data as a path in the typed input.
fn input_path(data_path: &str, plugin: Option<&str>) -> String {
    if data_path.is_empty() {
        return "input".into();
    }
    if let (Some(name), Some(rest)) = (plugin, data_path.strip_prefix("config")) {
        let field = PluginConfigInput::field_of(name).unwrap_or_else(|| "config".into());
        let rest = rest.strip_prefix('.').unwrap_or(rest);
        return if rest.is_empty() {
            format!("input.config.{field}")
        } else {
            format!("input.config.{field}.{}", camel_path(rest))
        };
    }
    format!("input.{}", camel_path(data_path))
}

/// A domain error as user errors, when it is one (else a top-level error).
fn user_errors(e: Error, plugin: Option<&str>) -> Result<Vec<UserError>> {
    let field = |f: &Field| match f {
        Field::None => None,
        Field::Input(p) if p.is_empty() => Some("input".to_string()),
        Field::Input(p) => Some(format!("input.{p}")),
        Field::Arg(p) | Field::Document(p) => Some(p.clone()),
        Field::Data(p) => Some(input_path(p, plugin)),
    };
    Ok(match e {
        Error::Invalid(problems) => problems
            .into_iter()
            .map(
                |Invalid {
                     field: f,
                     message,
                     duplicate,
                 }| UserError {
                    field: field(&f),
                    message,
                    code: if duplicate {
                        UserErrorCode::Conflict
                    } else {
                        UserErrorCode::Validation
                    },
                },
            )
            .collect(),
        Error::Conflict { field: f, message } => vec![UserError {
            field: field(&f),
            message,
            code: UserErrorCode::Conflict,
        }],
        Error::NotFound(what) => vec![UserError {
            field: None,
            message: format!("{what} not found"),
            code: UserErrorCode::NotFound,
        }],
        other => return Err(gql(other)),
    })
}

/// A plane id from the input, or a user error at `input.controlPlaneId`.
fn plane_id(id: &ID) -> Result<Uuid, Vec<UserError>> {
    Uuid::parse_str(id.as_str()).map_err(|_| {
        vec![UserError {
            field: Some("input.controlPlaneId".into()),
            message: "expected a UUID".into(),
            code: UserErrorCode::Validation,
        }]
    })
}

/// Kong's data of an entity, and the plugin's name for a plugin.
type KindData = (Map<String, Value>, Option<String>);

/// The kind's data for a create or an update; for plugins, the name and config
/// (merged into the stored config on update).
fn data_of(
    fields: &dyn KongFields,
    plugin: Option<&Option<PluginConfigInput>>,
    stored: Option<&Value>,
) -> Result<KindData, Vec<UserError>> {
    let mut data = fields.kong();
    let Some(config) = plugin else {
        return Ok((data, None));
    };
    let stored_name = stored
        .and_then(|d| d.get("name"))
        .and_then(Value::as_str)
        .map(str::to_string);
    match config {
        Some(c) => {
            let (name, given) = c.kong();
            if let Some(s) = &stored_name
                && s != name
            {
                return Err(vec![UserError {
                    field: Some("input.config".into()),
                    message: format!(
                        "this plugin is {s}; give its config as `{}`",
                        PluginConfigInput::field_of(s).unwrap_or_default()
                    ),
                    code: UserErrorCode::Validation,
                }]);
            }
            let mut config = stored
                .and_then(|d| d.get("config"))
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            config.extend(given.clone());
            data.insert("name".into(), Value::String(name.into()));
            data.insert("config".into(), Value::Object(config));
            Ok((data, Some(name.to_string())))
        }
        None if stored_name.is_some() => Ok((data, stored_name)),
        None => Err(vec![UserError {
            field: Some("input.config".into()),
            message: "required: the plugin, named by its config (e.g. `keyAuth: {}`)".into(),
            code: UserErrorCode::Validation,
        }]),
    }
}

/// What a delete removed.
#[derive(SimpleObject)]
pub struct DeleteEntityPayload {
    pub deleted_id: Option<ID>,
    /// The config version after the delete.
    pub config_version: Option<i64>,
    /// Everything removed with it (plugins scoped to it, credentials, targets,
    /// snis).
    pub removed: Option<PlanOut>,
    pub user_errors: Vec<UserError>,
}

/// Authorizes writing the stored entity `id` (of `kind`): FORBIDDEN without
/// read access or without write access to its kind; NOT_FOUND (a user error)
/// when there is no such entity of that kind.
async fn stored_for_write(
    ctx: &Context<'_>,
    plane: Uuid,
    id: &ID,
    kind: Kind,
) -> Result<Result<(Uuid, Value), Vec<UserError>>> {
    check(ctx, &auth::plane(plane), Action::Read).await?;
    check(
        ctx,
        &auth::plane(plane),
        Action::EntitiesWrite(kind.as_str()),
    )
    .await?;
    let id = match parse_id(id, "input.id") {
        Ok(id) => id,
        Err(_) => {
            return Ok(Err(vec![UserError {
                field: Some("input.id".into()),
                message: "expected a UUID".into(),
                code: UserErrorCode::Validation,
            }]));
        }
    };
    let found = state(ctx).planes.view(plane).and_then(|v| {
        v.records
            .get(&id)
            .filter(|r| r.kind == kind)
            .map(|r| r.data.clone())
    });
    Ok(match found {
        Some(d) => Ok((id, d)),
        None => Err(vec![UserError {
            field: Some("input.id".into()),
            message: format!("no {} with id {id} in this control plane", kind.as_str()),
            code: UserErrorCode::NotFound,
        }]),
    })
}

macro_rules! typed_mutations {
    ($(
        $kind:ident, $obj:ident, $fields:ident, $plugin:tt,
        $create:ident, $update:ident, $delete:ident,
        $create_input:ident, $update_input:ident, $payload:ident, $field:ident;
    )*) => {
        $(
            #[derive(InputObject)]
            pub struct $create_input {
                pub control_plane_id: ID,
                #[graphql(flatten)]
                pub fields: $fields,
            }

            /// Fields left out (or null) keep their value.
            #[derive(InputObject)]
            pub struct $update_input {
                pub control_plane_id: ID,
                pub id: ID,
                #[graphql(flatten)]
                pub fields: $fields,
            }

            #[derive(SimpleObject)]
            pub struct $payload {
                /// The entity as stored (null when there are user errors).
                pub $field: Option<$obj>,
                /// The config version the change made.
                pub config_version: Option<i64>,
                pub user_errors: Vec<UserError>,
            }

            impl $payload {
                fn failed(user_errors: Vec<UserError>) -> $payload {
                    $payload { $field: None, config_version: None, user_errors }
                }
            }
        )*

        #[derive(Default)]
        pub struct EntityMutation;

        #[Object]
        impl EntityMutation {
            $(
                async fn $create(&self, ctx: &Context<'_>, input: $create_input) -> Result<$payload> {
                    let plane = match plane_id(&input.control_plane_id) {
                        Ok(p) => p,
                        Err(e) => return Ok($payload::failed(e)),
                    };
                    check(ctx, &auth::plane(plane), Action::EntitiesWrite(Kind::$kind.as_str())).await?;
                    let (data, plugin) = match data_of(
                        &input.fields,
                        typed_mutations!(@config $plugin input),
                        None,
                    ) {
                        Ok(d) => d,
                        Err(e) => return Ok($payload::failed(e)),
                    };
                    let st = state(ctx);
                    match st.planes.mutate(plane, Op::Create { kind: Kind::$kind, data }).await {
                        Ok(c) => Ok($payload {
                            $field: match (st.planes.view(plane), c.record) {
                                (Some(v), Some(r)) => Some($obj(Ent::new(&v, r.id))),
                                _ => None,
                            },
                            config_version: Some(c.version),
                            user_errors: Vec::new(),
                        }),
                        Err(e) => Ok($payload::failed(user_errors(e, plugin.as_deref())?)),
                    }
                }

                async fn $update(&self, ctx: &Context<'_>, input: $update_input) -> Result<$payload> {
                    let plane = match plane_id(&input.control_plane_id) {
                        Ok(p) => p,
                        Err(e) => return Ok($payload::failed(e)),
                    };
                    let (id, stored) = match stored_for_write(ctx, plane, &input.id, Kind::$kind).await? {
                        Ok(x) => x,
                        Err(e) => return Ok($payload::failed(e)),
                    };
                    let (patch, plugin) = match data_of(
                        &input.fields,
                        typed_mutations!(@config $plugin input),
                        Some(&stored),
                    ) {
                        Ok(d) => d,
                        Err(e) => return Ok($payload::failed(e)),
                    };
                    let st = state(ctx);
                    match st.planes.mutate(plane, Op::Update { id, patch }).await {
                        Ok(c) => Ok($payload {
                            $field: st.planes.view(plane).map(|v| $obj(Ent::new(&v, id))),
                            config_version: Some(c.version),
                            user_errors: Vec::new(),
                        }),
                        Err(e) => Ok($payload::failed(user_errors(e, plugin.as_deref())?)),
                    }
                }

                /// Deletes it, with what Kong deletes with it.
                async fn $delete(&self, ctx: &Context<'_>, input: DeleteEntityInput) -> Result<DeleteEntityPayload> {
                    delete(ctx, input, Kind::$kind).await
                }
            )*
        }
    };
    (@config plugin $input:ident) => { Some(&$input.fields.config) };
    (@config plain $input:ident) => { None };
}

async fn delete(
    ctx: &Context<'_>,
    input: DeleteEntityInput,
    kind: Kind,
) -> Result<DeleteEntityPayload> {
    let failed = |user_errors| DeleteEntityPayload {
        deleted_id: None,
        config_version: None,
        removed: None,
        user_errors,
    };
    let plane = match plane_id(&input.control_plane_id) {
        Ok(p) => p,
        Err(e) => return Ok(failed(e)),
    };
    let (id, _) = match stored_for_write(ctx, plane, &input.id, kind).await? {
        Ok(x) => x,
        Err(e) => return Ok(failed(e)),
    };
    match state(ctx).planes.mutate(plane, Op::Delete { id }).await {
        Ok(c) => Ok(DeleteEntityPayload {
            deleted_id: Some(input.id),
            config_version: Some(c.version),
            removed: Some(PlanOut::from(&c.plan)),
            user_errors: Vec::new(),
        }),
        Err(e) => Ok(failed(user_errors(e, None)?)),
    }
}

typed_mutations! {
    Service, Service, ServiceFields, plain,
    create_service, update_service, delete_service,
    CreateServiceInput, UpdateServiceInput, ServicePayload, service;
    Route, Route, RouteFields, plain,
    create_route, update_route, delete_route,
    CreateRouteInput, UpdateRouteInput, RoutePayload, route;
    Upstream, Upstream, UpstreamFields, plain,
    create_upstream, update_upstream, delete_upstream,
    CreateUpstreamInput, UpdateUpstreamInput, UpstreamPayload, upstream;
    Target, Target, TargetFields, plain,
    create_target, update_target, delete_target,
    CreateTargetInput, UpdateTargetInput, TargetPayload, target;
    Consumer, Consumer, ConsumerFields, plain,
    create_consumer, update_consumer, delete_consumer,
    CreateConsumerInput, UpdateConsumerInput, ConsumerPayload, consumer;
    ConsumerGroup, ConsumerGroup, ConsumerGroupFields, plain,
    create_consumer_group, update_consumer_group, delete_consumer_group,
    CreateConsumerGroupInput, UpdateConsumerGroupInput, ConsumerGroupPayload, consumer_group;
    KeyAuthCredential, KeyAuthCredential, KeyAuthCredentialFields, plain,
    create_key_auth_credential, update_key_auth_credential, delete_key_auth_credential,
    CreateKeyAuthCredentialInput, UpdateKeyAuthCredentialInput, KeyAuthCredentialPayload, key_auth_credential;
    BasicAuthCredential, BasicAuthCredential, BasicAuthCredentialFields, plain,
    create_basic_auth_credential, update_basic_auth_credential, delete_basic_auth_credential,
    CreateBasicAuthCredentialInput, UpdateBasicAuthCredentialInput, BasicAuthCredentialPayload, basic_auth_credential;
    JwtSecret, JwtSecret, JwtSecretFields, plain,
    create_jwt_secret, update_jwt_secret, delete_jwt_secret,
    CreateJwtSecretInput, UpdateJwtSecretInput, JwtSecretPayload, jwt_secret;
    Acl, Acl, AclFields, plain,
    create_acl, update_acl, delete_acl,
    CreateAclInput, UpdateAclInput, AclPayload, acl;
    Plugin, Plugin, PluginFields, plugin,
    create_plugin, update_plugin, delete_plugin,
    CreatePluginInput, UpdatePluginInput, PluginPayload, plugin;
    Certificate, Certificate, CertificateFields, plain,
    create_certificate, update_certificate, delete_certificate,
    CreateCertificateInput, UpdateCertificateInput, CertificatePayload, certificate;
    Sni, Sni, SniFields, plain,
    create_sni, update_sni, delete_sni,
    CreateSniInput, UpdateSniInput, SniPayload, sni;
    CaCertificate, CaCertificate, CaCertificateFields, plain,
    create_ca_certificate, update_ca_certificate, delete_ca_certificate,
    CreateCaCertificateInput, UpdateCaCertificateInput, CaCertificatePayload, ca_certificate;
}

#[cfg(test)]
mod tests {
    use super::input_path;

    #[test]
    fn data_paths_become_input_paths() {
        assert_eq!(input_path("paths[0]", None), "input.paths[0]");
        assert_eq!(input_path("strip_path", None), "input.stripPath");
        assert_eq!(
            input_path("config.key_names[1]", Some("key-auth")),
            "input.config.keyAuth.keyNames[1]"
        );
        assert_eq!(
            input_path("config", Some("rate-limiting")),
            "input.config.rateLimiting"
        );
        assert_eq!(input_path("", None), "input");
    }
}

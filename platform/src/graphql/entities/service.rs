//! Services (where traffic goes) and routes (which requests go there).

use async_graphql::{Context, Result};

use super::{
    CaCertificate, PathHandling, PluginConnection, Protocol, Route, RouteConnection, RouteHeader,
    Service, children, entity_object, page_of, paging,
};
use crate::config::Kind;
use graphql_schema::entity::route::PathHandling as KongPathHandling;

fn protocol(p: graphql_schema::entity::Protocol) -> Protocol {
    Protocol::parse(p.as_str()).unwrap_or(Protocol::Http)
}

entity_object!(
    /// An upstream service: where matching requests are proxied (Kong's Service).
    Service, Kind::Service, {
    async fn name(&self) -> Result<Option<String>> {
        Ok(self.0.get(|t, id| t.service(id))?.name.clone())
    }

    async fn protocol(&self) -> Result<Protocol> {
        Ok(protocol(self.0.get(|t, id| t.service(id))?.protocol))
    }

    async fn host(&self) -> Result<String> {
        Ok(self.0.get(|t, id| t.service(id))?.host.clone())
    }

    async fn port(&self) -> Result<i32> {
        Ok(i32::from(self.0.get(|t, id| t.service(id))?.port))
    }

    async fn path(&self) -> Result<Option<String>> {
        Ok(self.0.get(|t, id| t.service(id))?.path.clone())
    }

    /// `protocol://host:port/path`, as Kong's `url` shorthand writes it.
    async fn url(&self) -> Result<String> {
        let s = self.0.get(|t, id| t.service(id))?;
        Ok(format!(
            "{}://{}:{}{}",
            s.protocol.as_str(),
            s.host,
            s.port,
            s.path.as_deref().unwrap_or("")
        ))
    }

    async fn retries(&self) -> Result<i32> {
        Ok(self.0.get(|t, id| t.service(id))?.retries as i32)
    }

    /// Milliseconds.
    async fn connect_timeout(&self) -> Result<i32> {
        Ok(self.0.get(|t, id| t.service(id))?.connect_timeout_ms as i32)
    }

    /// Milliseconds.
    async fn write_timeout(&self) -> Result<i32> {
        Ok(self.0.get(|t, id| t.service(id))?.write_timeout_ms as i32)
    }

    /// Milliseconds.
    async fn read_timeout(&self) -> Result<i32> {
        Ok(self.0.get(|t, id| t.service(id))?.read_timeout_ms as i32)
    }

    async fn enabled(&self) -> Result<bool> {
        Ok(self.0.get(|t, id| t.service(id))?.enabled)
    }

    async fn tls_verify(&self) -> Result<Option<bool>> {
        Ok(self.0.get(|t, id| t.service(id))?.tls_verify)
    }

    async fn tls_verify_depth(&self) -> Result<Option<i32>> {
        Ok(self
            .0
            .get(|t, id| t.service(id))?
            .tls_verify_depth
            .map(|d| d as i32))
    }

    /// The CA certificates the service's TLS certificate is verified with.
    async fn ca_certificates(&self) -> Result<Vec<CaCertificate>> {
        Ok(self
            .0
            .get(|t, id| t.service(id))?
            .ca_certificates
            .iter()
            .map(|id| CaCertificate(self.0.other(*id)))
            .collect())
    }

    /// The routes to this service, in creation order.
    async fn routes(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<RouteConnection> {
        let list = children(&self.0, Kind::Route);
        Ok(page_of(ctx, &self.0.view, list, &paging(first, after, last, before), Route)?.into())
    }

    /// Plugins scoped to this service.
    async fn plugins(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<PluginConnection> {
        let list = children(&self.0, Kind::Plugin);
        Ok(page_of(ctx, &self.0.view, list, &paging(first, after, last, before), super::Plugin)?.into())
    }
});

entity_object!(
    /// Which requests go to a service: Kong's matching by protocols, hosts,
    /// paths, methods, headers and SNIs.
    Route, Kind::Route, {
    async fn name(&self) -> Result<Option<String>> {
        Ok(self.0.get(|t, id| t.route(id))?.name.clone())
    }

    /// The service it routes to.
    async fn service(&self) -> Result<Option<Service>> {
        Ok(self
            .0
            .get(|t, id| t.route(id))?
            .service_id
            .map(|s| Service(self.0.other(s))))
    }

    async fn protocols(&self) -> Result<Vec<Protocol>> {
        Ok(self
            .0
            .get(|t, id| t.route(id))?
            .protocols
            .iter()
            .map(|p| protocol(*p))
            .collect())
    }

    /// HTTP methods (Kong accepts any upper-case method name).
    async fn methods(&self) -> Result<Vec<String>> {
        Ok(self.0.get(|t, id| t.route(id))?.methods.clone())
    }

    async fn hosts(&self) -> Result<Vec<String>> {
        Ok(self.0.get(|t, id| t.route(id))?.hosts.clone())
    }

    /// Prefixes, or regexes starting with `~`.
    async fn paths(&self) -> Result<Vec<String>> {
        Ok(self.0.get(|t, id| t.route(id))?.paths.clone())
    }

    async fn headers(&self) -> Result<Vec<RouteHeader>> {
        Ok(self
            .0
            .get(|t, id| t.route(id))?
            .headers
            .iter()
            .map(|(name, values)| RouteHeader {
                name: name.clone(),
                values: values.clone(),
            })
            .collect())
    }

    async fn snis(&self) -> Result<Vec<String>> {
        Ok(self.0.get(|t, id| t.route(id))?.snis.clone())
    }

    async fn https_redirect_status_code(&self) -> Result<i32> {
        Ok(i32::from(
            self.0.get(|t, id| t.route(id))?.https_redirect_status_code,
        ))
    }

    async fn regex_priority(&self) -> Result<i32> {
        Ok(self.0.get(|t, id| t.route(id))?.regex_priority as i32)
    }

    async fn strip_path(&self) -> Result<bool> {
        Ok(self.0.get(|t, id| t.route(id))?.strip_path)
    }

    async fn preserve_host(&self) -> Result<bool> {
        Ok(self.0.get(|t, id| t.route(id))?.preserve_host)
    }

    async fn path_handling(&self) -> Result<PathHandling> {
        Ok(match self.0.get(|t, id| t.route(id))?.path_handling {
            KongPathHandling::V0 => PathHandling::V0,
            KongPathHandling::V1 => PathHandling::V1,
        })
    }

    async fn request_buffering(&self) -> Result<bool> {
        Ok(self.0.get(|t, id| t.route(id))?.request_buffering)
    }

    async fn response_buffering(&self) -> Result<bool> {
        Ok(self.0.get(|t, id| t.route(id))?.response_buffering)
    }

    /// Plugins scoped to this route.
    async fn plugins(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<PluginConnection> {
        let list = children(&self.0, Kind::Plugin);
        Ok(page_of(ctx, &self.0.view, list, &paging(first, after, last, before), super::Plugin)?.into())
    }
});

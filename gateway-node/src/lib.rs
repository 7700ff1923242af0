//! Portico's data plane: the `portico-gateway` reverse proxy. It loads a Kong
//! (decK) config, compiles it into an immutable router and balancers, and proxies
//! HTTP/1.1, HTTP/2, gRPC and WebSocket traffic with Kong's routing semantics.

pub mod analytics;
pub mod compiled;
pub mod echo;
pub mod node;
pub mod plugin;
pub mod plugins;
pub mod proxy;
pub mod router;
pub mod server;
pub mod status;
pub mod sync;
pub mod tls;
pub mod upstream;

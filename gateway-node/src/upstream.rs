//! Everything between the router and the upstream server: balancers with health
//! state, the connection pool and upstream TLS.

pub mod balancer;
pub mod health;
pub mod pool;
pub mod tls;

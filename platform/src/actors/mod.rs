//! The platform's actors: one writer per aggregate. `ControlPlanes` supervises a
//! `ControlPlane` actor per control plane (its config and change log), `Teams` a
//! `Team` actor per team (its roles and members), `DataPlaneConnections` a
//! `DataPlaneConnection` actor per connected gateway node. Every actor is linked
//! to its supervisor and restarts from the database; every call has a timeout,
//! so a stuck database fails the caller instead of hanging it.

pub mod analytics;
pub mod catalog;
pub mod control_plane;
pub mod control_planes;
pub mod data_plane;
pub mod team;

use std::time::Duration;

use ractor::rpc::CallResult;
use ractor::{ActorRef, RpcReplyPort};

use crate::error::Error;

/// How long a caller waits for an actor's answer.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Sends `msg` to `actor` and waits for the answer, at most [`CALL_TIMEOUT`].
pub async fn ask<M, T>(
    actor: &ActorRef<M>,
    msg: impl FnOnce(RpcReplyPort<T>) -> M,
    what: &str,
) -> Result<T, Error>
where
    M: ractor::Message,
    T: Send + 'static,
{
    match actor.call(msg, Some(CALL_TIMEOUT)).await {
        Ok(CallResult::Success(t)) => Ok(t),
        Ok(CallResult::Timeout) => Err(Error::Unavailable(format!(
            "{what} did not answer within {}s; retry",
            CALL_TIMEOUT.as_secs()
        ))),
        Ok(CallResult::SenderError) => Err(Error::Unavailable(format!(
            "{what} stopped before answering; retry"
        ))),
        Err(e) => Err(Error::Unavailable(format!(
            "{what} is restarting ({e}); retry"
        ))),
    }
}

#[cfg(test)]
mod tests;

//! Shared by the ACL, SCRAM and dynamic-config handlers: committing a
//! change through the active controller (via this node's controller shard)
//! and the per-item answers when that fails. Reads need none of this: they
//! answer from the shard's metadata image.

use std::rc::Rc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::protocol::StrBytes;

use crate::cluster::commands::{Command, Refusal, Reply};
use crate::shard::messages::{ShardRequest, ShardResponse};
use crate::shard::{router, Shard};

/// Commits `command` and returns its reply once this node has applied it.
/// `Err`: it could not be committed (no controller, a timeout, or a
/// refusal of the whole command).
pub async fn submit(shard: &Rc<Shard>, command: Command) -> Result<Reply, Refusal> {
    match router::to_controller(shard, ShardRequest::Submit(command)).await {
        Some(ShardResponse::Submitted(result)) => result,
        _ => Err(Refusal::new(
            ResponseError::NotController,
            "controller unavailable",
        )),
    }
}

/// A refusal as one item's outcome.
pub fn outcome(refusal: Refusal) -> (i16, Option<String>) {
    (refusal.code, Some(refusal.message))
}

/// The outcome of an item whose reply does not match its command (a bug,
/// never a panic): UNKNOWN_SERVER_ERROR.
pub fn mismatch() -> (i16, Option<String>) {
    let code = ResponseError::UnknownServerError.code();
    (code, Some("unexpected reply from the controller".into()))
}

pub fn wire(s: String) -> StrBytes {
    StrBytes::from_string(s)
}

pub fn wire_opt(s: Option<String>) -> Option<StrBytes> {
    s.map(StrBytes::from_string)
}

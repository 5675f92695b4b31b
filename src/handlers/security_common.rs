//! Shared by the ACL and SCRAM handlers: the call to the controller, which
//! holds that state (see `crate::security`).

use std::rc::Rc;

use kafka_protocol::protocol::StrBytes;

use crate::security::{self, SecurityCall, SecurityReply};
use crate::shard::messages::{ShardRequest, ShardResponse};
use crate::shard::{router, Shard};

/// Runs `call` on the controller. When the controller cannot answer, every
/// item of the call gets NOT_CONTROLLER, so the client retries.
pub async fn ask(shard: &Rc<Shard>, call: SecurityCall) -> SecurityReply {
    match router::to_controller(shard, ShardRequest::Security(call.clone())).await {
        Some(ShardResponse::Security(reply)) => reply,
        _ => security::not_controller(call),
    }
}

/// The message of a reply that does not match its call (a bug, never a
/// panic): the handler answers UNKNOWN_SERVER_ERROR.
pub fn mismatch() -> (i16, Option<String>) {
    let code = kafka_protocol::error::ResponseError::UnknownServerError.code();
    (code, Some("unexpected reply from the controller".into()))
}

pub fn wire(s: String) -> StrBytes {
    StrBytes::from_string(s)
}

pub fn wire_opt(s: Option<String>) -> Option<StrBytes> {
    s.map(StrBytes::from_string)
}

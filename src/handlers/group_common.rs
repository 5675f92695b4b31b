//! Small conversions shared by the consumer-group handlers.

use std::rc::Rc;

use kafka_protocol::messages::GroupId;
use kafka_protocol::protocol::StrBytes;

use crate::group::route;
use crate::group::types::{GroupCall, GroupReply};
use crate::shard::Shard;

pub fn text(s: &StrBytes) -> String {
    s.as_str().to_string()
}

pub fn opt_text(s: &Option<StrBytes>) -> Option<String> {
    s.as_ref().map(text)
}

pub fn wire(s: String) -> StrBytes {
    StrBytes::from_string(s)
}

pub fn group_id(s: String) -> GroupId {
    GroupId(wire(s))
}

/// Runs `call` on the group's coordinator shard; Err is a Kafka error code.
pub async fn call(shard: &Rc<Shard>, group: &str, call: GroupCall) -> Result<GroupReply, i16> {
    route::call(shard, group, call).await.map_err(|e| e.code())
}

//! AddOffsetsToTxn: a transactional producer is about to commit a
//! consumer group's offsets in its transaction (send_offsets_to_transaction),
//! so the group's `__consumer_offsets` partition joins the transaction and
//! gets its marker. As Kafka: WRITE on the transactional id
//! (TRANSACTIONAL_ID_AUTHORIZATION_FAILED), READ on the group
//! (GROUP_AUTHORIZATION_FAILED).

use std::rc::Rc;

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, ApiKey};

use super::authorize;
use crate::security::acl::{operation, resource};
use crate::security::session::Session;
use crate::shard::txn_coordinator::{self, TxnAnswer, TxnCall};
use crate::shard::Shard;
use crate::txn::Fenced;

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Session,
    version: i16,
    request: AddOffsetsToTxnRequest,
) -> AddOffsetsToTxnResponse {
    let id = request.transactional_id.0.to_string();
    let group = request.group_id.0.to_string();
    let code = if !shard.authorize(session, operation::WRITE, resource::TRANSACTIONAL_ID, &id) {
        E::TransactionalIdAuthorizationFailed.code()
    } else if !authorize::group(shard, session, operation::READ, &group) {
        E::GroupAuthorizationFailed.code()
    } else {
        let partitions = shard.config.group.offsets_topic_partitions;
        let call = TxnCall::AddPartitions {
            id,
            producer_id: request.producer_id.0,
            producer_epoch: request.producer_epoch,
            partitions: vec![(
                crate::group::OFFSETS_TOPIC.to_string(),
                crate::group::route::partition_for(&group, partitions),
            )],
            fenced: Fenced::for_request(ApiKey::AddOffsetsToTxn, version),
        };
        match txn_coordinator::call(shard, call).await {
            TxnAnswer::Code(code) => code,
            _ => E::UnknownServerError.code(),
        }
    };
    AddOffsetsToTxnResponse::default().with_error_code(code)
}

//! InitProducerId: a producer id for idempotent producers, from the
//! controller shard; a producer that sends its current id and epoch
//! (KIP-360) gets the epoch bumped. With a transactional id, the id's
//! transaction coordinator answers (`txn_coordinator`: epoch bumps,
//! fencing, aborting what a previous incarnation left open).
//!
//! Authorized as in Kafka: a transactional producer needs WRITE on its
//! transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED), an idempotent
//! one IDEMPOTENT_WRITE on the cluster or WRITE on some topic
//! (CLUSTER_AUTHORIZATION_FAILED).

use std::rc::Rc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{ApiKey, InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use super::authorize;
use crate::security::acl::{operation, resource};
use crate::security::session::Session;
use crate::shard::messages::{ShardRequest, ShardResponse};
use crate::shard::txn_coordinator::{self, TxnAnswer, TxnCall};
use crate::shard::{router, Shard};
use crate::txn::Fenced;

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Session,
    version: i16,
    request: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let failed = |error: ResponseError| {
        InitProducerIdResponse::default()
            .with_error_code(error.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
    };
    if let Some(id) = &request.transactional_id {
        let id = id.0.to_string();
        if !shard.authorize(session, operation::WRITE, resource::TRANSACTIONAL_ID, &id) {
            return failed(ResponseError::TransactionalIdAuthorizationFailed);
        }
        let (pid, epoch) = (request.producer_id.0, request.producer_epoch);
        let call = TxnCall::InitProducerId {
            id,
            timeout_ms: request.transaction_timeout_ms,
            expected: (pid >= 0).then_some((pid, epoch)),
            fenced: Fenced::for_request(ApiKey::InitProducerId, version),
        };
        let answer = txn_coordinator::call(shard, call).await;
        return match answer {
            TxnAnswer::Producer(Ok((id, epoch))) => InitProducerIdResponse::default()
                .with_producer_id(ProducerId(id))
                .with_producer_epoch(epoch),
            TxnAnswer::Producer(Err(code)) => InitProducerIdResponse::default()
                .with_error_code(code)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
            _ => failed(ResponseError::UnknownServerError),
        };
    }
    let idempotent = authorize::cluster(shard, session, operation::IDEMPOTENT_WRITE)
        || shard.authorize_any(session, operation::WRITE, resource::TOPIC);
    if !idempotent {
        return failed(ResponseError::ClusterAuthorizationFailed);
    }
    let (id, epoch) = (request.producer_id.0, request.producer_epoch);
    if id >= 0 && (0..i16::MAX - 1).contains(&epoch) {
        return InitProducerIdResponse::default()
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(epoch + 1);
    }
    match router::to_controller(shard, ShardRequest::AllocateProducerId).await {
        Some(ShardResponse::ProducerId(Ok(id))) => InitProducerIdResponse::default()
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(0),
        Some(ShardResponse::ProducerId(Err(e))) => {
            tracing::error!("allocate producer id: {e}");
            failed(ResponseError::KafkaStorageError)
        }
        _ => failed(ResponseError::CoordinatorNotAvailable),
    }
}

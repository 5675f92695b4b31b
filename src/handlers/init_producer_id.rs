//! InitProducerId: a producer id for idempotent producers, from the
//! controller shard. Transactions are not supported yet, so a transactional
//! id is refused. A producer that sends its current id and epoch (KIP-360)
//! gets the epoch bumped.
//!
//! Authorized as in Kafka: an idempotent producer needs
//! IDEMPOTENT_WRITE on the cluster or WRITE on some topic
//! (CLUSTER_AUTHORIZATION_FAILED).

use std::rc::Rc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use super::authorize;
use crate::security::acl::{operation, resource};
use crate::security::session::Session;
use crate::shard::messages::{ShardRequest, ShardResponse};
use crate::shard::{router, Shard};

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Session,
    _version: i16,
    request: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let failed = |error: ResponseError| {
        InitProducerIdResponse::default()
            .with_error_code(error.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
    };
    if request.transactional_id.is_some() {
        // Kafka's answer without WRITE on the id; without transactions,
        // fjord gives it to every transactional id.
        return failed(ResponseError::TransactionalIdAuthorizationFailed);
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

//! EndTxn: a transactional producer commits or aborts its transaction. The
//! id's coordinator writes PrepareCommit/PrepareAbort and answers once it
//! is replicated; the markers and the Complete record follow
//! (`txn_coordinator`). Without WRITE on the transactional id:
//! TRANSACTIONAL_ID_AUTHORIZATION_FAILED, as in Kafka.

use std::rc::Rc;

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::{ApiKey, EndTxnRequest, EndTxnResponse};

use crate::security::acl::{operation, resource};
use crate::security::session::Session;
use crate::shard::txn_coordinator::{self, TxnAnswer, TxnCall};
use crate::shard::Shard;
use crate::txn::Fenced;

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Session,
    version: i16,
    request: EndTxnRequest,
) -> EndTxnResponse {
    let id = request.transactional_id.0.to_string();
    if !shard.authorize(session, operation::WRITE, resource::TRANSACTIONAL_ID, &id) {
        return EndTxnResponse::default()
            .with_error_code(E::TransactionalIdAuthorizationFailed.code());
    }
    let call = TxnCall::EndTxn {
        id,
        producer_id: request.producer_id.0,
        producer_epoch: request.producer_epoch,
        commit: request.committed,
        fenced: Fenced::for_request(ApiKey::EndTxn, version),
    };
    let code = match txn_coordinator::call(shard, call).await {
        TxnAnswer::Code(code) => code,
        _ => E::UnknownServerError.code(),
    };
    // v5's producer id and epoch are for transaction version 2 (KIP-890),
    // which fjord does not advertise: -1, as Kafka answers TV1 clients.
    EndTxnResponse::default()
        .with_error_code(code)
        .with_producer_id((-1).into())
        .with_producer_epoch(-1)
}

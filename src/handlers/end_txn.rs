//! EndTxn: a transactional producer commits or aborts its transaction. The
//! id's coordinator writes PrepareCommit/PrepareAbort and answers once it
//! is replicated; the markers and the Complete record follow
//! (`txn_coordinator`). v5+ is transaction version 2: the epoch is bumped
//! and the reply carries it. Without WRITE on the transactional id:
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
    // v5+ is transaction version 2 (KIP-890): the coordinator bumps the
    // epoch and answers with the one the next transaction uses.
    let version2 = version >= 5;
    let call = TxnCall::EndTxn {
        id,
        producer_id: request.producer_id.0,
        producer_epoch: request.producer_epoch,
        commit: request.committed,
        fenced: Fenced::for_request(ApiKey::EndTxn, version),
        version2,
    };
    let (code, (producer_id, producer_epoch)) = match txn_coordinator::call(shard, call).await {
        TxnAnswer::Code(code) if !version2 => (code, (-1, -1)),
        TxnAnswer::Producer(Ok(next)) if version2 => (0, next),
        TxnAnswer::Producer(Err(code)) if version2 => (code, (-1, -1)),
        _ => (E::UnknownServerError.code(), (-1, -1)),
    };
    EndTxnResponse::default()
        .with_error_code(code)
        .with_producer_id(producer_id.into())
        .with_producer_epoch(producer_epoch)
}

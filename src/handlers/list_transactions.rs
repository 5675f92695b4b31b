//! ListTransactions (kafka-transactions.sh list): the transactions this
//! broker coordinates, from every shard, filtered by state and producer id
//! as asked, and to the ids the principal may DESCRIBE (as Kafka filters).

use std::rc::Rc;

use kafka_protocol::messages::list_transactions_response::TransactionState;
use kafka_protocol::messages::{ListTransactionsRequest, ListTransactionsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::security::acl::{operation, resource};
use crate::security::session::Session;
use crate::shard::messages::{ShardRequest, ShardResponse};
use crate::shard::txn_coordinator::{self, TxnAnswer, TxnCall};
use crate::shard::Shard;

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Session,
    _version: i16,
    request: ListTransactionsRequest,
) -> ListTransactionsResponse {
    let call = TxnCall::List {
        states: request
            .state_filters
            .iter()
            .map(|s| s.to_string())
            .collect(),
        producer_ids: request.producer_id_filters.iter().map(|p| p.0).collect(),
    };
    let mut listed = Vec::new();
    let mut unknown = Vec::new();
    for s in 0..shard.shard_count() {
        let answer = if s == shard.id {
            txn_coordinator::handle(shard, call.clone()).await
        } else {
            match shard
                .mesh
                .send(s, ShardRequest::Txn(call.clone()))
                .await
                .await
            {
                Ok(ShardResponse::Txn(answer)) => answer,
                _ => continue,
            }
        };
        if let TxnAnswer::Listed(listing) = answer {
            listed.extend(listing.transactions);
            unknown = listing.unknown_state_filters;
        }
    }
    listed.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
    let states = listed
        .into_iter()
        .filter(|t| {
            let id = &t.transactional_id;
            shard.authorize(session, operation::DESCRIBE, resource::TRANSACTIONAL_ID, id)
        })
        .map(|t| {
            TransactionState::default()
                .with_transactional_id(StrBytes::from_string(t.transactional_id).into())
                .with_producer_id(t.producer_id.into())
                .with_transaction_state(StrBytes::from_static_str(t.state.name()))
        })
        .collect();
    ListTransactionsResponse::default()
        .with_unknown_state_filters(unknown.into_iter().map(StrBytes::from_string).collect())
        .with_transaction_states(states)
}

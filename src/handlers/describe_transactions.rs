//! DescribeTransactions (kafka-transactions.sh describe): each id's state
//! from its coordinator, which must be this broker (NOT_COORDINATOR
//! otherwise, as Kafka: the tool finds the coordinator first). An id
//! without DESCRIBE gets TRANSACTIONAL_ID_AUTHORIZATION_FAILED.

use std::collections::BTreeMap;
use std::rc::Rc;

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kafka_protocol::messages::{
    DescribeTransactionsRequest, DescribeTransactionsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::security::acl::{operation, resource};
use crate::security::session::Session;
use crate::shard::txn_coordinator::{self, TxnAnswer, TxnCall};
use crate::shard::Shard;

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Session,
    _version: i16,
    request: DescribeTransactionsRequest,
) -> DescribeTransactionsResponse {
    let mut states = Vec::with_capacity(request.transactional_ids.len());
    for id in request.transactional_ids {
        let name = id.0.to_string();
        let base = TransactionState::default()
            .with_transactional_id(id)
            .with_producer_id((-1).into())
            .with_producer_epoch(-1)
            .with_transaction_start_time_ms(-1);
        if !shard.authorize(
            session,
            operation::DESCRIBE,
            resource::TRANSACTIONAL_ID,
            &name,
        ) {
            states.push(base.with_error_code(E::TransactionalIdAuthorizationFailed.code()));
            continue;
        }
        let described = match txn_coordinator::call(shard, TxnCall::Describe { id: name }).await {
            TxnAnswer::Described(d) => d,
            _ => Err(E::UnknownServerError.code()),
        };
        states.push(match described {
            Err(code) => base.with_error_code(code),
            Ok(d) => {
                let mut topics: BTreeMap<String, Vec<i32>> = BTreeMap::new();
                for (topic, partition) in d.partitions {
                    topics.entry(topic).or_default().push(partition);
                }
                base.with_transaction_state(StrBytes::from_static_str(d.state.name()))
                    .with_transaction_timeout_ms(d.timeout_ms)
                    .with_transaction_start_time_ms(d.start_ms)
                    .with_producer_id(d.producer_id.into())
                    .with_producer_epoch(d.producer_epoch)
                    .with_topics(
                        topics
                            .into_iter()
                            .map(|(topic, partitions)| {
                                TopicData::default()
                                    .with_topic(TopicName(StrBytes::from_string(topic)))
                                    .with_partitions(partitions)
                            })
                            .collect(),
                    )
            }
        });
    }
    DescribeTransactionsResponse::default().with_transaction_states(states)
}

//! WriteTxnMarkers: a transaction coordinator (on any broker) asks the
//! leaders of a transaction's partitions to end it there by appending the
//! commit or abort marker. As in Kafka, each marker is appended like an
//! acks=all produce: answered once it is below the high watermark, so a
//! coordinator that hears success can complete the transaction knowing no
//! failover loses the marker. A marker of an older producer epoch than the
//! partition has seen gets INVALID_PRODUCER_EPOCH.
//!
//! Only brokers send it: the session needs CLUSTER_ACTION on the cluster,
//! else every partition answers CLUSTER_AUTHORIZATION_FAILED.

use std::rc::Rc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use kafka_protocol::messages::{TopicName, WriteTxnMarkersRequest, WriteTxnMarkersResponse};

use super::authorize::{self, TopicRef};
use crate::security::acl::operation;
use crate::security::session::Session;
use crate::shard::messages::ProducePart;
use crate::shard::txn_markers::MARKER_TIMEOUT_MS;
use crate::shard::{router, Shard};
use crate::storage::txn_state::Marker;
use crate::storage::MarkerSpec;

/// Where each partition's answer comes from.
type Slots = Vec<(i32, Result<usize, i16>)>;

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Session,
    _version: i16,
    request: WriteTxnMarkersRequest,
) -> WriteTxnMarkersResponse {
    let allowed = authorize::cluster(shard, session, operation::CLUSTER_ACTION);
    let mut parts = Vec::new();
    let mut layout: Vec<(i64, Vec<(TopicName, Slots)>)> = Vec::new();
    for marker in request.markers {
        let spec = MarkerSpec {
            producer_id: marker.producer_id.0,
            producer_epoch: marker.producer_epoch,
            marker: match marker.transaction_result {
                true => Marker::Commit,
                false => Marker::Abort,
            },
            coordinator_epoch: marker.coordinator_epoch,
        };
        let mut topics = Vec::new();
        for topic in marker.topics {
            let meta = match allowed {
                false => Err(ResponseError::ClusterAuthorizationFailed.code()),
                // CLUSTER_ACTION covers every topic, as in Kafka.
                true => {
                    authorize::topic_meta(shard, TopicRef::Name(&topic.name.0), |_| true, None)
                        .await
                }
            };
            let mut slots = Vec::new();
            for index in topic.partition_indexes {
                let slot = match &meta {
                    Err(code) => Err(*code),
                    Ok(m) if !(0..m.partitions).contains(&index) => {
                        Err(ResponseError::UnknownTopicOrPartition.code())
                    }
                    Ok(m) => match shard.check_leader(&m.name, index) {
                        Err(not_here) => Err(not_here.error_code),
                        Ok(leader_epoch) => {
                            parts.push(ProducePart {
                                topic: m.name.clone(),
                                partition: index,
                                records: Default::default(),
                                leader_epoch,
                                marker: Some(spec),
                            });
                            Ok(parts.len() - 1)
                        }
                    },
                };
                slots.push((index, slot));
            }
            topics.push((topic.name, slots));
        }
        layout.push((spec.producer_id, topics));
    }
    let results = router::produce(shard, -1, MARKER_TIMEOUT_MS, parts)
        .await
        .await;
    let code = |slot: Result<usize, i16>| match slot {
        Err(code) => code,
        Ok(i) => results
            .get(i)
            .map_or(ResponseError::UnknownServerError.code(), |r| r.error_code),
    };
    let markers = layout
        .into_iter()
        .map(|(producer_id, topics)| {
            let topics = topics
                .into_iter()
                .map(|(name, slots)| {
                    let partitions = slots
                        .into_iter()
                        .map(|(index, slot)| {
                            WritableTxnMarkerPartitionResult::default()
                                .with_partition_index(index)
                                .with_error_code(code(slot))
                        })
                        .collect();
                    WritableTxnMarkerTopicResult::default()
                        .with_name(name)
                        .with_partitions(partitions)
                })
                .collect();
            WritableTxnMarkerResult::default()
                .with_producer_id(producer_id.into())
                .with_topics(topics)
        })
        .collect();
    WriteTxnMarkersResponse::default().with_markers(markers)
}

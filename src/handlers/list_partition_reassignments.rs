//! ListPartitionReassignments (`kafka-reassign-partitions.sh --verify`,
//! `--list`): the moves in progress, from this node's metadata image — no
//! controller round trip. Named partitions that do not exist or are not
//! moving are left out, as Kafka does; a null topic list lists them all.
//! Needs DESCRIBE on the cluster (CLUSTER_AUTHORIZATION_FAILED).

use std::rc::Rc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_partition_reassignments_response::{
    OngoingPartitionReassignment, OngoingTopicReassignment,
};
use kafka_protocol::messages::{
    BrokerId, ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse, TopicName,
};

use super::authorize;
use crate::cluster::image::{MetadataImage, TopicImage};
use crate::security::acl::operation;
use crate::security::session::Session;
use crate::shard::Shard;

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Session,
    _version: i16,
    request: ListPartitionReassignmentsRequest,
) -> ListPartitionReassignmentsResponse {
    if !authorize::cluster(shard, session, operation::DESCRIBE) {
        let (code, message) = authorize::denied(ResponseError::ClusterAuthorizationFailed);
        return ListPartitionReassignmentsResponse::default()
            .with_error_code(code)
            .with_error_message(message.map(Into::into));
    }
    let image = shard.image.borrow().clone();
    let topics = match request.topics {
        Some(named) => named
            .iter()
            .filter_map(|t| ongoing(image.topic(&t.name)?, Some(&t.partition_indexes)))
            .collect(),
        None => all(&image),
    };
    ListPartitionReassignmentsResponse::default().with_topics(topics)
}

fn all(image: &MetadataImage) -> Vec<OngoingTopicReassignment> {
    image
        .topics
        .values()
        .filter_map(|t| ongoing(t, None))
        .collect()
}

/// `topic`'s moving partitions (of `only`, when given); `None` if none.
fn ongoing(topic: &TopicImage, only: Option<&Vec<i32>>) -> Option<OngoingTopicReassignment> {
    let ids = |list: &[i32]| list.iter().map(|b| BrokerId(*b)).collect::<Vec<_>>();
    let partitions: Vec<_> = (0..)
        .zip(&topic.partitions)
        .filter(|(p, state)| state.is_reassigning() && only.is_none_or(|o| o.contains(p)))
        .map(|(p, state)| {
            OngoingPartitionReassignment::default()
                .with_partition_index(p)
                .with_replicas(ids(&state.replicas))
                .with_adding_replicas(ids(&state.adding_replicas))
                .with_removing_replicas(ids(&state.removing_replicas))
        })
        .collect();
    (!partitions.is_empty()).then(|| {
        OngoingTopicReassignment::default()
            .with_name(TopicName(topic.name.clone().into()))
            .with_partitions(partitions)
    })
}

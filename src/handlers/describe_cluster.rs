//! DescribeCluster: the cluster id, the controller and the live brokers,
//! from this node's metadata image. As in Kafka, anyone may ask; the
//! cluster's authorized operations, when asked for, are the session's, or 0
//! without DESCRIBE on the cluster.

use std::rc::Rc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};
use kafka_protocol::protocol::StrBytes;

use super::authorize;
use crate::security::session::Session;
use crate::shard::Shard;

const BROKERS: i8 = 1;

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Session,
    version: i16,
    request: DescribeClusterRequest,
) -> DescribeClusterResponse {
    let mut response = DescribeClusterResponse::default()
        .with_cluster_id(StrBytes::from_string(shard.cluster_id()))
        .with_controller_id(BrokerId(shard.controller_for_clients(&session.listener)));
    if request.include_cluster_authorized_operations {
        let ops = authorize::cluster_operations(shard, session, true);
        response = response.with_cluster_authorized_operations(ops);
    }
    if version >= 1 {
        response = response.with_endpoint_type(request.endpoint_type);
        if request.endpoint_type != BROKERS {
            return response
                .with_error_code(ResponseError::UnsupportedEndpointType.code())
                .with_error_message(Some(StrBytes::from_static_str(
                    "only broker endpoints are served",
                )))
                .with_controller_id(BrokerId(-1));
        }
    }
    let brokers = shard
        .live_brokers(&session.listener)
        .into_iter()
        .map(|(node, host, port, rack)| {
            DescribeClusterBroker::default()
                .with_broker_id(BrokerId(node))
                .with_host(StrBytes::from_string(host))
                .with_port(port)
                .with_rack(rack.map(StrBytes::from_string))
        })
        .collect();
    response.with_brokers(brokers)
}

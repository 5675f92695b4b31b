//! DescribeCluster: the cluster id, the controller and the live brokers,
//! from this node's metadata image. Authorized operations,
//! when asked for, are all Kafka supports on the cluster: fjord allows every
//! operation (see `crate::security`).

use std::rc::Rc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};
use kafka_protocol::protocol::StrBytes;

use crate::security::acl::{authorized_operations, resource};
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
        response =
            response.with_cluster_authorized_operations(authorized_operations(resource::CLUSTER));
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

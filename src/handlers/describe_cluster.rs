//! DescribeCluster: the cluster id, the controller and the broker list —
//! this one broker, which is also its own controller. Authorized operations,
//! when asked for, are all Kafka supports on the cluster: fjord allows every
//! operation (see `crate::security`).

use std::rc::Rc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};
use kafka_protocol::protocol::StrBytes;

use crate::security::acl::{authorized_operations, resource};
use crate::shard::Shard;

const BROKERS: i8 = 1;

pub async fn handle(
    shard: &Rc<Shard>,
    version: i16,
    request: DescribeClusterRequest,
) -> DescribeClusterResponse {
    let id = &shard.identity;
    let mut response = DescribeClusterResponse::default()
        .with_cluster_id(StrBytes::from_string(id.cluster_id.clone()))
        .with_controller_id(BrokerId(id.node_id));
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
    response.with_brokers(vec![DescribeClusterBroker::default()
        .with_broker_id(BrokerId(id.node_id))
        .with_host(StrBytes::from_string(id.host.clone()))
        .with_port(id.port)])
}

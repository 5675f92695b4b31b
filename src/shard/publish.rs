//! Handing a new metadata image from the controller shard to every shard of
//! this node: one message each over the mesh, applied in order (the
//! cluster's publisher sends one image at a time), answered once applied.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use super::messages::ShardRequest;
use super::service::execute;
use super::Shard;
use crate::cluster::image::MetadataImage;
use crate::cluster::node::Publisher;

pub struct ShardPublisher(pub Rc<Shard>);

impl Publisher for ShardPublisher {
    fn publish(
        &self,
        image: Arc<MetadataImage>,
        controller_id: i32,
    ) -> Pin<Box<dyn Future<Output = ()>>> {
        let shard = self.0.clone();
        Box::pin(async move {
            let make = || ShardRequest::Metadata {
                image: image.clone(),
                controller_id,
            };
            let mut remote = Vec::new();
            for target in 0..shard.shard_count() {
                if target != shard.id {
                    remote.push(shard.mesh.send(target, make()).await);
                }
            }
            Box::pin(execute(&shard, make())).await;
            for reply in remote {
                // A shard that is shutting down drops the request.
                let _ = reply.await;
            }
        })
    }
}

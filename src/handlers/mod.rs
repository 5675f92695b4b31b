//! One file per Kafka API: turn a decoded request into a response using the
//! shard's routing functions. Handlers know the wire types and Kafka's error
//! codes; they never touch storage directly.

pub mod api_versions;
pub mod create_topics;
pub mod delete_topics;
pub mod describe_configs;
pub mod fetch;
pub mod init_producer_id;
pub mod list_offsets;
pub mod metadata;
pub mod produce;
pub mod topics;

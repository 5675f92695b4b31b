//! Client quotas (KIP-13/KIP-55/KIP-124/KIP-546) and connection limits, sans-IO.
//!
//! Owns: the quota entities and values the metadata image holds
//! ([`entity`]), Kafka's validation of AlterClientQuotas and filters of
//! DescribeClientQuotas ([`admin`]), which quota applies to a (user,
//! client id) and which sensor it counts against ([`resolve`]), the sampled
//! rate and Kafka's throttle time ([`sensor`]), each shard's sensors
//! ([`sensors`]), and the connection-limit arithmetic ([`connections`]).
//!
//! Must not: read a clock (time is passed in, in milliseconds), do I/O,
//! know the wire protocol or connections, or share anything across cores.
//! Recording, muting connections and writing `throttle_time_ms` are
//! `protocol::throttle`'s; committing quotas is the controller's
//! (`cluster::quota_commands`).
//!
//! Per shard: every shard keeps its own sensors and enforces the whole
//! quota on the traffic it sees — no counters shared between cores, no
//! messages on the produce/fetch path. A client whose connections
//! SO_REUSEPORT spreads over k shards can therefore get up to k times its
//! quota (Redpanda documents the same of its per-shard quotas). Dividing
//! the quota by the shard count instead would hold the usual client — one
//! connection per broker, so one shard — to 1/N of what it was given, which
//! is the worse surprise; a client that needs a hard ceiling can keep to
//! one connection per broker.
//!
//! Kafka's throttling (KIP-219): the response goes out at once carrying
//! `throttle_time_ms`, and the broker reads nothing more from the
//! connection until that time has passed. Produce bytes are counted when
//! the request arrives, fetch bytes when the response is ready (a fetch
//! over its quota is answered empty, the bytes taken back), request time
//! when the response is ready.

pub mod admin;
pub mod connections;
pub mod entity;
pub mod resolve;
pub mod sensor;
pub mod sensors;

pub use entity::ClientQuotaState;
pub use resolve::{ClientLimits, Limit, QuotaKind};
pub use sensors::ShardQuotas;

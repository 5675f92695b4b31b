//! Every broker setting fjord accepts: Kafka's name, default, and a one-line
//! description (DescribeConfigs shows it). Unknown names are refused at start.

/// (Kafka name, default, doc). The default is Kafka's unless the doc says otherwise.
pub const SETTINGS: &[(&str, &str, &str)] = &[
    ("num.partitions", "1", "Partitions of an auto-created topic"),
    (
        "default.replication.factor",
        "1",
        "Replication factor of auto-created topics",
    ),
    (
        "auto.create.topics.enable",
        "true",
        "Create unknown topics on Metadata/Produce",
    ),
    (
        "log.segment.bytes",
        "1073741824",
        "Roll a segment at this size",
    ),
    ("log.roll.ms", "604800000", "Roll a segment after this age"),
    (
        "log.roll.hours",
        "168",
        "Roll a segment after this age (log.roll.ms wins)",
    ),
    (
        "log.index.interval.bytes",
        "4096",
        "Bytes of log between offset index entries",
    ),
    (
        "log.index.size.max.bytes",
        "10485760",
        "Preallocated size of an index file",
    ),
    (
        "log.flush.interval.messages",
        "",
        "Unset (fjord default): fsync before every acknowledgement",
    ),
    (
        "log.flush.interval.ms",
        "",
        "Unset (fjord default): fsync before every acknowledgement",
    ),
    (
        "log.flush.scheduler.interval.ms",
        "9223372036854775807",
        "Accepted for compatibility",
    ),
    (
        "log.retention.hours",
        "168",
        "Retention by time (topics: retention.ms)",
    ),
    (
        "log.retention.minutes",
        "",
        "Retention by time, wins over hours",
    ),
    (
        "log.retention.ms",
        "",
        "Retention by time, wins over minutes",
    ),
    (
        "log.retention.bytes",
        "-1",
        "Retention by size per partition (topics: retention.bytes)",
    ),
    (
        "log.cleanup.policy",
        "delete",
        "delete, compact or compact,delete",
    ),
    (
        "log.retention.check.interval.ms",
        "300000",
        "How often retention runs",
    ),
    ("log.cleaner.enable", "true", "Run the compaction cleaner"),
    (
        "log.cleaner.backoff.ms",
        "15000",
        "Cleaner pause when nothing is dirty",
    ),
    (
        "log.cleaner.min.cleanable.ratio",
        "0.5",
        "Dirty share before compacting",
    ),
    (
        "log.cleaner.min.compaction.lag.ms",
        "0",
        "Records younger stay uncompacted",
    ),
    (
        "log.cleaner.max.compaction.lag.ms",
        "9223372036854775807",
        "Compact at most this late",
    ),
    (
        "log.cleaner.delete.retention.ms",
        "86400000",
        "Keep tombstones this long",
    ),
    (
        "log.message.timestamp.before.max.ms",
        "9223372036854775807",
        "Oldest accepted timestamp",
    ),
    (
        "log.message.timestamp.after.max.ms",
        "3600000",
        "Newest accepted timestamp",
    ),
    (
        "log.message.timestamp.type",
        "CreateTime",
        "CreateTime or LogAppendTime",
    ),
    (
        "message.max.bytes",
        "1048588",
        "Largest record batch accepted",
    ),
    (
        "compression.type",
        "producer",
        "Keep batches as the producer sent them",
    ),
    (
        "min.insync.replicas",
        "1",
        "Stored; enforced when replication lands",
    ),
    (
        "socket.request.max.bytes",
        "104857600",
        "Largest request frame; larger closes the connection",
    ),
    (
        "socket.send.buffer.bytes",
        "102400",
        "Accepted for compatibility",
    ),
    (
        "socket.receive.buffer.bytes",
        "102400",
        "Accepted for compatibility",
    ),
    (
        "num.io.threads",
        "8",
        "Ignored: fjord is thread-per-core (see --cores)",
    ),
    (
        "num.network.threads",
        "3",
        "Ignored: fjord is thread-per-core (see --cores)",
    ),
    (
        "group.initial.rebalance.delay.ms",
        "3000",
        "Wait for more members of a new group",
    ),
    (
        "group.min.session.timeout.ms",
        "6000",
        "Smallest member session timeout",
    ),
    (
        "group.max.session.timeout.ms",
        "1800000",
        "Largest member session timeout",
    ),
    (
        "offsets.topic.num.partitions",
        "50",
        "Partitions of __consumer_offsets",
    ),
    (
        "offset.metadata.max.bytes",
        "4096",
        "Largest commit metadata",
    ),
    (
        "offsets.retention.minutes",
        "10080",
        "Keep offsets of an empty group this long",
    ),
    (
        "offsets.retention.check.interval.ms",
        "600000",
        "How often expired offsets go",
    ),
    (
        "process.roles",
        "broker,controller",
        "broker, controller, or both (Kafka's combined mode)",
    ),
    (
        "controller.quorum.voters",
        "",
        "id@host:port of each controller (empty: this node alone, on --controller-listen)",
    ),
    ("broker.rack", "", "Rack of this broker, for rack-aware replica placement"),
    (
        "broker.heartbeat.interval.ms",
        "2000",
        "How often a broker heartbeats to the active controller",
    ),
    (
        "broker.session.timeout.ms",
        "9000",
        "A broker silent this long is fenced",
    ),
    (
        "controller.quorum.election.timeout.ms",
        "1000",
        "A follower hearing no leader this long starts an election",
    ),
    (
        "metadata.log.max.record.bytes.between.snapshots",
        "20971520",
        "Snapshot the metadata image and truncate its log after this many bytes of records",
    ),
    ("node.id", "0", "This broker's id"),
    ("broker.id", "0", "Alias of node.id"),
    (
        "fjord.batch.cache.bytes",
        "268435456",
        "Hot-tail batch cache of each shard: its partitions share it, least recently used evicted first",
    ),
    (
        "fjord.partition.cache.bytes",
        "0",
        "Most of the shard's cache one partition may hold (0: no cap)",
    ),
    (
        "fjord.fetch.splice",
        "true",
        "Send cold fetch data file-to-socket with splice(2); false reads it into memory first",
    ),
    (
        "fjord.max.inflight.requests.per.connection",
        "64",
        "Requests in progress per connection",
    ),
];

//! Every broker setting fjord accepts: Kafka's name, type (KIP-569), default
//! and a one-line description (DescribeConfigs shows it). Unknown names are
//! refused at start.

use super::types::ConfigType as T;
use super::types::ConfigType;

/// One broker setting.
pub struct Setting {
    pub name: &'static str,
    /// Kafka's type for it (DescribeConfigs v3+); fjord-only settings get
    /// the type their value parses as.
    pub kind: ConfigType,
    /// Kafka's default unless `doc` says otherwise; "" is unset (null).
    pub default: &'static str,
    pub doc: &'static str,
}

const fn setting(
    name: &'static str,
    kind: ConfigType,
    default: &'static str,
    doc: &'static str,
) -> Setting {
    Setting {
        name,
        kind,
        default,
        doc,
    }
}

/// Every setting, in the order DescribeConfigs lists them.
pub const SETTINGS: &[Setting] = &[
    setting("num.partitions", T::Int, "1", "Partitions of an auto-created topic"),
    setting("default.replication.factor", T::Int, "1", "Replication factor of auto-created topics"),
    setting("auto.create.topics.enable", T::Boolean, "true", "Create unknown topics on Metadata/Produce"),
    setting("log.segment.bytes", T::Int, "1073741824", "Roll a segment at this size"),
    setting("log.roll.ms", T::Long, "", "Roll a segment after this age (unset: log.roll.hours)"),
    setting("log.roll.hours", T::Int, "168", "Roll a segment after this age (log.roll.ms wins)"),
    setting("log.index.interval.bytes", T::Int, "4096", "Bytes of log between offset index entries"),
    setting("log.index.size.max.bytes", T::Int, "10485760", "Preallocated size of an index file"),
    setting("log.flush.interval.messages", T::Long, "", "Unset (fjord default): fsync before every acknowledgement"),
    setting("log.flush.interval.ms", T::Long, "", "Unset (fjord default): fsync before every acknowledgement"),
    setting("log.flush.scheduler.interval.ms", T::Long, "9223372036854775807", "Accepted for compatibility"),
    setting("log.retention.hours", T::Int, "168", "Retention by time (topics: retention.ms)"),
    setting("log.retention.minutes", T::Int, "", "Retention by time, wins over hours"),
    setting("log.retention.ms", T::Long, "", "Retention by time, wins over minutes"),
    setting("log.retention.bytes", T::Long, "-1", "Retention by size per partition (topics: retention.bytes)"),
    setting("log.cleanup.policy", T::List, "delete", "delete, compact or compact,delete"),
    setting("log.retention.check.interval.ms", T::Long, "300000", "How often retention runs"),
    setting("log.cleaner.enable", T::Boolean, "true", "Run the compaction cleaner"),
    setting("log.cleaner.backoff.ms", T::Long, "15000", "Cleaner pause when nothing is dirty"),
    setting("log.cleaner.min.cleanable.ratio", T::Double, "0.5", "Dirty share before compacting"),
    setting("log.cleaner.min.compaction.lag.ms", T::Long, "0", "Records younger stay uncompacted"),
    setting("log.cleaner.max.compaction.lag.ms", T::Long, "9223372036854775807", "Compact at most this late"),
    setting("log.cleaner.delete.retention.ms", T::Long, "86400000", "Keep tombstones this long"),
    setting("log.message.timestamp.before.max.ms", T::Long, "9223372036854775807", "Oldest accepted timestamp"),
    setting("log.message.timestamp.after.max.ms", T::Long, "3600000", "Newest accepted timestamp"),
    setting("log.message.timestamp.type", T::String, "CreateTime", "CreateTime or LogAppendTime"),
    setting("message.max.bytes", T::Int, "1048588", "Largest record batch accepted"),
    setting("compression.type", T::String, "producer", "Keep batches as the producer sent them"),
    setting("min.insync.replicas", T::Int, "1", "Stored; enforced when replication lands"),
    setting("socket.request.max.bytes", T::Int, "104857600", "Largest request frame; larger closes the connection"),
    setting("socket.send.buffer.bytes", T::Int, "102400", "Accepted for compatibility"),
    setting("socket.receive.buffer.bytes", T::Int, "102400", "Accepted for compatibility"),
    setting("num.io.threads", T::Int, "8", "Ignored: fjord is thread-per-core (see --cores)"),
    setting("num.network.threads", T::Int, "3", "Ignored: fjord is thread-per-core (see --cores)"),
    setting("group.initial.rebalance.delay.ms", T::Int, "3000", "Wait for more members of a new group"),
    setting("group.min.session.timeout.ms", T::Int, "6000", "Smallest member session timeout"),
    setting("group.max.session.timeout.ms", T::Int, "1800000", "Largest member session timeout"),
    setting("offsets.topic.num.partitions", T::Int, "50", "Partitions of __consumer_offsets"),
    setting("offsets.topic.replication.factor", T::Short, "3", "Replication factor of __consumer_offsets (at most the live brokers when it is created)"),
    setting("transaction.state.log.num.partitions", T::Int, "50", "Partitions of __transaction_state"),
    setting("transaction.state.log.replication.factor", T::Short, "3", "Replication factor of __transaction_state (at most the live brokers when it is created)"),
    setting("transaction.state.log.min.isr", T::Int, "2", "min.insync.replicas of __transaction_state (at most its replication factor)"),
    setting("transaction.state.log.segment.bytes", T::Int, "104857600", "Segment size of __transaction_state"),
    setting("transaction.max.timeout.ms", T::Int, "900000", "Longest transaction.timeout.ms a producer may ask for"),
    setting("transactional.id.expiration.ms", T::Int, "604800000", "A transactional id idle this long is forgotten"),
    setting("transaction.abort.timed.out.transaction.cleanup.interval.ms", T::Int, "10000", "How often transactions past their timeout are looked for and aborted"),
    setting("offset.metadata.max.bytes", T::Int, "4096", "Largest commit metadata"),
    setting("offsets.retention.minutes", T::Int, "10080", "Keep offsets of an empty group this long"),
    setting("offsets.retention.check.interval.ms", T::Long, "600000", "How often expired offsets go"),
    setting("process.roles", T::List, "broker,controller", "broker, controller, or both (Kafka's combined mode)"),
    setting("controller.quorum.voters", T::List, "", "id@host:port of each controller (empty: this node alone, on --controller-listen)"),
    setting("broker.rack", T::String, "", "Rack of this broker, for rack-aware replica placement"),
    setting("replica.lag.time.max.ms", T::Long, "30000", "A follower not caught up for this long leaves the ISR"),
    setting("replica.fetch.wait.max.ms", T::Int, "500", "Longest wait of a follower's fetch"),
    setting("replica.fetch.max.bytes", T::Int, "1048576", "Bytes a follower fetches per partition at a time"),
    setting("replica.fetch.response.max.bytes", T::Int, "10485760", "Bytes a follower fetches per request"),
    setting("replica.fetch.backoff.ms", T::Int, "1000", "A follower's wait after a partition's fetch error"),
    setting("replica.socket.timeout.ms", T::Int, "30000", "A follower's fetch unanswered this long is retried"),
    setting("broker.heartbeat.interval.ms", T::Int, "2000", "How often a broker heartbeats to the active controller"),
    setting("broker.session.timeout.ms", T::Int, "9000", "A broker silent this long is fenced"),
    setting("controller.quorum.election.timeout.ms", T::Int, "1000", "A follower hearing no leader this long starts an election"),
    setting("unclean.leader.election.enable", T::Boolean, "false", "Elect a replica outside the ISR when no ISR member is live (may lose data; topics: unclean.leader.election.enable)"),
    setting("auto.leader.rebalance.enable", T::Boolean, "true", "The active controller moves leaderships back to preferred replicas"),
    setting("leader.imbalance.check.interval.seconds", T::Long, "300", "How often the active controller checks leader balance"),
    setting("leader.imbalance.per.broker.percentage", T::Int, "10", "Share of a broker's preferred partitions led elsewhere that triggers a rebalance"),
    setting("metadata.log.max.record.bytes.between.snapshots", T::Long, "20971520", "Snapshot the metadata image and truncate its log after this many bytes of records"),
    setting("listeners", T::String, "", "Client listeners, NAME://host:port,... (empty: one PLAINTEXT listener on --listen)"),
    setting("advertised.listeners", T::String, "", "What clients are told to connect to, per listener name (empty: as bound)"),
    setting("listener.security.protocol.map", T::String, "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT", "Security protocol of each listener name"),
    setting("inter.broker.listener.name", T::String, "", "The listener followers fetch from (empty: the one using security.inter.broker.protocol)"),
    setting("security.inter.broker.protocol", T::String, "PLAINTEXT", "Security protocol between brokers when inter.broker.listener.name is unset"),
    setting("controller.listener.names", T::List, "CONTROLLER", "Listener names of the controller quorum; the first is the one nodes connect to (on --controller-listen or this name in listeners)"),
    setting("sasl.mechanism.controller.protocol", T::String, "GSSAPI", "SASL mechanism nodes log in to the controllers with on a SASL controller listener (PLAIN)"),
    setting("sasl.enabled.mechanisms", T::List, "GSSAPI", "SASL mechanisms offered: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER (GSSAPI is not supported)"),
    setting("sasl.mechanism.inter.broker.protocol", T::String, "GSSAPI", "SASL mechanism followers log in to leaders with on a SASL inter-broker listener (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)"),
    setting("sasl.server.max.receive.size", T::Int, "524288", "Largest frame accepted before a client has authenticated"),
    setting("connections.max.reauth.ms", T::Long, "0", "Longest an authenticated SASL session lasts before the client must re-authenticate (KIP-368); 0: forever"),
    setting("sasl.oauthbearer.jwks.endpoint.url", T::String, "", "JWKS for OAUTHBEARER token signatures (file: URL); empty: Kafka's unsecured validator"),
    setting("sasl.oauthbearer.expected.issuer", T::String, "", "Required iss claim of OAUTHBEARER tokens"),
    setting("sasl.oauthbearer.expected.audience", T::List, "", "aud claims an OAUTHBEARER token may carry"),
    setting("sasl.oauthbearer.sub.claim.name", T::String, "sub", "Claim naming the principal"),
    setting("sasl.oauthbearer.scope.claim.name", T::String, "scope", "Claim holding the scopes"),
    setting("sasl.oauthbearer.clock.skew.seconds", T::Int, "30", "Allowed clock difference with the token issuer"),
    setting("fjord.sasl.jaas.file", T::String, "", "A JAAS file whose KafkaServer section lists PLAIN users (user_NAME=\"password\")"),
    setting("ssl.keystore.type", T::String, "JKS", "Key store format: fjord reads PEM"),
    setting("ssl.keystore.location", T::String, "", "PEM file with the private key and certificate chain"),
    setting("ssl.keystore.password", T::Password, "", "Accepted for compatibility (PEM keys must be unencrypted)"),
    setting("ssl.key.password", T::Password, "", "Accepted for compatibility (PEM keys must be unencrypted)"),
    setting("ssl.truststore.type", T::String, "JKS", "Trust store format: fjord reads PEM"),
    setting("ssl.truststore.location", T::String, "", "PEM file of CA certificates trusted for client certificates"),
    setting("ssl.truststore.password", T::Password, "", "Accepted for compatibility"),
    setting("ssl.client.auth", T::String, "none", "Client certificates: none, requested or required"),
    setting("ssl.principal.mapping.rules", T::String, "DEFAULT", "Rules mapping a certificate's subject to a principal name"),
    setting("ssl.enabled.protocols", T::List, "TLSv1.2,TLSv1.3", "Accepted for compatibility (rustls offers TLS 1.2 and 1.3)"),
    setting("ssl.endpoint.identification.algorithm", T::String, "https", "Accepted for compatibility"),
    setting("authorizer.class.name", T::Class, "", "org.apache.kafka.metadata.authorizer.StandardAuthorizer enforces ACLs; empty: everything allowed"),
    setting("super.users", T::List, "", "Principals allowed everything, separated by ;"),
    setting("allow.everyone.if.no.acl.found", T::Boolean, "false", "Allow access to resources no ACL names"),
    setting("node.id", T::Int, "0", "This broker's id"),
    setting("broker.id", T::Int, "0", "Alias of node.id"),
    setting("fjord.batch.cache.bytes", T::Long, "268435456", "Hot-tail batch cache of each shard: its partitions share it, least recently used evicted first"),
    setting("fjord.partition.cache.bytes", T::Long, "0", "Most of the shard's cache one partition may hold (0: no cap)"),
    setting("fjord.fetch.splice", T::Boolean, "true", "Send cold fetch data file-to-socket with splice(2); false reads it into memory first"),
    setting("fjord.max.inflight.requests.per.connection", T::Int, "64", "Requests in progress per connection"),
    setting("fjord.fd.reserve", T::Long, "1024", "File descriptors RLIMIT_NOFILE keeps for connections, splice pipes and io_uring; the rest is the partition files' budget"),
    setting("quota.window.num", T::Int, "11", "Samples a client quota's rate is measured over"),
    setting("quota.window.size.seconds", T::Int, "1", "Length of each client quota sample"),
];

/// The setting called `name`.
pub fn find(name: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_has_a_type_its_default_parses_as() {
        for s in SETTINGS {
            assert_ne!(s.kind, T::Unknown, "{} has no type", s.name);
            assert!(
                s.kind.parses(s.default),
                "{}'s default {:?} is not a {:?}",
                s.name,
                s.default,
                s.kind
            );
            assert!(!s.doc.is_empty(), "{} has no doc", s.name);
        }
    }

    #[test]
    fn names_are_unique_and_found() {
        for (i, s) in SETTINGS.iter().enumerate() {
            assert!(
                SETTINGS[..i].iter().all(|t| t.name != s.name),
                "{} twice",
                s.name
            );
            assert_eq!(find(s.name).map(|f| f.name), Some(s.name));
        }
        assert!(find("no.such.setting").is_none());
    }

    #[test]
    fn numeric_types_are_kafkas() {
        let kind = |name| find(name).unwrap().kind;
        assert_eq!(kind("log.segment.bytes"), T::Int);
        assert_eq!(kind("log.retention.ms"), T::Long);
        assert_eq!(kind("log.cleaner.min.cleanable.ratio"), T::Double);
        assert_eq!(kind("process.roles"), T::List);
        assert_eq!(kind("auto.create.topics.enable"), T::Boolean);
    }
}

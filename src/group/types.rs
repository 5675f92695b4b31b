//! What a group request carries between shards and back: plain `Send` data,
//! decoupled from kafka-protocol's versioned structs. Handlers translate.

use bytes::Bytes;

#[derive(Clone, Debug)]
pub struct JoinArgs {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub protocol_type: String,
    /// (name, metadata) in the member's order of preference.
    pub protocols: Vec<(String, Bytes)>,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub client_id: String,
    pub client_host: String,
    /// JoinGroup v4+: a member without an id must first fetch one
    /// (MEMBER_ID_REQUIRED) and join again with it.
    pub require_known_member: bool,
    /// JoinGroup v9+: a static leader that rejoins may skip assignment.
    pub can_skip_assignment: bool,
}

#[derive(Clone, Debug, Default)]
pub struct JoinResult {
    pub error: i16,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub member_id: String,
    /// Every member's metadata for the selected protocol (leader only).
    pub members: Vec<MemberMeta>,
    pub skip_assignment: bool,
}

#[derive(Clone, Debug)]
pub struct MemberMeta {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub metadata: Bytes,
}

#[derive(Clone, Debug)]
pub struct SyncArgs {
    pub generation: i32,
    pub member_id: String,
    pub instance_id: Option<String>,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    /// The leader's assignment per member (empty from followers).
    pub assignments: Vec<(String, Bytes)>,
}

#[derive(Clone, Debug, Default)]
pub struct SyncResult {
    pub error: i16,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

/// A member named by id or, for static members, by instance id.
#[derive(Clone, Debug)]
pub struct MemberRef {
    pub member_id: String,
    pub instance_id: Option<String>,
}

#[derive(Clone, Debug)]
pub struct CommitPart {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

#[derive(Clone, Debug)]
pub struct CommitArgs {
    pub generation: i32,
    pub member_id: String,
    pub instance_id: Option<String>,
    pub parts: Vec<CommitPart>,
}

#[derive(Clone, Debug)]
pub struct FetchedOffset {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub error: i16,
}

#[derive(Clone, Debug)]
pub struct GroupListing {
    pub group_id: String,
    pub protocol_type: String,
    pub state: &'static str,
}

#[derive(Clone, Debug)]
pub struct MemberDescription {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Bytes,
    pub assignment: Bytes,
}

#[derive(Clone, Debug)]
pub struct GroupDescription {
    pub error: i16,
    pub group_id: String,
    pub state: &'static str,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<MemberDescription>,
}

/// A request for one group's coordinator (or, for `List`, every shard).
#[derive(Debug)]
pub enum GroupCall {
    Join(String, JoinArgs),
    Sync(String, SyncArgs),
    Heartbeat(String, i32, MemberRef),
    Leave(String, Vec<MemberRef>),
    Commit(String, CommitArgs),
    /// TxnOffsetCommit: offsets committed inside producer
    /// (`producer_id`, `producer_epoch`)'s transaction, pending until its
    /// marker reaches the group's partition.
    TxnCommit {
        group: String,
        producer_id: i64,
        producer_epoch: i16,
        args: CommitArgs,
    },
    /// `None` = every committed partition of the group. `require_stable`
    /// (OffsetFetch v7+): a partition with a pending transactional commit
    /// gets UNSTABLE_OFFSET_COMMIT.
    FetchOffsets(String, Option<Vec<(String, i32)>>, bool),
    Describe(String),
    Delete(String),
    DeleteOffsets(String, Vec<(String, i32)>),
    List,
}

#[derive(Debug)]
pub enum GroupReply {
    Join(JoinResult),
    Sync(SyncResult),
    /// One error code (Heartbeat).
    Code(i16),
    /// Top-level error and one code per member (LeaveGroup).
    Leave(i16, Vec<i16>),
    /// One code per committed part (OffsetCommit).
    Commit(Vec<i16>),
    /// Group-level error and the offsets (OffsetFetch).
    Offsets(i16, Vec<FetchedOffset>),
    Describe(GroupDescription),
    /// Top-level error and one code per partition (OffsetDelete).
    DeleteOffsets(i16, Vec<i16>),
    List(Vec<GroupListing>),
}

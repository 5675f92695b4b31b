//! The classic rebalance protocol on one group: JoinGroup, SyncGroup,
//! Heartbeat, LeaveGroup and the transitions between Empty,
//! PreparingRebalance, CompletingRebalance and Stable. Every function here
//! runs under the shard's borrow of its group table and never awaits; a
//! caller that must wait gets a oneshot receiver the transitions complete.

use futures_channel::oneshot;
use kafka_protocol::error::ResponseError as E;

use super::state::{Group, GroupState, Member};
use super::types::{JoinArgs, JoinResult, MemberRef, SyncArgs, SyncResult};

/// What a transition asks the caller to do after releasing the borrow.
#[derive(Default)]
pub struct Effects {
    /// Persist the group's metadata (it became Empty, or a static member was
    /// replaced).
    pub persist: bool,
}

pub enum Join {
    Now(JoinResult),
    Wait(oneshot::Receiver<JoinResult>),
}

/// Kafka's member id shape, `<client.id>-<uuid>`, with the client id cut to
/// 1 KiB so the id always fits the i16-length strings of the stored records.
fn new_member_id(client_id: &str) -> String {
    let mut end = client_id.len().min(1024);
    while !client_id.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}-{}", &client_id[..end], uuid::Uuid::new_v4())
}

pub fn join_error(error: E, member_id: &str) -> JoinResult {
    JoinResult {
        error: error.code(),
        generation: -1,
        member_id: member_id.to_string(),
        ..Default::default()
    }
}

/// JoinGroup on an existing (possibly Empty) group.
pub fn join(g: &mut Group, a: JoinArgs, now: i64, delay_ms: i64, fx: &mut Effects) -> Join {
    if g.state == GroupState::Dead {
        return Join::Now(join_error(E::CoordinatorNotAvailable, &a.member_id));
    }
    let except = (!a.member_id.is_empty()).then_some(a.member_id.as_str());
    if !g.accepts(&a.protocol_type, &a.protocols, except) {
        return Join::Now(join_error(E::InconsistentGroupProtocol, &a.member_id));
    }
    if a.member_id.is_empty() {
        let new_id = new_member_id(&a.client_id);
        if let Some(instance) = &a.instance_id {
            if let Some(old) = g.instances.get(instance).cloned() {
                return rejoin_static(g, &old, new_id, a, now, delay_ms, fx);
            }
        } else if a.require_known_member {
            g.pending
                .insert(new_id.clone(), now + a.session_timeout_ms as i64);
            return Join::Now(join_error(E::MemberIdRequired, &new_id));
        }
        return Join::Wait(add_member(g, new_id, a, now, delay_ms, fx));
    }
    if g.pending.remove(&a.member_id).is_some() {
        let id = a.member_id.clone();
        return Join::Wait(add_member(g, id, a, now, delay_ms, fx));
    }
    if let Some(err) = check_member(g, &a.member_id, a.instance_id.as_deref()) {
        return Join::Now(join_error(err, &a.member_id));
    }
    let id = a.member_id.clone();
    let m = g.members.get_mut(&id).expect("checked above");
    let unchanged = m.protocols == a.protocols;
    m.expires_at_ms = now + m.session_timeout_ms;
    match g.state {
        GroupState::CompletingRebalance if unchanged => Join::Now(g.join_result(&id)),
        GroupState::Stable if unchanged && g.leader.as_deref() != Some(id.as_str()) => {
            Join::Now(g.join_result(&id))
        }
        GroupState::Empty | GroupState::Dead => Join::Now(join_error(E::UnknownMemberId, &id)),
        _ => {
            let (tx, rx) = oneshot::channel();
            update_member(g.members.get_mut(&id).expect("present"), &a, tx);
            if g.state != GroupState::PreparingRebalance {
                prepare_rebalance(g, now, delay_ms);
            }
            try_complete_join(g, now, false, fx);
            Join::Wait(rx)
        }
    }
}

/// A static member rejoined without its member id: the new id replaces the
/// old one. In a Stable group whose selected protocol stays the same no
/// rebalance is needed (Kafka's rule): the member syncs and gets its previous
/// assignment; a leader is told to skip assignment (v9+) and otherwise its
/// SyncGroup in the Stable group just returns its share.
fn rejoin_static(
    g: &mut Group,
    old: &str,
    new_id: String,
    a: JoinArgs,
    now: i64,
    delay_ms: i64,
    fx: &mut Effects,
) -> Join {
    let Some(mut m) = g.members.remove(old) else {
        return Join::Wait(add_member(g, new_id, a, now, delay_ms, fx));
    };
    // The old incarnation's waiters learn they were fenced.
    if let Some(tx) = m.join_waiter.take() {
        let _ = tx.send(join_error(E::FencedInstanceId, old));
    }
    if let Some(tx) = m.sync_waiter.take() {
        let _ = tx.send(SyncResult {
            error: E::FencedInstanceId.code(),
            ..Default::default()
        });
    }
    let was_leader = g.leader.as_deref() == Some(old);
    m.id = new_id.clone();
    m.protocols = a.protocols.clone();
    m.expires_at_ms = now + m.session_timeout_ms;
    g.instances
        .insert(a.instance_id.clone().unwrap_or_default(), new_id.clone());
    if was_leader {
        g.leader = Some(new_id.clone());
    }
    g.members.insert(new_id.clone(), m);
    let unchanged = g.protocol.is_some() && g.select_protocol() == g.protocol;
    match g.state {
        GroupState::Stable if unchanged => {
            fx.persist = true;
            let mut result = g.join_result(&new_id);
            result.skip_assignment = was_leader;
            Join::Now(result)
        }
        _ => {
            let (tx, rx) = oneshot::channel();
            update_member(g.members.get_mut(&new_id).expect("inserted"), &a, tx);
            if g.state != GroupState::PreparingRebalance {
                prepare_rebalance(g, now, delay_ms);
            }
            try_complete_join(g, now, false, fx);
            Join::Wait(rx)
        }
    }
}

/// Adds a member waiting in JoinGroup and starts (or extends) the join
/// phase; completes it at once if nothing else is awaited.
fn add_member(
    g: &mut Group,
    id: String,
    a: JoinArgs,
    now: i64,
    delay_ms: i64,
    fx: &mut Effects,
) -> oneshot::Receiver<JoinResult> {
    let (tx, rx) = oneshot::channel();
    if let Some(instance) = &a.instance_id {
        g.instances.insert(instance.clone(), id.clone());
    }
    g.next_seq += 1;
    let member = Member {
        id: id.clone(),
        instance_id: a.instance_id.clone(),
        client_id: a.client_id.clone(),
        client_host: a.client_host.clone(),
        session_timeout_ms: a.session_timeout_ms as i64,
        rebalance_timeout_ms: a.rebalance_timeout_ms as i64,
        protocol_type: a.protocol_type.clone(),
        protocols: a.protocols,
        assignment: Default::default(),
        expires_at_ms: now + a.session_timeout_ms as i64,
        joined_seq: g.next_seq,
        join_waiter: Some(tx),
        sync_waiter: None,
        synced: false,
    };
    g.members.insert(id, member);
    if g.state == GroupState::PreparingRebalance {
        // A newcomer during the initial delay extends it (bounded by the
        // rebalance timeout), so a group starting up forms in one round.
        if let Some(until) = g.initial_delay_until_ms.as_mut() {
            *until = (now + delay_ms).min(g.join_deadline_ms);
        }
        g.join_deadline_ms = g.join_deadline_ms.max(now + g.max_rebalance_timeout_ms());
    } else {
        prepare_rebalance(g, now, delay_ms);
    }
    try_complete_join(g, now, false, fx);
    rx
}

fn update_member(m: &mut Member, a: &JoinArgs, tx: oneshot::Sender<JoinResult>) {
    m.protocols = a.protocols.clone();
    m.protocol_type = a.protocol_type.clone();
    m.session_timeout_ms = a.session_timeout_ms as i64;
    m.rebalance_timeout_ms = a.rebalance_timeout_ms as i64;
    m.join_waiter = Some(tx);
}

/// Moves the group to PreparingRebalance. Members waiting in SyncGroup are
/// told to rejoin; assignments are void until the next SyncGroup.
pub fn prepare_rebalance(g: &mut Group, now: i64, delay_ms: i64) {
    let from_empty = g.state == GroupState::Empty;
    for m in g.members.values_mut() {
        m.synced = false;
        if let Some(tx) = m.sync_waiter.take() {
            let _ = tx.send(SyncResult {
                error: E::RebalanceInProgress.code(),
                ..Default::default()
            });
        }
    }
    g.set_state(GroupState::PreparingRebalance, now);
    g.join_deadline_ms = now + g.max_rebalance_timeout_ms();
    g.initial_delay_until_ms =
        (from_empty && delay_ms > 0).then(|| (now + delay_ms).min(g.join_deadline_ms));
}

/// Ends the join phase when every member has rejoined (after the initial
/// delay, if any), or unconditionally when `force`d by the deadline.
pub fn try_complete_join(g: &mut Group, now: i64, force: bool, fx: &mut Effects) {
    if g.state != GroupState::PreparingRebalance {
        return;
    }
    let ready = match g.initial_delay_until_ms {
        Some(until) => now >= until,
        None => g.all_rejoined(),
    };
    if ready || force {
        complete_join(g, now, fx);
    }
}

fn complete_join(g: &mut Group, now: i64, fx: &mut Effects) {
    let stragglers: Vec<String> = g
        .members
        .values()
        .filter(|m| m.join_waiter.is_none())
        .map(|m| m.id.clone())
        .collect();
    for id in stragglers {
        remove_member(g, &id);
    }
    g.pending.clear();
    g.initial_delay_until_ms = None;
    g.generation += 1;
    if g.members.is_empty() {
        g.protocol = None;
        g.leader = None;
        g.set_state(GroupState::Empty, now);
        fx.persist = true;
        return;
    }
    g.protocol = g.select_protocol();
    g.protocol_type = g.members.values().next().map(|m| m.protocol_type.clone());
    if !g.leader.as_ref().is_some_and(|l| g.members.contains_key(l)) {
        g.leader = g.first_member();
    }
    g.set_state(GroupState::CompletingRebalance, now);
    g.sync_deadline_ms = now + g.max_rebalance_timeout_ms();
    let ids: Vec<String> = g.members.keys().cloned().collect();
    for id in ids {
        let result = g.join_result(&id);
        let m = g.members.get_mut(&id).expect("listed");
        m.assignment = Default::default();
        m.expires_at_ms = now + m.session_timeout_ms;
        if let Some(tx) = m.join_waiter.take() {
            let _ = tx.send(result);
        }
    }
}

/// Removes a member; its pending JoinGroup/SyncGroup calls end with
/// UNKNOWN_MEMBER_ID (their senders are dropped).
pub fn remove_member(g: &mut Group, id: &str) -> bool {
    let Some(m) = g.members.remove(id) else {
        return false;
    };
    if let Some(i) = &m.instance_id {
        if g.instances.get(i).map(String::as_str) == Some(id) {
            g.instances.remove(i);
        }
    }
    true
}

/// The error for a request naming `member_id` (and maybe an instance id),
/// or None if the member is current.
pub fn check_member(g: &Group, member_id: &str, instance_id: Option<&str>) -> Option<E> {
    if let Some(instance) = instance_id {
        match g.instances.get(instance) {
            Some(current) if current != member_id => return Some(E::FencedInstanceId),
            _ => {}
        }
    }
    match g.members.get(member_id) {
        None => Some(E::UnknownMemberId),
        Some(m) if m.instance_id.as_deref() != instance_id && instance_id.is_some() => {
            Some(E::FencedInstanceId)
        }
        Some(_) => None,
    }
}

pub enum Sync {
    Now(SyncResult),
    Wait(oneshot::Receiver<SyncResult>),
    /// The leader's assignment: persist the group, then `finish_sync`.
    Persist(oneshot::Receiver<SyncResult>),
}

pub fn sync_error(error: E) -> SyncResult {
    SyncResult {
        error: error.code(),
        ..Default::default()
    }
}

pub fn sync(g: &mut Group, a: SyncArgs, now: i64) -> Sync {
    if let Some(err) = check_member(g, &a.member_id, a.instance_id.as_deref()) {
        return Sync::Now(sync_error(err));
    }
    if a.generation != g.generation {
        return Sync::Now(sync_error(E::IllegalGeneration));
    }
    let mismatch = |given: &Option<String>, ours: &Option<String>| given.is_some() && given != ours;
    if mismatch(&a.protocol_type, &g.protocol_type) || mismatch(&a.protocol_name, &g.protocol) {
        return Sync::Now(sync_error(E::InconsistentGroupProtocol));
    }
    let is_leader = g.leader.as_deref() == Some(a.member_id.as_str());
    match g.state {
        GroupState::PreparingRebalance => Sync::Now(sync_error(E::RebalanceInProgress)),
        GroupState::Stable => {
            let m = g.members.get_mut(&a.member_id).expect("checked");
            m.expires_at_ms = now + m.session_timeout_ms;
            let assignment = m.assignment.clone();
            Sync::Now(g.sync_result(assignment))
        }
        GroupState::CompletingRebalance => {
            let (tx, rx) = oneshot::channel();
            let m = g.members.get_mut(&a.member_id).expect("checked");
            m.expires_at_ms = now + m.session_timeout_ms;
            m.synced = true;
            m.sync_waiter = Some(tx);
            if !is_leader {
                return Sync::Wait(rx);
            }
            for (id, assignment) in a.assignments {
                if let Some(m) = g.members.get_mut(&id) {
                    m.assignment = assignment;
                }
            }
            Sync::Persist(rx)
        }
        GroupState::Empty | GroupState::Dead => Sync::Now(sync_error(E::UnknownMemberId)),
    }
}

/// After the leader's assignment is durable (`ok`) or failed to persist:
/// everyone waiting in SyncGroup is answered.
pub fn finish_sync(g: &mut Group, generation: i32, ok: bool, now: i64, delay_ms: i64) {
    if g.generation != generation || g.state != GroupState::CompletingRebalance {
        return;
    }
    if !ok {
        prepare_rebalance(g, now, delay_ms);
        return;
    }
    g.set_state(GroupState::Stable, now);
    let replies: Vec<_> = g
        .members
        .values_mut()
        .filter_map(|m| m.sync_waiter.take().map(|tx| (tx, m.assignment.clone())))
        .collect();
    for (tx, assignment) in replies {
        let _ = tx.send(g.sync_result(assignment));
    }
}

/// Heartbeat: None means all is well.
pub fn heartbeat(g: &mut Group, generation: i32, who: &MemberRef, now: i64) -> Option<E> {
    if g.state == GroupState::Dead {
        return Some(E::CoordinatorNotAvailable);
    }
    if let Some(err) = check_member(g, &who.member_id, who.instance_id.as_deref()) {
        return Some(err);
    }
    if generation != g.generation {
        return Some(E::IllegalGeneration);
    }
    let m = g.members.get_mut(&who.member_id).expect("checked");
    m.expires_at_ms = now + m.session_timeout_ms;
    match g.state {
        GroupState::PreparingRebalance => Some(E::RebalanceInProgress),
        GroupState::Empty => Some(E::UnknownMemberId),
        _ => None,
    }
}

/// LeaveGroup for each member; one code per member.
pub fn leave(
    g: &mut Group,
    who: &[MemberRef],
    now: i64,
    delay_ms: i64,
    fx: &mut Effects,
) -> Vec<i16> {
    let mut codes = Vec::with_capacity(who.len());
    let mut removed = false;
    for w in who {
        let id = match (&w.instance_id, w.member_id.is_empty()) {
            (Some(i), true) => g.instances.get(i).cloned().unwrap_or_default(),
            _ => w.member_id.clone(),
        };
        if g.pending.remove(&id).is_some() {
            codes.push(0);
            continue;
        }
        match check_member(g, &id, w.instance_id.as_deref()) {
            Some(err) => codes.push(err.code()),
            None => {
                removed |= remove_member(g, &id);
                codes.push(0);
            }
        }
    }
    if removed {
        after_removal(g, now, delay_ms, fx);
    }
    codes
}

/// A member left or expired: the others must rebalance (or the group
/// empties).
pub fn after_removal(g: &mut Group, now: i64, delay_ms: i64, fx: &mut Effects) {
    if matches!(
        g.state,
        GroupState::Stable | GroupState::CompletingRebalance
    ) {
        prepare_rebalance(g, now, delay_ms);
        // Not a fresh group: no initial delay.
        g.initial_delay_until_ms = None;
    }
    try_complete_join(g, now, false, fx);
}

/// Timer work for one group: expired sessions and pending ids, the join and
/// sync deadlines, the end of the initial delay.
pub fn tick(g: &mut Group, now: i64, delay_ms: i64, fx: &mut Effects) {
    g.pending.retain(|_, until| *until > now);
    let expired: Vec<String> = g
        .members
        .values()
        .filter(|m| m.expires_at_ms <= now && m.join_waiter.is_none() && m.sync_waiter.is_none())
        .map(|m| m.id.clone())
        .collect();
    if !expired.is_empty() {
        for id in &expired {
            tracing::info!(group = g.id, member = id, "session expired");
            remove_member(g, id);
        }
        after_removal(g, now, delay_ms, fx);
    }
    match g.state {
        GroupState::PreparingRebalance => {
            let force = now >= g.join_deadline_ms;
            try_complete_join(g, now, force, fx);
        }
        GroupState::CompletingRebalance if now >= g.sync_deadline_ms => {
            let unsynced: Vec<String> = g
                .members
                .values()
                .filter(|m| !m.synced)
                .map(|m| m.id.clone())
                .collect();
            for id in &unsynced {
                remove_member(g, id);
            }
            if !unsynced.is_empty() {
                after_removal(g, now, delay_ms, fx);
            }
        }
        _ => {}
    }
}

//! Which quota applies to a (user, client id), in Kafka's order, and which
//! sensor the traffic counts against (Kafka's `DefaultQuotaCallback`):
//!
//! 1. `/users/<u>/clients/<c>`
//! 2. `/users/<u>/clients/<default>`
//! 3. `/users/<u>`
//! 4. `/users/<default>/clients/<c>`
//! 5. `/users/<default>/clients/<default>`
//! 6. `/users/<default>`
//! 7. `/clients/<c>`
//! 8. `/clients/<default>`
//!
//! The first entity with a value for the key wins, key by key. Its sensor
//! is named by what the entity names, defaults replaced by the client's
//! own names: a user-level quota (3, 6) is shared by all of that user's
//! client ids, a client-level one (7, 8) by all users of the client id,
//! and the rest are per (user, client id). So `/clients/<default>` gives
//! each client id its own budget of the default size.

use super::entity::{ClientQuotaState, EntityName, QuotaEntity};

/// What a quota limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QuotaKind {
    /// Produce request bytes, `producer_byte_rate`.
    Produce,
    /// Fetch response bytes, `consumer_byte_rate`.
    Fetch,
    /// Request handling time in percent of one core, `request_percentage`.
    Request,
}

impl QuotaKind {
    pub const ALL: [QuotaKind; 3] = [QuotaKind::Produce, QuotaKind::Fetch, QuotaKind::Request];

    pub fn key(self) -> &'static str {
        match self {
            QuotaKind::Produce => "producer_byte_rate",
            QuotaKind::Fetch => "consumer_byte_rate",
            QuotaKind::Request => "request_percentage",
        }
    }

    /// Label for metrics.
    pub fn name(self) -> &'static str {
        match self {
            QuotaKind::Produce => "produce",
            QuotaKind::Fetch => "fetch",
            QuotaKind::Request => "request",
        }
    }
}

/// The sensor traffic counts against: (user, client id), either empty
/// when the quota is shared across it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SensorKey {
    pub user: String,
    pub client_id: String,
}

/// A quota that applies and its sensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Limit {
    pub sensor: SensorKey,
    pub quota: f64,
}

/// The limits of one client, by kind (none: unlimited).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClientLimits {
    pub produce: Option<Limit>,
    pub fetch: Option<Limit>,
    pub request: Option<Limit>,
}

impl ClientLimits {
    pub fn get(&self, kind: QuotaKind) -> Option<&Limit> {
        match kind {
            QuotaKind::Produce => self.produce.as_ref(),
            QuotaKind::Fetch => self.fetch.as_ref(),
            QuotaKind::Request => self.request.as_ref(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.produce.is_none() && self.fetch.is_none() && self.request.is_none()
    }
}

/// The limits of user `user` (the principal's name) with client id
/// `client_id`.
pub fn client_limits(state: &ClientQuotaState, user: &str, client_id: &str) -> ClientLimits {
    if state.is_empty() {
        return ClientLimits::default();
    }
    let levels = levels(user, client_id);
    let find = |kind: QuotaKind| {
        levels.iter().find_map(|(entity, sensor)| {
            state.value(entity, kind.key()).map(|quota| Limit {
                sensor: sensor.clone(),
                quota,
            })
        })
    };
    ClientLimits {
        produce: find(QuotaKind::Produce),
        fetch: find(QuotaKind::Fetch),
        request: find(QuotaKind::Request),
    }
}

/// The eight entities in resolution order, each with its sensor.
fn levels(user: &str, client_id: &str) -> [(QuotaEntity, SensorKey); 8] {
    let named = EntityName::named;
    let default = || Some(EntityName::Default);
    let sensor = |u: bool, c: bool| SensorKey {
        user: if u { user.to_string() } else { String::new() },
        client_id: if c {
            client_id.to_string()
        } else {
            String::new()
        },
    };
    let e = QuotaEntity::new;
    [
        (
            e(Some(named(user)), Some(named(client_id))),
            sensor(true, true),
        ),
        (e(Some(named(user)), default()), sensor(true, true)),
        (e(Some(named(user)), None), sensor(true, false)),
        (e(default(), Some(named(client_id))), sensor(true, true)),
        (e(default(), default()), sensor(true, true)),
        (e(default(), None), sensor(true, false)),
        (e(None, Some(named(client_id))), sensor(false, true)),
        (e(None, default()), sensor(false, true)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entity(user: Option<Option<&str>>, client: Option<Option<&str>>) -> QuotaEntity {
        let name = |n: Option<&str>| EntityName::from_wire(n);
        QuotaEntity::new(user.map(name), client.map(name))
    }

    /// The produce limit of (alice, app) with quotas on `entities`, valued
    /// by their position.
    fn winner(entities: &[QuotaEntity]) -> Option<Limit> {
        let mut state = ClientQuotaState::default();
        for (i, e) in entities.iter().enumerate() {
            state.set(e, "producer_byte_rate", Some(i as f64 + 1.0));
        }
        client_limits(&state, "alice", "app").produce
    }

    #[test]
    fn resolution_follows_kafkas_order() {
        let all = [
            entity(None, Some(None)),
            entity(None, Some(Some("app"))),
            entity(Some(None), None),
            entity(Some(None), Some(None)),
            entity(Some(None), Some(Some("app"))),
            entity(Some(Some("alice")), None),
            entity(Some(Some("alice")), Some(None)),
            entity(Some(Some("alice")), Some(Some("app"))),
        ];
        let both = |u: &str, c: &str| SensorKey {
            user: u.into(),
            client_id: c.into(),
        };
        // Taking away the most specific each time reveals the next.
        let expected = [
            both("alice", "app"),
            both("alice", "app"),
            both("alice", ""),
            both("alice", "app"),
            both("alice", "app"),
            both("alice", ""),
            both("", "app"),
            both("", "app"),
        ];
        for (level, sensor) in expected.iter().enumerate() {
            let present = &all[..all.len() - level];
            let limit = winner(present).expect("a quota applies");
            assert_eq!(limit.quota, present.len() as f64, "level {}", level + 1);
            assert_eq!(&limit.sensor, sensor, "level {}", level + 1);
        }
        assert_eq!(winner(&[]), None);
    }

    #[test]
    fn other_users_and_clients_do_not_match_and_keys_resolve_apart() {
        let mut state = ClientQuotaState::default();
        state.set(
            &entity(Some(Some("bob")), None),
            "producer_byte_rate",
            Some(1.0),
        );
        state.set(
            &entity(None, Some(Some("other"))),
            "producer_byte_rate",
            Some(2.0),
        );
        assert!(client_limits(&state, "alice", "app").is_empty());
        state.set(
            &entity(Some(Some("alice")), None),
            "request_percentage",
            Some(50.0),
        );
        state.set(&entity(None, Some(None)), "consumer_byte_rate", Some(3.0));
        let limits = client_limits(&state, "alice", "app");
        assert_eq!(limits.produce, None);
        assert_eq!(limits.fetch.map(|l| l.quota), Some(3.0));
        assert_eq!(
            limits.request.map(|l| l.sensor.client_id),
            Some(String::new())
        );
    }
}

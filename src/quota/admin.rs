//! AlterClientQuotas' validation and DescribeClientQuotas' filters, as
//! Kafka's controller (`ClientQuotaControlManager`) and image
//! (`ClientQuotasImage.describe`) decide them, over the image's
//! [`ClientQuotaState`]. Pure: a request and the state in, outcomes and
//! changes out.
//!
//! Beyond Kafka: a quota value must be a finite number above zero (Kafka
//! stores NaN, negative and zero quotas, which then throttle every request
//! or none), and an `ip` entity must name an IP address (Kafka also
//! resolves host names; the controller does no I/O).

use std::collections::HashMap;
use std::net::IpAddr;

use kafka_protocol::error::ResponseError;

use super::entity::{ClientQuotaState, EntityName, QuotaEntity, Quotas, CLIENT_ID, IP, USER};

/// An error code and message (code 0: done).
pub type Outcome = (i16, Option<String>);

/// An entity as a request names it: (type, name or null for the default).
pub type RawEntity = Vec<(String, Option<String>)>;

/// One entry of an AlterClientQuotas request.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Alteration {
    pub entity: RawEntity,
    /// (key, value to set, or `None` to remove it).
    pub ops: Vec<(String, Option<f64>)>,
}

/// A change to commit: `key` of `entity` set, or removed (`None`).
#[derive(Clone, Debug, PartialEq)]
pub struct QuotaChange {
    pub entity: QuotaEntity,
    pub key: String,
    pub value: Option<f64>,
}

/// The type of a key's values (Kafka's `QuotaConfigs`).
#[derive(Clone, Copy)]
enum KeyType {
    Long,
    Int,
    Double,
}

/// Keys of user, client-id and user + client-id entities.
const CLIENT_KEYS: &[(&str, KeyType)] = &[
    ("producer_byte_rate", KeyType::Long),
    ("consumer_byte_rate", KeyType::Long),
    ("request_percentage", KeyType::Double),
    ("controller_mutation_rate", KeyType::Double),
];

/// Keys of ip entities.
const IP_KEYS: &[(&str, KeyType)] = &[("connection_creation_rate", KeyType::Int)];

fn invalid(message: String) -> Outcome {
    (ResponseError::InvalidRequest.code(), Some(message))
}

fn done() -> Outcome {
    (0, None)
}

/// Kafka's text for an entity in messages.
fn describe_raw(entity: &RawEntity) -> String {
    let parts: Vec<String> = entity
        .iter()
        .map(|(t, n)| format!("{t}={}", n.as_deref().unwrap_or("<default>")))
        .collect();
    format!("ClientQuotaEntity({})", parts.join(", "))
}

/// The outcome for each distinct entity of the request, in the order they
/// first appear (an entity is its set of components, in any order), and
/// the changes to commit. An entity that fails commits nothing; one named
/// twice fails both times, as Kafka refuses the duplicate.
pub fn alter(
    state: &ClientQuotaState,
    alterations: &[Alteration],
) -> (Vec<(RawEntity, Outcome)>, Vec<QuotaChange>) {
    let canonical = |e: &RawEntity| {
        let mut c = e.clone();
        c.sort();
        c
    };
    let mut seen: HashMap<RawEntity, usize> = HashMap::new();
    for a in alterations {
        *seen.entry(canonical(&a.entity)).or_default() += 1;
    }
    let mut outcomes: Vec<(RawEntity, Outcome)> = Vec::new();
    let mut changes = Vec::new();
    let mut answered = std::collections::HashSet::new();
    for a in alterations {
        let key = canonical(&a.entity);
        if !answered.insert(key.clone()) {
            continue;
        }
        let outcome = if seen[&key] > 1 {
            invalid(format!(
                "Ignoring duplicate entity {}",
                describe_raw(&a.entity)
            ))
        } else {
            match alter_entity(state, a) {
                Ok(mut c) => {
                    changes.append(&mut c);
                    done()
                }
                Err(outcome) => outcome,
            }
        };
        outcomes.push((a.entity.clone(), outcome));
    }
    (outcomes, changes)
}

fn alter_entity(state: &ClientQuotaState, a: &Alteration) -> Result<Vec<QuotaChange>, Outcome> {
    let mut keys_seen = std::collections::HashSet::new();
    for (key, _) in &a.ops {
        if !keys_seen.insert(key.as_str()) {
            return Err(invalid(format!(
                "Duplicate quota key {key} not updating quota for this entity {}",
                describe_raw(&a.entity)
            )));
        }
    }
    let entity = parse_entity(&a.entity)?;
    let keys = keys_for(&entity)?;
    let current = state.get(&entity);
    let mut changes = Vec::new();
    for (key, value) in &a.ops {
        let now = current.and_then(|q: &Quotas| q.get(key)).copied();
        match value {
            None if now.is_some() => changes.push(QuotaChange {
                entity: entity.clone(),
                key: key.clone(),
                value: None,
            }),
            None => {}
            Some(v) => {
                check_value(keys, key, *v)?;
                if now != Some(*v) {
                    changes.push(QuotaChange {
                        entity: entity.clone(),
                        key: key.clone(),
                        value: Some(*v),
                    });
                }
            }
        }
    }
    Ok(changes)
}

/// Kafka's `validateEntity`: known types, each once, no empty name.
pub fn parse_entity(raw: &RawEntity) -> Result<QuotaEntity, Outcome> {
    if raw.is_empty() {
        return Err(invalid("Invalid empty client quota entity".into()));
    }
    let mut entity = QuotaEntity::default();
    for (entity_type, name) in raw {
        let Some(slot) = entity.component_mut(entity_type) else {
            return Err(invalid(format!(
                "Unhandled client quota entity type: {entity_type}"
            )));
        };
        if slot.is_some() {
            return Err(invalid(format!(
                "Invalid empty client quota entity, duplicate entity entry {entity_type}"
            )));
        }
        if name.as_deref() == Some("") {
            return Err(invalid(format!("Empty {entity_type} not supported")));
        }
        *slot = Some(EntityName::from_wire(name.as_deref()));
    }
    Ok(entity)
}

/// Kafka's `configKeysForEntityType`: which combinations are allowed and
/// the keys each takes.
fn keys_for(entity: &QuotaEntity) -> Result<&'static [(&'static str, KeyType)], Outcome> {
    match (&entity.user, &entity.client_id, &entity.ip) {
        (Some(_), _, None) | (None, Some(_), None) => Ok(CLIENT_KEYS),
        (None, None, Some(ip)) => match ip {
            EntityName::Named(name) if name.parse::<IpAddr>().is_err() => Err(invalid(format!(
                "{name} is not a valid IP or resolvable host."
            ))),
            _ => Ok(IP_KEYS),
        },
        _ => Err(invalid("Invalid empty client quota entity".into())),
    }
}

fn check_value(keys: &[(&str, KeyType)], key: &str, value: f64) -> Result<(), Outcome> {
    let Some((_, kind)) = keys.iter().find(|(k, _)| *k == key) else {
        return Err(invalid(format!("Invalid configuration key {key}")));
    };
    if !value.is_finite() || value <= 0.0 {
        return Err(invalid(format!("Quota {key} must be greater than 0")));
    }
    let max = match kind {
        KeyType::Double => return Ok(()),
        KeyType::Long => i64::MAX as f64,
        KeyType::Int => f64::from(i32::MAX),
    };
    let epsilon = 1e-6;
    if value > max || (value - (value + epsilon).floor()).abs() > epsilon {
        let kind = if matches!(kind, KeyType::Long) {
            "Long"
        } else {
            "Int"
        };
        return Err(invalid(format!(
            "Configuration {key} must be a {kind} value"
        )));
    }
    Ok(())
}

/// DescribeClientQuotas' match types.
pub const MATCH_EXACT: i8 = 0;
pub const MATCH_DEFAULT: i8 = 1;
pub const MATCH_SPECIFIED: i8 = 2;

/// One filter component of a DescribeClientQuotas request.
#[derive(Clone, Debug, PartialEq)]
pub struct Component {
    pub entity_type: String,
    pub match_type: i8,
    pub name: Option<String>,
}

/// The entities (and their quotas) the filter matches, or the error
/// Kafka answers: INVALID_REQUEST for a malformed filter,
/// UNSUPPORTED_VERSION for an entity type it does not know. A component
/// matches an entity with that type: EXACT of that name, DEFAULT the
/// default one, SPECIFIED any; `strict` also wants no other components.
pub fn describe<'a>(
    state: &'a ClientQuotaState,
    components: &[Component],
    strict: bool,
) -> Result<Vec<(&'a QuotaEntity, &'a Quotas)>, Outcome> {
    // type → Some(name): exact (None name: the default); None: any.
    let mut filter: Vec<(&str, Option<Option<&str>>)> = Vec::new();
    for c in components {
        let entity_type = c.entity_type.as_str();
        if entity_type.is_empty() {
            return Err(invalid("Invalid empty entity type.".into()));
        }
        if filter.iter().any(|(t, _)| *t == entity_type) {
            return Err(invalid(format!(
                "Entity type {entity_type} cannot appear more than once in the filter."
            )));
        }
        if ![USER, CLIENT_ID, IP].contains(&entity_type) {
            let msg = format!("Unsupported entity type {entity_type}");
            return Err((ResponseError::UnsupportedVersion.code(), Some(msg)));
        }
        let wanted = match (c.match_type, &c.name) {
            (MATCH_EXACT, Some(name)) => Some(Some(name.as_str())),
            (MATCH_EXACT, None) => {
                let msg = "Request specified MATCH_TYPE_EXACT, but set match string to null.";
                return Err(invalid(msg.into()));
            }
            (MATCH_DEFAULT, None) => Some(None),
            (MATCH_SPECIFIED, None) => None,
            (MATCH_DEFAULT, Some(_)) => {
                let msg =
                    "Request specified MATCH_TYPE_DEFAULT, but also specified a match string.";
                return Err(invalid(msg.into()));
            }
            (MATCH_SPECIFIED, Some(_)) => {
                let msg =
                    "Request specified MATCH_TYPE_SPECIFIED, but also specified a match string.";
                return Err(invalid(msg.into()));
            }
            (other, _) => return Err(invalid(format!("Unknown match type {other}"))),
        };
        filter.push((entity_type, wanted));
    }
    let has = |t: &str| filter.iter().any(|(f, _)| *f == t);
    if has(IP) && (has(USER) || has(CLIENT_ID)) {
        return Err(invalid(
            "Invalid entity filter component combination. IP filter component should not be \
             used with user or clientId filter component."
                .into(),
        ));
    }
    if filter.is_empty() && strict {
        return Ok(Vec::new());
    }
    let matches = |entity: &QuotaEntity| {
        (!strict || entity.len() == filter.len())
            && filter.iter().all(|(t, wanted)| match entity.component(t) {
                None => false,
                Some(name) => wanted.is_none_or(|w| name.to_wire() == w),
            })
    };
    Ok(state.iter().filter(|(e, _)| matches(e)).collect())
}

#[cfg(test)]
#[path = "admin_tests.rs"]
mod tests;

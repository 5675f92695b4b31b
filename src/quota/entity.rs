//! Client quota entities and the quotas set on them, as the metadata
//! image holds them (Kafka's `ClientQuotasImage`): an entity names a user,
//! a client id, both, or an IP address, each by name or as the default
//! (Kafka's `<default>`, a null name on the wire); each entity maps quota
//! keys (`producer_byte_rate`, …) to values. Changed only by applying
//! committed `ClientQuota` records.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Kafka's entity type names.
pub const USER: &str = "user";
pub const CLIENT_ID: &str = "client-id";
pub const IP: &str = "ip";

/// A name, or the default entity of its type.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum EntityName {
    Default,
    Named(String),
}

impl EntityName {
    /// The wire's form: a null name is the default.
    pub fn from_wire(name: Option<&str>) -> EntityName {
        name.map_or(EntityName::Default, |n| EntityName::Named(n.to_string()))
    }

    pub fn to_wire(&self) -> Option<&str> {
        match self {
            EntityName::Default => None,
            EntityName::Named(n) => Some(n),
        }
    }

    pub fn named(name: &str) -> EntityName {
        EntityName::Named(name.to_string())
    }
}

/// The components a quota is set on. Valid ones (see `admin`) have a user,
/// a client id or both, or an IP alone.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct QuotaEntity {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<EntityName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<EntityName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<EntityName>,
}

impl QuotaEntity {
    pub fn new(user: Option<EntityName>, client_id: Option<EntityName>) -> QuotaEntity {
        QuotaEntity {
            user,
            client_id,
            ip: None,
        }
    }

    /// The component of `entity_type` (`user`, `client-id`, `ip`).
    pub fn component(&self, entity_type: &str) -> Option<&EntityName> {
        match entity_type {
            USER => self.user.as_ref(),
            CLIENT_ID => self.client_id.as_ref(),
            IP => self.ip.as_ref(),
            _ => None,
        }
    }

    pub fn component_mut(&mut self, entity_type: &str) -> Option<&mut Option<EntityName>> {
        match entity_type {
            USER => Some(&mut self.user),
            CLIENT_ID => Some(&mut self.client_id),
            IP => Some(&mut self.ip),
            _ => None,
        }
    }

    /// (type, name) of each component, in type order; a `None` name is
    /// the default.
    pub fn components(&self) -> Vec<(&'static str, Option<&str>)> {
        [
            (USER, &self.user),
            (CLIENT_ID, &self.client_id),
            (IP, &self.ip),
        ]
        .into_iter()
        .filter_map(|(t, name)| name.as_ref().map(|n| (t, n.to_wire())))
        .collect()
    }

    pub fn len(&self) -> usize {
        [&self.user, &self.client_id, &self.ip]
            .iter()
            .filter(|c| c.is_some())
            .count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Quota key → value of one entity.
pub type Quotas = BTreeMap<String, f64>;

/// Every entity with a quota. An entity without any is absent.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClientQuotaState {
    entities: BTreeMap<QuotaEntity, Quotas>,
}

impl ClientQuotaState {
    pub fn is_empty(&self) -> bool {
        self.entities.is_empty()
    }

    pub fn get(&self, entity: &QuotaEntity) -> Option<&Quotas> {
        self.entities.get(entity)
    }

    pub fn value(&self, entity: &QuotaEntity, key: &str) -> Option<f64> {
        self.entities.get(entity)?.get(key).copied()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&QuotaEntity, &Quotas)> {
        self.entities.iter()
    }

    /// Sets `key` on `entity`, or removes it (`None`); an entity left
    /// without quotas goes.
    pub fn set(&mut self, entity: &QuotaEntity, key: &str, value: Option<f64>) {
        match value {
            Some(v) => {
                self.entities
                    .entry(entity.clone())
                    .or_default()
                    .insert(key.to_string(), v);
            }
            None => {
                if let Some(quotas) = self.entities.get_mut(entity) {
                    quotas.remove(key);
                    if quotas.is_empty() {
                        self.entities.remove(entity);
                    }
                }
            }
        }
    }
}

/// The snapshot form: a list (JSON object keys must be strings).
#[derive(Serialize, Deserialize)]
struct Entry {
    entity: QuotaEntity,
    quotas: Quotas,
}

impl Serialize for ClientQuotaState {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let entries: Vec<Entry> = self
            .entities
            .iter()
            .map(|(entity, quotas)| Entry {
                entity: entity.clone(),
                quotas: quotas.clone(),
            })
            .collect();
        entries.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ClientQuotaState {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let entries = Vec::<Entry>::deserialize(deserializer)?;
        Ok(ClientQuotaState {
            entities: entries
                .into_iter()
                .filter(|e| !e.quotas.is_empty())
                .map(|e| (e.entity, e.quotas))
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_and_remove_keys_and_empty_entities_go() {
        let mut state = ClientQuotaState::default();
        let slow = QuotaEntity::new(None, Some(EntityName::named("slow")));
        state.set(&slow, "producer_byte_rate", Some(1000.0));
        state.set(&slow, "consumer_byte_rate", Some(2000.0));
        assert_eq!(state.value(&slow, "producer_byte_rate"), Some(1000.0));
        state.set(&slow, "producer_byte_rate", None);
        assert_eq!(state.get(&slow).map(|q| q.len()), Some(1));
        state.set(&slow, "consumer_byte_rate", None);
        assert!(state.is_empty());
        // Removing what is not there changes nothing.
        state.set(&slow, "consumer_byte_rate", None);
        assert!(state.is_empty());
    }

    #[test]
    fn the_snapshot_form_round_trips() {
        let mut state = ClientQuotaState::default();
        let user_default = QuotaEntity::new(Some(EntityName::Default), None);
        let both = QuotaEntity::new(Some(EntityName::named("alice")), Some(EntityName::Default));
        state.set(&user_default, "request_percentage", Some(12.5));
        state.set(&both, "producer_byte_rate", Some(1e6));
        let json = serde_json::to_string(&state).unwrap();
        let back: ClientQuotaState = serde_json::from_str(&json).unwrap();
        assert_eq!(back, state);
        assert_eq!(
            both.components(),
            vec![(USER, Some("alice")), (CLIENT_ID, None)]
        );
        assert_eq!(user_default.len(), 1);
    }
}

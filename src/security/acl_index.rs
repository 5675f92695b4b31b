//! The ACL bindings of a [`super::SecurityState`] arranged for the
//! authorizer: by resource type, then by pattern name, LITERAL and PREFIXED
//! apart, so the bindings that apply to one resource are found without
//! scanning the others.
//!
//! Derived: it holds nothing the binding set does not, is kept in step by
//! `SecurityState::add_acl` / `remove_acl` and rebuilt when a state is
//! deserialized. Every collection in it is ordered, so two indexes of the
//! same bindings are equal however they were built.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::{Bound, ControlFlow};

use super::acl::{pattern, AclBinding, WILDCARD};

/// The access-control half of a binding: who, from where, what, and
/// whether it allows or denies.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry {
    pub principal: String,
    pub host: String,
    pub operation: i8,
    pub permission_type: i8,
}

/// Entries by pattern name.
type ByName = BTreeMap<String, BTreeSet<Entry>>;

#[derive(Clone, Debug, Default, PartialEq)]
struct TypeAcls {
    literal: ByName,
    prefixed: ByName,
}

#[derive(Clone, Default, PartialEq)]
pub struct AclIndex {
    by_type: BTreeMap<i8, TypeAcls>,
}

impl std::fmt::Debug for AclIndex {
    // Everything in it is in the binding set, which is printed anyway.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AclIndex").finish_non_exhaustive()
    }
}

fn entry(b: &AclBinding) -> Entry {
    Entry {
        principal: b.principal.clone(),
        host: b.host.clone(),
        operation: b.operation,
        permission_type: b.permission_type,
    }
}

impl AclIndex {
    pub fn build<'a>(bindings: impl IntoIterator<Item = &'a AclBinding>) -> AclIndex {
        let mut index = AclIndex::default();
        for b in bindings {
            index.insert(b);
        }
        index
    }

    pub fn is_empty(&self) -> bool {
        self.by_type.is_empty()
    }

    /// Adds a binding. One of a pattern type other than LITERAL or PREFIXED
    /// can never apply to a resource and is left out.
    pub fn insert(&mut self, b: &AclBinding) {
        if b.pattern_type != pattern::LITERAL && b.pattern_type != pattern::PREFIXED {
            return;
        }
        let acls = self.by_type.entry(b.resource_type).or_default();
        let by_name = match b.pattern_type {
            pattern::LITERAL => &mut acls.literal,
            _ => &mut acls.prefixed,
        };
        by_name
            .entry(b.resource_name.clone())
            .or_default()
            .insert(entry(b));
    }

    /// Removes a binding, dropping whatever it leaves empty.
    pub fn remove(&mut self, b: &AclBinding) {
        let Some(acls) = self.by_type.get_mut(&b.resource_type) else {
            return;
        };
        let by_name = match b.pattern_type {
            pattern::LITERAL => &mut acls.literal,
            pattern::PREFIXED => &mut acls.prefixed,
            _ => return,
        };
        if let Some(entries) = by_name.get_mut(&b.resource_name) {
            entries.remove(&entry(b));
            if entries.is_empty() {
                by_name.remove(&b.resource_name);
            }
        }
        if acls.literal.is_empty() && acls.prefixed.is_empty() {
            self.by_type.remove(&b.resource_type);
        }
    }

    /// Calls `f` with every entry of a binding that applies to the resource
    /// `(resource_type, name)`: LITERAL with that name or the wildcard
    /// name, PREFIXED with a name `name` starts with. Stops when `f` breaks.
    pub fn for_each_applying<'a>(
        &'a self,
        resource_type: i8,
        name: &str,
        mut f: impl FnMut(&'a Entry) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        let Some(acls) = self.by_type.get(&resource_type) else {
            return ControlFlow::Continue(());
        };
        let wildcard = acls.literal.get(WILDCARD).filter(|_| name != WILDCARD);
        let literal = acls.literal.get(name).into_iter().chain(wildcard);
        for entries in literal.chain(prefixes_of(&acls.prefixed, name)) {
            for e in entries {
                f(e)?;
            }
        }
        ControlFlow::Continue(())
    }

    /// Every binding of one resource type, as (pattern type, pattern name,
    /// entry).
    pub fn of_type(&self, resource_type: i8) -> impl Iterator<Item = (i8, &str, &Entry)> {
        self.by_type.get(&resource_type).into_iter().flat_map(|a| {
            named(pattern::LITERAL, &a.literal).chain(named(pattern::PREFIXED, &a.prefixed))
        })
    }
}

fn named(pattern_type: i8, by_name: &ByName) -> impl Iterator<Item = (i8, &str, &Entry)> {
    by_name
        .iter()
        .flat_map(move |(n, es)| es.iter().map(move |e| (pattern_type, n.as_str(), e)))
}

/// The entry sets of `prefixed` whose key `name` starts with, longest key
/// first. Walks down from `name` the way Kafka's StandardAuthorizerData
/// does: the greatest key not above the bound is either a prefix of `name`
/// (taken; the next one is below it) or diverges from `name` at some byte,
/// and no key between the two can be a prefix, so the search jumps to the
/// common part. Each step shortens the bound or passes a matching key.
fn prefixes_of<'a>(prefixed: &'a ByName, name: &str) -> Vec<&'a BTreeSet<Entry>> {
    let mut found = Vec::new();
    if prefixed.is_empty() {
        return found;
    }
    let mut bound = Bound::Included(name);
    while let Some((key, entries)) = prefixed
        .range::<str, _>((Bound::Unbounded, bound))
        .next_back()
    {
        if name.starts_with(key.as_str()) {
            found.push(entries);
            bound = Bound::Excluded(&name[..key.len()]);
            continue;
        }
        let mut common = key
            .bytes()
            .zip(name.bytes())
            .take_while(|(a, b)| a == b)
            .count();
        while !name.is_char_boundary(common) {
            common -= 1;
        }
        bound = Bound::Included(&name[..common]);
    }
    found
}

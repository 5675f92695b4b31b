//! Whether a principal may perform an operation on a resource: Kafka's
//! `StandardAuthorizer` decision (`StandardAuthorizerData.authorize` and
//! `findResult`), the `Authorizer.authorizeByResourceType` default it
//! inherits, and the authorized-operations bit fields built from them.
//!
//! Owns: the decision, as pure functions of the ACL bindings in a
//! [`SecurityState`] (through its index, so a call looks only at the
//! bindings that can apply), the authorizer's static configuration and who
//! is asking. A disabled authorizer allows everything and looks at nothing.
//!
//! Must not: do I/O, take locks, log or keep state. The state is the
//! shard's current metadata image; the handlers and the connection ask
//! here and enforce the answer (error codes, filtered results), and only
//! they know which operations a request needs.

use std::collections::HashSet;
use std::ops::ControlFlow;

use super::acl::{self, operation, pattern, permission, resource, supported_operations, WILDCARD};
use super::acl_index::Entry;
use super::SecurityState;

/// `authorizer.class.name` of Kafka's KRaft authorizer.
pub const STANDARD_AUTHORIZER: &str = "org.apache.kafka.metadata.authorizer.StandardAuthorizer";
/// `authorizer.class.name` of the ZooKeeper-era authorizer: same rules.
pub const ACL_AUTHORIZER: &str = "kafka.security.authorizer.AclAuthorizer";
/// The principal of a binding that applies to every principal.
pub const WILDCARD_PRINCIPAL: &str = "User:*";
/// The principal of a client that did not authenticate.
pub const ANONYMOUS: &str = "User:ANONYMOUS";

/// The authorizer's configuration: `authorizer.class.name`, `super.users`,
/// `allow.everyone.if.no.acl.found`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthorizerConfig {
    pub enabled: bool,
    /// Principals allowed everything, as "Type:name" ("User:admin").
    pub super_users: Vec<String>,
    /// The answer when no binding applies to the resource at all.
    pub allow_everyone_if_no_acl_found: bool,
}

impl AuthorizerConfig {
    /// Reads the broker configs as Kafka does. An empty class name means no
    /// authorizer (and `super.users` is then ignored, as Kafka ignores it);
    /// `super_users` is `;`-separated, each entry trimmed, empty ones
    /// skipped, each of the form "Type:name".
    pub fn parse(
        authorizer_class_name: &str,
        super_users: &str,
        allow_everyone: bool,
    ) -> Result<AuthorizerConfig, String> {
        let class = authorizer_class_name.trim();
        if class.is_empty() {
            return Ok(AuthorizerConfig::default());
        }
        if class != STANDARD_AUTHORIZER && class != ACL_AUTHORIZER {
            return Err(format!(
                "authorizer.class.name {class:?} is not supported: fjord implements \
                 {STANDARD_AUTHORIZER} (and {ACL_AUTHORIZER}, whose rules are the same)"
            ));
        }
        let super_users = super_users
            .split(';')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(|u| match u.contains(':') {
                true => Ok(u.to_string()),
                false => Err(format!(
                    "super.users: {u:?} is not a principal of the form Type:name"
                )),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(AuthorizerConfig {
            enabled: true,
            super_users,
            allow_everyone_if_no_acl_found: allow_everyone,
        })
    }

    fn allows_all(&self, who: &Request) -> bool {
        !self.enabled || self.super_users.iter().any(|u| u == who.principal)
    }
}

/// Who is asking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request<'a> {
    /// "Type:name": "User:alice", [`ANONYMOUS`].
    pub principal: &'a str,
    /// The client's IP address as text, compared with binding hosts as is.
    pub host: &'a str,
}

/// Whether `who` may perform `operation` on the resource named
/// `resource_name` of type `resource_type` (Kafka's authorize of a LITERAL
/// resource pattern).
///
/// The bindings that apply to the resource are those of its type, LITERAL
/// with its name or `*`, or PREFIXED with a name it starts with. Of those
/// that match `who` (principal or `User:*`, host or `*`): a DENY of the
/// operation or of ALL denies; otherwise an ALLOW of it, of ALL, or of an
/// operation implying it (READ, WRITE, DELETE, ALTER imply DESCRIBE;
/// ALTER_CONFIGS implies DESCRIBE_CONFIGS; DENYs imply nothing) allows.
/// With none, a resource with any binding at all is denied and one with
/// none gets `allow_everyone_if_no_acl_found`.
pub fn authorize(
    state: &SecurityState,
    config: &AuthorizerConfig,
    who: &Request,
    operation: i8,
    resource_type: i8,
    resource_name: &str,
) -> bool {
    if config.allows_all(who) {
        return true;
    }
    let index = state.acl_index();
    if index.is_empty() {
        return config.allow_everyone_if_no_acl_found;
    }
    let mut verdict = Verdict::default();
    let _ = index.for_each_applying(resource_type, resource_name, |e| {
        verdict.see(e, who, operation)
    });
    verdict.result(config)
}

/// Whether `who` may perform `operation` on at least one resource of the
/// type (Kafka's `Authorizer.authorizeByResourceType` default, which
/// StandardAuthorizer does not override).
///
/// True if [`authorize`] allows it on a resource named "hardcode" (which
/// covers super users, wildcard and implied ALLOWs, and no binding
/// applying); else, among the bindings of the type matching `who` whose
/// operation is `operation` or ALL (no implication here): false at once on
/// a LITERAL `*` DENY; true on a LITERAL `*` ALLOW; true if some other
/// ALLOW's pattern is neither a LITERAL pattern with a LITERAL DENY of the
/// same name nor starts with (or is) a PREFIXED DENY's name; false
/// otherwise. A filter code (ANY) for either argument, which Kafka refuses
/// with an exception, is false here.
pub fn authorize_by_resource_type(
    state: &SecurityState,
    config: &AuthorizerConfig,
    who: &Request,
    operation: i8,
    resource_type: i8,
) -> bool {
    if !config.enabled {
        return true;
    }
    if operation == operation::ANY || resource_type == resource::ANY {
        return false;
    }
    if authorize(state, config, who, operation, resource_type, "hardcode") {
        return true;
    }
    let mut deny_literal = HashSet::new();
    let mut deny_prefixed = HashSet::new();
    let mut allowed = Vec::new();
    let mut wildcard_allowed = false;
    for (pattern_type, name, e) in state.acl_index().of_type(resource_type) {
        if !matches_who(e, who) || (e.operation != operation && e.operation != operation::ALL) {
            continue;
        }
        let wildcard = pattern_type == pattern::LITERAL && name == WILDCARD;
        match e.permission_type {
            permission::DENY if wildcard => return false,
            permission::DENY if pattern_type == pattern::LITERAL => {
                deny_literal.insert(name);
            }
            permission::DENY => {
                deny_prefixed.insert(name);
            }
            permission::ALLOW if wildcard => wildcard_allowed = true,
            permission::ALLOW => allowed.push((pattern_type, name)),
            _ => {}
        }
    }
    if wildcard_allowed {
        return true;
    }
    allowed.into_iter().any(|(pattern_type, name)| {
        let denied_literally = pattern_type == pattern::LITERAL && deny_literal.contains(name);
        let denied_by_prefix = name
            .char_indices()
            .map(|(i, c)| &name[..i + c.len_utf8()])
            .any(|prefix| deny_prefixed.contains(prefix));
        !denied_literally && !denied_by_prefix
    })
}

/// The authorized-operations bit field of a resource for `who`: bit
/// `1 << op` for each operation Kafka supports on the type
/// ([`supported_operations`]) that [`authorize`] allows, the encoding of
/// [`acl::authorized_operations`] (which is the answer when everything is
/// allowed).
pub fn authorized_operations(
    state: &SecurityState,
    config: &AuthorizerConfig,
    who: &Request,
    resource_type: i8,
    resource_name: &str,
) -> i32 {
    if config.allows_all(who) {
        return acl::authorized_operations(resource_type);
    }
    // The bindings that apply are the same for every operation: find them
    // once.
    let mut applying = Vec::new();
    let _ = state
        .acl_index()
        .for_each_applying(resource_type, resource_name, |e| {
            applying.push(e);
            ControlFlow::Continue(())
        });
    supported_operations(resource_type)
        .iter()
        .filter(|&&op| {
            let mut verdict = Verdict::default();
            let _ = applying.iter().try_for_each(|e| verdict.see(e, who, op));
            verdict.result(config)
        })
        .fold(0, |bits, op| bits | 1 << op)
}

/// What the applying bindings seen so far decide (Kafka's
/// `MatchingRuleBuilder`).
#[derive(Default)]
struct Verdict {
    /// Some binding applies to the resource, whoever it is for.
    any_applies: bool,
    allowed: bool,
    denied: bool,
}

impl Verdict {
    /// Takes in one applying binding; breaks on a DENY, which decides.
    fn see(&mut self, e: &Entry, who: &Request, op: i8) -> ControlFlow<()> {
        self.any_applies = true;
        match find_result(e, who, op) {
            Some(true) => self.allowed = true,
            Some(false) => {
                self.denied = true;
                return ControlFlow::Break(());
            }
            None => {}
        }
        ControlFlow::Continue(())
    }

    fn result(&self, config: &AuthorizerConfig) -> bool {
        if self.denied {
            false
        } else if self.allowed {
            true
        } else if self.any_applies {
            false
        } else {
            config.allow_everyone_if_no_acl_found
        }
    }
}

fn matches_who(e: &Entry, who: &Request) -> bool {
    (e.principal == who.principal || e.principal == WILDCARD_PRINCIPAL)
        && (e.host == WILDCARD || e.host == who.host)
}

/// Kafka's `findResult`: what one applying binding says about `op` for
/// `who` — allow (true), deny (false), or nothing.
fn find_result(e: &Entry, who: &Request, op: i8) -> Option<bool> {
    if !matches_who(e, who) {
        return None;
    }
    let allow = e.permission_type == permission::ALLOW;
    if e.operation != operation::ALL {
        let covers = match allow {
            true => implies(e.operation, op),
            false => e.operation == op,
        };
        if !covers {
            return None;
        }
    }
    // As in Kafka, anything but ALLOW denies (validation admits only
    // ALLOW and DENY).
    Some(allow)
}

/// Whether an ALLOW of `granted` allows `requested`.
fn implies(granted: i8, requested: i8) -> bool {
    use operation::*;
    match requested {
        DESCRIBE => matches!(granted, DESCRIBE | READ | WRITE | DELETE | ALTER),
        DESCRIBE_CONFIGS => matches!(granted, DESCRIBE_CONFIGS | ALTER_CONFIGS),
        _ => granted == requested,
    }
}

//! ACL bindings and binding filters, with Kafka's codes, its validation of
//! new bindings and its filter matching (`AclBindingFilter.matches`), so
//! CreateAcls / DescribeAcls / DeleteAcls answer as a Kafka broker with
//! StandardAuthorizer does.

use serde::{Deserialize, Serialize};

/// Kafka's `ResourceType` codes.
pub mod resource {
    pub const ANY: i8 = 1;
    pub const TOPIC: i8 = 2;
    pub const GROUP: i8 = 3;
    pub const CLUSTER: i8 = 4;
    pub const TRANSACTIONAL_ID: i8 = 5;
    pub const DELEGATION_TOKEN: i8 = 6;
    pub const USER: i8 = 7;
}

/// Kafka's `PatternType` codes.
pub mod pattern {
    pub const ANY: i8 = 1;
    pub const MATCH: i8 = 2;
    pub const LITERAL: i8 = 3;
    pub const PREFIXED: i8 = 4;
}

/// Kafka's `AclOperation` codes (ALL = 2 … TWO_PHASE_COMMIT = 15).
pub mod operation {
    pub const ANY: i8 = 1;
    pub const ALL: i8 = 2;
    pub const READ: i8 = 3;
    pub const WRITE: i8 = 4;
    pub const CREATE: i8 = 5;
    pub const DELETE: i8 = 6;
    pub const ALTER: i8 = 7;
    pub const DESCRIBE: i8 = 8;
    pub const CLUSTER_ACTION: i8 = 9;
    pub const DESCRIBE_CONFIGS: i8 = 10;
    pub const ALTER_CONFIGS: i8 = 11;
    pub const IDEMPOTENT_WRITE: i8 = 12;
    pub const CREATE_TOKENS: i8 = 13;
    pub const DESCRIBE_TOKENS: i8 = 14;
    pub const TWO_PHASE_COMMIT: i8 = 15;
}

/// Kafka's `AclPermissionType` codes.
pub mod permission {
    pub const ANY: i8 = 1;
    pub const DENY: i8 = 2;
    pub const ALLOW: i8 = 3;
}

/// The only name a CLUSTER resource may have.
pub const CLUSTER_NAME: &str = "kafka-cluster";
/// A LITERAL resource name that stands for every resource of its type.
pub const WILDCARD: &str = "*";

/// One ACL: a resource pattern and an access control entry.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AclBinding {
    // Field order is the sort order: bindings of one resource pattern sit
    // together, which is how DescribeAcls groups them.
    pub resource_type: i8,
    pub resource_name: String,
    pub pattern_type: i8,
    pub principal: String,
    pub host: String,
    pub operation: i8,
    pub permission_type: i8,
}

/// A filter over bindings; `None` strings and ANY codes match everything.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclFilter {
    pub resource_type: i8,
    pub resource_name: Option<String>,
    pub pattern_type: i8,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: i8,
    pub permission_type: i8,
}

/// Codes Kafka knows; any other code reads as UNKNOWN on a Kafka broker.
fn known_resource(code: i8) -> bool {
    (resource::ANY..=resource::USER).contains(&code)
}

fn known_pattern(code: i8) -> bool {
    (pattern::ANY..=pattern::PREFIXED).contains(&code)
}

fn known_operation(code: i8) -> bool {
    (operation::ANY..=operation::TWO_PHASE_COMMIT).contains(&code)
}

fn known_permission(code: i8) -> bool {
    (permission::ANY..=permission::ALLOW).contains(&code)
}

impl AclBinding {
    /// Kafka's checks on a binding to create; `Err` is the message of an
    /// INVALID_REQUEST answer for this binding alone.
    pub fn validate(&self) -> Result<(), String> {
        if !known_resource(self.resource_type) || self.resource_type == resource::ANY {
            return Err(format!("invalid resource type {}", self.resource_type));
        }
        if self.pattern_type != pattern::LITERAL && self.pattern_type != pattern::PREFIXED {
            return Err(format!(
                "invalid pattern type {}: an ACL is LITERAL or PREFIXED",
                self.pattern_type
            ));
        }
        if !known_operation(self.operation) || self.operation == operation::ANY {
            return Err(format!("invalid operation {}", self.operation));
        }
        if self.permission_type != permission::ALLOW && self.permission_type != permission::DENY {
            return Err(format!("invalid permission type {}", self.permission_type));
        }
        if self.resource_name.is_empty() {
            return Err("resource name must not be empty".into());
        }
        if self.resource_type == resource::CLUSTER && self.resource_name != CLUSTER_NAME {
            return Err(format!(
                "a CLUSTER resource can only be named {CLUSTER_NAME}"
            ));
        }
        // Kafka parses principals as "Type:name" (e.g. User:alice, User:*).
        if !self.principal.contains(':') {
            return Err(format!(
                "principal {:?} is not of the form Type:name",
                self.principal
            ));
        }
        Ok(())
    }
}

impl AclFilter {
    /// A filter with a code Kafka does not know matches nothing Kafka could
    /// store: Kafka refuses it with INVALID_REQUEST.
    pub fn validate(&self) -> Result<(), String> {
        if !known_resource(self.resource_type) {
            return Err(format!("unknown resource type {}", self.resource_type));
        }
        if !known_pattern(self.pattern_type) {
            return Err(format!("unknown pattern type {}", self.pattern_type));
        }
        if !known_operation(self.operation) {
            return Err(format!("unknown operation {}", self.operation));
        }
        if !known_permission(self.permission_type) {
            return Err(format!("unknown permission type {}", self.permission_type));
        }
        Ok(())
    }

    pub fn matches(&self, acl: &AclBinding) -> bool {
        self.matches_pattern(acl) && self.matches_entry(acl)
    }

    /// The resource half. MATCH finds every binding that would apply to
    /// the named resource: its LITERAL name, the LITERAL wildcard, and any
    /// PREFIXED pattern the name starts with. ANY or an exact pattern type
    /// compares names exactly.
    fn matches_pattern(&self, acl: &AclBinding) -> bool {
        if self.resource_type != resource::ANY && self.resource_type != acl.resource_type {
            return false;
        }
        let by_match = self.pattern_type == pattern::MATCH;
        if self.pattern_type != pattern::ANY && !by_match && self.pattern_type != acl.pattern_type {
            return false;
        }
        let Some(name) = &self.resource_name else {
            return true;
        };
        if !by_match {
            return *name == acl.resource_name;
        }
        match acl.pattern_type {
            pattern::LITERAL => *name == acl.resource_name || acl.resource_name == WILDCARD,
            pattern::PREFIXED => name.starts_with(&acl.resource_name),
            _ => false,
        }
    }

    fn matches_entry(&self, acl: &AclBinding) -> bool {
        self.principal.as_ref().is_none_or(|p| *p == acl.principal)
            && self.host.as_ref().is_none_or(|h| *h == acl.host)
            && (self.operation == operation::ANY || self.operation == acl.operation)
            && (self.permission_type == permission::ANY
                || self.permission_type == acl.permission_type)
    }
}

/// The operations Kafka's `AclEntry.supportedOperations` lists for a
/// resource type: the operations an authorized-operations field reports on
/// (`super::authorizer::authorized_operations`).
pub fn supported_operations(resource_type: i8) -> &'static [i8] {
    use operation::*;
    match resource_type {
        resource::TOPIC => &[
            READ,
            WRITE,
            CREATE,
            DESCRIBE,
            DELETE,
            ALTER,
            DESCRIBE_CONFIGS,
            ALTER_CONFIGS,
        ],
        resource::GROUP => &[READ, DESCRIBE, DELETE, DESCRIBE_CONFIGS, ALTER_CONFIGS],
        resource::CLUSTER => &[
            CREATE,
            CLUSTER_ACTION,
            DESCRIBE_CONFIGS,
            ALTER_CONFIGS,
            IDEMPOTENT_WRITE,
            ALTER,
            DESCRIBE,
        ],
        resource::TRANSACTIONAL_ID => &[DESCRIBE, WRITE, TWO_PHASE_COMMIT],
        resource::DELEGATION_TOKEN => &[DESCRIBE],
        resource::USER => &[CREATE_TOKENS, DESCRIBE_TOKENS],
        _ => &[],
    }
}

/// The authorized-operations bit field Kafka sends (bit n = operation code
/// n) when every operation on a resource of this type is allowed: with the
/// authorizer disabled, or for a super user.
pub fn authorized_operations(resource_type: i8) -> i32 {
    supported_operations(resource_type)
        .iter()
        .fold(0, |bits, op| bits | 1 << op)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(resource_type: i8, name: &str, pattern_type: i8, principal: &str, op: i8) -> AclBinding {
        AclBinding {
            resource_type,
            resource_name: name.into(),
            pattern_type,
            principal: principal.into(),
            host: "*".into(),
            operation: op,
            permission_type: permission::ALLOW,
        }
    }

    fn filter(resource_type: i8, name: Option<&str>, pattern_type: i8) -> AclFilter {
        AclFilter {
            resource_type,
            resource_name: name.map(Into::into),
            pattern_type,
            principal: None,
            host: None,
            operation: operation::ANY,
            permission_type: permission::ANY,
        }
    }

    use pattern::{ANY, LITERAL, MATCH, PREFIXED};
    use resource::{GROUP, TOPIC};

    #[test]
    fn match_finds_literal_wildcard_and_prefixes() {
        let f = filter(TOPIC, Some("orders-eu"), MATCH);
        assert!(f.matches(&acl(TOPIC, "orders-eu", LITERAL, "User:a", 3)));
        assert!(f.matches(&acl(TOPIC, "*", LITERAL, "User:a", 3)));
        assert!(f.matches(&acl(TOPIC, "orders", PREFIXED, "User:a", 3)));
        assert!(f.matches(&acl(TOPIC, "orders-eu", PREFIXED, "User:a", 3)));
        assert!(!f.matches(&acl(TOPIC, "orders-eu-1", PREFIXED, "User:a", 3)));
        assert!(!f.matches(&acl(TOPIC, "orders", LITERAL, "User:a", 3)));
        assert!(!f.matches(&acl(GROUP, "orders-eu", LITERAL, "User:a", 3)));
    }

    #[test]
    fn any_and_exact_pattern_types_compare_names_exactly() {
        let wildcard = acl(TOPIC, "*", LITERAL, "User:a", 3);
        let prefix = acl(TOPIC, "ord", PREFIXED, "User:a", 3);
        assert!(!filter(TOPIC, Some("orders"), ANY).matches(&wildcard));
        assert!(!filter(TOPIC, Some("orders"), ANY).matches(&prefix));
        assert!(filter(TOPIC, Some("ord"), ANY).matches(&prefix));
        assert!(filter(TOPIC, Some("ord"), PREFIXED).matches(&prefix));
        assert!(!filter(TOPIC, Some("ord"), LITERAL).matches(&prefix));
        assert!(filter(resource::ANY, None, ANY).matches(&prefix));
        assert!(filter(TOPIC, None, PREFIXED).matches(&prefix));
        assert!(!filter(TOPIC, None, LITERAL).matches(&prefix));
    }

    #[test]
    fn entry_fields_filter_when_given() {
        let a = acl(TOPIC, "t", LITERAL, "User:a", operation::READ);
        let mut f = filter(TOPIC, Some("t"), LITERAL);
        f.principal = Some("User:b".into());
        assert!(!f.matches(&a));
        f.principal = Some("User:a".into());
        f.operation = operation::WRITE;
        assert!(!f.matches(&a));
        f.operation = operation::READ;
        f.permission_type = permission::DENY;
        assert!(!f.matches(&a));
        f.permission_type = permission::ALLOW;
        f.host = Some("10.0.0.1".into());
        assert!(!f.matches(&a));
        f.host = Some("*".into());
        assert!(f.matches(&a));
    }

    #[test]
    fn new_bindings_are_validated_as_kafka_does() {
        let good = acl(TOPIC, "t", PREFIXED, "User:a", operation::ALL);
        assert!(good.validate().is_ok());
        let bad = [
            AclBinding {
                resource_type: resource::ANY,
                ..good.clone()
            },
            AclBinding {
                resource_type: 0,
                ..good.clone()
            },
            AclBinding {
                pattern_type: MATCH,
                ..good.clone()
            },
            AclBinding {
                operation: operation::ANY,
                ..good.clone()
            },
            AclBinding {
                operation: 99,
                ..good.clone()
            },
            AclBinding {
                permission_type: permission::ANY,
                ..good.clone()
            },
            AclBinding {
                resource_name: String::new(),
                ..good.clone()
            },
            AclBinding {
                principal: "alice".into(),
                ..good.clone()
            },
            AclBinding {
                resource_type: resource::CLUSTER,
                ..good.clone()
            },
        ];
        for b in bad {
            assert!(b.validate().is_err(), "{b:?}");
        }
        let cluster = acl(resource::CLUSTER, CLUSTER_NAME, LITERAL, "User:*", 9);
        assert!(cluster.validate().is_ok());
    }

    #[test]
    fn filters_with_unknown_codes_are_refused() {
        assert!(filter(resource::ANY, None, ANY).validate().is_ok());
        assert!(filter(0, None, ANY).validate().is_err());
        assert!(filter(TOPIC, None, 0).validate().is_err());
        assert!(filter(TOPIC, None, 5).validate().is_err());
        let mut f = filter(TOPIC, None, ANY);
        f.operation = 0;
        assert!(f.validate().is_err());
    }

    #[test]
    fn authorized_operations_bits_are_kafkas() {
        // READ..ALTER (3-7), DESCRIBE (8), DESCRIBE_CONFIGS (10), ALTER_CONFIGS (11).
        assert_eq!(authorized_operations(TOPIC), 0b1101_1111_1000);
        // CREATE 5, ALTER 7, DESCRIBE 8, CLUSTER_ACTION 9, 10, 11, IDEMPOTENT_WRITE 12.
        assert_eq!(authorized_operations(resource::CLUSTER), 0b1_1111_1010_0000);
    }
}

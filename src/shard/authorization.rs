//! The shard's authorization checks: a request's session against the ACLs
//! of this shard's metadata image, with the broker's authorizer settings.
//!
//! Decisions come from `security::authorizer` (Kafka's StandardAuthorizer
//! rules) over the shard's own copy of the image: no lock, no message.
//! Must not: cache decisions across images (ACL changes apply to the next
//! request).

use super::Shard;
use crate::security::authorizer::{self, AuthorizerConfig, Request};
use crate::security::session::Session;
use crate::security::SecurityState;

impl Shard {
    /// Whether `session` may do `operation` on resource `name` of
    /// `resource_type` (codes of `security::acl`).
    pub fn authorize(
        &self,
        session: &Session,
        operation: i8,
        resource_type: i8,
        name: &str,
    ) -> bool {
        if !self.authorizer.enabled {
            return true;
        }
        self.decide(session, |acls, config, who| {
            authorizer::authorize(acls, config, who, operation, resource_type, name)
        })
    }

    /// Whether `session` may do `operation` on some resource of the type
    /// (Kafka's authorizeByResourceType).
    pub fn authorize_any(&self, session: &Session, operation: i8, resource_type: i8) -> bool {
        if !self.authorizer.enabled {
            return true;
        }
        self.decide(session, |acls, config, who| {
            authorizer::authorize_by_resource_type(acls, config, who, operation, resource_type)
        })
    }

    /// The authorized-operations bit field Kafka reports for a resource.
    pub fn authorized_operations(&self, session: &Session, resource_type: i8, name: &str) -> i32 {
        self.decide(session, |acls, config, who| {
            authorizer::authorized_operations(acls, config, who, resource_type, name)
        })
    }

    /// Runs a decision over this shard's ACLs for `session`.
    fn decide<T>(
        &self,
        session: &Session,
        decision: impl FnOnce(&SecurityState, &AuthorizerConfig, &Request) -> T,
    ) -> T {
        let image = self.image.borrow();
        let who = Request {
            principal: &session.principal,
            host: &session.host,
        };
        decision(&image.security, &self.authorizer, &who)
    }
}

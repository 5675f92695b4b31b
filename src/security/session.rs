//! Who is on the other end of one connection: the principal it
//! authenticated as (Kafka's `User:name`; `User:ANONYMOUS` without
//! authentication), the client's address and the listener it came in on.
//!
//! Made by the connection once authentication is settled and handed to
//! every request's handler, which authorizes against it. Plain data: must
//! not know how the principal was established.

/// The principal of a connection that did not authenticate.
pub const ANONYMOUS: &str = "User:ANONYMOUS";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// `User:name`.
    pub principal: String,
    /// The client's IP address as text (ACL host matching).
    pub host: String,
    /// The listener's name (Metadata answers with that listener's
    /// endpoints).
    pub listener: String,
}

impl Session {
    pub fn new(user: Option<&str>, host: &str, listener: &str) -> Session {
        Session {
            principal: user.map_or_else(|| ANONYMOUS.to_string(), |u| format!("User:{u}")),
            host: host.to_string(),
            listener: listener.to_string(),
        }
    }

    /// The principal's name without `User:`.
    pub fn user(&self) -> &str {
        self.principal
            .strip_prefix("User:")
            .unwrap_or(&self.principal)
    }
}

//! The Kafka wire protocol: framing, the versions fjord speaks, decoding a
//! request and routing it to its handler, and one connection's life.
//!
//! This layer turns bytes into typed requests and typed responses back into
//! bytes. It owns no broker state: what a request does is in `handlers`.
//! Client quotas are applied here (`throttle`), around the handlers.

pub mod authentication;
pub mod client_codec;
pub mod codec;
pub mod connection;
pub mod dispatch;
pub mod fetch_frame;
pub mod listener;
mod sasl_settings;
pub mod throttle;
pub mod transport;
pub mod unimplemented;
pub mod versions;

#[cfg(test)]
mod authentication_tests;
#[cfg(test)]
mod fuzz;

//! The security of this node's controller-listener connections, from the
//! settings, as Kafka reads them: the listener is the first name in
//! `controller.listener.names`, its protocol comes from
//! `listener.security.protocol.map`, its TLS and SASL settings from the
//! usual `ssl.*` / `sasl.*` names (or their `listener.name.<l>.` forms),
//! and a node logs in with `sasl.mechanism.controller.protocol`.
//!
//! Built once at start; errors name the setting.

use std::net::{Ipv4Addr, SocketAddr};

use crate::cluster::link::LinkSecurity;
use crate::config::listeners::{self, SecurityProtocol};
use crate::config::BrokerConfig;
use crate::net::tls_client;
use crate::protocol::listener::Listener;
use crate::security::authorizer::AuthorizerConfig;
use crate::security::sasl::login::Login;
use crate::security::sasl::Mechanism;

/// `accepts`: this node is a voter, so it binds the listener (and needs
/// its key store); every node connects to it.
pub fn link_security(
    config: &BrokerConfig,
    authorizer: &AuthorizerConfig,
    accepts: bool,
) -> Result<LinkSecurity, String> {
    let security = &config.security;
    let (name, protocol) = listeners::controller_listener(
        &security.controller_listener_names,
        &security.protocol_map,
    )?;
    if protocol == SecurityProtocol::Plaintext {
        return Ok(LinkSecurity {
            protocol: protocol.name(),
            ..LinkSecurity::default()
        });
    }
    let login = match protocol.uses_sasl() {
        false => None,
        true => Some(Login::from_settings(
            config,
            &name,
            "sasl.mechanism.controller.protocol",
            &security.controller_sasl_mechanism,
            &[Mechanism::Plain],
        )?),
    };
    let connector = tls_client::for_listener(config, &name, protocol.uses_tls())?;
    if !accepts {
        return Ok(LinkSecurity {
            protocol: protocol.name(),
            connector,
            login,
            ..LinkSecurity::default()
        });
    }
    // The address is not used: only the listener's TLS and SASL parts.
    let unbound = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0));
    let listener = Listener::build(config, &name, protocol, unbound)?;
    if let Some(m) = listener.mechanisms.iter().find(|m| **m != Mechanism::Plain) {
        return Err(format!(
            "controller listener {name}: SASL mechanism {} cannot protect it: fjord's \
             controllers log in with PLAIN (SCRAM credentials live in the metadata log the \
             controllers replicate, so they cannot be needed to reach each other)",
            m.name()
        ));
    }
    // Peers are checked only where the listener says who they are.
    let identifies = protocol.uses_sasl()
        || config
            .on_listener(&name, "ssl.client.auth")
            .eq_ignore_ascii_case("required");
    Ok(LinkSecurity {
        protocol: protocol.name(),
        connector,
        acceptor: listener.tls,
        mechanisms: listener.mechanisms,
        sasl: listener.sasl,
        authorizer: match identifies {
            true => authorizer.clone(),
            false => AuthorizerConfig::default(),
        },
        login,
    })
}

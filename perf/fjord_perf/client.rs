//! The librdkafka settings every client of a run starts from: the
//! bootstrap address and the `--client-config` pairs (security settings,
//! e.g. `security.protocol=SASL_SSL`), set once at start.

use std::sync::OnceLock;

use rdkafka::config::ClientConfig;

static EXTRA: OnceLock<Vec<(String, String)>> = OnceLock::new();

/// Parses `NAME=VALUE` pairs and keeps them for every client.
pub fn set_extra(pairs: &[String]) -> Result<(), String> {
    let parsed = pairs
        .iter()
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .ok_or_else(|| format!("--client-config {p}: expected NAME=VALUE"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    EXTRA
        .set(parsed)
        .map_err(|_| "client config set twice".to_string())
}

pub fn config(bootstrap: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap);
    for (k, v) in EXTRA.get().map(Vec::as_slice).unwrap_or_default() {
        c.set(k, v);
    }
    c
}

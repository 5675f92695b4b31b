//! The files a single-node fjord kept its security state in, read once to
//! seed a new metadata log: `DATA_DIR/security/acls.toml` (one `[[acl]]`
//! table per binding) and `scram.toml` (one `[[user]]` table per user with
//! its credentials). Nothing writes them any more; they stay on disk.

use std::path::Path;

use serde::Deserialize;

use super::acl::AclBinding;
use super::scram::ScramCredential;
use super::state::SecurityState;

const DIR: &str = "security";
const ACLS_FILE: &str = "acls.toml";
const SCRAM_FILE: &str = "scram.toml";

#[derive(Default, Deserialize)]
struct AclsFile {
    #[serde(default)]
    acl: Vec<AclBinding>,
}

#[derive(Default, Deserialize)]
struct ScramFile {
    #[serde(default)]
    user: Vec<UserEntry>,
}

#[derive(Deserialize)]
struct UserEntry {
    name: String,
    #[serde(default)]
    credential: Vec<ScramCredential>,
}

/// Reads the single-node state (none is empty). A file that does not parse
/// is an error: starting without the ACLs an operator set would silently
/// drop them.
pub fn load(data_dir: &Path) -> std::io::Result<SecurityState> {
    let dir = data_dir.join(DIR);
    let acls: AclsFile = read_toml(&dir.join(ACLS_FILE))?;
    let scram: ScramFile = read_toml(&dir.join(SCRAM_FILE))?;
    let mut state = SecurityState::default();
    for binding in acls.acl {
        state.add_acl(binding);
    }
    for user in scram.user {
        for credential in user.credential {
            state.upsert_credential(&user.name, credential);
        }
    }
    Ok(state)
}

fn read_toml<T: Default + for<'de> Deserialize<'de>>(path: &Path) -> std::io::Result<T> {
    match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text).map_err(|e| {
            let msg = format!("{}: {e}", path.display());
            std::io::Error::new(std::io::ErrorKind::InvalidData, msg)
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(e) => Err(e),
    }
}

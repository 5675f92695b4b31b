//! The PEM files of a TLS listener: the keystore (KIP-651's one-file
//! layout: an unencrypted private key and the certificate chain, leaf
//! first) and the truststore (CA certificates for client certificates).
//!
//! Owns: reading and checking them, with errors that name the file and
//! what is wrong (an encrypted key is refused: there is no
//! `ssl.key.password`). Must not: build the rustls configuration (`tls`
//! does) or be called on a shard's hot path (files are read with blocking
//! I/O, once, at start).

use std::path::Path;

use rustls::pki_types::pem::{PemObject, SectionKind};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::RootCertStore;

/// The keystore: exactly one unencrypted private key and the chain.
pub(super) fn load_keystore(
    path: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let name = path.display();
    let pem = std::fs::read(path).map_err(|e| format!("{name}: {e}"))?;
    if contains(&pem, b"ENCRYPTED PRIVATE KEY") || contains(&pem, b"Proc-Type: 4,ENCRYPTED") {
        return Err(format!(
            "{name}: the private key is encrypted; fjord reads only unencrypted keys \
             (ssl.key.password is not supported): decrypt it, e.g. `openssl pkey -in KEY -out KEY.plain`"
        ));
    }
    let (mut chain, mut keys) = (Vec::new(), Vec::new());
    for section in <(SectionKind, Vec<u8>)>::pem_slice_iter(&pem) {
        let (kind, der) = section.map_err(|e| format!("{name}: not valid PEM: {e}"))?;
        match kind {
            SectionKind::Certificate => chain.push(CertificateDer::from(der)),
            SectionKind::PrivateKey => keys.push(PrivateKeyDer::Pkcs8(der.into())),
            SectionKind::RsaPrivateKey => keys.push(PrivateKeyDer::Pkcs1(der.into())),
            SectionKind::EcPrivateKey => keys.push(PrivateKeyDer::Sec1(der.into())),
            _ => {}
        }
    }
    if keys.len() != 1 {
        return Err(format!(
            "{name}: needs exactly one private key (PEM \"PRIVATE KEY\", \"RSA PRIVATE KEY\" \
             or \"EC PRIVATE KEY\"), found {}",
            keys.len()
        ));
    }
    if chain.is_empty() {
        return Err(format!(
            "{name}: no certificate (PEM \"CERTIFICATE\", the server's first, then its CAs)"
        ));
    }
    Ok((chain, keys.remove(0)))
}

/// The truststore: the CA certificates that client certificates chain to.
pub(super) fn load_truststore(path: &Path) -> Result<RootCertStore, String> {
    let name = path.display();
    let pem = std::fs::read(path).map_err(|e| format!("{name}: {e}"))?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| format!("{name}: not valid PEM: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("{name}: unusable CA certificate: {e}"))?;
    }
    if roots.is_empty() {
        return Err(format!("{name}: no CA certificate (PEM \"CERTIFICATE\")"));
    }
    Ok(roots)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

//! Building a `TlsAcceptor` from bad files (each error names the file and
//! the problem) and the subject DN as Java writes it, on certificates made
//! by `tls_tests::Pki`.

use rcgen::{CertificateParams, DnType, DnValue, KeyPair};

use super::tls::{ClientAuth, TlsAcceptor};
use super::tls_tests::{name, Pki};

#[test]
fn keystore_errors_name_the_file_and_the_problem() {
    let pki = Pki::new();
    let error = |keystore: &str, truststore: Option<&str>, auth: ClientAuth| {
        let mut settings = pki.settings(auth, "DEFAULT");
        settings.keystore_pem = pki.path(keystore);
        settings.truststore_pem = truststore.map(|t| pki.path(t));
        TlsAcceptor::new(&settings).err().expect("accepted")
    };
    let keystore = std::fs::read_to_string(pki.path("keystore.pem")).unwrap();
    let key_end = keystore.find("-----END PRIVATE KEY-----").unwrap() + 26;
    let (key, chain) = keystore.split_at(key_end);
    std::fs::write(pki.path("key-only.pem"), key).unwrap();
    std::fs::write(pki.path("chain-only.pem"), chain).unwrap();
    std::fs::write(
        pki.path("encrypted.pem"),
        format!("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n{chain}"),
    )
    .unwrap();
    std::fs::write(
        pki.path("legacy.pem"),
        format!(
            "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nMIIB\n-----END RSA PRIVATE KEY-----\n{chain}"
        ),
    )
    .unwrap();
    std::fs::write(pki.path("two-keys.pem"), format!("{key}{keystore}")).unwrap();
    std::fs::write(
        pki.path("bad.pem"),
        "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    // The server's key with the client's certificate.
    std::fs::write(
        pki.path("mismatched.pem"),
        format!("{key}{}", pki.client_pem),
    )
    .unwrap();

    let none = ClientAuth::None;
    let cases = [
        ("missing.pem", "No such file"),
        ("key-only.pem", "no certificate"),
        ("chain-only.pem", "found 0"),
        ("encrypted.pem", "encrypted"),
        ("legacy.pem", "encrypted"),
        ("two-keys.pem", "found 2"),
        ("bad.pem", "not valid PEM"),
        ("mismatched.pem", "not usable"),
    ];
    for (file, what) in cases {
        let e = error(file, None, none);
        assert!(e.contains(file) && e.contains(what), "{file}: {e}");
    }
    let e = error("keystore.pem", None, ClientAuth::Required);
    assert!(e.contains("ssl.truststore.location"), "{e}");
    let e = error("keystore.pem", Some("key-only.pem"), ClientAuth::Requested);
    assert!(
        e.contains("key-only.pem") && e.contains("no CA certificate"),
        "{e}"
    );
    let mut settings = pki.settings(none, "RULE:x");
    settings.truststore_pem = None;
    let e = TlsAcceptor::new(&settings).err().unwrap();
    assert!(e.contains("ssl.principal.mapping.rules"), "{e}");
}

#[test]
fn subject_dn_is_written_as_java_does() {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    let email = rcgen::string::Ia5String::try_from("alice@fjord.io").unwrap();
    params.distinguished_name = name(&[
        (DnType::CountryName, "NO"),
        (DnType::OrganizationName, "Fjord, Inc."),
        (DnType::OrganizationalUnitName, " eng "),
        (DnType::CommonName, "a+b=#c"),
    ]);
    params.distinguished_name.push(
        DnType::CustomDnType(vec![1, 2, 840, 113549, 1, 9, 1]),
        DnValue::Ia5String(email),
    );
    let cert = params.self_signed(&key).unwrap();
    let dn = super::x500_name::subject_dn(cert.der()).unwrap();
    assert_eq!(
        dn,
        r"1.2.840.113549.1.9.1=#160e616c69636540666a6f72642e696f,CN=a\+b\=\#c,OU=\ eng\ ,O=Fjord\, Inc.,C=NO"
    );
}

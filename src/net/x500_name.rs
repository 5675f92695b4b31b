//! A certificate's subject DN as Java's `X500Principal.getName()` writes it
//! (RFC 2253), since that string is what Kafka's principal mapping rules
//! (and so operators' existing rules and ACLs) are written against.
//!
//! Owns: the formatting: most-specific RDN first (the reverse of the DER
//! order), `+` between the values of a multi-valued RDN, the RFC 2253
//! keywords (CN, C, L, ST, O, OU, STREET, DC, UID) and dotted OIDs for every
//! other type, backslash escapes for `,=+<>#;"\` and for leading or
//! trailing spaces, `#` and the hex of the DER encoding for a value that is
//! not a string or whose type has no keyword (as Java does for
//! emailAddress). Must not: verify the certificate (rustls did).

use x509_parser::asn1_rs::{Any, Class, Tag, ToDer};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::x509::AttributeTypeAndValue;

/// The RFC 2253 keywords Java writes by name; every other type is an OID.
const KEYWORDS: [(&str, &str); 9] = [
    ("2.5.4.3", "CN"),
    ("2.5.4.6", "C"),
    ("2.5.4.7", "L"),
    ("2.5.4.8", "ST"),
    ("2.5.4.10", "O"),
    ("2.5.4.11", "OU"),
    ("2.5.4.9", "STREET"),
    ("0.9.2342.19200300.100.1.25", "DC"),
    ("0.9.2342.19200300.100.1.1", "UID"),
];

/// The subject DN of a DER certificate.
pub fn subject_dn(certificate: &[u8]) -> Result<String, String> {
    let (_, cert) = X509Certificate::from_der(certificate)
        .map_err(|e| format!("client certificate does not parse: {e}"))?;
    let mut rdns = Vec::new();
    for rdn in cert.subject().iter_rdn() {
        let values: Vec<String> = rdn.iter().map(attribute).collect::<Result<_, _>>()?;
        rdns.push(values.join("+"));
    }
    rdns.reverse();
    Ok(rdns.join(","))
}

fn attribute(ava: &AttributeTypeAndValue) -> Result<String, String> {
    let oid = ava.attr_type().to_id_string();
    let keyword = KEYWORDS.iter().find(|(o, _)| *o == oid).map(|(_, k)| *k);
    let value = ava.attr_value();
    match (keyword, string_value(value)) {
        (Some(keyword), Some(text)) => Ok(format!("{keyword}={}", escape(&text))),
        (keyword, _) => {
            let der = value
                .to_der_vec()
                .map_err(|e| format!("client certificate subject: {e}"))?;
            let hex: String = der.iter().map(|b| format!("{b:02x}")).collect();
            Ok(format!("{}=#{hex}", keyword.unwrap_or(&oid)))
        }
    }
}

/// The text of the string types Java prints as text (its AVA's
/// `isDerString`); None for every other value.
fn string_value(value: &Any) -> Option<String> {
    if value.class() != Class::Universal || value.header.is_constructed() {
        return None;
    }
    let data = value.data;
    match value.tag() {
        Tag::PrintableString
        | Tag::TeletexString
        | Tag::Ia5String
        | Tag::GeneralString
        | Tag::Utf8String => Some(String::from_utf8_lossy(data).into_owned()),
        Tag::BmpString => {
            let units: Vec<u16> = data
                .chunks(2)
                .map(|p| u16::from_be_bytes([p[0], *p.get(1).unwrap_or(&0)]))
                .collect();
            Some(String::from_utf16_lossy(&units))
        }
        _ => None,
    }
}

/// Java's escaping of an RFC 2253 value.
fn escape(text: &str) -> String {
    let mut chars: Vec<String> = Vec::with_capacity(text.len());
    for c in text.chars() {
        chars.push(match c {
            ',' | '=' | '+' | '<' | '>' | '#' | ';' | '"' | '\\' => format!("\\{c}"),
            '\0' => "\\00".to_string(),
            _ => c.to_string(),
        });
    }
    let blank = |s: &String| s == " " || s == "\r";
    let lead = chars.iter().take_while(|s| blank(s)).count();
    let trail = chars.iter().rev().take_while(|s| blank(s)).count();
    let n = chars.len();
    let mut out = String::with_capacity(text.len() + 4);
    for (i, s) in chars.iter().enumerate() {
        if i < lead || i >= n - trail {
            out.push('\\');
        }
        out.push_str(s);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escapes_as_java_does() {
        assert_eq!(escape("alice"), "alice");
        assert_eq!(escape("a,b+c=d"), r"a\,b\+c\=d");
        assert_eq!(escape(r#"<#;"\>"#), r#"\<\#\;\"\\\>"#);
        assert_eq!(escape("  x y "), r"\ \ x y\ ");
        assert_eq!(escape(" "), r"\ ");
        assert_eq!(escape("a\0b"), r"a\00b");
        assert_eq!(escape("Ærø"), "Ærø");
    }
}

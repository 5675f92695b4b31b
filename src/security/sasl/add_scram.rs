//! The `--add-scram` argument of `kafka-storage.sh format`, e.g.
//! `SCRAM-SHA-512=[name=admin,password=admin-secret]`, optionally with
//! `iterations=8192`, `salt="<base64>"`, or `saltedpassword="<base64>"`
//! (with a salt) instead of the password, read as Kafka's ScramParser
//! does: items split on `,`, every `"` removed from values.
//!
//! Must not: echo any part of the argument after the mechanism in an
//! error (a value that holds a `,` splits into fragments of a password),
//! or keep the password or salted password past the derivation.

use base64::alphabet::STANDARD;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;

use super::super::scram::{
    ScramCredential, MAX_ITERATIONS, MIN_ITERATIONS, SCRAM_SHA_256, SCRAM_SHA_512,
};
use super::scram::salted_password;

/// Java's Base64 decoder: standard alphabet, padding optional.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Kafka's default when `iterations` is not given.
pub const DEFAULT_ITERATIONS: i32 = 4096;

/// The user and the credential one `--add-scram` argument describes. A
/// random 32-byte salt is made when none is given.
pub fn parse(arg: &str) -> Result<(String, ScramCredential), String> {
    parse_with(arg, || {
        let mut salt = vec![0u8; 32];
        getrandom::getrandom(&mut salt).map_err(|e| format!("no random salt: {e}"))?;
        Ok(salt)
    })
}

fn parse_with(
    arg: &str,
    random_salt: impl FnOnce() -> Result<Vec<u8>, String>,
) -> Result<(String, ScramCredential), String> {
    const SHAPE: &str = "add-scram must look like SCRAM-SHA-256=[name=...,password=...]";
    let (mechanism_name, config) = arg
        .split_once('=')
        .filter(|(m, _)| !m.contains('['))
        .ok_or(SHAPE)?;
    let mechanism = match mechanism_name {
        "SCRAM-SHA-256" => SCRAM_SHA_256,
        "SCRAM-SHA-512" => SCRAM_SHA_512,
        other => {
            return Err(format!(
                "the add-scram mechanism {other:?} is not supported"
            ))
        }
    };
    let items = config
        .strip_prefix('[')
        .and_then(|c| c.strip_suffix(']'))
        .ok_or("the add-scram configuration must start with '[' and end with ']'")?;

    let (mut name, mut password, mut salted, mut salt, mut iterations) =
        (None, None, None, None, None);
    for item in items.split(',') {
        let (key, value) = item
            .split_once('=')
            .ok_or("each add-scram item must be key=value (values cannot contain ',')")?;
        let value = value.replace('"', "");
        let slot = match key.trim() {
            "name" => &mut name,
            "password" => &mut password,
            "saltedpassword" => &mut salted,
            "salt" => &mut salt,
            "iterations" => &mut iterations,
            _ => {
                return Err("unknown add-scram key: expected name, password, \
                            saltedpassword, salt or iterations (values cannot contain ',')"
                    .into())
            }
        };
        *slot = Some(value);
    }

    let name = name.ok_or("you must supply 'name' to add-scram")?;
    let iterations = match iterations {
        None => DEFAULT_ITERATIONS,
        Some(i) => i
            .trim()
            .parse::<i32>()
            .map_err(|_| "the add-scram 'iterations' value must be a number")?,
    };
    // Checked before Hi(), which would otherwise run for that long.
    if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
        return Err(format!(
            "the add-scram 'iterations' value must be between {MIN_ITERATIONS} and {MAX_ITERATIONS}"
        ));
    }
    let given_salt = salt.is_some();
    let salt = match salt {
        Some(s) => BASE64
            .decode(s.trim())
            .map_err(|_| "the add-scram 'salt' value is not base64")?,
        None => random_salt()?,
    };
    let salted = match (password, salted) {
        (Some(_), Some(_)) => {
            return Err(
                "you must only supply one of 'password' or 'saltedpassword' to add-scram".into(),
            )
        }
        (None, None) => {
            return Err("you must supply one of 'password' or 'saltedpassword' to add-scram".into())
        }
        (Some(password), None) => {
            salted_password(mechanism, password.as_bytes(), &salt, iterations as u32)
        }
        (None, Some(_)) if !given_salt => {
            return Err("you must supply 'salt' with 'saltedpassword' to add-scram".into())
        }
        (None, Some(s)) => BASE64
            .decode(s.trim())
            .map_err(|_| "the add-scram 'saltedpassword' value is not base64")?,
    };
    let credential = ScramCredential::derive(&name, mechanism, iterations, &salt, &salted)
        .map_err(|(_, msg)| format!("add-scram: {msg}"))?;
    Ok((name, credential))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD as B64;

    const SALT: &[u8] = b"a fixed salt for the tests";

    fn fixed(arg: &str) -> Result<(String, ScramCredential), String> {
        parse_with(arg, || Ok(SALT.to_vec()))
    }

    #[test]
    fn the_password_form() {
        let (user, c) = fixed("SCRAM-SHA-512=[name=admin,password=admin-secret]").unwrap();
        assert_eq!(user, "admin");
        assert_eq!((c.mechanism, c.iterations), (SCRAM_SHA_512, 4096));
        let salted = salted_password(SCRAM_SHA_512, b"admin-secret", SALT, 4096);
        let expected = ScramCredential::derive("admin", 2, 4096, SALT, &salted).unwrap();
        assert_eq!(c, expected);

        // Quotes are dropped, iterations honoured; the real parse makes a
        // fresh 32-byte salt each time.
        let (_, c) =
            parse(r#"SCRAM-SHA-256=[name="alice",password="pw",iterations=8192]"#).unwrap();
        assert_eq!((c.mechanism, c.iterations, c.salt.len()), (1, 8192, 64));
        let (_, again) = parse("SCRAM-SHA-256=[name=alice,password=pw,iterations=8192]").unwrap();
        assert_ne!(c.salt, again.salt);
    }

    #[test]
    fn the_salted_password_form_gives_the_same_credential() {
        let salt = B64.encode(SALT);
        let by_password = fixed(&format!(
            r#"SCRAM-SHA-256=[name=bob,password=pw,salt="{salt}",iterations=5000]"#
        ))
        .unwrap();
        let salted = B64.encode(salted_password(SCRAM_SHA_256, b"pw", SALT, 5000));
        let by_salted = fixed(&format!(
            r#"SCRAM-SHA-256=[name=bob,salt="{salt}",saltedpassword="{salted}",iterations=5000]"#
        ))
        .unwrap();
        assert_eq!(by_password, by_salted);
    }

    #[test]
    fn errors() {
        let cases = [
            ("SCRAM-SHA-256[name=a,password=s3cret]", "must look like"),
            ("SCRAM-SHA-1=[name=a,password=s3cret]", "not supported"),
            ("SCRAM-SHA-256=name=a,password=s3cret", "'['"),
            ("SCRAM-SHA-256=[password=s3cret]", "'name'"),
            ("SCRAM-SHA-256=[name=a]", "one of"),
            ("SCRAM-SHA-256=[name=a,password=s3,cret]", "key=value"),
            (
                "SCRAM-SHA-256=[name=a,password=s3,c=ret]",
                "unknown add-scram key",
            ),
            (
                "SCRAM-SHA-256=[name=a,password=s3cret,saltedpassword=AA==]",
                "only",
            ),
            ("SCRAM-SHA-256=[name=a,saltedpassword=s3cret]", "'salt'"),
            ("SCRAM-SHA-256=[name=a,salt=s3cret!,password=x]", "base64"),
            (
                "SCRAM-SHA-256=[name=a,salt=AA==,saltedpassword=s3cret!]",
                "base64",
            ),
            (
                "SCRAM-SHA-256=[name=a,password=s3cret,iterations=100]",
                "between",
            ),
            (
                "SCRAM-SHA-256=[name=a,password=s3cret,iterations=99999999]",
                "between",
            ),
            (
                "SCRAM-SHA-256=[name=a,password=s3cret,iterations=many]",
                "number",
            ),
            (
                "SCRAM-SHA-256=[name=,password=s3cret]",
                "user name must not be empty",
            ),
        ];
        for (arg, expected) in cases {
            let err = fixed(arg).unwrap_err();
            assert!(err.contains(expected), "{arg}: {err}");
            assert!(!err.contains("s3") && !err.contains("cret"), "{arg}: {err}");
        }
    }
}

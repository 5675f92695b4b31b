//! Kafka's JAAS text for the PLAIN login module: the value of a
//! `listener.name.<listener>.plain.sasl.jaas.config` setting
//! (`Module flag key="value" ...;`) or a JAAS file with sections
//! (`KafkaServer { ... };`), of which the `KafkaServer` section is read.
//! Each `user_NAME="password"` option of a PlainLoginModule entry is a
//! PLAIN user, as Kafka's PlainServerCallbackHandler reads them. The
//! `username`/`password` options of a PlainLoginModule or ScramLoginModule
//! entry are the broker's own login to other brokers.
//!
//! Must not: echo an option's value in an error (values are passwords), or
//! read files (the caller hands the text in).

use std::collections::HashMap;

const PLAIN_LOGIN_MODULE: &str = "org.apache.kafka.common.security.plain.PlainLoginModule";
const SCRAM_LOGIN_MODULE: &str = "org.apache.kafka.common.security.scram.ScramLoginModule";
const SERVER_SECTION: &str = "KafkaServer";

/// The PLAIN users and passwords in `text`.
pub fn plain_users_from_jaas(text: &str) -> Result<HashMap<String, String>, String> {
    let entries = entries(text)?;
    let plain: Vec<Entry> = entries
        .into_iter()
        .filter(|e| e.module == PLAIN_LOGIN_MODULE)
        .collect();
    if plain.is_empty() {
        return Err(format!("JAAS text has no {PLAIN_LOGIN_MODULE} entry"));
    }
    let mut users = HashMap::new();
    for entry in plain {
        for (key, value) in entry.options {
            match key.strip_prefix("user_") {
                Some(user) if !user.is_empty() => {
                    users.insert(user.to_string(), value);
                }
                _ => {}
            }
        }
    }
    Ok(users)
}

/// The broker's own login for `mechanism` (what it sends to other
/// brokers): the `username` and `password` options of the entry for that
/// mechanism's login module (ScramLoginModule for SCRAM-*, PlainLoginModule
/// for PLAIN), as Kafka's client login modules read them.
pub fn login_from_jaas(text: &str, mechanism: &str) -> Result<(String, String), String> {
    let module = match mechanism {
        "PLAIN" => PLAIN_LOGIN_MODULE,
        "SCRAM-SHA-256" | "SCRAM-SHA-512" => SCRAM_LOGIN_MODULE,
        other => return Err(format!("fjord cannot log in to brokers with {other}")),
    };
    let entry = entries(text)?
        .into_iter()
        .rfind(|e| e.module == module)
        .ok_or_else(|| format!("JAAS text has no {module} entry"))?;
    // A later repeat wins, as in Kafka's option map.
    let option = |name: &str| {
        entry
            .options
            .iter()
            .rfind(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    match (option("username"), option("password")) {
        (Some(user), Some(password)) if !user.is_empty() => Ok((user, password)),
        _ => Err(format!(
            "the {module} entry needs username=\"...\" and password=\"...\" options"
        )),
    }
}

/// The login module entries of `text`: all of them in the setting form,
/// the `KafkaServer` section's in a sectioned file.
fn entries(text: &str) -> Result<Vec<Entry>, String> {
    let mut parser = Parser {
        tokens: tokenize(text)?,
        pos: 0,
    };
    let sectioned = matches!(parser.tokens.get(1), Some((Tok::Punct('{'), _)));
    if sectioned {
        let mut server: Option<Vec<Entry>> = None;
        while !parser.at_end() {
            let name = parser.word("a section name")?;
            parser.expect('{')?;
            let mut entries = Vec::new();
            while !parser.eat('}') {
                entries.push(parser.entry()?);
            }
            parser.eat(';');
            if name == SERVER_SECTION {
                server.get_or_insert_with(Vec::new).extend(entries);
            }
        }
        server.ok_or_else(|| format!("JAAS text has no {SERVER_SECTION} section"))
    } else {
        let mut entries = Vec::new();
        while !parser.at_end() {
            entries.push(parser.entry()?);
        }
        Ok(entries)
    }
}

/// One login module entry. Options in order; a later repeat wins, as in
/// Kafka's map.
struct Entry {
    module: String,
    options: Vec<(String, String)>,
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Word(String),
    /// A quoted value, unescaped. Never printed: it may be a password.
    Quoted(String),
    Punct(char),
}

/// Tokens and the line each starts on, for errors.
type Tokens = Vec<(Tok, usize)>;

/// Java's StreamTokenizer as Kafka's JaasConfig sets it up: `//` and
/// `/* */` comments, words of letters, digits and `-_$.`, values quoted
/// with `"` or `'` and backslash escapes.
fn tokenize(text: &str) -> Result<Tokens, String> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    let is_word = |c: char| c.is_alphanumeric() || "-_$.".contains(c);
    while let Some(c) = chars.next() {
        match c {
            '\n' => line += 1,
            c if c.is_whitespace() => {}
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        line += 1;
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut last = ' ';
                loop {
                    let Some(c) = chars.next() else {
                        return Err(format!("unterminated comment starting on line {line}"));
                    };
                    line += usize::from(c == '\n');
                    if last == '*' && c == '/' {
                        break;
                    }
                    last = c;
                }
            }
            '{' | '}' | ';' | '=' => tokens.push((Tok::Punct(c), line)),
            '"' | '\'' => {
                let start = line;
                let value = quoted(&mut chars, c)
                    .ok_or_else(|| format!("unterminated quoted value on line {start}"))?;
                tokens.push((Tok::Quoted(value), start));
            }
            c if is_word(c) => {
                let mut word = String::from(c);
                while let Some(&c) = chars.peek().filter(|&&c| is_word(c)) {
                    word.push(c);
                    chars.next();
                }
                tokens.push((Tok::Word(word), line));
            }
            // The character itself is not shown: it may be part of an
            // unquoted password.
            _ => return Err(format!("unexpected character on line {line}")),
        }
    }
    Ok(tokens)
}

/// The rest of a quoted value up to `quote`; None if the line or the text
/// ends first (StreamTokenizer ends strings at a newline).
fn quoted(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, quote: char) -> Option<String> {
    let mut value = String::new();
    loop {
        let c = chars.next()?;
        match c {
            c if c == quote => return Some(value),
            '\n' | '\r' => return None,
            '\\' => {
                let e = chars.next()?;
                value.push(match e {
                    'a' => '\x07',
                    'b' => '\x08',
                    'f' => '\x0c',
                    'n' => '\n',
                    'r' => '\r',
                    't' => '\t',
                    'v' => '\x0b',
                    '0'..='7' => {
                        // Up to three octal digits, at most \377.
                        let mut code = e.to_digit(8)?;
                        let max = if e <= '3' { 2 } else { 1 };
                        for _ in 0..max {
                            match chars.peek().and_then(|c| c.to_digit(8)) {
                                Some(d) => {
                                    code = code * 8 + d;
                                    chars.next();
                                }
                                None => break,
                            }
                        }
                        char::from_u32(code)?
                    }
                    other => other,
                });
            }
            c => value.push(c),
        }
    }
}

struct Parser {
    tokens: Tokens,
    pos: usize,
}

impl Parser {
    fn at_end(&self) -> bool {
        self.pos >= self.tokens.len()
    }

    fn line(&self) -> usize {
        let last = self.tokens.last().map_or(1, |t| t.1);
        self.tokens.get(self.pos).map_or(last, |t| t.1)
    }

    fn next(&mut self) -> Option<Tok> {
        let tok = self.tokens.get(self.pos).map(|t| t.0.clone());
        self.pos += 1;
        tok
    }

    fn eat(&mut self, punct: char) -> bool {
        let hit = matches!(self.tokens.get(self.pos), Some((Tok::Punct(p), _)) if *p == punct);
        self.pos += usize::from(hit);
        hit
    }

    fn expect(&mut self, punct: char) -> Result<(), String> {
        if self.eat(punct) {
            return Ok(());
        }
        Err(format!("expected '{punct}' on line {}", self.line()))
    }

    fn word(&mut self, what: &str) -> Result<String, String> {
        let line = self.line();
        match self.next() {
            Some(Tok::Word(w)) => Ok(w),
            _ => Err(format!("expected {what} on line {line}")),
        }
    }

    /// `Module flag key=value ... ;`
    fn entry(&mut self) -> Result<Entry, String> {
        let module = self.word("a login module class")?;
        let flag = self.word("a login module control flag")?;
        if !["required", "requisite", "sufficient", "optional"]
            .iter()
            .any(|f| f.eq_ignore_ascii_case(&flag))
        {
            let line = self.line();
            return Err(format!("invalid control flag {flag:?} on line {line}"));
        }
        let mut options = Vec::new();
        while !self.eat(';') {
            if self.at_end() {
                return Err(format!("JAAS entry for {module} not terminated by ';'"));
            }
            let key = self.word("an option name or ';'")?;
            let line = self.line();
            let value = match (self.eat('='), self.next()) {
                (true, Some(Tok::Word(v) | Tok::Quoted(v))) => v,
                _ => {
                    return Err(format!(
                        "value not specified for option {key:?} on line {line}"
                    ))
                }
            };
            options.push((key, value));
        }
        Ok(Entry { module, options })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users(text: &str) -> Vec<(String, String)> {
        let mut users: Vec<_> = plain_users_from_jaas(text).unwrap().into_iter().collect();
        users.sort();
        users
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn the_listener_setting_form() {
        let text = r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret" user_admin="admin-secret" user_alice="alice-secret";"#;
        assert_eq!(
            users(text),
            pairs(&[("admin", "admin-secret"), ("alice", "alice-secret")])
        );
    }

    #[test]
    fn a_file_with_sections_comments_and_escapes() {
        let text = r#"
            // The client side is not read.
            KafkaClient {
                org.apache.kafka.common.security.plain.PlainLoginModule required
                    user_client="nope";
            };
            /* The broker: */
            KafkaServer {
                org.apache.kafka.common.security.scram.ScramLoginModule required;
                org.apache.kafka.common.security.plain.PlainLoginModule REQUIRED
                    username=admin
                    password='admin-secret'
                    user_admin="admin-secret"
                    user_bob="say \"hi\" \\ \101"
                    user_bob2=plain-word_$.1;
            };
        "#;
        assert_eq!(
            users(text),
            pairs(&[
                ("admin", "admin-secret"),
                ("bob", r#"say "hi" \ A"#),
                ("bob2", "plain-word_$.1"),
            ])
        );
    }

    #[test]
    fn errors_say_what_is_wrong_without_the_password() {
        let module = "org.apache.kafka.common.security.plain.PlainLoginModule";
        let cases = [
            (format!(r#"{module} required user_a="s3cret";"#), None),
            (
                format!(r#"{module} required user_a="s3cret""#),
                Some("not terminated"),
            ),
            (
                format!(r#"{module} required user_a="s3cret;"#),
                Some("unterminated"),
            ),
            (
                format!(r#"{module} mandatory user_a="s3cret";"#),
                Some("control flag"),
            ),
            (
                format!(r#"{module} required user_a;"#),
                Some("value not specified"),
            ),
            (
                format!(r#"{module} required user_a=s3cret@x;"#),
                Some("unexpected"),
            ),
            (
                r#"x.ScramLoginModule required user_a="s3cret";"#.to_string(),
                Some("no org.apache"),
            ),
            (
                format!(r#"KafkaClient {{ {module} required user_a="s3cret"; }};"#),
                Some("no KafkaServer"),
            ),
            (
                format!("/* {module} required"),
                Some("unterminated comment"),
            ),
        ];
        for (text, expected) in cases {
            match (plain_users_from_jaas(&text), expected) {
                (Ok(_), None) => {}
                (Err(e), Some(expected)) => {
                    assert!(e.contains(expected), "{e} for {text}");
                    assert!(!e.contains("s3cret"), "{e}");
                }
                (result, _) => panic!("{text}: {:?}", result.map(|u| u.len())),
            }
        }
    }

    #[test]
    fn the_brokers_own_login() {
        let scram = "org.apache.kafka.common.security.scram.ScramLoginModule required \
                     username=\"broker\" password=\"s3cret\";";
        assert_eq!(
            login_from_jaas(scram, "SCRAM-SHA-512").unwrap(),
            ("broker".to_string(), "s3cret".to_string())
        );
        assert!(login_from_jaas(scram, "PLAIN").is_err());
        let plain = "org.apache.kafka.common.security.plain.PlainLoginModule required \
                     username=\"admin\" password=\"pw\" user_admin=\"pw\";";
        assert_eq!(login_from_jaas(plain, "PLAIN").unwrap().0, "admin");
        let no_password = "org.apache.kafka.common.security.scram.ScramLoginModule required \
                           username=\"broker\";";
        let e = login_from_jaas(no_password, "SCRAM-SHA-256").unwrap_err();
        assert!(e.contains("password"), "{e}");
    }
}

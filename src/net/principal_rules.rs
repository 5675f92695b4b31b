//! Kafka's `ssl.principal.mapping.rules` (its `SslPrincipalMapper`): from a
//! client certificate's subject DN (as Java's `X500Principal.getName()`
//! writes it, see `x500_name`) to the principal's name.
//!
//! Owns: parsing the rule list (`RULE:pattern/replacement/[L|U]` and
//! `DEFAULT`, comma-separated; commas inside a pattern are part of it) and
//! applying it: the first rule whose pattern matches the whole DN wins, no
//! match is an error (Kafka's `NoMatchingRule`, which fails the connection).
//! Must not: touch TLS or sockets.
//!
//! Patterns are Java regexes run by the `regex` crate: the common subset is
//! the same, but look-around and back-references are refused when the rules
//! are parsed, and `$` matches only at the very end.

use regex::Regex;

/// A parsed `ssl.principal.mapping.rules`.
#[derive(Debug, Clone)]
pub struct PrincipalMapper {
    rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
enum Rule {
    /// The whole DN.
    Default,
    Replace {
        /// The rule's own text, for messages.
        text: String,
        /// The pattern, for `replaceAll`.
        pattern: Regex,
        /// The pattern anchored at both ends: Java's `matches()` is a
        /// whole-input match, which leftmost-first `find` is not.
        whole: Regex,
        replacement: Vec<Part>,
        case: Case,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Case {
    Keep,
    Lower,
    Upper,
}

/// A piece of a Java replacement string.
#[derive(Debug, Clone, PartialEq)]
enum Part {
    Literal(String),
    Group(usize),
    Named(String),
}

impl PrincipalMapper {
    /// Parses the rules; an empty list (or only commas) maps nothing.
    pub fn parse(rules: &str) -> Result<PrincipalMapper, String> {
        let invalid = |why: String| format!("ssl.principal.mapping.rules: {why} in `{rules}`");
        let text = rules.trim();
        let mut parsed = Vec::new();
        let mut rest = text;
        loop {
            // Empty rules between commas are ignored, as Kafka does.
            rest = rest.trim_start_matches(|c: char| c == ',' || c.is_whitespace());
            if rest.is_empty() {
                break;
            }
            let (rule, after) = parse_rule(rest).map_err(invalid)?;
            parsed.push(rule);
            rest = after.trim_start();
            if !rest.is_empty() && !rest.starts_with(',') {
                return Err(invalid(format!("unexpected `{rest}` after a rule")));
            }
        }
        Ok(PrincipalMapper { rules: parsed })
    }

    /// The principal name for `dn`, or an error when no rule matches.
    pub fn map(&self, dn: &str) -> Result<String, String> {
        for rule in &self.rules {
            if let Some(name) = rule.apply(dn) {
                return Ok(name);
            }
        }
        Err(format!("no rules apply to {dn}, rules {self}"))
    }
}

/// As Kafka writes the rules: `[RULE:pattern/replacement/L, DEFAULT]`.
impl std::fmt::Display for PrincipalMapper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rules: Vec<&str> = self
            .rules
            .iter()
            .map(|r| match r {
                Rule::Default => "DEFAULT",
                Rule::Replace { text, .. } => text,
            })
            .collect();
        write!(f, "[{}]", rules.join(", "))
    }
}

impl Rule {
    fn apply(&self, dn: &str) -> Option<String> {
        let (pattern, whole, replacement, case) = match self {
            Rule::Default => return Some(dn.to_string()),
            Rule::Replace {
                pattern,
                whole,
                replacement,
                case,
                ..
            } => (pattern, whole, replacement, case),
        };
        if !whole.is_match(dn) {
            return None;
        }
        // Java's `replaceAll`: every match, not only the whole-DN one.
        let mut out = String::new();
        let mut last = 0;
        for caps in pattern.captures_iter(dn) {
            let m = caps.get(0).expect("group 0 always participates");
            out.push_str(&dn[last..m.start()]);
            for part in replacement {
                match part {
                    Part::Literal(s) => out.push_str(s),
                    Part::Group(i) => out.push_str(caps.get(*i).map_or("", |g| g.as_str())),
                    Part::Named(n) => out.push_str(caps.name(n).map_or("", |g| g.as_str())),
                }
            }
            last = m.end();
        }
        out.push_str(&dn[last..]);
        Some(match case {
            Case::Keep => out,
            Case::Lower => out.to_lowercase(),
            Case::Upper => out.to_uppercase(),
        })
    }
}

/// One rule at the start of `s`; returns it and what follows it.
fn parse_rule(s: &str) -> Result<(Rule, &str), String> {
    if let Some(rest) = s.strip_prefix("DEFAULT") {
        return Ok((Rule::Default, rest));
    }
    let Some(rest) = s.strip_prefix("RULE:") else {
        return Err(format!("invalid rule at `{s}` (expected DEFAULT or RULE:)"));
    };
    let (pattern_text, rest) = segment(rest).ok_or_else(|| format!("unterminated rule `{s}`"))?;
    let (replacement_text, rest) =
        segment(rest).ok_or_else(|| format!("rule `{s}` has no replacement"))?;
    let (case, rest) = match rest.as_bytes().first() {
        Some(b'L') => (Case::Lower, &rest[1..]),
        Some(b'U') => (Case::Upper, &rest[1..]),
        _ => (Case::Keep, rest),
    };
    let pattern = Regex::new(pattern_text).map_err(|e| format!("pattern `{pattern_text}`: {e}"))?;
    let whole = Regex::new(&format!(r"\A(?:{pattern_text})\z"))
        .map_err(|e| format!("pattern `{pattern_text}`: {e}"))?;
    let replacement = parse_replacement(replacement_text, &pattern)?;
    let suffix = match case {
        Case::Keep => "",
        Case::Lower => "/L",
        Case::Upper => "/U",
    };
    let rule = Rule::Replace {
        text: format!("RULE:{pattern_text}/{replacement_text}{suffix}"),
        pattern,
        whole,
        replacement,
        case,
    };
    Ok((rule, rest))
}

/// Text up to the next unescaped `/` (a backslash escapes any character,
/// and stays in the text) and what follows that slash.
fn segment(s: &str) -> Option<(&str, &str)> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'/' => return Some((&s[..i], &s[i + 1..])),
            _ => i += 1,
        }
    }
    None
}

/// A Java replacement string (`Matcher.appendReplacement`): `\x` is a
/// literal x, `$n` a group, `${name}` a named group. As in Kafka, a `$n`
/// whose first digit names no group is literal text; further digits join
/// the number while it still names a group.
fn parse_replacement(text: &str, pattern: &Regex) -> Result<Vec<Part>, String> {
    let groups = pattern.captures_len() - 1;
    let mut parts = Vec::new();
    let mut literal = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(escaped) => literal.push(escaped),
                None => return Err(format!("replacement `{text}` ends with a lone `\\`")),
            },
            '$' => {
                let Some(&next) = chars.peek() else {
                    return Err(format!("replacement `{text}` ends with a lone `$`"));
                };
                if next == '{' {
                    chars.next();
                    let name: String = chars.by_ref().take_while(|&c| c != '}').collect();
                    if pattern.capture_names().flatten().all(|n| n != name) {
                        return Err(format!("replacement `{text}`: no group named `{name}`"));
                    }
                    parts.push(Part::Literal(std::mem::take(&mut literal)));
                    parts.push(Part::Named(name));
                    continue;
                }
                let Some(first) = next.to_digit(10) else {
                    return Err(format!("replacement `{text}`: illegal group reference"));
                };
                if first as usize > groups {
                    literal.push('$');
                    continue;
                }
                chars.next();
                let mut group = first as usize;
                while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                    let longer = group * 10 + d as usize;
                    if longer > groups {
                        break;
                    }
                    group = longer;
                    chars.next();
                }
                parts.push(Part::Literal(std::mem::take(&mut literal)));
                parts.push(Part::Group(group));
            }
            _ => literal.push(c),
        }
    }
    parts.push(Part::Literal(literal));
    parts.retain(|p| *p != Part::Literal(String::new()));
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::PrincipalMapper;

    fn map(rules: &str, dn: &str) -> Result<String, String> {
        PrincipalMapper::parse(rules).unwrap().map(dn)
    }

    #[test]
    fn kafka_documented_examples() {
        let rules = "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,\
            RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L,\
            RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/L,DEFAULT";
        let m = PrincipalMapper::parse(rules).unwrap();
        assert_eq!(
            m.map("CN=serviceuser,OU=ServiceUsers,O=Unknown,L=Unknown,ST=Unknown,C=Unknown")
                .unwrap(),
            "serviceuser"
        );
        assert_eq!(
            m.map("CN=adminUser,OU=Admin,O=Unknown,L=Unknown,ST=Unknown,C=Unknown")
                .unwrap(),
            "adminuser@admin"
        );
        assert_eq!(m.map("OU=eng,CN=Bob.Smith,O=x").unwrap(), "bob.smith");
        assert_eq!(
            m.map("OU=JavaSoft,O=Sun Microsystems,C=US").unwrap(),
            "OU=JavaSoft,O=Sun Microsystems,C=US"
        );
    }

    #[test]
    fn kafka_mapper_test_cases() {
        let rules = [
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L",
            "RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L",
            "RULE:^cn=(.*?),ou=(.*?),dc=(.*?),dc=(.*?)$/$1@$2/U",
            "RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/U",
            "DEFAULT",
        ]
        .join(", ");
        let m = PrincipalMapper::parse(&rules).unwrap();
        assert_eq!(m.map("CN=Duke,OU=ServiceUsers,O=Org,C=US").unwrap(), "duke");
        assert_eq!(
            m.map("CN=Duke,OU=SME,O=mycp,L=Fulton,ST=MD,C=US").unwrap(),
            "duke@sme"
        );
        assert_eq!(m.map("cn=duke,ou=sme,dc=mycp,dc=com").unwrap(), "DUKE@SME");
        assert_eq!(
            m.map("cN=duke,OU=JavaSoft,O=Sun Microsystems").unwrap(),
            "DUKE"
        );
        // An escaped comma inside a value.
        let m = PrincipalMapper::parse(r"RULE:^CN=((\\, *|\w)+)(,.*|$)/$1/,DEFAULT").unwrap();
        assert_eq!(
            m.map(r"CN=Tkac\, Adam,OU=ITZ,DC=geodis,DC=cz").unwrap(),
            r"Tkac\, Adam"
        );
    }

    #[test]
    fn default_is_the_whole_dn_and_no_match_is_an_error() {
        assert_eq!(
            map("DEFAULT", "CN=alice,OU=eng").unwrap(),
            "CN=alice,OU=eng"
        );
        assert_eq!(map("  DEFAULT  ", "CN=a").unwrap(), "CN=a");
        let err = map("RULE:^CN=(.*?),OU=ops$/$1/", "CN=alice,OU=eng").unwrap_err();
        assert!(err.contains("no rules apply to CN=alice,OU=eng"), "{err}");
        assert!(map("", "CN=a").is_err());
        assert!(map(",  , ,", "CN=a").is_err());
    }

    #[test]
    fn the_pattern_must_match_the_whole_dn() {
        // Leftmost-first `a` would match a prefix; Java's matches() needs all.
        assert_eq!(map("RULE:a|ab/x/", "ab").unwrap(), "xb");
        assert!(map("RULE:CN=alice/x/", "CN=alice,OU=eng").is_err());
    }

    #[test]
    fn replacement_syntax() {
        // $n beyond the groups is literal; digits join while a group exists.
        assert_eq!(map("RULE:(a)(b)/$1@$4/", "ab").unwrap(), "a@$4");
        assert_eq!(map("RULE:(a)(b)/$12/", "ab").unwrap(), "a2");
        assert_eq!(map("RULE:(a)(b)/$0-$2/", "ab").unwrap(), "ab-b");
        assert_eq!(map(r"RULE:(?P<n>a)b/${n}\$\\\//", "ab").unwrap(), r"a$\/");
        assert_eq!(map("RULE:(a)(b)/$2$1/U", "ab").unwrap(), "BA");
        assert!(PrincipalMapper::parse("RULE:a/$x/").is_err());
        assert!(PrincipalMapper::parse("RULE:a/${nope}/").is_err());
    }

    #[test]
    fn splitting_and_escapes() {
        // Kafka's SslPrincipalMapperTest.testRulesSplitting.
        for (rules, parsed) in [
            ("", "[]"),
            ("DEFAULT", "[DEFAULT]"),
            ("RULE://", "[RULE:/]"),
            ("RULE:/.*/", "[RULE:/.*]"),
            ("RULE:/.*/L", "[RULE:/.*/L]"),
            ("RULE://,DEFAULT", "[RULE:/, DEFAULT]"),
            ("  RULE:// ,  DEFAULT  ", "[RULE:/, DEFAULT]"),
            (
                "  RULE:   /     / ,  DEFAULT  ",
                "[RULE:   /     , DEFAULT]",
            ),
            (
                "  RULE:  /     /U   ,DEFAULT  ",
                "[RULE:  /     /U, DEFAULT]",
            ),
            (
                "  RULE:([A-Z]*)/$1/U   ,RULE:([a-z]+)/$1/,   DEFAULT  ",
                "[RULE:([A-Z]*)/$1/U, RULE:([a-z]+)/$1, DEFAULT]",
            ),
            (",   , , ,      , , ,   ", "[]"),
            (",,RULE://,,,DEFAULT,,", "[RULE:/, DEFAULT]"),
            (
                ",  , RULE: /   /    ,,,   DEFAULT, ,   ",
                "[RULE: /   , DEFAULT]",
            ),
            (
                "     ,  , RULE:   /  /U    ,,  ,DEFAULT, ,",
                "[RULE:   /  /U, DEFAULT]",
            ),
            (r"RULE:\/\\\(\)\n\t/\/\//", r"[RULE:\/\\\(\)\n\t/\/\/]"),
            (
                r"RULE:\**\/+/*/L,RULE:\/*\**/**/",
                r"[RULE:\**\/+/*/L, RULE:\/*\**/**]",
            ),
            (
                r"RULE:,RULE:,/,RULE:,\//U,RULE:,/RULE:,/,RULE:,RULE:,/L,RULE:,/L,RULE:, DEFAULT, /DEFAULT/,DEFAULT",
                r"[RULE:,RULE:,/,RULE:,\//U, RULE:,/RULE:,, RULE:,RULE:,/L,RULE:,/L, RULE:, DEFAULT, /DEFAULT, DEFAULT]",
            ),
        ] {
            let mapper = PrincipalMapper::parse(rules).unwrap_or_else(|e| panic!("{rules}: {e}"));
            assert_eq!(mapper.to_string(), parsed, "{rules}");
        }
        for valid in [
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L, DEFAULT",
            "RULE:^cn=(.?),ou=(.?),dc=(.?),dc=(.?)$/$1@$2/U",
            "RULE:^CN=([^,ADEFLTU,]+)(,.*|$)/$1/",
            "RULE:^CN=([^,DEFAULT,]+)(,.*|$)/$1/",
        ] {
            PrincipalMapper::parse(valid).unwrap_or_else(|e| panic!("{valid}: {e}"));
        }
    }

    #[test]
    fn invalid_rules() {
        for bad in [
            "default",
            "DEFAUL",
            "DEFAULT/L",
            "DEFAULT/U",
            "RULE:CN=(.*?),OU=ServiceUsers.*/$1",
            "rule:^CN=(.*?),OU=ServiceUsers.*$/$1/",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L/U",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/L",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/U",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/LU",
            "DEFAULT DEFAULT",
            "RULE:(?=x)/y/",
        ] {
            assert!(PrincipalMapper::parse(bad).is_err(), "{bad} parsed");
        }
    }
}

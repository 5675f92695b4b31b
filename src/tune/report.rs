//! Printing `fjord tune` results: an aligned table for people, JSON for tools.

use std::fmt::Write as _;

use super::parse::format_cpu_list;
use super::{Check, Shards, Status};

pub fn table(checks: &[Check], shards: &Shards) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "fjord tune: {} shard(s) on cpus {}, online cpus {}\n",
        shards.cpus.len(),
        format_cpu_list(&shards.cpus),
        format_cpu_list(&shards.online)
    );
    let width = |f: fn(&Check) -> &str, title: &str| {
        checks
            .iter()
            .map(|c| f(c).chars().count())
            .fold(title.len(), usize::max)
    };
    let name_w = width(|c| &c.name, "CHECK");
    let current_w = width(|c| &c.current, "CURRENT");
    let _ = writeln!(
        out,
        "{:<12} {:<name_w$}  {:<current_w$}  RECOMMENDED",
        "STATUS", "CHECK", "CURRENT"
    );
    for check in checks {
        let _ = writeln!(
            out,
            "{:<12} {:<name_w$}  {:<current_w$}  {}",
            check.status.label(),
            check.name,
            check.current,
            check.recommended
        );
        if let Status::Unavailable(reason) = &check.status {
            let _ = writeln!(out, "{:13}└ {reason}", "");
        } else if let (Status::Differs, Some(note)) = (&check.status, &check.note) {
            let _ = writeln!(out, "{:13}└ {note}", "");
        }
    }
    let count = |label| checks.iter().filter(|c| c.status.label() == label).count();
    let _ = writeln!(
        out,
        "\n{} ok, {} differ, {} unavailable",
        count("ok"),
        count("differs"),
        count("unavailable")
    );
    out
}

pub fn json(checks: &[Check], shards: &Shards) -> String {
    let items: Vec<String> = checks.iter().map(check_json).collect();
    let cpus: Vec<String> = shards.cpus.iter().map(usize::to_string).collect();
    format!(
        "{{\"shard_cpus\":[{}],\"checks\":[{}]}}",
        cpus.join(","),
        items.join(",")
    )
}

fn check_json(check: &Check) -> String {
    let reason = match &check.status {
        Status::Unavailable(reason) => string(reason),
        _ => "null".to_string(),
    };
    let note = check.note.as_deref().map_or("null".to_string(), string);
    format!(
        "{{\"name\":{},\"status\":{},\"current\":{},\"recommended\":{},\"reason\":{reason},\
         \"note\":{note},\"applies\":{}}}",
        string(&check.name),
        string(check.status.label()),
        string(&check.current),
        string(&check.recommended),
        check.pending()
    )
}

/// A JSON string literal.
fn string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(string("a\"b\\c\nd\u{1}"), "\"a\\\"b\\\\c\\nd\\u0001\"");
    }

    #[test]
    fn table_shows_reasons() {
        let checks = [
            Check::new("vm.swappiness", "60", "1").differs_if(true),
            Check::unavailable("clocksource", "tsc", "not present on this host (x)".into()),
        ];
        let shards = Shards {
            cpus: vec![0],
            online: vec![0, 1],
        };
        let text = table(&checks, &shards);
        assert!(
            text.contains("differs      vm.swappiness  60       1"),
            "{text}"
        );
        assert!(text.contains("└ not present on this host (x)"), "{text}");
        assert!(text.contains("0 ok, 1 differ, 1 unavailable"), "{text}");
    }
}

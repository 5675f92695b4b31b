//! The broker's CPU time: utime + stime from `/proc/PID/stat` (all threads
//! of the process), converted with `sysconf(_SC_CLK_TCK)`. Only meaningful
//! when the broker runs on this machine.

/// CPU-seconds the process `pid` has used so far (user + system).
pub fn cpu_seconds(pid: u32) -> Result<f64, String> {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    parse_stat(&text).ok_or_else(|| format!("{path}: unexpected format"))
}

/// Parses a `/proc/PID/stat` line. The command name (field 2) is in
/// parentheses and may hold spaces, so fields are counted after the last ')'.
fn parse_stat(text: &str) -> Option<f64> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ')': field 3 (state) is index 0, so utime (14) is 11, stime (15) 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let ticks = if ticks > 0 { ticks as f64 } else { 100.0 };
    Some((utime + stime) as f64 / ticks)
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_names_with_spaces() {
        let line = "42 (my broker) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0";
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        assert_eq!(super::parse_stat(line), Some(300.0 / ticks));
    }
}

//! The httpwg conformance suite through the socket host in front of the demo upstream
//! (whose `/` reads the request body before answering, as the flow-control tests need).

mod socket_common;

use std::process::Command;

use socket_common::{start, tool};

#[test]
fn httpwg_all_pass() {
    let Some(httpwg) = tool("httpwg", "httpwg_all_pass") else {
        return;
    };
    let s = start(1 << 20);
    // Sequential, with 2 s frame timeouts: a slow answer cannot pass for a closed connection.
    let o = Command::new(httpwg)
        .args(["-a", &s.host.to_string(), "--frame-timeout", "2000"])
        .env("SEQUENTIAL", "1")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let out = strip_ansi(&out);
    let summary = out
        .lines()
        .find_map(|l| l.split("Passed ").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|r| r.split_once('/'))
        .and_then(|(p, t)| Some((p.parse::<u32>().ok()?, t.parse::<u32>().ok()?)));
    let Some((passed, total)) = summary else {
        panic!("no httpwg summary:\n{}", tail(&out));
    };
    let failed: Vec<&str> = out
        .lines()
        .filter(|l| l.to_lowercase().contains("fail") && !l.contains("DEBUG"))
        .collect();
    eprintln!("httpwg through the socket host: {passed}/{total}");
    assert!(
        passed == total && total > 0,
        "httpwg {passed}/{total}; failing:\n{}",
        failed.join("\n")
    );
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters final-byte
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn tail(s: &str) -> &str {
    let start = s.len().saturating_sub(3000);
    let start = (start..s.len())
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(0);
    &s[start..]
}

//! Envoy defines a dynamic module's metrics only while its configuration is made, so the
//! per-rule violation counters (`h2mux_<side>_violations_<rule>`) the .wasm defines on first
//! use are defined up front here. Their names are the string literals of the core's
//! `fn name(self) -> &'static str` of every error type a `Violation` can carry, read from
//! the core's sources at build time: a new rule is picked up without a list to keep.

use std::fmt::Write as _;
use std::path::Path;

const SOURCES: &[&str] = &[
    "../error.rs",
    "../frame/error.rs",
    "../hpack/mod.rs",
    "../message/validate.rs",
    "../h1/error.rs",
];

fn main() {
    let mut names: Vec<String> = Vec::new();
    for src in SOURCES {
        println!("cargo:rerun-if-changed={src}");
        let text = std::fs::read_to_string(src).unwrap_or_else(|e| panic!("{src}: {e}"));
        let body = name_fn(&text).unwrap_or_else(|| panic!("{src}: no `fn name(self)`"));
        for lit in body.split('"').skip(1).step_by(2) {
            if !lit.is_empty()
                && lit
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                names.push(lit.to_string());
            }
        }
    }
    names.sort();
    names.dedup();
    assert!(
        names.len() > 50,
        "too few rule names found: {}",
        names.len()
    );
    let mut out = String::from(
        "/// Every rule name a `Violation` can report (read from the core's sources).\n",
    );
    out.push_str("pub const RULE_NAMES: &[&str] = &[\n");
    for n in &names {
        let _ = writeln!(out, "    {n:?},");
    }
    out.push_str("];\n");
    let dir = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    std::fs::write(Path::new(&dir).join("rule_names.rs"), out).expect("write rule_names.rs");
}

/// The body of the first `fn name(self) -> &'static str` in `text`.
fn name_fn(text: &str) -> Option<&str> {
    let start = text.find("fn name(self) -> &'static str {")?;
    let rest = &text[start..];
    let open = rest.find('{')?;
    let mut depth = 0usize;
    for (i, c) in rest[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(&rest[open..open + i]);
                }
            }
            _ => {}
        }
    }
    None
}

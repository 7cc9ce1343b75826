//! The looks at raw client or server bytes that decide nothing on the wire: the inspector's
//! walk (`h2mux::inspect`) and the route's first-head reader (`relay::route::sniff`).
//!
//! Input: a setup byte, then the bytes looked at. Setup bits 0-1: the inspector's direction
//! (0 auto, 1 client, 2-3 server); bit 2: the bytes begin at the connection's start; bit 3:
//! small bounds (16 frames, 4 KiB of input, 256 bytes kept); bit 4: the route's reader also
//! takes HTTP/1.x. Checked: no panic, the report within its bounds, and a first head read
//! from a prefix of the bytes is the one read from all of them, and bytes found not to be a
//! request never become one (the filter routes on the bytes it holds so far).

use h2mux::inspect::{inspect, Direction, Options};
use h2mux::limits::Config;
use h2mux::relay::route::sniff::{first_head, FirstHead};

/// Prefixes of the input the first-head reader is also given (spread over its length).
const PREFIXES: usize = 48;

pub fn run(data: &[u8]) {
    let Some((&setup, bytes)) = data.split_first() else {
        return;
    };
    let mut options = Options {
        direction: match setup & 3 {
            0 => Direction::Auto,
            1 => Direction::Client,
            _ => Direction::Server,
        },
        from_start: setup & 4 != 0,
        ..Options::default()
    };
    if setup & 8 != 0 {
        options.max_frames = 16;
        options.max_bytes = 4096;
        options.max_kept_bytes = 256;
    }
    let report = inspect(bytes, &options);
    assert!(
        report.frames.len() <= options.max_frames,
        "frames past the bound"
    );
    assert!(
        report.decoded <= bytes.len(),
        "decoded more bytes than given"
    );
    let kept: usize = report
        .blocks
        .iter()
        .flat_map(|b| b.fields.iter())
        .map(|f| f.name.len() + f.value.len())
        .sum();
    assert!(
        kept <= options.max_kept_bytes,
        "kept {kept} bytes of fields"
    );

    let cfg = Config {
        http1: setup & 16 != 0,
        ..Config::default()
    };
    let whole = first_head(bytes, false, &cfg);
    let step = (bytes.len() / PREFIXES).max(1);
    for end in (0..bytes.len()).step_by(step) {
        // A head read early routes the connection: more bytes must read the same head, and
        // bytes found not to be a request never become one. (Which refusal damaged bytes get
        // may still depend on how many have come: routing takes the default for both.)
        match first_head(&bytes[..end], false, &cfg) {
            FirstHead::More => {}
            part @ FirstHead::Request(_) => {
                assert_eq!(part, whole, "read from {end} of {} bytes", bytes.len())
            }
            FirstHead::NotARequest => assert!(
                !matches!(whole, FirstHead::Request(_)),
                "not a request at {end} of {} bytes, then {whole:?}",
                bytes.len()
            ),
        }
    }
}

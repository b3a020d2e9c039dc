//! The debug toolkit's trace reader: any text reads back without
//! panicking; what reads writes the same trace again, and renders (SVG,
//! Mermaid, the text form) without panicking.
#![no_main]

use agentwire_debug::{to_mermaid, to_svg, Trace};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(trace) = Trace::from_json_lines(text) else {
        return;
    };
    let lines = trace.to_json_lines();
    let back = Trace::from_json_lines(&lines).unwrap_or_else(|e| panic!("{lines:?}: {e}"));
    assert_eq!(back, trace);
    let _ = trace.participants();
    let _ = trace.messages().count();
    let _ = to_svg(&trace);
    let _ = to_mermaid(&trace);
    let _ = trace.to_string();
});

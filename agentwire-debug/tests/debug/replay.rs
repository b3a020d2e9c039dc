//! A trace file read back after it was cut short (a run killed while
//! writing it) or damaged: an error that names the line, or the events
//! that are intact; never a panic. Whatever parses can be drawn.

use agentwire_debug::{to_mermaid, to_svg, Trace};

use crate::seeds::jittery;

/// Every prefix of a trace file (cut at every byte): whole lines parse
/// into the events so far; a cut line is an error naming it.
#[tokio::test]
async fn a_trace_cut_anywhere_reads_up_to_the_cut_or_names_the_line() {
    let trace = jittery(21).await;
    let text = trace.to_json_lines();
    assert!(trace.events.len() > 20);
    let mut complete = 0;
    for cut in 0..=text.len() {
        let Some(prefix) = text.get(..cut) else {
            continue; // not a character boundary
        };
        let lines = prefix.lines().count();
        match Trace::from_json_lines(prefix) {
            Ok(back) => {
                assert_eq!(back.events[..], trace.events[..back.events.len()]);
                complete += 1;
            }
            Err(e) => assert!(e.starts_with(&format!("line {lines}:")), "cut {cut}: {e}"),
        }
    }
    // Every cut at a line's end, before and after its newline.
    assert!(complete > trace.events.len(), "{complete}");
}

/// A trace file with one byte changed, at every position, to characters
/// that break JSON or change values: an error naming a line, or a trace
/// that both renderers draw.
#[tokio::test]
async fn a_damaged_trace_is_an_error_or_a_drawable_trace() {
    let trace = jittery(22).await;
    let text = trace.to_json_lines();
    let mut damaged = 0;
    for at in (0..text.len()).step_by(7) {
        for with in [b'9', b'"', b'}', b'\n', b'x'] {
            let mut bytes = text.as_bytes().to_vec();
            bytes[at] = with;
            let Ok(bad) = String::from_utf8(bytes) else {
                continue;
            };
            match Trace::from_json_lines(&bad) {
                Ok(back) => {
                    let svg = to_svg(&back);
                    assert!(svg.ends_with("</svg>\n"));
                    assert!(to_mermaid(&back).starts_with("sequenceDiagram\n"));
                }
                Err(e) => {
                    assert!(e.starts_with("line "), "{e}");
                    damaged += 1;
                }
            }
        }
    }
    assert!(damaged > 0);
}

//! Finding Python's bare `NaN`, `Infinity` and `-Infinity` in JSON text,
//! outside strings, and making text that serde_json can parse from it.

/// A non-finite token's value by its offset in the sanitized text (the
/// offset of the marker string's first character, after its quote).
#[derive(Debug, Default)]
pub(super) struct Markers(Vec<(usize, f64)>);

impl Markers {
    /// The value of the marker string starting at `offset`, if it is one.
    pub(super) fn at(&self, offset: usize) -> Option<f64> {
        self.0
            .binary_search_by_key(&offset, |&(at, _)| at)
            .ok()
            .map(|i| self.0[i].1)
    }
}

/// Whether `text` may hold a non-finite token: a cheap test before
/// [`sanitize`], false for most JSON (no `N` or `I` byte at all).
#[inline]
pub(super) fn may_have_non_finite(text: &[u8]) -> bool {
    memchr::memchr2(b'N', b'I', text).is_some()
}

/// Copies `text` with each bare token outside strings replaced by a string
/// of the same length (`NaN` → `"N"`, `Infinity` → `"Infini"`,
/// `-Infinity` → `"-Infini"`), so offsets (and serde_json's error positions)
/// stay those of `text`; returns the copy and where the markers are. `None`
/// if there is no such token.
///
/// The scan follows JSON's string syntax (quotes and backslash escapes), so
/// the words inside strings are never taken for tokens; on text that is not
/// JSON it still ends, and the parse that follows reports the error.
pub(super) fn sanitize(text: &[u8]) -> Option<(Vec<u8>, Markers)> {
    let mut found: Vec<(usize, usize, f64)> = Vec::new();
    let mut in_string = false;
    let mut i = 0;
    while i < text.len() {
        let b = text[i];
        if in_string {
            match b {
                b'\\' => i += 1,
                b'"' => in_string = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'N' if text[i..].starts_with(b"NaN") => {
                found.push((i, 3, f64::NAN));
                i += 3;
                continue;
            }
            b'I' if text[i..].starts_with(b"Infinity") => {
                if i > 0 && text[i - 1] == b'-' {
                    found.push((i - 1, 9, f64::NEG_INFINITY));
                } else {
                    found.push((i, 8, f64::INFINITY));
                }
                i += 8;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    if found.is_empty() {
        return None;
    }
    let mut out = text.to_vec();
    let mut markers = Vec::with_capacity(found.len());
    for (at, len, value) in found {
        let slot = &mut out[at..at + len];
        slot.fill(b'x');
        slot[0] = b'"';
        slot[len - 1] = b'"';
        // Keep a readable hint of what was there.
        slot[1] = if value.is_nan() {
            b'N'
        } else if value > 0.0 {
            b'I'
        } else {
            b'-'
        };
        markers.push((at + 1, value));
    }
    Some((out, Markers(markers)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_tokens_outside_strings_only() {
        let text = br#"[NaN, "NaN", -Infinity, {"Infinity": Infinity}, "a\"NaN"]"#;
        let (out, markers) = sanitize(text).expect("tokens");
        assert_eq!(out.len(), text.len());
        let parsed: serde_json::Value = serde_json::from_slice(&out).expect("parses");
        assert_eq!(parsed[1], "NaN");
        assert_eq!(parsed[4], "a\"NaN");
        assert_eq!(markers.0.len(), 3);
        assert!(markers.at(2).is_some_and(f64::is_nan));
        assert_eq!(markers.at(14), Some(f64::NEG_INFINITY));
        assert_eq!(markers.at(38), Some(f64::INFINITY));
        assert_eq!(markers.at(3), None);
        assert!(sanitize(br#"["NaN", "Infinity", 1.5]"#).is_none());
    }
}

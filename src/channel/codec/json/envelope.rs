//! Reading the envelope `[kind, id, content]` of plain JSON by hand.
//!
//! serde_json finds the content by reading it as a `RawValue`, about 1,100
//! instructions for a small message, more than decoding the content itself
//! costs later. This reader takes the common text in one pass: two
//! unsigned integers and a content made of plain JSON (strings without
//! `\u` escapes, numbers, literals, arrays and objects up to a modest
//! depth). It is deliberately narrower than JSON: whatever it does not
//! recognise (Python's `NaN`, a `\u` escape, a negative or fractional id,
//! any error) it leaves to serde_json, so what is accepted, and every
//! error message, stay serde_json's.

use std::ops::Range;

/// Nesting deeper than this is left to serde_json (which has its own
/// limit): the reader recurses once per level.
const MAX_DEPTH: usize = 64;

/// The kind code, the id and the byte range of the content of `text`, if
/// this reader recognises the whole of `text` as an envelope; `None` leaves
/// `text` to serde_json.
pub(super) fn read(text: &[u8]) -> Option<(u64, u64, Range<usize>)> {
    let mut r = Reader {
        text,
        at: 0,
        non_ascii: false,
    };
    r.ws();
    r.eat(b'[')?;
    r.ws();
    let code = r.uint()?;
    r.ws();
    r.eat(b',')?;
    r.ws();
    let id = r.uint()?;
    r.ws();
    r.eat(b',')?;
    r.ws();
    let start = r.at;
    r.value(0)?;
    let end = r.at;
    r.ws();
    r.eat(b']')?;
    r.ws();
    if r.at != text.len() {
        return None;
    }
    // Bytes above ASCII appear only inside strings; serde_json wants them
    // to be UTF-8.
    if r.non_ascii {
        std::str::from_utf8(&text[start..end]).ok()?;
    }
    Some((code, id, start..end))
}

struct Reader<'a> {
    text: &'a [u8],
    at: usize,
    non_ascii: bool,
}

impl Reader<'_> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    #[inline]
    fn eat(&mut self, byte: u8) -> Option<()> {
        if self.peek() == Some(byte) {
            self.at += 1;
            Some(())
        } else {
            None
        }
    }

    /// Digits: at least one, no leading zero.
    fn digits(&mut self) -> Option<()> {
        match self.peek()? {
            b'0' => self.at += 1,
            b'1'..=b'9' => {
                while let Some(b'0'..=b'9') = self.peek() {
                    self.at += 1;
                }
            }
            _ => return None,
        }
        Some(())
    }

    /// An unsigned integer that fits a `u64`, without a leading zero (a
    /// fraction or an exponent after it fails the comma that must follow).
    fn uint(&mut self) -> Option<u64> {
        let start = self.at;
        let mut value: u64 = 0;
        while let Some(d @ b'0'..=b'9') = self.peek() {
            value = value.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
            self.at += 1;
        }
        match self.at - start {
            0 => None,
            1 => Some(value),
            _ if self.text[start] == b'0' => None,
            _ => Some(value),
        }
    }

    fn value(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'"' => self.string(),
            b'[' => self.array(depth + 1),
            b'{' => self.object(depth + 1),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        if self.text[self.at..].starts_with(word) {
            self.at += word.len();
            Some(())
        } else {
            None
        }
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, of any size.
    fn number(&mut self) -> Option<()> {
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        self.digits()?;
        if self.peek() == Some(b'.') {
            self.at += 1;
            self.some_digits()?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            self.some_digits()?;
        }
        Some(())
    }

    fn some_digits(&mut self) -> Option<()> {
        let start = self.at;
        while let Some(b'0'..=b'9') = self.peek() {
            self.at += 1;
        }
        (self.at > start).then_some(())
    }

    /// A string whose escapes are all of one character (`\u` is left to
    /// serde_json, which checks surrogates).
    fn string(&mut self) -> Option<()> {
        self.at += 1;
        loop {
            let byte = self.peek()?;
            self.at += 1;
            match byte {
                b'"' => return Some(()),
                b'\\' => match self.peek()? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.at += 1,
                    _ => return None,
                },
                0..=0x1f => return None,
                0x80.. => self.non_ascii = true,
                _ => {}
            }
        }
    }

    fn array(&mut self, depth: usize) -> Option<()> {
        if !self.open(depth, b']')? {
            return Some(());
        }
        loop {
            self.value(depth)?;
            if !self.more(b']')? {
                return Some(());
            }
        }
    }

    fn object(&mut self, depth: usize) -> Option<()> {
        if !self.open(depth, b'}')? {
            return Some(());
        }
        loop {
            if self.peek()? != b'"' {
                return None;
            }
            self.string()?;
            self.ws();
            self.eat(b':')?;
            self.ws();
            self.value(depth)?;
            if !self.more(b'}')? {
                return Some(());
            }
        }
    }

    /// Past the opening bracket of an array or object at `depth`: whether
    /// an element follows (`false`: it was empty, `close` is read too).
    fn open(&mut self, depth: usize, close: u8) -> Option<bool> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.at += 1;
        self.ws();
        if self.peek()? == close {
            self.at += 1;
            return Some(false);
        }
        Some(true)
    }

    /// After an element: whether another follows (a comma), or the
    /// container ends here (`close`, read too).
    fn more(&mut self, close: u8) -> Option<bool> {
        self.ws();
        let byte = self.peek()?;
        self.at += 1;
        if byte == b',' {
            self.ws();
            Some(true)
        } else if byte == close {
            Some(false)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::value::RawValue;

    use super::*;

    /// What serde_json makes of `text`: `(kind, id, content range)`.
    fn serde_json_reads(text: &[u8]) -> Option<(u64, u64, Range<usize>)> {
        let (code, id, raw) = serde_json::from_slice::<(u64, u64, &RawValue)>(text).ok()?;
        let start = raw.get().as_ptr() as usize - text.as_ptr() as usize;
        Some((code, id, start..start + raw.get().len()))
    }

    /// Whatever this reader accepts, serde_json reads the same way.
    fn agrees(text: &[u8]) -> bool {
        match read(text) {
            Some(ours) => serde_json_reads(text) == Some(ours),
            None => true,
        }
    }

    #[test]
    fn reads_plain_messages_as_serde_json_does() {
        let texts: &[&[u8]] = &[
            br#"[0, 7, ["agents/0/add", [1, 2], {}]]"#,
            br#"[1,0,3]"#,
            b" \t[ 2 ,\n18446744073709551615 , \"Traceback:\\n\\t\\\"x\\\"\" ]\r\n",
            br#"[1, 1, {"a": [], "b": [1, -2.5e-3, 0, 1E+9, true, false, null]}]"#,
            "[1, 1, \"caf\u{e9} \u{1F600}\"]".as_bytes(),
            br#"[1, 1, [[[[[[]]]]]]]"#,
            br#"[1, 1, 123456789012345678901234567890]"#,
            br#"[1, 1, {"k": {"k": {}}, "l": "\/"}]"#,
        ];
        for text in texts {
            let ours = read(text);
            assert!(ours.is_some(), "{}", String::from_utf8_lossy(text));
            assert_eq!(
                ours,
                serde_json_reads(text),
                "{}",
                String::from_utf8_lossy(text)
            );
        }
    }

    #[test]
    fn leaves_the_rest_to_serde_json() {
        let texts: &[&[u8]] = &[
            b"",
            b"[",
            b"[0, 1]",
            b"[0, 1, 2, 3]",
            b"[0, 1, 2] x",
            b"[-1, 1, 2]",
            b"[0, 1.0, 2]",
            b"[0, 1e2, 2]",
            b"[01, 1, 2]",
            b"[0, 18446744073709551616, 2]",
            b"[0, 1, NaN]",
            b"[0, 1, [1, -Infinity]]",
            br#"[0, 1, "\ud800"]"#,
            br#"[0, 1, "\x"]"#,
            b"[0, 1, \"a\nb\"]",
            b"[0, 1, [1, 2,]]",
            b"[0, 1, {\"a\" 1}]",
            b"[0, 1, {1: 2}]",
            b"[0, 1, 01]",
            b"[0, 1, 1.]",
            b"[0, 1, -]",
            b"[0, 1, tru]",
            b"[0, 1, \"\xff\"]",
            b"[0, 1, \"unterminated]",
        ];
        for text in texts {
            assert_eq!(read(text), None, "{}", String::from_utf8_lossy(text));
        }
        let deep = format!("[0, 1, {}{}]", "[".repeat(100), "]".repeat(100));
        assert_eq!(read(deep.as_bytes()), None);
    }

    /// JSON-like text: mostly valid, with leaves that are not (`\\u`
    /// without digits, a lone surrogate, `NaN`, `01`, `1e`, …).
    fn json_like() -> impl Strategy<Value = String> {
        let leaf = proptest::sample::select(vec![
            "0",
            "-1",
            "1.5e3",
            "2E-7",
            "-0",
            "true",
            "null",
            r#""a""#,
            r#""\u0041""#,
            r#""\ud800""#,
            r#""\udc00\ud800""#,
            r#""é""#,
            "NaN",
            "-Infinity",
            r#""\n\t\/""#,
            r#""\u""#,
            r#""\x""#,
            "1e",
            "01",
            "1.",
            "tru",
            "\"\t\"",
            "\"\u{7f}\"",
        ])
        .prop_map(|leaf: &str| leaf.to_owned());
        leaf.prop_recursive(5, 48, 6, |inner| {
            prop_oneof![
                (
                    proptest::collection::vec(inner.clone(), 0..6),
                    any::<bool>()
                )
                    .prop_map(|(items, tight)| format!(
                        "[{}]",
                        items.join(if tight { "," } else { ", " })
                    )),
                proptest::collection::vec((Just(r#""k""#), inner), 0..4).prop_map(|fields| {
                    let fields: Vec<String> =
                        fields.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                    format!("{{{}}}", fields.join(", "))
                }),
            ]
        })
    }

    proptest! {
        /// Envelopes of JSON-like content, some with one byte changed: this
        /// reader never accepts one that serde_json reads otherwise or
        /// rejects.
        #[test]
        fn never_disagrees_with_serde_json(
            content in json_like(),
            kind in 0u64..4,
            id in any::<u64>(),
            change in proptest::option::of((any::<usize>(), proptest::sample::select(
                b"[]{},:\" \\\n0-.eu\xff\x01".to_vec(),
            ))),
        ) {
            let mut text = format!("[{kind}, {id}, {content}]").into_bytes();
            if let Some((at, byte)) = change {
                let at = at % text.len();
                text[at] = byte;
            }
            prop_assert!(agrees(&text), "{}", String::from_utf8_lossy(&text));
        }

        /// Unchanged, content without the leaves that are not plain JSON is
        /// read here, not left to serde_json.
        #[test]
        fn reads_valid_plain_content(content in json_like(), id in any::<u64>()) {
            let text = format!("[1, {id}, {content}]");
            let plain = serde_json::from_str::<serde_json::Value>(&content).is_ok()
                && !content.contains("\\u");
            if plain {
                prop_assert!(read(text.as_bytes()).is_some(), "{}", text);
            }
        }
    }
}

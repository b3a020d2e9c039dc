//! [`Quoted`]: a peer's text as an error names it.

use std::fmt;

/// A peer's text in an error, quoted and escaped as `{:?}` does, cut after
/// [`QUOTED_MAX`] bytes: an error names the input without echoing a
/// megabyte of it (escaping can make it several times longer).
pub(crate) struct Quoted<'a>(pub(crate) &'a str);

/// How many bytes of a peer's text [`Quoted`] shows.
const QUOTED_MAX: usize = 200;

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0;
        if text.len() <= QUOTED_MAX {
            return write!(f, "{text:?}");
        }
        let mut end = QUOTED_MAX;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        write!(f, "{:?}… ({} bytes)", &text[..end], text.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_quoted_whole() {
        assert_eq!(Quoted("add").to_string(), r#""add""#);
        assert_eq!(Quoted("a\u{1}").to_string(), r#""a\u{1}""#);
    }

    #[test]
    fn long_text_is_cut_on_a_character_boundary() {
        // 'é' is two bytes: byte 200 falls inside one.
        let text = format!("x{}", "é".repeat(150));
        let shown = Quoted(&text).to_string();
        assert!(
            shown.ends_with(&format!("… ({} bytes)", text.len())),
            "{shown}"
        );
        let quoted = shown.split('…').next().unwrap_or_default();
        assert_eq!(quoted, format!("{:?}", &text[..199]));
    }
}

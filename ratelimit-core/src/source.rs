//! Rules as text: exactly what goes between the braces of `ratelimit! { … }` (comments
//! included), read from a file or a string at run time, and checked by the same
//! [parser](crate::parse) and [checks](crate::check) as the macro, with the same messages.
//!
//! Every error comes with its line and column in the text ([`Diagnostic`]), and
//! [`SourceError::render`] writes them as rustc does: the message, `--> FILE:LINE:COL`, and
//! the line with a caret under the offending token. Input of any kind is an error, never a
//! panic: text over [`MAX_SOURCE_BYTES`], bytes that are not UTF-8, characters Rust does not
//! lex, and brackets nested deeper than [`MAX_NESTING`] (the grammar needs two levels) are
//! each a [`SourceError`].
//!
//! ```
//! use ratelimit_core::source::parse_source;
//!
//! let routes = parse_source(b"// the API\n\"^/api\" => [second = 10],").expect("valid");
//! assert_eq!(routes[0].pattern().source(), "^/api");
//!
//! let error = parse_source(b"\"^/api\" => [secnd = 10],").expect_err("a typo");
//! let first = &error.diagnostics()[0];
//! assert_eq!((first.line(), first.column()), (1, 13));
//! assert!(first.message().starts_with("unknown key `secnd`; did you mean `second`?"));
//! ```

use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use annotate_snippets::{AnnotationKind, Level, Renderer, Snippet};
use proc_macro2::{Delimiter, TokenStream, TokenTree};

use crate::check::check_routes;
use crate::model::Route;
use crate::parse::parse_routes;

/// The largest rules text accepted: 1 MiB (a rules file of thousands of routes is a few
/// hundred kilobytes).
pub const MAX_SOURCE_BYTES: usize = 1 << 20;

/// The deepest nesting of brackets accepted. The grammar needs two (a route's `[…]`, and a
/// group in a value); anything deeper is refused before the parser sees it.
pub const MAX_NESTING: usize = 16;

/// One mistake in rules text, and where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    message: String,
    line: usize,
    column: usize,
    range: Range<usize>,
}

impl Diagnostic {
    /// What is wrong and how to fix it: for the DSL's checks, the compile error's message.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The line of the mistake's first character, from 1.
    #[must_use]
    pub const fn line(&self) -> usize {
        self.line
    }

    /// The column of the mistake's first character, from 1, in characters (as rustc counts).
    #[must_use]
    pub const fn column(&self) -> usize {
        self.column
    }

    /// The bytes of the text the mistake spans (empty at the end of the text).
    #[must_use]
    pub fn byte_range(&self) -> Range<usize> {
        self.range.clone()
    }

    /// A diagnostic at `range` of `text`, its line and column computed from it.
    fn at(text: &str, range: Range<usize>, message: String) -> Self {
        let (line, column) = line_column(text, range.start);
        Self {
            message,
            line,
            column,
            range,
        }
    }
}

/// `LINE:COLUMN: message`; prefix the file's name for the `FILE:LINE:COL: message` of a log.
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

/// Why rules text was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The text is longer than [`MAX_SOURCE_BYTES`].
    #[error("the rules are longer than the limit of {limit} bytes")]
    TooLarge {
        /// The text's length in bytes (of a file, as much as was read: at least `limit + 1`).
        size: usize,
        /// The limit, [`MAX_SOURCE_BYTES`].
        limit: usize,
    },
    /// The text is not UTF-8: the diagnostic is at the first byte that is not.
    #[error("{0}")]
    NotUtf8(Diagnostic),
    /// The text does not lex, nests too deeply, or breaks the grammar or its checks: every
    /// mistake found, in the text's order for the checks (a syntax error stops the parse, so
    /// it comes alone).
    #[error("{}{}", .0[0], more(.0.len()))]
    Invalid(Vec<Diagnostic>),
}

fn more(count: usize) -> String {
    match count {
        0 | 1 => String::new(),
        2 => " (and 1 more error)".to_owned(),
        n => format!(" (and {} more errors)", n - 1),
    }
}

impl SourceError {
    /// Every located mistake (none for [`SourceError::TooLarge`]).
    #[must_use]
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            Self::TooLarge { .. } => &[],
            Self::NotUtf8(diagnostic) => std::slice::from_ref(diagnostic),
            Self::Invalid(diagnostics) => diagnostics,
        }
    }

    /// Every mistake as rustc writes a compile error: `error: message`, `--> path:LINE:COL`
    /// and the line of `source` (the text that was parsed) with a caret under the mistake;
    /// the errors separated by a blank line. Plain text, no colours.
    #[must_use]
    pub fn render(&self, path: &str, source: &[u8]) -> String {
        let text = String::from_utf8_lossy(source);
        let renderer = Renderer::plain();
        match self {
            Self::TooLarge { .. } => {
                let report = [Level::ERROR
                    .primary_title(self.to_string())
                    .element(annotate_snippets::Origin::path(path))];
                renderer.render(&report)
            }
            Self::NotUtf8(diagnostic) => {
                // A lossy copy has other byte offsets: show where, without a snippet.
                let report = [Level::ERROR.primary_title(diagnostic.message()).element(
                    annotate_snippets::Origin::path(path)
                        .line(diagnostic.line())
                        .char_column(diagnostic.column() - 1),
                )];
                renderer.render(&report)
            }
            Self::Invalid(diagnostics) => diagnostics
                .iter()
                .map(|diagnostic| {
                    let report = [Level::ERROR.primary_title(diagnostic.message()).element(
                        Snippet::source(&*text)
                            .path(path)
                            .annotation(AnnotationKind::Primary.span(diagnostic.byte_range())),
                    )];
                    renderer.render(&report)
                })
                .collect::<Vec<_>>()
                .join("\n\n"),
        }
    }
}

/// Parses and checks rules text: what goes between the braces of `ratelimit! { … }`.
///
/// The routes are those the macro would build from the same text: the same parser, the same
/// checks, the same patterns (a regex is compiled here to check it).
///
/// This parses with `proc_macro2` outside a compiler, which keeps the text of each parse in
/// a table of the current thread to give line and column; the table is emptied before this
/// returns, so spans that other code holds on this thread from `proc_macro2`'s parsing of
/// strings are invalidated too.
///
/// # Errors
///
/// A [`SourceError`] with every mistake, each located in the text.
pub fn parse_source(bytes: &[u8]) -> Result<Vec<Route>, SourceError> {
    if bytes.len() > MAX_SOURCE_BYTES {
        return Err(SourceError::TooLarge {
            size: bytes.len(),
            limit: MAX_SOURCE_BYTES,
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|err| {
        let valid = &bytes[..err.valid_up_to()];
        let valid = std::str::from_utf8(valid).unwrap_or_default();
        let at = err.valid_up_to();
        let (line, column) = line_column(valid, valid.len());
        SourceError::NotUtf8(Diagnostic {
            message: "the rules are not UTF-8 text: this byte is not".to_owned(),
            line,
            column,
            range: at..at + 1,
        })
    })?;
    let result = parse_text(text);
    proc_macro2::extra::invalidate_current_thread_spans();
    result.map_err(SourceError::Invalid)
}

/// Lexes, bounds the nesting, parses and checks `text`.
fn parse_text(text: &str) -> Result<Vec<Route>, Vec<Diagnostic>> {
    let tokens = TokenStream::from_str(text).map_err(|err| {
        let range = located(text, err.span().byte_range());
        vec![Diagnostic::at(
            text,
            range,
            "cannot read the rules as tokens from here: an unterminated string or comment, an \
             unbalanced bracket, or a character Rust does not allow"
                .to_owned(),
        )]
    })?;
    if let Some(range) = too_deep(tokens.clone()) {
        return Err(vec![Diagnostic::at(
            text,
            located(text, range),
            format!(
                "brackets nested more than {MAX_NESTING} deep; the rules need two levels at most"
            ),
        )]);
    }
    parse_routes(tokens)
        .and_then(|input| check_routes(&input))
        .map_err(|error| {
            error
                .into_iter()
                .map(|error| {
                    let range = located(text, error.span().byte_range());
                    Diagnostic::at(text, range, error.to_string())
                })
                .collect()
        })
}

/// The byte range of the first group nested deeper than [`MAX_NESTING`], if any; iterative,
/// so that no input can exhaust the stack.
fn too_deep(tokens: TokenStream) -> Option<Range<usize>> {
    let mut stack = vec![tokens.into_iter()];
    while let Some(level) = stack.last_mut() {
        match level.next() {
            Some(TokenTree::Group(group)) => {
                if stack.len() >= MAX_NESTING && group.delimiter() != Delimiter::None {
                    return Some(group.span_open().byte_range());
                }
                stack.push(group.stream().into_iter());
            }
            Some(_) => {}
            None => {
                stack.pop();
            }
        }
    }
    None
}

/// `range` as a place in `text`: a span with no place (the end of the input, where syn
/// reports an unexpected end) is just after the text's last token.
fn located(text: &str, range: Range<usize>) -> Range<usize> {
    if range.start == 0 && range.end == 0 && !text.is_empty() {
        // `Span::call_site()`, or the very start: the text's first token starts after any
        // whitespace, so a real error at 0..0 is only an empty text's.
        let end = text.trim_end().len();
        return end..end;
    }
    range.start.min(text.len())..range.end.min(text.len())
}

/// The 1-based line and character column of byte `offset` of `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |at| at + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diagnostics(text: &[u8]) -> Vec<(usize, usize, String)> {
        parse_source(text)
            .expect_err("invalid")
            .diagnostics()
            .iter()
            .map(|d| (d.line(), d.column(), d.message().to_owned()))
            .collect()
    }

    #[test]
    fn comments_and_the_macro_s_grammar_are_accepted() {
        let routes = parse_source(
            br#"
            // towns: one a second
            "^/towns" => [second = 1 @default, unlimited @admin],
            /* a block
               comment */
            r"^/user/\d+" => [minute = 200 zone = "user-api"],
            "#,
        )
        .expect("valid");
        assert_eq!(routes.len(), 2);
        assert_eq!(routes[1].rules()[0].zone(), Some("user-api"));
        assert!(parse_source(b"").expect("no routes").is_empty());
    }

    #[test]
    fn every_check_error_is_at_its_line_and_column() {
        let found = diagnostics(b"\"towns\" => [secnd = 1],\n  \"^/a\" => [minute = 0],");
        assert_eq!(found.len(), 3, "{found:?}");
        assert_eq!((found[0].0, found[0].1), (1, 1));
        assert!(found[0].2.starts_with("this pattern can never match"));
        assert_eq!((found[1].0, found[1].1), (1, 13));
        assert_eq!((found[2].0, found[2].1), (2, 22));
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let found = diagnostics("/* é */ \"^/a\" => [secnd = 1]".as_bytes());
        assert_eq!((found[0].0, found[0].1), (1, 19));
    }

    #[test]
    fn a_syntax_error_at_the_end_points_at_the_end() {
        let text = b"\"^/a\" =>\n\n";
        let error = parse_source(text).expect_err("no rules");
        let diagnostic = &error.diagnostics()[0];
        assert_eq!(diagnostic.byte_range(), 8..8);
        assert_eq!((diagnostic.line(), diagnostic.column()), (1, 9));
    }

    #[test]
    fn hostile_input_is_an_error() {
        let huge = vec![b' '; MAX_SOURCE_BYTES + 1];
        assert!(matches!(
            parse_source(&huge),
            Err(SourceError::TooLarge { .. })
        ));
        let found = diagnostics(b"\"^/a\" => [\n second = 1 \xff]");
        assert_eq!((found[0].0, found[0].1), (2, 13));
        assert!(matches!(
            parse_source(b"\x00\x01binary"),
            Err(SourceError::Invalid(_))
        ));
        let deep = "[".repeat(100_000) + &"]".repeat(100_000);
        let found = diagnostics(deep.as_bytes());
        assert!(
            found[0].2.starts_with("brackets nested more than"),
            "{found:?}"
        );
        assert_eq!(diagnostics(b"\"^/a\" => [second = \"1]")[0].0, 1);
    }

    #[test]
    fn errors_render_as_rustc_does() {
        let text = b"\"^/towns\" => [secnd = 1],\n";
        let rendered = parse_source(text)
            .expect_err("a typo")
            .render("limits.rl", text);
        assert!(
            rendered.starts_with("error: unknown key `secnd`; did you mean `second`?"),
            "{rendered}"
        );
        assert!(
            rendered.contains(
                " --> limits.rl:1:15\n  |\n1 | \"^/towns\" => [secnd = 1],\n  |               ^^^^^"
            ),
            "{rendered}"
        );
        let display = parse_source(text).expect_err("a typo").to_string();
        assert!(display.starts_with("1:15: unknown key"), "{display}");
    }
}

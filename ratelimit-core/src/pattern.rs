//! Route patterns: a regex source, analysed once into the cheapest way to match it.
//!
//! A pattern matches a path the way Python's `re.match` does: anchored at the start of the
//! path, not at its end (`"^/towns"` and `"/towns"` mean the same, and both match
//! `/townsfolk`; a `$` makes a pattern exact). The analysis ([`Pattern::analyze`]) decides
//! what can be decided before any request:
//!
//! - a pattern that is a plain string (`"^/towns"`) is a prefix test, no regex at all;
//! - a plain string ending in `$` (`"^/health$"`) is an equality test;
//! - any other pattern is a regex, compiled on first use, and tried only on paths that
//!   start with the literal prefix every match must start with (`/user/` for
//!   `r"^/user/\d+"`).
//!
//! It also refuses what would fail later or never match: invalid syntax (the `regex` crate's
//! own message), look-around and back-references (which that crate lacks), a regex too big
//! to compile, and a pattern that cannot match any path (paths start with `/`).

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::sync::OnceLock;

use regex_automata::hybrid::dfa::DFA;
use regex_automata::util::syntax;
use regex_automata::{Anchored, Input, meta};
use regex_syntax::hir::{Hir, HirKind, Look, literal};

use crate::bytes::{path_head, same_bytes};

/// Why a pattern was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PatternError {
    /// The pattern is not valid `regex` crate syntax.
    #[error("invalid regex: {0}")]
    Syntax(String),
    /// The pattern uses look-ahead or look-behind.
    #[error(
        "look-around (`(?=…)`, `(?!…)`, `(?<=…)`, `(?<!…)`) is not supported by the `regex` crate; \
         rewrite the pattern without it, for instance with a more specific route declared first"
    )]
    LookAround,
    /// The pattern uses a back-reference.
    #[error(
        "back-references (`\\1`, `\\k<name>`) are not supported by the `regex` crate; \
         rewrite the pattern without them"
    )]
    Backreference,
    /// The pattern is valid but compiles to more than the `regex` crate's size limit.
    #[error("the pattern compiles to a regex that is too big ({0}); simplify it")]
    TooBig(String),
    /// No request path can ever match the pattern.
    #[error("this pattern can never match: request paths start with `/`{}", fix_hint(.0))]
    NeverMatches(Option<String>),
}

fn fix_hint(fix: &Option<String>) -> String {
    fix.as_ref()
        .map(|fix| format!("; write {fix:?}"))
        .unwrap_or_default()
}

/// A route pattern and the cheapest way to match it.
#[derive(Clone)]
pub struct Pattern {
    source: Cow<'static, str>,
    kind: Kind,
    /// The first bytes (up to 8) every matching path starts with, little-endian, and the
    /// mask of those bytes: computed when the pattern is made (at compile time for
    /// `ratelimit!`), they reject most paths in one comparison.
    head: Head,
}

/// Up to the first 8 bytes of a literal, as a masked word.
#[derive(Clone, Copy, Debug)]
struct Head {
    word: u64,
    mask: u64,
}

impl Head {
    const fn of(literal: &str) -> Self {
        let bytes = literal.as_bytes();
        let (mut word, mut mask, mut index) = (0_u64, 0_u64, 0);
        while index < bytes.len() && index < 8 {
            word |= (bytes[index] as u64) << (8 * index);
            mask |= 0xff << (8 * index);
            index += 1;
        }
        Self { word, mask }
    }

    /// Whether a path whose [`path_head`] is `head` may start with the literal: its first
    /// bytes (zeros past its end) agree with the literal's, as far as they go.
    #[inline(always)]
    const fn admits(self, head: u64) -> bool {
        (head ^ self.word) & self.mask == 0
    }
}

#[derive(Clone)]
enum Kind {
    Prefix(Cow<'static, str>),
    Exact(Cow<'static, str>),
    Regex {
        prefix: Cow<'static, str>,
        compiled: OnceLock<Option<meta::Regex>>,
    },
}

/// How a [`Pattern`] is matched, as decided by [`Pattern::analyze`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatternKind<'a> {
    /// The path starts with this literal.
    Prefix(&'a str),
    /// The path is this literal.
    Exact(&'a str),
    /// The path starts with `prefix` and the regex matches at its start.
    Regex {
        /// A literal every match starts with (possibly empty).
        prefix: &'a str,
    },
}

impl Pattern {
    /// Analyses a pattern's source: see the [module docs](self).
    ///
    /// # Errors
    ///
    /// A [`PatternError`] when the source is not a valid `regex` crate pattern, is too big
    /// to compile, or can never match a request path.
    pub fn analyze(source: &str) -> Result<Self, PatternError> {
        let hir = regex_syntax::ParserBuilder::new()
            .build()
            .parse(source)
            .map_err(syntax_error)?;
        // Compile it once, with the same engine and settings the run time uses, so that a
        // pattern accepted here cannot fail there.
        let compiled = build(source).map_err(|err| match err.syntax_error() {
            Some(err) => syntax_error(err.clone()),
            None => PatternError::TooBig(error_chain(&err)),
        })?;
        if !can_match_a_path(source) {
            return Err(PatternError::NeverMatches(suggest_fix(source)));
        }
        let source = Cow::Owned(source.to_owned());
        let kind = match plain_literal(&hir) {
            Some((literal, false)) => Kind::Prefix(Cow::Owned(literal)),
            Some((literal, true)) => Kind::Exact(Cow::Owned(literal)),
            None => {
                // Compiled again on first use, as the macro's patterns are: a pattern that is
                // never tried costs no regex.
                drop(compiled);
                Kind::Regex {
                    prefix: Cow::Owned(common_prefix(&hir)),
                    compiled: OnceLock::new(),
                }
            }
        };
        let head = match &kind {
            Kind::Prefix(literal)
            | Kind::Exact(literal)
            | Kind::Regex {
                prefix: literal, ..
            } => Head::of(literal),
        };
        Ok(Self { source, kind, head })
    }

    /// A pattern that is a plain prefix test, as [`Pattern::analyze`] decided at compile
    /// time.
    ///
    /// # Panics
    ///
    /// When `literal` is neither empty nor starts with `/`; in a `const` or `static`
    /// initializer (as `ratelimit!` uses it) that is a compile error.
    #[must_use]
    pub const fn prefix(source: &'static str, literal: &'static str) -> Self {
        assert!(
            literal.is_empty() || literal.as_bytes()[0] == b'/',
            "a prefix that can match a path starts with `/`"
        );
        Self {
            source: Cow::Borrowed(source),
            kind: Kind::Prefix(Cow::Borrowed(literal)),
            head: Head::of(literal),
        }
    }

    /// A pattern that is a plain equality test, as [`Pattern::analyze`] decided at compile
    /// time.
    ///
    /// # Panics
    ///
    /// When `literal` does not start with `/`; in a `const` or `static` initializer that is
    /// a compile error.
    #[must_use]
    pub const fn exact(source: &'static str, literal: &'static str) -> Self {
        assert!(
            !literal.is_empty() && literal.as_bytes()[0] == b'/',
            "a path starts with `/`"
        );
        Self {
            source: Cow::Borrowed(source),
            kind: Kind::Exact(Cow::Borrowed(literal)),
            head: Head::of(literal),
        }
    }

    /// A regex pattern that [`Pattern::analyze`] accepted at compile time, with the literal
    /// prefix it found; the regex is compiled on first use.
    ///
    /// This is what `ratelimit!` emits. A source that `analyze` would refuse never matches
    /// anything (it cannot panic), so build patterns from strings with `analyze`.
    #[doc(hidden)]
    #[must_use]
    pub const fn regex_checked_by_macro(source: &'static str, prefix: &'static str) -> Self {
        Self {
            source: Cow::Borrowed(source),
            kind: Kind::Regex {
                prefix: Cow::Borrowed(prefix),
                compiled: OnceLock::new(),
            },
            head: Head::of(prefix),
        }
    }

    /// The pattern as written.
    #[must_use]
    pub fn source(&self) -> &str {
        &self.source
    }

    /// How the pattern is matched.
    #[must_use]
    pub fn kind(&self) -> PatternKind<'_> {
        match &self.kind {
            Kind::Prefix(literal) => PatternKind::Prefix(literal),
            Kind::Exact(literal) => PatternKind::Exact(literal),
            Kind::Regex { prefix, .. } => PatternKind::Regex { prefix },
        }
    }

    /// A literal that every path this pattern matches starts with (possibly empty).
    #[must_use]
    pub fn required_prefix(&self) -> &str {
        match &self.kind {
            Kind::Prefix(literal) | Kind::Exact(literal) => literal,
            Kind::Regex { prefix, .. } => prefix,
        }
    }

    /// Whether every path this pattern matches is matched by `self` too, as far as can be
    /// proven without running the regexes: `self` is a plain prefix that `other`'s required
    /// prefix starts with.
    #[must_use]
    pub fn covers(&self, other: &Self) -> bool {
        match &self.kind {
            Kind::Prefix(literal) => other.required_prefix().starts_with(&**literal),
            Kind::Exact(literal) => matches!(&other.kind, Kind::Exact(o) if o == literal),
            Kind::Regex { .. } => false,
        }
    }

    /// Whether the pattern matches `path`, anchored at its start (the query string, if
    /// any, must already be removed).
    #[must_use]
    pub fn is_match(&self, path: &str) -> bool {
        self.is_match_with_head(path, path_head(path))
    }

    /// [`is_match`](Self::is_match), given the path's [`path_head`] (computed once to match
    /// one path against many patterns): most patterns rule most paths out in one comparison
    /// of their first bytes.
    #[doc(hidden)]
    #[inline]
    #[must_use]
    pub fn is_match_with_head(&self, path: &str, head: u64) -> bool {
        self.head.admits(head) && self.matches(path)
    }

    /// [`is_match`](Self::is_match) without the first look at the head. The literal kinds
    /// (most routes) are compared inline; only a regex is a call.
    #[inline]
    fn matches(&self, path: &str) -> bool {
        match &self.kind {
            Kind::Prefix(literal) => starts_with(path, literal),
            Kind::Exact(literal) => same_bytes(path.as_bytes(), literal.as_bytes()),
            Kind::Regex { prefix, compiled } => {
                starts_with(path, prefix) && self.regex_matches(compiled, path)
            }
        }
    }

    /// Whether the compiled regex (compiled now, the first time) matches `path`.
    #[inline(never)]
    fn regex_matches(&self, compiled: &OnceLock<Option<meta::Regex>>, path: &str) -> bool {
        compiled
            .get_or_init(|| build(&self.source).ok())
            .as_ref()
            .is_some_and(|re| re.is_match(Input::new(path).anchored(Anchored::Yes)))
    }
}

/// Whether `path` starts with `prefix`, by [`same_bytes`].
#[inline]
fn starts_with(path: &str, prefix: &str) -> bool {
    path.as_bytes()
        .get(..prefix.len())
        .is_some_and(|head| same_bytes(head, prefix.as_bytes()))
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pattern")
            .field("source", &self.source)
            .field("kind", &self.kind())
            .finish()
    }
}

/// Builds the run-time regex: the `regex` crate's engine and defaults.
#[allow(
    clippy::result_large_err,
    reason = "built once per pattern, never on the request path"
)]
fn build(source: &str) -> Result<meta::Regex, meta::BuildError> {
    meta::Builder::new()
        .syntax(syntax::Config::new())
        .build(source)
}

/// An error's message followed by its sources', as `a: b: c`.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(err) = source {
        message = format!("{message}: {err}");
        source = err.source();
    }
    message
}

fn syntax_error(err: regex_syntax::Error) -> PatternError {
    use regex_syntax::ast::ErrorKind;
    match &err {
        regex_syntax::Error::Parse(parse) => match parse.kind() {
            ErrorKind::UnsupportedLookAround => PatternError::LookAround,
            ErrorKind::UnsupportedBackreference => PatternError::Backreference,
            _ => PatternError::Syntax(err.to_string()),
        },
        _ => PatternError::Syntax(err.to_string()),
    }
}

/// The literal a pattern is, and whether it must match the whole path (`$`), when the
/// pattern is nothing but an optional `^`, a literal and an optional `$`.
fn plain_literal(hir: &Hir) -> Option<(String, bool)> {
    let items: &[Hir] = match hir.kind() {
        HirKind::Concat(items) => items,
        _ => std::slice::from_ref(hir),
    };
    let items = match items {
        [first, rest @ ..] if matches!(first.kind(), HirKind::Look(Look::Start)) => rest,
        _ => items,
    };
    let (items, exact) = match items {
        [rest @ .., last] if matches!(last.kind(), HirKind::Look(Look::End)) => (rest, true),
        _ => (items, false),
    };
    let literal = match items {
        [] => String::new(),
        [single] => match single.kind() {
            HirKind::Literal(literal) => String::from_utf8(literal.0.to_vec()).ok()?,
            HirKind::Empty => String::new(),
            _ => return None,
        },
        _ => return None,
    };
    Some((literal, exact))
}

/// The longest literal that every match of the pattern starts with.
fn common_prefix(hir: &Hir) -> String {
    let seq = literal::Extractor::new().extract(hir);
    let bytes = seq.longest_common_prefix().unwrap_or_default();
    let valid = match std::str::from_utf8(bytes) {
        Ok(all) => all,
        // Cut at the last whole character: a prefix of a prefix still holds.
        Err(err) => std::str::from_utf8(&bytes[..err.valid_up_to()]).unwrap_or_default(),
    };
    valid.to_owned()
}

/// Whether some path (a string starting with `/`) can match the pattern at its start.
///
/// Runs the anchored lazy DFA over one `/`, then searches the states reachable from there
/// for a match. Anything the DFA cannot decide (too many states, a Unicode word boundary)
/// counts as "can match": only a pattern proven useless is refused.
fn can_match_a_path(source: &str) -> bool {
    const MAX_STATES: usize = 2_048;
    let Ok(dfa) = DFA::builder()
        .configure(DFA::config().cache_capacity(64 << 20))
        .build(source)
    else {
        return true;
    };
    let mut cache = dfa.create_cache();
    let input = Input::new("/").anchored(Anchored::Yes);
    let Ok(start) = dfa.start_state_forward(&mut cache, &input) else {
        return true;
    };
    let Ok(first) = dfa.next_state(&mut cache, start, b'/') else {
        return true;
    };
    // A match state after `/` means the empty string matched before it.
    if first.is_match() {
        return true;
    }
    let mut seen = HashSet::from([first]);
    let mut pending = vec![first];
    while let Some(state) = pending.pop() {
        if state.is_dead() {
            continue;
        }
        if state.is_match() || state.is_quit() || seen.len() > MAX_STATES {
            return true;
        }
        match dfa.next_eoi_state(&mut cache, state) {
            Ok(eoi) if !eoi.is_match() && !eoi.is_quit() => {}
            _ => return true,
        }
        for byte in 0..=u8::MAX {
            let Ok(next) = dfa.next_state(&mut cache, state, byte) else {
                return true;
            };
            if seen.insert(next) {
                pending.push(next);
            }
        }
    }
    false
}

/// The fix for a pattern that never matches because it forgot the leading `/`.
fn suggest_fix(source: &str) -> Option<String> {
    let body = source.strip_prefix('^').unwrap_or(source);
    let fixed = format!("^/{body}");
    can_match_a_path(&fixed).then_some(fixed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn analyze(source: &str) -> Pattern {
        Pattern::analyze(source).expect("a valid pattern")
    }

    #[test]
    fn plain_strings_are_prefix_tests() {
        assert_eq!(analyze("^/towns").kind(), PatternKind::Prefix("/towns"));
        assert_eq!(analyze("/towns").kind(), PatternKind::Prefix("/towns"));
        assert_eq!(analyze("^").kind(), PatternKind::Prefix(""));
        assert_eq!(analyze("").kind(), PatternKind::Prefix(""));
        assert_eq!(analyze(r"^/a\.b").kind(), PatternKind::Prefix("/a.b"));
    }

    #[test]
    fn a_trailing_dollar_makes_an_equality_test() {
        assert_eq!(analyze("^/health$").kind(), PatternKind::Exact("/health"));
        let exact = analyze("/health$");
        assert!(exact.is_match("/health"));
        assert!(!exact.is_match("/healthz"));
    }

    #[test]
    fn regexes_keep_their_literal_prefix() {
        assert_eq!(
            analyze(r"^/user/\d+").kind(),
            PatternKind::Regex { prefix: "/user/" }
        );
        assert_eq!(
            analyze(r"^/(a|b)").kind(),
            PatternKind::Regex { prefix: "/" }
        );
        assert_eq!(
            analyze(r"(?i)^/towns").kind(),
            PatternKind::Regex { prefix: "/" }
        );
    }

    #[test]
    fn matching_is_anchored_at_the_start_only() {
        let user = analyze(r"/user/\d+");
        assert!(user.is_match("/user/12"));
        assert!(user.is_match("/user/12/edit"));
        assert!(!user.is_match("/x/user/12"));
        assert!(!user.is_match("/user/x"));
        let digits = analyze(r"^/\d+");
        assert!(digits.is_match("/10"));
        assert!(!digits.is_match("/a10"));
        let prefix = analyze("/towns");
        assert!(prefix.is_match("/townsfolk"));
        assert!(!prefix.is_match("/x/towns"));
    }

    #[test]
    fn invalid_regexes_carry_the_regex_crate_message() {
        let Err(PatternError::Syntax(message)) = Pattern::analyze("??.*") else {
            panic!("expected a syntax error");
        };
        assert!(
            message.contains("repetition operator missing expression"),
            "{message}"
        );
    }

    #[test]
    fn unsupported_features_are_named() {
        assert_eq!(
            Pattern::analyze("^/a(?=b)").err(),
            Some(PatternError::LookAround)
        );
        assert_eq!(
            Pattern::analyze("^/a(?<!b)").err(),
            Some(PatternError::LookAround)
        );
        assert_eq!(
            Pattern::analyze(r"^/(a)\1").err(),
            Some(PatternError::Backreference)
        );
    }

    #[test]
    fn a_pattern_that_matches_only_the_empty_path_has_no_fix_when_none_helps() {
        assert_eq!(
            Pattern::analyze("[a&&b]").err(),
            Some(PatternError::NeverMatches(None))
        );
    }

    #[test]
    fn oversized_regexes_are_refused() {
        assert!(matches!(
            Pattern::analyze(r"^/\w{1000}{1000}"),
            Err(PatternError::TooBig(_))
        ));
    }

    #[test]
    fn patterns_that_cannot_match_a_path_are_refused_with_a_fix() {
        assert_eq!(
            Pattern::analyze("towns").err(),
            Some(PatternError::NeverMatches(Some("^/towns".into())))
        );
        assert_eq!(
            Pattern::analyze("^towns").err(),
            Some(PatternError::NeverMatches(Some("^/towns".into())))
        );
        assert_eq!(
            Pattern::analyze("^$").err(),
            Some(PatternError::NeverMatches(Some("^/$".into())))
        );
        assert_eq!(
            Pattern::analyze(r"^\d+").err(),
            Some(PatternError::NeverMatches(Some(r"^/\d+".into())))
        );
        assert_eq!(
            PatternError::NeverMatches(Some("^/towns".into())).to_string(),
            "this pattern can never match: request paths start with `/`; write \"^/towns\""
        );
    }

    #[test]
    fn patterns_that_match_the_empty_string_match_every_path() {
        assert!(analyze("a*").is_match("/anything"));
        assert!(analyze("(/x)?").is_match("/y"));
    }

    #[test]
    fn paths_are_matched_by_their_first_bytes() {
        for path in ["", "/", "/ab", "/abc", "/abcdef", "/abcdefg", "/abcdefgh/i"] {
            let mut first = [0; 8];
            let len = path.len().min(8);
            first[..len].copy_from_slice(&path.as_bytes()[..len]);
            assert_eq!(path_head(path), u64::from_le_bytes(first), "{path}");
        }
        let health = analyze("^/health$");
        assert!(health.is_match_with_head("/health", path_head("/health")));
        assert!(!health.is_match_with_head("/heal", path_head("/heal")));
        assert!(!health.is_match_with_head("/about", path_head("/about")));
        assert!(analyze(r"^\d*").is_match_with_head("/x", path_head("/x")));
        assert!(starts_with("/health", "/heal"));
        assert!(starts_with("/health", ""));
        assert!(!starts_with("/heal", "/health"));
        assert!(!starts_with("/hEalth", "/heal"));
    }

    #[test]
    fn coverage_is_proven_from_literal_prefixes() {
        let api = analyze("^/api");
        assert!(analyze("^/").covers(&api));
        assert!(api.covers(&analyze(r"^/api/v\d+")));
        assert!(api.covers(&analyze("^/api/x$")));
        assert!(!api.covers(&analyze("^/ap")));
        assert!(!analyze(r"^/\w+").covers(&api));
    }
}

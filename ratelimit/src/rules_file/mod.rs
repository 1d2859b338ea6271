//! Rules read at run time, from text or a file (feature `rules-file`): the grammar of
//! `ratelimit! { … }` (exactly what goes between its braces, comments included), checked by
//! the macro's own parser and checks, with the same messages.
//!
//! ```
//! use ratelimit::Rules;
//!
//! let rules = Rules::parse(r#"
//!     // one a second; admins unlimited
//!     "^/towns" => [second = 1, unlimited @admin],
//! "#).expect("valid rules");
//! assert_eq!(rules.routes()[0].pattern().source(), "^/towns");
//!
//! let error = Rules::parse(r#""^/towns" => [secnd = 1]"#).expect_err("a typo");
//! let typo = &error.diagnostics()[0];
//! assert_eq!((typo.line(), typo.column()), (1, 15));
//! assert!(typo.message().starts_with("unknown key `secnd`; did you mean `second`?"));
//! ```
//!
//! Rules read at run time match exactly as the macro's: the same matcher (literal prefixes
//! and exact paths decided when the rules are read, a regex compiled on its first use and
//! tried only behind its literal prefix). Each error has its line and column;
//! [`RulesFileError::render`] writes them as rustc writes compile errors, and
//! [`RulesFileError::log_lines`] as `FILE:LINE:COL: message`.
//!
//! A [`RateLimitLayer`](crate::RateLimitLayer) made
//! [`reloadable`](crate::RateLimitLayer::reloadable) takes new rules while it serves, and a
//! [`RulesWatcher`] reloads a file into it whenever the file changes.

mod watch;

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

pub use ratelimit_core::source::{Diagnostic, MAX_NESTING, MAX_SOURCE_BYTES, SourceError};
pub use watch::RulesWatcher;

use crate::rules::Rules;

impl Rules {
    /// Parses and checks rules text: what goes between the braces of `ratelimit! { … }`.
    /// See the [module docs](crate::rules_file).
    ///
    /// The routes are leaked (see [`Rules::from_routes`]): parse once per change of the
    /// rules.
    ///
    /// # Errors
    ///
    /// A [`SourceError`] with every mistake, each at its line and column: the same messages
    /// as the macro's compile errors.
    pub fn parse(text: &str) -> Result<Self, SourceError> {
        Self::parse_bytes(text.as_bytes())
    }

    /// [`Rules::parse`] of bytes, which may be anything: text over [`MAX_SOURCE_BYTES`],
    /// bytes that are not UTF-8 or brackets nested deeper than [`MAX_NESTING`] are errors.
    ///
    /// # Errors
    ///
    /// A [`SourceError`] with every mistake, each at its line and column.
    pub fn parse_bytes(bytes: &[u8]) -> Result<Self, SourceError> {
        ratelimit_core::source::parse_source(bytes).map(Self::from_routes)
    }

    /// Reads and parses a rules file; see [`Rules::parse`].
    ///
    /// # Errors
    ///
    /// [`RulesFileError::Read`] when the file cannot be read, and
    /// [`RulesFileError::Invalid`] when its rules are not valid; [`RulesFileError::render`]
    /// writes either for a person.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, RulesFileError> {
        let path = path.as_ref();
        let bytes = read_rules_file(path)?;
        Self::parse_bytes(&bytes).map_err(|error| RulesFileError::Invalid {
            path: path.to_owned(),
            bytes,
            error,
        })
    }
}

/// Why a rules file was not loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RulesFileError {
    /// The file could not be read.
    #[error("cannot read the rules file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The file's rules are not valid.
    #[error("{}:{error}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The file's contents, for [`render`](RulesFileError::render).
        bytes: Vec<u8>,
        /// Every mistake, each at its line and column.
        #[source]
        error: SourceError,
    },
}

impl RulesFileError {
    /// The error as rustc writes compile errors: each mistake with `--> FILE:LINE:COL` and
    /// its line with a caret under it.
    #[must_use]
    pub fn render(&self) -> String {
        match self {
            Self::Read { .. } => format!("error: {self}"),
            Self::Invalid { path, bytes, error } => {
                error.render(&path.display().to_string(), bytes)
            }
        }
    }

    /// One line per mistake, `FILE:LINE:COL: message` (`FILE: message` for a mistake
    /// without a place): what a log shows.
    #[must_use]
    pub fn log_lines(&self) -> Vec<String> {
        match self {
            Self::Read { .. } => vec![self.to_string()],
            Self::Invalid { path, error, .. } => {
                let path = path.display();
                match error.diagnostics() {
                    [] => vec![format!("{path}: {error}")],
                    diagnostics => diagnostics
                        .iter()
                        .map(|diagnostic| format!("{path}:{diagnostic}"))
                        .collect(),
                }
            }
        }
    }
}

/// The bytes of a rules file, at most one more than [`MAX_SOURCE_BYTES`] (so that a larger
/// file is refused as such without being read whole).
pub(crate) fn read_rules_file(path: &Path) -> Result<Vec<u8>, RulesFileError> {
    let read = || -> io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        let limit = u64::try_from(MAX_SOURCE_BYTES).unwrap_or(u64::MAX) + 1;
        File::open(path)?.take(limit).read_to_end(&mut bytes)?;
        Ok(bytes)
    };
    read().map_err(|source| RulesFileError::Read {
        path: path.to_owned(),
        source,
    })
}

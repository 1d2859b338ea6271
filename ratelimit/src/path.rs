//! The path a request is matched and counted by: the path the client asked for (the whole of
//! it, also inside a nested router), its percent-decoded spelling, and the bounded form a
//! pool key holds.
//!
//! A client chooses how it spells a path, and a router decodes escapes before a handler sees
//! them (`/user/%31` reaches `Path<u32>` as `1`). So a route applies to a request when its
//! pattern matches the raw path **or** the decoded one, and a pool is keyed by the decoded
//! spelling: `/user/1` and `/user/%31` are one pool. A client also chooses how long a path
//! is: a pool key keeps at most [`KEPT_PATH`] bytes of it whole, and a longer path is keyed
//! by its first bytes and a BLAKE3 digest of all of it.

use std::borrow::Cow;

use http::{Extensions, Uri};
use percent_encoding::percent_decode_str;
use ratelimit_core::__private::path_head;

/// The longest path, in bytes, that a pool key holds as it is.
pub(crate) const KEPT_PATH: usize = 120;

/// How many bytes of a longer path its key keeps before the digest (fewer when a character
/// would be cut). Together with the 64 hex digits of the digest and the `#` between them, a
/// digested key is always longer than [`KEPT_PATH`], so it never equals a path kept whole.
const DIGESTED_HEAD: usize = 64;

/// The path of the request the client sent, without its query: axum's `OriginalUri` when a
/// router put one in the extensions (a layer inside `Router::nest` sees the path with the
/// nest's prefix stripped, and rules are written for the whole path), else the URI's.
#[inline(always)]
pub(crate) fn routed_path<'a>(uri: &'a Uri, extensions: &'a Extensions) -> &'a str {
    match extensions.get::<axum::extract::OriginalUri>() {
        Some(original) => original.0.path(),
        None => uri.path(),
    }
}

/// `path` with its percent-escapes decoded, when it has any: `None` when it has none (no
/// `%`, or only ones not followed by two hex digits, which stay as they are). Bytes that do
/// not decode to UTF-8 (`%ff`) become U+FFFD, as nothing a router would accept either.
pub(crate) fn decoded(path: &str) -> Option<String> {
    if !has_escape(path) {
        return None;
    }
    match percent_decode_str(path).decode_utf8_lossy() {
        Cow::Borrowed(_) => None,
        Cow::Owned(decoded) => Some(decoded),
    }
}

/// Whether `path` has a `%`, eight bytes at a time (most paths are one or two words).
#[inline]
pub(crate) fn has_escape(path: &str) -> bool {
    let bytes = path.as_bytes();
    if bytes.len() <= 8 {
        // All of the path's bytes, and zeros.
        return has_percent(path_head(path));
    }
    let (words, _) = bytes.as_chunks::<8>();
    // The last word overlaps the others where the length is not a multiple of eight.
    words
        .iter()
        .chain(bytes.last_chunk::<8>())
        .any(|word| has_percent(u64::from_le_bytes(*word)))
}

/// Whether a byte of `word` is `%` (the classic test for a zero byte, of `word` xor `%`s).
#[inline(always)]
const fn has_percent(word: u64) -> bool {
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);
    let x = word ^ u64::from_le_bytes([b'%'; 8]);
    x.wrapping_sub(ONES) & !x & HIGHS != 0
}

/// The path part of the key of a pool counted per path: the decoded spelling of `path`
/// ([`decoded`]), as it is up to [`KEPT_PATH`] bytes, or else its first bytes, `#` and the
/// hex BLAKE3 digest of all of it (at most 129 bytes, whatever the path's length). Borrows
/// `path` when it is short and has no escapes: then it costs a look at each word of it.
#[inline]
pub(crate) fn pool_path(path: &str) -> Cow<'_, str> {
    if path.len() <= KEPT_PATH && !has_escape(path) {
        Cow::Borrowed(path)
    } else {
        Cow::Owned(odd_pool_path(path))
    }
}

/// [`pool_path`] of a path that is long or has escapes.
#[cold]
#[inline(never)]
fn odd_pool_path(path: &str) -> String {
    let path = decoded(path).map_or(Cow::Borrowed(path), Cow::Owned);
    if path.len() <= KEPT_PATH {
        path.into_owned()
    } else {
        digested(&path)
    }
}

/// The key of a path longer than [`KEPT_PATH`] bytes.
fn digested(path: &str) -> String {
    let mut head = DIGESTED_HEAD;
    while !path.is_char_boundary(head) {
        head -= 1;
    }
    let digest = blake3::hash(path.as_bytes());
    let mut key = String::with_capacity(head + 1 + 64);
    key.push_str(path.get(..head).unwrap_or_default());
    key.push('#');
    key.push_str(digest.to_hex().as_str());
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_percent_is_found_wherever_it_is() {
        for len in 0..40 {
            let plain = "a".repeat(len);
            assert!(!has_escape(&plain), "{len}");
            for at in 0..len {
                let mut bytes = plain.clone().into_bytes();
                bytes[at] = b'%';
                let path = String::from_utf8(bytes).expect("ASCII");
                assert!(has_escape(&path), "{path}");
            }
        }
        // Bytes next to `%` in value do not trip the test.
        assert!(!has_escape("/$&$&$&$&$&$&$&$&\u{e5}\u{a5}"));
        assert!(has_escape("/\u{e9}t\u{e9}%"));
    }

    #[test]
    fn escapes_are_decoded_and_bad_ones_kept() {
        assert_eq!(decoded("/user/1"), None);
        assert_eq!(decoded("/user/%31").as_deref(), Some("/user/1"));
        assert_eq!(decoded("/a%2Fb").as_deref(), Some("/a/b"));
        assert_eq!(decoded("/%zz"), None, "not an escape: kept");
        assert_eq!(decoded("/%"), None);
        assert_eq!(decoded("/%4"), None);
        assert_eq!(decoded("/%ff").as_deref(), Some("/\u{fffd}"));
        assert_eq!(decoded("/%C3%A9%zz").as_deref(), Some("/é%zz"));
        // Decoded once, as a router does: `%2531` is `%31`, not `1`.
        assert_eq!(decoded("/%2531").as_deref(), Some("/%31"));
    }

    #[test]
    fn short_paths_are_kept_and_spellings_share_a_key() {
        assert!(matches!(pool_path("/user/1"), Cow::Borrowed("/user/1")));
        assert_eq!(pool_path("/user/%31"), "/user/1");
        let longest = format!("/{}", "a".repeat(KEPT_PATH - 1));
        assert_eq!(pool_path(&longest), longest.as_str());
    }

    #[test]
    fn long_paths_are_digested_into_a_bounded_key() {
        let long = format!("/forests/{}", "x".repeat(60_000));
        let key = pool_path(&long);
        assert_eq!(key.len(), DIGESTED_HEAD + 1 + 64);
        assert!(key.starts_with("/forests/xxx"));
        assert!(key.len() > KEPT_PATH, "never equal to a path kept whole");

        // Paths that differ anywhere get different keys; equal ones the same.
        let other = format!("{long}y");
        assert_ne!(pool_path(&other), key);
        assert_eq!(pool_path(&long.clone()), key);

        // A spelling with escapes is keyed as its decoded form.
        let escaped = long.replacen("forests", "fore%73ts", 1);
        assert_eq!(pool_path(&escaped), key);

        // A cut never splits a character.
        let wide = format!("/{}", "é".repeat(200));
        let key = pool_path(&wide);
        assert!(key.len() > KEPT_PATH && key.len() <= DIGESTED_HEAD + 1 + 64);
        assert!(key.starts_with("/éé"));
    }

    #[test]
    fn the_original_uri_is_the_routed_path() {
        let uri: Uri = "/users/7?x=1".parse().expect("a uri");
        let mut extensions = Extensions::new();
        assert_eq!(routed_path(&uri, &extensions), "/users/7");
        let original: Uri = "/api/users/7?x=1".parse().expect("a uri");
        extensions.insert(axum::extract::OriginalUri(original));
        assert_eq!(routed_path(&uri, &extensions), "/api/users/7");
    }
}

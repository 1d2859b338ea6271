//! Short byte strings compared inline, for the code every request runs.
//!
//! Route literals, group names and the parts of rate-limit keys are short, and for them a
//! call to `memcmp` (what `==` on slices and `str::starts_with` become) costs more than the
//! comparison itself: matching 20 literal routes took twice as long with it. Used by the
//! route patterns, rule selection and the in-memory backend's keys.
//!
//! Not public API: `ratelimit` reaches these through `crate::__private`.

/// Whether `a` and `b` are equal: a word at a time, the last word overlapping the one
/// before, and short slices in at most two loads each.
#[inline(always)]
#[must_use]
pub fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let len = a.len();
    if len != b.len() {
        return false;
    }
    if len >= 8 {
        let word = |bytes: &[u8], at: usize| {
            bytes
                .get(at..at + 8)
                .and_then(|word| word.try_into().ok())
                .map_or(0, u64::from_ne_bytes)
        };
        let mut at = 0;
        while at + 8 < len {
            if word(a, at) != word(b, at) {
                return false;
            }
            at += 8;
        }
        word(a, len - 8) == word(b, len - 8)
    } else if len >= 4 {
        let word = |bytes: &[u8], at: usize| {
            bytes
                .get(at..at + 4)
                .and_then(|word| word.try_into().ok())
                .map_or(0, u32::from_ne_bytes)
        };
        (word(a, 0) ^ word(b, 0)) | (word(a, len - 4) ^ word(b, len - 4)) == 0
    } else {
        // 0 to 3 bytes: the first, the middle and the last cover them all.
        let byte = |bytes: &[u8], at: usize| bytes.get(at).copied().unwrap_or(0);
        len == 0
            || (byte(a, 0) ^ byte(b, 0))
                | (byte(a, len / 2) ^ byte(b, len / 2))
                | (byte(a, len - 1) ^ byte(b, len - 1))
                == 0
    }
}

/// The first 8 bytes of `path` as a little-endian word (zeros past its end), for
/// [`Pattern::is_match_with_head`](crate::Pattern::is_match_with_head): computed once for all the routes a path is matched
/// against.
#[inline]
#[must_use]
pub fn path_head(path: &str) -> u64 {
    let bytes = path.as_bytes();
    let len = bytes.len();
    if let Some(first) = bytes.first_chunk::<8>() {
        return u64::from_le_bytes(*first);
    }
    let word = |at: usize| {
        bytes
            .get(at..at + 4)
            .and_then(|word| word.try_into().ok())
            .map_or(0, u32::from_le_bytes)
    };
    if len >= 4 {
        // Two overlapping words: the bytes they share are the same in both.
        u64::from(word(0)) | (u64::from(word(len - 4)) << (8 * (len - 4)))
    } else {
        bytes.iter().enumerate().fold(0, |head, (index, byte)| {
            head | (u64::from(*byte) << (8 * index))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_bytes_is_slice_equality() {
        let text = b"0123456789abcdefghijklmnopqrstuvwxyz";
        for a in 0..text.len() {
            for b in 0..text.len() {
                assert_eq!(same_bytes(&text[..a], &text[..b]), a == b);
                assert_eq!(
                    same_bytes(&text[1..a.max(1)], &text[..a.max(1) - 1]),
                    a <= 1
                );
            }
        }
        for len in 0..=text.len() {
            let mut other = *text;
            for index in 0..len {
                other[index] ^= 1;
                assert!(!same_bytes(&text[..len], &other[..len]), "{len} {index}");
                other[index] ^= 1;
            }
            assert!(same_bytes(&text[..len], &other[..len]));
        }
    }
}

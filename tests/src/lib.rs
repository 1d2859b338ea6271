//! Integration tests of `ratelimit` live in `tests/`; this library is empty.

//! The cases, generic over the [`Harness`](ratelimit_tests::harness::Harness), by theme.

pub(crate) mod blocks;
pub(crate) mod concurrency;
pub(crate) mod counting;
pub(crate) mod limits;
pub(crate) mod pools;
pub(crate) mod windows;

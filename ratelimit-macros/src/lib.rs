//! Procedural macros for the [`ratelimit`](https://docs.rs/ratelimit) crate. Use them through
//! `ratelimit`, which re-exports them and documents them.

mod expand;

use proc_macro::TokenStream;

/// Declares rate-limit rules, checked at compile time; see `ratelimit::ratelimit!`.
#[proc_macro]
pub fn ratelimit(input: TokenStream) -> TokenStream {
    expand::ratelimit(input.into()).into()
}

//! Procedural macros for the [`ratelimit`](https://docs.rs/ratelimit) crate. Use them through
//! `ratelimit`, which re-exports them and documents them.

mod include_rules;
mod model_tokens;
mod rate_limited;
mod ratelimit;

use proc_macro::TokenStream;

/// Declares rate-limit rules, checked at compile time; see `ratelimit::ratelimit!`.
#[proc_macro]
pub fn ratelimit(input: TokenStream) -> TokenStream {
    ratelimit::ratelimit(input.into()).into()
}

/// Limits an axum handler with a rule list; see `ratelimit::rate_limited`.
#[proc_macro_attribute]
pub fn rate_limited(args: TokenStream, item: TokenStream) -> TokenStream {
    rate_limited::rate_limited(args.into(), item.into()).into()
}

/// Rules from a file, checked at compile time; see `ratelimit::include_rules!`.
#[proc_macro]
pub fn include_rules(input: TokenStream) -> TokenStream {
    include_rules::include_rules(input.into()).into()
}

//! `include_rules!("FILE")`: a rules file read, parsed and checked at compile time, then
//! expanded as `ratelimit! { … }` with the same text would be.
//!
//! The file is parsed from its text, not from tokens the compiler hands the macro, so that
//! each error can name its line and column in the file: `proc_macro2` is switched to its own
//! implementation (which knows where a token came from in a string) for the parse and check
//! only, and back before anything is expanded. Each error is a compile error at the path's
//! literal whose message starts `FILE:LINE:COL:`. The expansion includes the file's bytes
//! (`include_bytes!`), so that a change to the file rebuilds the crate.

use std::path::{Path, PathBuf};

use proc_macro2::TokenStream;
use quote::quote;
use ratelimit_core::source::{SourceError, parse_source};
use syn::LitStr;

use crate::ratelimit::expand_routes;

/// The macro's entry point, on `proc_macro2` tokens.
pub(crate) fn include_rules(input: TokenStream) -> TokenStream {
    let path: LitStr = match syn::parse2(input) {
        Ok(path) => path,
        Err(_) => {
            return error_expr(&[syn::Error::new(
                proc_macro2::Span::call_site(),
                "expected the path of a rules file, relative to the crate's directory (where \
                 its Cargo.toml is), as in `include_rules!(\"limits.rl\")`",
            )]);
        }
    };
    let written = path.value();
    let full = match std::env::var_os("CARGO_MANIFEST_DIR") {
        Some(dir) => PathBuf::from(dir).join(&written),
        None => PathBuf::from(&written),
    };
    let bytes = match std::fs::read(&full) {
        Ok(bytes) => bytes,
        Err(err) => {
            return error_expr(&[syn::Error::new(
                path.span(),
                format!(
                    "cannot read the rules file `{written}` (a path relative to the crate's \
                     directory, where its Cargo.toml is): {err}"
                ),
            )]);
        }
    };
    match parse_outside_the_compiler(&bytes) {
        Ok(routes) => {
            let tracked = tracked(&full);
            let rules = expand_routes(&routes);
            quote! {
                {
                    #tracked
                    #rules
                }
            }
        }
        Err(error) => {
            let errors: Vec<syn::Error> = match error.diagnostics() {
                [] => vec![syn::Error::new(path.span(), format!("{written}: {error}"))],
                diagnostics => diagnostics
                    .iter()
                    .map(|diagnostic| {
                        syn::Error::new(path.span(), format!("{written}:{diagnostic}"))
                    })
                    .collect(),
            };
            error_expr(&errors)
        }
    }
}

/// [`parse_source`] on `proc_macro2`'s own implementation, whose tokens know their line and
/// column in the text (the compiler's tokens from a string would all be at the macro call).
/// Nothing built during the switch (spans, tokens) outlives it: the result holds only the
/// model and strings.
fn parse_outside_the_compiler(bytes: &[u8]) -> Result<Vec<ratelimit_core::Route>, SourceError> {
    struct Restore;
    impl Drop for Restore {
        fn drop(&mut self) {
            proc_macro2::fallback::unforce();
        }
    }
    proc_macro2::fallback::force();
    let _restore = Restore;
    parse_source(bytes)
}

/// An item that makes the crate depend on the file: a change to it rebuilds the crate.
fn tracked(full: &Path) -> TokenStream {
    let full = full.display().to_string();
    quote!(
        const _: &[u8] = ::core::include_bytes!(#full);
    )
}

/// Every error, then a value of the right type (as `ratelimit!` does on errors).
fn error_expr(errors: &[syn::Error]) -> TokenStream {
    let errors = errors.iter().map(syn::Error::to_compile_error);
    quote! {
        {
            #(#errors)*
            ::ratelimit::__private::Rules::from_static(&[])
        }
    }
}

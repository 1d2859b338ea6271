//! `#[rate_limited(…)]`: parse and check the rule list, then add the limiter's guard to the
//! handler.
//!
//! The handler is emitted with its attributes, visibility, name, generics, parameters, return
//! type and body as written, plus one leading extractor parameter (`_:
//! RateLimitGuard<…>`): axum runs it before the other extractors (so a body extractor can
//! stay last, and a limited request is refused before its body is read). On any error in
//! the attribute the function is emitted unchanged next to the errors, so no follow-on
//! "cannot find function" errors appear.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use ratelimit_core::check::check_rules;
use ratelimit_core::parse::parse_rules;
use syn::parse::{Parse, ParseStream};
use syn::{FnArg, ItemFn, LitStr};

use crate::model_tokens::rules_static;

/// The attribute's entry point, on `proc_macro2` tokens.
pub(crate) fn rate_limited(args: TokenStream, item: TokenStream) -> TokenStream {
    let function: ItemFn = match syn::parse2(item.clone()) {
        Ok(function) => function,
        Err(_) => {
            let error = syn::Error::new(
                Span::call_site(),
                "`#[rate_limited]` applies to an `async fn` handler",
            )
            .to_compile_error();
            return quote!(#item #error);
        }
    };
    match check(args, &function) {
        Ok(rules) => expand(function, &rules),
        Err(error) => {
            let error = error.to_compile_error();
            quote!(#function #error)
        }
    }
}

/// A route pattern where only rules belong: `"^/towns" => …`.
struct StrayPattern(LitStr);

impl Parse for StrayPattern {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let pattern = input.parse()?;
        input.parse::<TokenStream>()?;
        Ok(Self(pattern))
    }
}

/// Every error of the attribute and the function's shape, accumulated.
fn check(args: TokenStream, function: &ItemFn) -> syn::Result<Vec<ratelimit_core::Rule>> {
    let mut errors: Vec<syn::Error> = Vec::new();
    if function.sig.asyncness.is_none() {
        errors.push(syn::Error::new(
            function.sig.fn_token.span,
            "`#[rate_limited]` applies to an `async fn` handler; add `async` before `fn`",
        ));
    }
    if let Some(receiver) = function.sig.inputs.iter().find_map(|arg| match arg {
        FnArg::Receiver(receiver) => Some(receiver),
        FnArg::Typed(_) => None,
    }) {
        errors.push(syn::Error::new_spanned(
            receiver,
            "`#[rate_limited]` applies to a free `async fn` handler, not to a method",
        ));
    }
    let rules = match syn::parse2::<StrayPattern>(args.clone()) {
        Ok(StrayPattern(pattern)) => Err(syn::Error::new(
            pattern.span(),
            "a route pattern does not belong in `#[rate_limited]`: the handler's rules apply \
             to every request it serves; write the rules alone, as in \
             `#[rate_limited(second = 10)]`",
        )),
        Err(_) => parse_rules(args).and_then(|input| check_rules(&input, Span::call_site())),
    };
    let rules = match rules {
        Ok(rules) => Some(rules),
        Err(error) => {
            errors.push(error);
            None
        }
    };
    let mut errors = errors.into_iter();
    match (errors.next(), rules) {
        (None, Some(rules)) => Ok(rules),
        (Some(mut first), _) => {
            first.extend(errors);
            Err(first)
        }
        (None, None) => Err(syn::Error::new(
            Span::call_site(),
            "invalid `#[rate_limited]`",
        )),
    }
}

/// The handler with its guard, and the static rules the guard reads.
fn expand(mut function: ItemFn, rules: &[ratelimit_core::Rule]) -> TokenStream {
    let private = quote!(::ratelimit::__private);
    let name = &function.sig.ident;
    let name_str = name.to_string();
    let vis = &function.vis;
    let marker = format_ident!("__ratelimit_handler_{}", name);
    let rules_name = format_ident!("__RATELIMIT_HANDLER_RULES");
    let statics = rules_static(&rules_name, rules);
    let guard: FnArg = syn::parse_quote!(_: #private::RateLimitGuard<#marker>);
    // A handler whose responses decide what counts registers that too: the layer then
    // leaves a place for what to give back.
    let count_if = if rules.iter().any(|rule| rule.count_if().is_some()) {
        quote! {
            const _: () = {
                #[#private::linkme::distributed_slice(#private::COUNT_IF_HANDLERS)]
                #[linkme(crate = #private::linkme)]
                static REGISTERED: &'static str = <#marker as #private::HandlerRules>::POOL;
            };
        }
    } else {
        TokenStream::new()
    };
    function.sig.inputs.insert(0, guard);
    quote! {
        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        #vis struct #marker;

        #[automatically_derived]
        impl #private::HandlerRules for #marker {
            const POOL: &'static str = ::core::concat!(::core::module_path!(), "::", #name_str);

            fn rules() -> &'static [#private::Rule] {
                #statics
                &#rules_name
            }
        }

        // Registered at link time: a layer built in a program with a handler hands its
        // limiter on by default.
        const _: () = {
            #[#private::linkme::distributed_slice(#private::HANDLERS)]
            #[linkme(crate = #private::linkme)]
            static REGISTERED: &'static str = <#marker as #private::HandlerRules>::POOL;
        };

        #count_if

        #function
    }
}

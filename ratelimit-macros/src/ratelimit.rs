//! `ratelimit! { … }`: parse, check, then expand into a `ratelimit::Rules` expression.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use ratelimit_core::check::check_routes;
use ratelimit_core::parse::parse_routes;

use crate::model_tokens::{pattern_expr, rules_static};

/// `ratelimit! { … }`: parse, check, then expand into a `ratelimit::Rules` expression.
pub(crate) fn ratelimit(input: TokenStream) -> TokenStream {
    let routes = match parse_routes(input).and_then(|parsed| check_routes(&parsed)) {
        Ok(routes) => routes,
        Err(error) => {
            // Every error, then a value of the right type: a block of `compile_error!`s is
            // an expression, and no follow-on type errors appear.
            let errors = error.to_compile_error();
            return quote! {
                {
                    #errors
                    ::ratelimit::__private::Rules::from_static(&[])
                }
            };
        }
    };
    expand_routes(&routes)
}

/// A `ratelimit::Rules` expression for checked routes, from `static`s.
pub(crate) fn expand_routes(routes: &[ratelimit_core::Route]) -> TokenStream {
    let private = quote!(::ratelimit::__private);
    let mut statics = TokenStream::new();
    let mut route_exprs = Vec::new();
    for (r, route) in routes.iter().enumerate() {
        let rules = format_ident!("__RATELIMIT_RULES_{}", r);
        statics.extend(rules_static(&rules, route.rules()));
        let pattern = pattern_expr(route);
        route_exprs.push(quote! {
            #private::Route::new(#pattern, #private::Cow::Borrowed(&#rules))
        });
    }
    let count = route_exprs.len();
    quote! {
        {
            #statics
            static __RATELIMIT_ROUTES: [#private::Route; #count] = [#(#route_exprs),*];
            #private::Rules::from_static(&__RATELIMIT_ROUTES)
        }
    }
}

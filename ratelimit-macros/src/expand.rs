//! Code generation, from a model the checker already accepted: no error paths here.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote};
use ratelimit_core::check::check_routes;
use ratelimit_core::parse::parse_routes;
use ratelimit_core::pattern::PatternKind;
use ratelimit_core::{Policy, Route, Rule, Unit};

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
    let private = quote!(::ratelimit::__private);
    let mut statics = TokenStream::new();
    let mut route_exprs = Vec::new();
    for (r, route) in routes.iter().enumerate() {
        let rules_static = format_ident!("__RATELIMIT_RULES_{}", r);
        let mut rule_exprs = Vec::new();
        for (i, rule) in route.rules().iter().enumerate() {
            let limits_static = format_ident!("__RATELIMIT_LIMITS_{}_{}", r, i);
            rule_exprs.push(rule_expr(rule, &limits_static, &mut statics));
        }
        let count = rule_exprs.len();
        statics.extend(quote! {
            static #rules_static: [#private::Rule; #count] = [#(#rule_exprs),*];
        });
        let pattern = pattern_expr(route);
        route_exprs.push(quote! {
            #private::Route::new(#pattern, #private::Cow::Borrowed(&#rules_static))
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

fn pattern_expr(route: &Route) -> TokenStream {
    let private = quote!(::ratelimit::__private);
    let source = route.pattern().source();
    match route.pattern().kind() {
        PatternKind::Prefix(literal) => quote!(#private::Pattern::prefix(#source, #literal)),
        PatternKind::Exact(literal) => quote!(#private::Pattern::exact(#source, #literal)),
        PatternKind::Regex { prefix } => {
            quote!(#private::Pattern::regex_checked_by_macro(#source, #prefix))
        }
    }
}

/// A `Rule::new(…)` expression; its limits go into the static `limits_static`.
fn rule_expr(rule: &Rule, limits_static: &Ident, statics: &mut TokenStream) -> TokenStream {
    let private = quote!(::ratelimit::__private);
    let none = quote!(::core::option::Option::None);
    let some = quote!(::core::option::Option::Some);
    let group = rule.group();
    let method = match rule.method() {
        Some(method) => {
            let name = method.as_str();
            quote!(#some(#private::Method::from_static(#name)))
        }
        None => none.clone(),
    };
    let policy = match rule.policy() {
        Policy::Unlimited => quote!(#private::Policy::Unlimited),
        Policy::Deny => quote!(#private::Policy::Deny),
        Policy::Limited(limits) => {
            let limits: Vec<TokenStream> = limits
                .iter()
                .map(|limit| {
                    let unit = unit_expr(limit.unit());
                    let count = limit.count();
                    quote!(#private::Limit::new(#unit, #count))
                })
                .collect();
            let count = limits.len();
            statics.extend(quote! {
                static #limits_static: [#private::Limit; #count] = [#(#limits),*];
            });
            quote!(#private::Policy::Limited(#private::Cow::Borrowed(&#limits_static)))
        }
    };
    let zone = match rule.zone() {
        Some(zone) => quote!(#some(#private::Cow::Borrowed(#zone))),
        None => none.clone(),
    };
    let block_time = match rule.block_time() {
        Some(duration) => {
            let secs = duration.as_secs();
            quote!(#some(::core::time::Duration::from_secs(#secs)))
        }
        None => none,
    };
    quote! {
        #private::Rule::new(#private::RuleParts {
            group: #private::Cow::Borrowed(#group),
            method: #method,
            policy: #policy,
            zone: #zone,
            block_time: #block_time,
        })
    }
}

fn unit_expr(unit: Unit) -> TokenStream {
    let variant = Ident::new(
        match unit {
            Unit::Second => "Second",
            Unit::Minute => "Minute",
            Unit::Hour => "Hour",
            Unit::Day => "Day",
            Unit::Month => "Month",
        },
        Span::call_site(),
    );
    quote!(::ratelimit::__private::Unit::#variant)
}

//! The checked model as tokens that rebuild it in `static`s, naming the runtime only through
//! `::ratelimit::__private` and absolute paths.

use proc_macro2::{Ident, TokenStream};
use quote::quote;
use ratelimit_core::pattern::PatternKind;
use ratelimit_core::{Policy, Route, Rule};

/// `static NAME: [Rule; N] = [...];` for `rules`, with the statics their limits need.
pub(crate) fn rules_static(name: &Ident, rules: &[Rule]) -> TokenStream {
    let private = quote!(::ratelimit::__private);
    let mut statics = TokenStream::new();
    let rule_exprs: Vec<TokenStream> = rules
        .iter()
        .enumerate()
        .map(|(i, rule)| {
            let limits_static = quote::format_ident!("{}_LIMITS_{}", name, i);
            rule_expr(rule, &limits_static, &mut statics)
        })
        .collect();
    let count = rule_exprs.len();
    quote! {
        #statics
        static #name: [#private::Rule; #count] = [#(#rule_exprs),*];
    }
}

pub(crate) fn pattern_expr(route: &Route) -> TokenStream {
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
pub(crate) fn rule_expr(
    rule: &Rule,
    limits_static: &Ident,
    statics: &mut TokenStream,
) -> TokenStream {
    let private = quote!(::ratelimit::__private);
    let none = quote!(::core::option::Option::None);
    let some = quote!(::core::option::Option::Some);
    let group = rule.group();
    let method = match rule.method() {
        Some(method) => {
            let name = method.as_str();
            quote!(#some(#private::RuleMethod::from_static(#name)))
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
                    let seconds = limit.window_seconds();
                    let count = limit.count();
                    quote!(#private::Limit::per_seconds(#seconds, #count))
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
    let shadow = rule.shadow();
    let global = rule.global();
    let cost = rule.cost();
    let count_if = match rule.count_if() {
        Some(statuses) => {
            let bits = statuses.bits();
            quote!(#some(#private::StatusSet::from_bits([#(#bits),*])))
        }
        None => quote!(::core::option::Option::None),
    };
    quote! {
        #private::Rule::new(#private::RuleParts {
            group: #private::Cow::Borrowed(#group),
            method: #method,
            policy: #policy,
            zone: #zone,
            block_time: #block_time,
            shadow: #shadow,
            global: #global,
            cost: #cost,
            count_if: #count_if,
        })
    }
}

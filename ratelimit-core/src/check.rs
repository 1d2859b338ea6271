//! The DSL's meaning: a syntax tree to the typed [model](crate::model), or every mistake in
//! it, each at its token.
//!
//! Checks never stop at the first error: each one that fails adds to the list and the check
//! goes on with what it could make sense of, so that one compile shows every mistake of an
//! invocation. The checks (each with its own ui test in `tests/`):
//!
//! - a pattern that is invalid, uses look-around or back-references, is too big, or can never
//!   match a path (see [`Pattern::analyze`]);
//! - an unknown key, method or duration unit, with the closest valid name;
//! - a count that is 0, negative, fractional, suffixed or too large; a bad duration;
//! - a key given twice in a rule; `unlimited` or `deny` mixed with limits or with each other;
//!   `block_time` or `zone` on a rule without limits; a rule that sets no limit; an empty
//!   route, rule, zone or group;
//! - a limit that can never bind because a longer window admits no more requests;
//! - a rule that an earlier rule of its route always wins over (same group, and the same
//!   method or every method);
//! - the same pattern twice, and a route that an earlier one provably shadows for every group
//!   and method it names.

use std::borrow::Cow;
use std::time::Duration;

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::{Lit, LitInt};

use crate::model::{
    DEFAULT_GROUP, Limit, MAX_COUNT, Method, Policy, Route, Rule, RuleParts, STANDARD_METHODS,
    Unit,
};
use crate::parse::{ItemInput, RouteInput, RoutesInput, RuleInput, RulesInput, SpanRange, ValueInput};
use crate::pattern::Pattern;

/// Every key a rule item can start with, in the order error messages list them.
pub const KEYS: [&str; 10] = [
    "second",
    "minute",
    "hour",
    "day",
    "month",
    "unlimited",
    "deny",
    "block_time",
    "zone",
    "method",
];

/// The longest block time: 2^53 microseconds, so that every backend computes with it exactly.
pub const MAX_BLOCK_SECONDS: u64 = MAX_COUNT / 1_000_000;

/// Errors collected while checking, combined into one `syn::Error` at the end.
#[derive(Default)]
struct Errors {
    all: Option<syn::Error>,
    count: usize,
}

impl Errors {
    fn push(&mut self, error: syn::Error) {
        self.count += 1;
        match &mut self.all {
            Some(all) => all.combine(error),
            None => self.all = Some(error),
        }
    }

    fn finish<T>(self, value: T) -> syn::Result<T> {
        match self.all {
            Some(error) => Err(error),
            None => Ok(value),
        }
    }
}

/// Checks a whole `ratelimit! { … }` input.
///
/// # Errors
///
/// Every mistake found, combined: each is at its token.
pub fn check_routes(input: &RoutesInput) -> syn::Result<Vec<Route>> {
    let mut errors = Errors::default();
    let mut checked: Vec<(Option<Pattern>, &RouteInput, Vec<Rule>)> = Vec::new();
    for route in &input.routes {
        let pattern = match Pattern::analyze(&route.pattern.value()) {
            Ok(pattern) => Some(pattern),
            Err(err) => {
                errors.push(syn::Error::new(route.pattern.span(), err));
                None
            }
        };
        let rules = check_rule_list(&route.rules, &mut errors, || {
            route.bracket.error(
                "this route has no rules; add one, as in `[second = 10]`, or remove the route",
            )
        });
        if let Some(pattern) = &pattern {
            check_shadowing(pattern, route, &rules, &checked, &mut errors);
        }
        checked.push((pattern, route, rules));
    }
    let routes = checked
        .into_iter()
        .filter_map(|(pattern, _, rules)| {
            (!rules.is_empty()).then_some(Route::new(pattern?, Cow::Owned(rules)))
        })
        .collect();
    errors.finish(routes)
}

/// Checks a rule list on its own (the input of `#[rate_limited(…)]`); `span` is where to
/// report an empty list.
///
/// # Errors
///
/// Every mistake found, combined: each is at its token.
pub fn check_rules(input: &RulesInput, span: Span) -> syn::Result<Vec<Rule>> {
    let mut errors = Errors::default();
    let rules = check_rule_list(input, &mut errors, || {
        syn::Error::new(
            span,
            "no rules given; add one, as in `#[rate_limited(second = 10)]`",
        )
    });
    errors.finish(rules)
}

/// Checks each rule of a list and that no rule is hidden by an earlier one.
fn check_rule_list(
    input: &RulesInput,
    errors: &mut Errors,
    empty: impl FnOnce() -> syn::Error,
) -> Vec<Rule> {
    if input.rules.is_empty() {
        errors.push(empty());
        return Vec::new();
    }
    let mut rules: Vec<Rule> = Vec::new();
    for rule_input in &input.rules {
        let Some(rule) = check_rule(rule_input, errors) else {
            continue;
        };
        if let Some(earlier) = rules
            .iter()
            .find(|earlier| earlier.group() == rule.group() && covers_method(earlier, &rule))
        {
            let why = match earlier.method() {
                None => format!(
                    "an earlier rule for group `{}` already applies to every method; \
                     put the rule with a method first",
                    rule.group()
                ),
                Some(method) => format!(
                    "an earlier rule already applies to group `{}` and method `{method}`; \
                     merge the two",
                    rule.group()
                ),
            };
            errors.push(
                rule_input
                    .span
                    .error(format!("this rule can never apply: {why}")),
            );
            continue;
        }
        rules.push(rule);
    }
    rules
}

/// Whether `earlier` applies to every request `later` applies to, as far as methods go.
fn covers_method(earlier: &Rule, later: &Rule) -> bool {
    match (earlier.method(), later.method()) {
        (None, _) => true,
        (Some(a), Some(b)) => a == b,
        (Some(_), None) => false,
    }
}

/// Reports a route whose pattern repeats an earlier one, or that an earlier route shadows.
fn check_shadowing(
    pattern: &Pattern,
    route: &RouteInput,
    rules: &[Rule],
    earlier: &[(Option<Pattern>, &RouteInput, Vec<Rule>)],
    errors: &mut Errors,
) {
    let normalized = |source: &str| source.strip_prefix('^').unwrap_or(source).to_owned();
    let source = normalized(pattern.source());
    for (other, other_input, other_rules) in earlier {
        let Some(other) = other else { continue };
        if normalized(other.source()) == source {
            errors.push(syn::Error::new(
                route.pattern.span(),
                format!(
                    "the pattern {:?} is already a route above ({:?}); merge the two routes' rules",
                    pattern.source(),
                    other_input.pattern.value()
                ),
            ));
            return;
        }
        let all_rules_shadowed = !rules.is_empty()
            && rules.iter().all(|rule| {
                other_rules
                    .iter()
                    .any(|o| o.group() == rule.group() && covers_method(o, rule))
            });
        if other.covers(pattern) && all_rules_shadowed {
            errors.push(syn::Error::new(
                route.pattern.span(),
                format!(
                    "this route can never apply: the route {:?} above matches every path this \
                     one matches, for every group and method it names; declare this route first",
                    other.source()
                ),
            ));
            return;
        }
    }
}

/// What a rule is made of so far, while its items are read.
#[derive(Default)]
struct RuleDraft<'a> {
    limits: Vec<(Limit, &'a ItemInput)>,
    flag: Option<(Policy, &'a ItemInput)>,
    zone: Option<(String, &'a ItemInput)>,
    block_time: Option<(Duration, &'a ItemInput)>,
    method: Option<(Method, &'a ItemInput)>,
    seen: Vec<String>,
}

/// Checks one rule; `None` when it has an error (already reported).
fn check_rule(input: &RuleInput, errors: &mut Errors) -> Option<Rule> {
    let mut draft = RuleDraft::default();
    let errors_before = errors.count;
    for item in &input.items {
        let key = item.key.unraw().to_string();
        if draft.seen.contains(&key) {
            errors.push(syn::Error::new(
                item.key.span(),
                format!("`{key}` is given twice in this rule; keep one"),
            ));
            continue;
        }
        if KEYS.contains(&key.as_str()) {
            draft.seen.push(key.clone());
        }
        let result = match key.as_str() {
            "unlimited" => flag(item, Policy::Unlimited, &mut draft),
            "deny" => flag(item, Policy::Deny, &mut draft),
            "block_time" => block_time(item).map(|d| draft.block_time = Some((d, item))),
            "zone" => zone(item).map(|z| draft.zone = Some((z, item))),
            "method" => method(item).map(|m| draft.method = Some((m, item))),
            name => match Unit::from_name(name) {
                Some(unit) => {
                    count(item, unit).map(|c| draft.limits.push((Limit::new(unit, c), item)))
                }
                None => Err(unknown_key(item)),
            },
        };
        if let Err(error) = result {
            errors.push(error);
        }
    }
    let group = match &input.group {
        None => DEFAULT_GROUP.to_owned(),
        Some(group) => {
            let name = group.name.value();
            if name.is_empty() {
                errors.push(syn::Error::new(
                    group.name.span(),
                    "the group name is empty; name it, as in `@admin`, or leave the group out \
                     for `default`",
                ));
            }
            name
        }
    };
    if input.items.is_empty() {
        errors.push(input.span.error(
            "this rule is empty; give it a limit (`second = 10`), `unlimited` or `deny`",
        ));
        return None;
    }
    match (&draft.flag, draft.limits.first()) {
        (Some((_, flag)), Some((_, limit))) => errors.push(flag.span().error(format!(
            "`{}` cannot be combined with limits such as `{}`; a rule is either `unlimited`, \
             `deny`, or a set of limits",
            flag.key, limit.key,
        ))),
        (Some((_, flag)), None) => {
            let extras = [
                draft.block_time.as_ref().map(|(_, item)| *item),
                draft.zone.as_ref().map(|(_, item)| *item),
            ];
            for extra in extras.into_iter().flatten() {
                errors.push(extra.span().error(format!(
                    "`{}` applies only to a rule with limits; remove it, or replace `{}` with \
                     limits",
                    extra.key, flag.key
                )));
            }
        }
        (None, None) if errors.count == errors_before => errors.push(input.span.error(
            "this rule sets no limit; add one, as in `second = 10`, or write `unlimited` or `deny`",
        )),
        (None, _) => {}
    }
    check_never_binding(&mut draft.limits, errors);
    if errors.count > errors_before {
        return None;
    }
    let policy = match draft.flag {
        Some((policy, _)) => policy,
        None => Policy::Limited(Cow::Owned(draft.limits.iter().map(|(l, _)| *l).collect())),
    };
    Some(Rule::new(RuleParts {
        group: Cow::Owned(group),
        method: draft.method.map(|(m, _)| m),
        policy,
        zone: draft.zone.map(|(z, _)| Cow::Owned(z)),
        block_time: draft.block_time.map(|(d, _)| d),
    }))
}

/// Sorts the limits by window and reports each one that a longer window makes useless.
fn check_never_binding(limits: &mut [(Limit, &ItemInput)], errors: &mut Errors) {
    limits.sort_by_key(|(limit, _)| limit.unit());
    for (i, (shorter, item)) in limits.iter().enumerate() {
        if let Some((longer, _)) = limits[i + 1..]
            .iter()
            .find(|(longer, _)| longer.count() <= shorter.count())
        {
            errors.push(item.span().error(format!(
                "`{shorter}` can never bind: `{longer}` admits no more requests over a longer \
                 window; remove `{shorter}`, or make its count lower than {}",
                longer.count()
            )));
        }
    }
}

/// Records `unlimited` or `deny`, refusing a value or a second such flag.
fn flag<'a>(item: &'a ItemInput, policy: Policy, draft: &mut RuleDraft<'a>) -> syn::Result<()> {
    if let Some((eq, value)) = &item.value {
        return Err(SpanRange {
            first: eq.span,
            last: value.span().last,
        }
        .error(format!(
            "`{}` takes no value; write `{}` alone",
            item.key, item.key
        )));
    }
    if let Some((_, first)) = &draft.flag {
        return Err(item.span().error(format!(
            "`{}` cannot be combined with `{}`; a rule is either `unlimited`, `deny`, or a set \
             of limits",
            item.key, first.key
        )));
    }
    draft.flag = Some((policy, item));
    Ok(())
}

fn count(item: &ItemInput, unit: Unit) -> syn::Result<u64> {
    let Some((_, value)) = &item.value else {
        return Err(item.span().error(format!(
            "`{unit}` needs a count, as in `{unit} = 10`"
        )));
    };
    let span = value.span();
    match value {
        ValueInput::Lit(Lit::Int(int)) => {
            if !int.suffix().is_empty() {
                return Err(span.error(format!(
                    "a count takes no suffix; write `{}`, not `{int}`",
                    int.base10_digits()
                )));
            }
            match parse_u64(int) {
                Some(0) => Err(span.error(format!(
                    "a count of 0 admits nothing; to refuse every request write `deny` instead \
                     of `{unit} = 0`"
                ))),
                Some(n) if n <= MAX_COUNT => Ok(n),
                _ => Err(span.error(format!(
                    "`{}` is too large for a count; the largest is {MAX_COUNT}",
                    int.base10_digits()
                ))),
            }
        }
        ValueInput::Lit(Lit::Float(float)) => Err(span.error(format!(
            "a count is a whole number of requests, not `{float}`"
        ))),
        ValueInput::Negative(..) => Err(span.error(format!(
            "a count cannot be negative; write a whole number from 1 to {MAX_COUNT}"
        ))),
        _ => Err(span.error("expected a count of requests: a whole number, as in `10`")),
    }
}

fn parse_u64(int: &LitInt) -> Option<u64> {
    int.base10_parse::<u64>().ok()
}

fn block_time(item: &ItemInput) -> syn::Result<Duration> {
    let Some((_, value)) = &item.value else {
        return Err(item
            .span()
            .error("`block_time` needs a duration, as in `block_time = 60s`"));
    };
    let span = value.span();
    let units = "use `s`, `m`, `h` or `d`, as in `60s`, `10m`, `2h` or `1d`";
    match value {
        ValueInput::Lit(Lit::Int(int)) => {
            let scale = match int.suffix() {
                "" | "s" => 1,
                "m" => 60,
                "h" => 3_600,
                "d" => 86_400,
                other => {
                    return Err(span.error(format!(
                        "unknown duration unit `{other}` in `{int}`; {units}"
                    )));
                }
            };
            match parse_u64(int).and_then(|n| n.checked_mul(scale)) {
                Some(0) => Err(span.error("`block_time` must be at least 1 second")),
                Some(secs) if secs <= MAX_BLOCK_SECONDS => Ok(Duration::from_secs(secs)),
                _ => Err(span.error(format!(
                    "`block_time = {int}` is too long; the longest is {MAX_BLOCK_SECONDS} seconds"
                ))),
            }
        }
        ValueInput::Lit(Lit::Float(float)) => Err(span.error(format!(
            "a duration is a whole number of seconds, minutes, hours or days, not `{float}`; \
             write `90s` rather than `1.5m`"
        ))),
        ValueInput::Negative(..) => Err(span.error("a duration cannot be negative")),
        _ => Err(span.error(format!(
            "expected a duration: a whole number of seconds (`60`), or with a unit; {units}"
        ))),
    }
}

fn zone(item: &ItemInput) -> syn::Result<String> {
    let example = "as in `zone = \"api\"`";
    let Some((_, value)) = &item.value else {
        return Err(item.span().error(format!("`zone` needs a name, {example}")));
    };
    match value {
        ValueInput::Lit(Lit::Str(lit)) if lit.value().is_empty() => Err(value
            .span()
            .error(format!("the zone name is empty; name the shared pool, {example}"))),
        ValueInput::Lit(Lit::Str(lit)) => Ok(lit.value()),
        _ => Err(value
            .span()
            .error(format!("expected the zone's name as a string, {example}"))),
    }
}

fn method(item: &ItemInput) -> syn::Result<Method> {
    let Some((_, value)) = &item.value else {
        return Err(item
            .span()
            .error("`method` needs an HTTP method, as in `method = GET`"));
    };
    let span = value.span();
    match value {
        ValueInput::Ident(ident) => {
            let name = ident.unraw().to_string().to_ascii_uppercase();
            if STANDARD_METHODS.contains(&name.as_str()) {
                return Method::parse(&name).ok_or_else(|| span.error("invalid method"));
            }
            let hint = closest(&name, &STANDARD_METHODS)
                .map(|m| format!("did you mean `{m}`? "))
                .unwrap_or_default();
            Err(span.error(format!(
                "unknown method `{ident}`; {hint}the methods are {}; write an extension method \
                 as a string, as in `method = \"PURGE\"`",
                list(&STANDARD_METHODS)
            )))
        }
        ValueInput::Lit(Lit::Str(lit)) => Method::parse(&lit.value()).ok_or_else(|| {
            span.error(format!(
                "{:?} is not an HTTP method: a method is a token such as `GET` or `PURGE`",
                lit.value()
            ))
        }),
        _ => Err(span.error("expected an HTTP method, as in `method = GET` or `method = \"PURGE\"`")),
    }
}

fn unknown_key(item: &ItemInput) -> syn::Error {
    let key = item.key.unraw().to_string();
    let hint = closest(&key, &KEYS)
        .map(|k| format!("did you mean `{k}`? "))
        .unwrap_or_default();
    syn::Error::new(
        item.key.span(),
        format!("unknown key `{key}`; {hint}the keys are {}", list(&KEYS)),
    )
}

/// `a`, `b` and `c`.
fn list(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => quoted.concat(),
    }
}

/// The candidate closest to `name`, if it is close enough to be a typo of it.
fn closest<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let name = name.to_ascii_lowercase();
    candidates
        .iter()
        .map(|c| (edit_distance(&name, &c.to_ascii_lowercase()), *c))
        .filter(|(distance, c)| *distance <= (c.len().max(name.len()) / 3).max(1))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

/// Levenshtein distance, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

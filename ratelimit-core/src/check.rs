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
//!   `block_time`, `zone` or `global` on a rule without limits; `shadow` on an `unlimited`
//!   rule; `global` with `block_time`; a value given to `unlimited`, `deny`, `shadow` or
//!   `global`; a rule that sets no limit; an empty route, rule,
//!   zone or group;
//! - a limit that can never bind because a longer window admits no more requests;
//! - a window without a unit, of an unknown unit, of 0 s or over 31 days; the same window
//!   twice; more than [`MAX_LIMITS`] limits; `cost = 0`, a cost on a rule without limits or
//!   above the rule's smallest count;
//! - in `count_if`, a status outside 100 to 599, a class other than `1xx` to `5xx`, a status
//!   or class given twice, a code its class in the list already covers; `count_if` on a rule
//!   without limits;
//! - a rule that an earlier rule of its route always wins over (same group, and the same
//!   method or every method);
//! - the same pattern twice, and a route that an earlier one provably shadows for every group
//!   and method it names.

use std::borrow::Cow;
use std::time::Duration;

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::{Lit, LitInt};

use crate::__private::MAX_COUNT;
use crate::model::{
    DEFAULT_GROUP, Limit, MAX_LIMITS, MAX_WINDOW_SECONDS, Policy, Route, Rule, RuleMethod,
    RuleParts, StatusSet, Unit,
};
use crate::parse::{
    ItemInput, KeyInput, RouteInput, RoutesInput, RuleInput, RulesInput, SpanRange, ValueInput,
};
use crate::pattern::Pattern;

/// The HTTP methods a rule may name without quotes.
const STANDARD_METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

/// Every key a rule item can start with, in the order error messages list them.
const KEYS: [&str; 14] = [
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
    "shadow",
    "global",
    "cost",
    "count_if",
];

/// The longest block time: 2^53 microseconds, so that every backend computes with it exactly.
const MAX_BLOCK_SECONDS: u64 = MAX_COUNT / 1_000_000;

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
        .filter_map(|(pattern, _, rules)| match pattern {
            Some(pattern) if !rules.is_empty() => Some(Route::new(pattern, Cow::Owned(rules))),
            _ => None,
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
    method: Option<(RuleMethod, &'a ItemInput)>,
    shadow: Option<&'a ItemInput>,
    global: Option<&'a ItemInput>,
    cost: Option<(u64, &'a ItemInput)>,
    count_if: Option<(StatusSet, &'a ItemInput)>,
    seen: Vec<String>,
}

/// Checks one rule; `None` when it has an error (already reported).
fn check_rule(input: &RuleInput, errors: &mut Errors) -> Option<Rule> {
    let mut draft = RuleDraft::default();
    let errors_before = errors.count;
    for item in &input.items {
        let key = item.key.name();
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
        let result = match (&item.key, key.as_str()) {
            (KeyInput::Window(length), _) => window_seconds(length).and_then(|seconds| {
                count(item).map(|c| draft.limits.push((Limit::per_seconds(seconds, c), item)))
            }),
            (_, "unlimited") => flag(item, Policy::Unlimited, &mut draft),
            (_, "deny") => flag(item, Policy::Deny, &mut draft),
            (_, "block_time") => block_time(item).map(|d| draft.block_time = Some((d, item))),
            (_, "zone") => zone(item).map(|z| draft.zone = Some((z, item))),
            (_, "method") => method(item).map(|m| draft.method = Some((m, item))),
            (_, "shadow") => bare(item).map(|()| draft.shadow = Some(item)),
            (_, "global") => bare(item).map(|()| draft.global = Some(item)),
            (_, "cost") => cost(item).map(|c| draft.cost = Some((c, item))),
            (_, "count_if") => count_if(item).map(|set| draft.count_if = Some((set, item))),
            (_, name) => match Unit::from_name(name) {
                Some(unit) => count(item).map(|c| draft.limits.push((Limit::new(unit, c), item))),
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
        errors.push(
            input.span.error(
                "this rule is empty; give it a limit (`second = 10`), `unlimited` or `deny`",
            ),
        );
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
                draft.global,
                draft.cost.as_ref().map(|(_, item)| *item),
                draft.count_if.as_ref().map(|(_, item)| *item),
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
    if let (Some((Policy::Unlimited, _)), Some(shadow)) = (&draft.flag, draft.shadow) {
        errors.push(shadow.span().error(
            "`shadow` on an `unlimited` rule has nothing to try: the rule never refuses; \
             remove `shadow`",
        ));
    }
    if let (Some(global), Some((_, block_time))) = (draft.global, &draft.block_time) {
        errors.push(global.span().error(format!(
            "`global` cannot be combined with `{}`: a block belongs to a user, and a `global` \
             rule counts every user together; remove one of them",
            block_time.key
        )));
    }
    check_same_window(&mut draft.limits, errors);
    check_never_binding(&mut draft.limits, errors);
    if let Some((_, item)) = draft.limits.get(MAX_LIMITS) {
        errors.push(item.span().error(format!(
            "a rule has at most {MAX_LIMITS} limits, one per window; drop some of them"
        )));
    }
    if let (Some((cost, item)), Some((smallest, _))) = (
        &draft.cost,
        draft.limits.iter().min_by_key(|(limit, _)| limit.count()),
    ) && *cost > smallest.count()
    {
        errors.push(item.span().error(format!(
            "a request of `cost = {cost}` can never be admitted: `{smallest}` has room for {} \
             at most; lower the cost or raise the limit",
            smallest.count()
        )));
    }
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
        shadow: draft.shadow.is_some(),
        global: draft.global.is_some(),
        cost: draft.cost.map_or(1, |(cost, _)| cost),
        count_if: draft.count_if.map(|(set, _)| set),
    }))
}

/// Reports a window given twice (`second = 1 1s = 2`, `10s = 1 10s = 2`), keeping the first.
fn check_same_window(limits: &mut Vec<(Limit, &ItemInput)>, errors: &mut Errors) {
    let mut index = 0;
    while index < limits.len() {
        let (limit, item) = limits[index];
        let earlier = limits[..index]
            .iter()
            .find(|(other, _)| other.window_seconds() == limit.window_seconds());
        if let Some((_, first)) = earlier {
            let (key, first) = (item.key.name(), first.key.name());
            let message = if key == first {
                format!("`{key}` is given twice in this rule; keep one")
            } else {
                format!("`{key}` is the same window as `{first}`; keep one of them")
            };
            errors.push(syn::Error::new(item.key.span(), message));
            limits.remove(index);
        } else {
            index += 1;
        }
    }
}

/// Sorts the limits by window and reports each one that a longer window makes useless.
fn check_never_binding(limits: &mut [(Limit, &ItemInput)], errors: &mut Errors) {
    limits.sort_by_key(|(limit, _)| limit.window_seconds());
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
    bare(item)?;
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

/// An item that is a key alone (`unlimited`, `deny`, `shadow`): an error when it has a value.
fn bare(item: &ItemInput) -> syn::Result<()> {
    match &item.value {
        Some((eq, value)) => Err(SpanRange {
            first: eq.span,
            last: value.span().last,
        }
        .error(format!(
            "`{}` takes no value; write `{}` alone",
            item.key, item.key
        ))),
        None => Ok(()),
    }
}

fn count(item: &ItemInput) -> syn::Result<u64> {
    let key = &item.key;
    let Some((_, value)) = &item.value else {
        return Err(item
            .span()
            .error(format!("`{key}` needs a count, as in `{key} = 10`")));
    };
    whole_number(value, |span| {
        span.error(format!(
            "a count of 0 admits nothing; to refuse every request write `deny` instead of \
             `{key} = 0`"
        ))
    })
}

/// `cost = N`: how much of every limit a request uses.
fn cost(item: &ItemInput) -> syn::Result<u64> {
    let Some((_, value)) = &item.value else {
        return Err(item.span().error(
            "`cost` needs a count, as in `cost = 5`: how much of every limit a request uses",
        ));
    };
    whole_number(value, |span| {
        span.error(
            "a cost of 0 would count nothing; a cost is at least 1 (the default), or use \
             `unlimited` for requests that count nothing",
        )
    })
}

/// A count of requests from 1 to [`MAX_COUNT`]; `zero` makes the error for 0.
fn whole_number(
    value: &ValueInput,
    zero: impl FnOnce(SpanRange) -> syn::Error,
) -> syn::Result<u64> {
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
                Some(0) => Err(zero(span)),
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

/// `count_if = STATUS ("|" STATUS)*`: the responses that use up the limits, each a code from
/// 100 to 599 or a class from `1xx` to `5xx`.
fn count_if(item: &ItemInput) -> syn::Result<StatusSet> {
    let Some((_, value)) = &item.value else {
        return Err(item.span().error(
            "`count_if` needs the statuses that count, as in `count_if = 401` or \
             `count_if = 401 | 5xx`",
        ));
    };
    let values = match value {
        ValueInput::Or(values) => values.iter().collect(),
        value => vec![value],
    };
    let mut errors = Errors::default();
    let mut codes: Vec<(u16, &LitInt)> = Vec::new();
    let mut classes: Vec<(u16, &LitInt)> = Vec::new();
    for value in values {
        let span = value.span();
        let ValueInput::Lit(Lit::Int(int)) = value else {
            errors.push(
                span.error(
                    "expected a status such as `401` or a class such as `4xx`, joined by `|`",
                ),
            );
            continue;
        };
        let number = int.base10_digits().parse::<u16>().ok();
        let (list, found) = match (int.suffix(), number) {
            ("", Some(code @ 100..=599)) => (&mut codes, code),
            ("xx", Some(class @ 1..=5)) => (&mut classes, class),
            ("xx", _) => {
                errors.push(span.error(format!(
                    "`{int}` is not a class of statuses; the classes are `1xx`, `2xx`, `3xx`, \
                     `4xx` and `5xx`"
                )));
                continue;
            }
            _ => {
                errors.push(span.error(format!(
                    "`{int}` is not an HTTP status; a status is from 100 to 599, or a class \
                     such as `4xx`"
                )));
                continue;
            }
        };
        if list.iter().any(|(other, _)| *other == found) {
            errors.push(span.error(format!("`{int}` is given twice; keep one")));
            continue;
        }
        list.push((found, int));
    }
    let mut set = StatusSet::EMPTY;
    for &(class, _) in &classes {
        set = set.with_class(class);
    }
    for (code, lit) in codes {
        if let Some((_, class)) = classes.iter().find(|(class, _)| *class == code / 100) {
            errors.push(syn::Error::new(
                lit.span(),
                format!("`{code}` is already in `{class}`; remove it"),
            ));
        }
        set = set.with(code);
    }
    errors.finish(set)
}

/// The units a duration takes, for error messages.
const DURATION_UNITS: &str = "use `s`, `m`, `h` or `d`, as in `60s`, `10m`, `2h` or `1d`";

/// The seconds of a duration literal (`90`, `90s`, `10m`, `2h`, `1d`), if it has a known unit
/// and does not overflow; `Err` with the message for an unknown unit.
fn duration_seconds(int: &LitInt) -> Result<Option<u64>, String> {
    let scale = match int.suffix() {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        other => {
            return Err(format!(
                "unknown duration unit `{other}` in `{int}`; {DURATION_UNITS}"
            ));
        }
    };
    Ok(parse_u64(int).and_then(|n| n.checked_mul(scale)))
}

/// The length of a window written as a duration (`10s = 3`).
fn window_seconds(length: &LitInt) -> syn::Result<u64> {
    let span = length.span();
    if length.suffix().is_empty() {
        return Err(syn::Error::new(
            span,
            format!(
                "a window needs a unit: write `{}s`, `{}m`, `{}h` or `{}d`, or a named one \
                 such as `minute`",
                length.base10_digits(),
                length.base10_digits(),
                length.base10_digits(),
                length.base10_digits()
            ),
        ));
    }
    match duration_seconds(length).map_err(|message| syn::Error::new(span, message))? {
        Some(0) => Err(syn::Error::new(
            span,
            format!("a window of `{length}` never ends; a window is at least 1 second (`1s`)"),
        )),
        Some(seconds) if seconds <= MAX_WINDOW_SECONDS => Ok(seconds),
        _ => Err(syn::Error::new(
            span,
            format!("the window `{length}` is too long; the longest is 31 days (`31d`, a `month`)"),
        )),
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
    match value {
        ValueInput::Lit(Lit::Int(int)) => {
            match duration_seconds(int).map_err(|message| span.error(message))? {
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
            "expected a duration: a whole number of seconds (`60`), or with a unit; \
             {DURATION_UNITS}"
        ))),
    }
}

fn zone(item: &ItemInput) -> syn::Result<String> {
    let example = "as in `zone = \"api\"`";
    let Some((_, value)) = &item.value else {
        return Err(item.span().error(format!("`zone` needs a name, {example}")));
    };
    match value {
        ValueInput::Lit(Lit::Str(lit)) if lit.value().is_empty() => Err(value.span().error(
            format!("the zone name is empty; name the shared pool, {example}"),
        )),
        ValueInput::Lit(Lit::Str(lit)) => Ok(lit.value()),
        _ => Err(value
            .span()
            .error(format!("expected the zone's name as a string, {example}"))),
    }
}

fn method(item: &ItemInput) -> syn::Result<RuleMethod> {
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
                return RuleMethod::parse(&name).ok_or_else(|| span.error("invalid method"));
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
        ValueInput::Lit(Lit::Str(lit)) => RuleMethod::parse(&lit.value()).ok_or_else(|| {
            span.error(format!(
                "{:?} is not an HTTP method: a method is a token such as `GET` or `PURGE`",
                lit.value()
            ))
        }),
        _ => {
            Err(span.error("expected an HTTP method, as in `method = GET` or `method = \"PURGE\"`"))
        }
    }
}

fn unknown_key(item: &ItemInput) -> syn::Error {
    let key = item.key.name();
    let hint = closest(&key, &KEYS)
        .map(|k| format!("did you mean `{k}`? "))
        .unwrap_or_default();
    syn::Error::new(
        item.key.span(),
        format!(
            "unknown key `{key}`; {hint}the keys are {}, and a window of any length such as \
             `10s`",
            KEYS.map(|k| format!("`{k}`")).join(", ")
        ),
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

/// Edit distance by characters, counting a swap of two neighbours as one edit (optimal
/// string alignment), so that `GTE` is one edit from `GET`.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{parse_routes, parse_rules};
    use crate::pattern::{PatternError, PatternKind};
    use quote::quote;

    /// Every error message of checking `tokens`, in order.
    fn errors(tokens: proc_macro2::TokenStream) -> Vec<String> {
        let input = parse_routes(tokens).expect("valid syntax");
        match check_routes(&input) {
            Ok(routes) => panic!("expected errors, got {routes:?}"),
            Err(error) => error.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    fn one_error(tokens: proc_macro2::TokenStream) -> String {
        let all = errors(tokens);
        assert_eq!(all.len(), 1, "{all:#?}");
        all.into_iter().next().unwrap_or_default()
    }

    #[test]
    fn the_design_example_checks_into_the_model() {
        let input = parse_routes(quote! {
            "^/towns"    => [second = 1 @default, unlimited @admin],
            "^/forests"  => [minute = 1 @default, unlimited @admin],
            "^/api"      => [day = 400 minute = 200 second = 10, minute = 500 second = 25 @admin],
            r"^/user/\d+" => [minute = 200 zone = "user-api", second = 100 zone = "user-api" @admin],
            "^/login"    => [second = 5 block_time = 60],
            "^/upload"   => [method = POST minute = 3, unlimited @admin],
            "^/banned"   => [deny @blocked_tier],
        })
        .expect("valid syntax");
        let routes = check_routes(&input).expect("valid rules");
        assert_eq!(routes.len(), 7);
        let api = &routes[2].rules()[0];
        let limits: Vec<String> = api.limits().iter().map(ToString::to_string).collect();
        assert_eq!(limits, ["second = 10", "minute = 200", "day = 400"]);
        assert_eq!(api.group(), "default");
        let user = &routes[3];
        assert_eq!(
            user.pattern().kind(),
            PatternKind::Regex { prefix: "/user/" }
        );
        assert_eq!(user.rules()[1].zone(), Some("user-api"));
        assert_eq!(user.rules()[1].group(), "admin");
        assert_eq!(
            routes[4].rules()[0].block_time(),
            Some(Duration::from_secs(60))
        );
        let upload = &routes[5].rules()[0];
        assert_eq!(upload.method().map(RuleMethod::as_str), Some("POST"));
        assert_eq!(routes[6].rules()[0].policy(), &Policy::Deny);
        assert_eq!(routes[6].rules()[0].group(), "blocked_tier");
    }

    #[test]
    fn durations_take_units() {
        let input = parse_routes(quote! {
            "^/a" => [second = 1 block_time = 90],
            "^/b" => [second = 1 block_time = 90s],
            "^/c" => [second = 1 block_time = 10m],
            "^/d" => [second = 1 block_time = 2h],
            "^/e" => [second = 1 block_time = 1d],
        })
        .expect("valid syntax");
        let secs: Vec<u64> = check_routes(&input)
            .expect("valid rules")
            .iter()
            .filter_map(|route| route.rules()[0].block_time())
            .map(|d| d.as_secs())
            .collect();
        assert_eq!(secs, [90, 90, 600, 7_200, 86_400]);
    }

    #[test]
    fn methods_and_groups_take_idents_or_strings() {
        let input = parse_routes(quote! {
            "^/a" => [method = get second = 1 @"blocked tier", method = "PURGE" second = 2],
        })
        .expect("valid syntax");
        let routes = check_routes(&input).expect("valid rules");
        let rules = routes[0].rules();
        assert_eq!(rules[0].method().map(RuleMethod::as_str), Some("GET"));
        assert_eq!(rules[0].group(), "blocked tier");
        assert_eq!(rules[1].method().map(RuleMethod::as_str), Some("PURGE"));
    }

    #[test]
    fn every_error_of_an_invocation_is_reported() {
        let all = errors(quote! {
            "towns" => [secnd = 1],
            "^/a" => [second = 0, minute = 1.5 @admin],
        });
        assert_eq!(
            all,
            [
                "this pattern can never match: request paths start with `/`; write \"^/towns\"",
                "unknown key `secnd`; did you mean `second`? the keys are `second`, `minute`, \
                 `hour`, `day`, `month`, `unlimited`, `deny`, `block_time`, `zone`, `method`, \
                 `shadow`, `global`, `cost`, `count_if`, and a window of any length such as `10s`",
                "a count of 0 admits nothing; to refuse every request write `deny` instead of \
                 `second = 0`",
                "a count is a whole number of requests, not `1.5`",
            ]
        );
    }

    #[test]
    fn bad_patterns() {
        assert!(one_error(quote!("??.*" => [second = 1])).starts_with("invalid regex: "));
        assert_eq!(
            one_error(quote!("^/a(?=b)" => [second = 1])),
            PatternError::LookAround.to_string()
        );
        assert_eq!(
            one_error(quote!(r"^/(a)\1" => [second = 1])),
            PatternError::Backreference.to_string()
        );
    }

    #[test]
    fn bad_counts() {
        assert_eq!(
            one_error(quote!("^/a" => [second = -1])),
            "a count cannot be negative; write a whole number from 1 to 9007199254740991"
        );
        assert_eq!(
            one_error(quote!("^/a" => [second = 99999999999999999999999])),
            "`99999999999999999999999` is too large for a count; the largest is 9007199254740991"
        );
        assert_eq!(
            one_error(quote!("^/a" => [second = 9007199254740992])),
            "`9007199254740992` is too large for a count; the largest is 9007199254740991"
        );
        assert_eq!(
            one_error(quote!("^/a" => [second = 10u32])),
            "a count takes no suffix; write `10`, not `10u32`"
        );
        assert_eq!(
            one_error(quote!("^/a" => [second = "10"])),
            "expected a count of requests: a whole number, as in `10`"
        );
        assert_eq!(
            one_error(quote!("^/a" => [second])),
            "`second` needs a count, as in `second = 10`"
        );
    }

    #[test]
    fn bad_durations() {
        assert_eq!(
            one_error(quote!("^/a" => [second = 1 block_time = 60x])),
            "unknown duration unit `x` in `60x`; use `s`, `m`, `h` or `d`, as in `60s`, `10m`, \
             `2h` or `1d`"
        );
        assert_eq!(
            one_error(quote!("^/a" => [second = 1 block_time = 0s])),
            "`block_time` must be at least 1 second"
        );
        assert_eq!(
            one_error(quote!("^/a" => [second = 1 block_time = 1.5])),
            "a duration is a whole number of seconds, minutes, hours or days, not `1.5`; write \
             `90s` rather than `1.5m`"
        );
        assert_eq!(
            one_error(quote!("^/a" => [second = 1 block_time = -5])),
            "a duration cannot be negative"
        );
    }

    #[test]
    fn bad_combinations() {
        assert_eq!(
            one_error(quote!("^/a" => [second = 1 second = 2])),
            "`second` is given twice in this rule; keep one"
        );
        assert_eq!(
            one_error(quote!("^/a" => [unlimited second = 2])),
            "`unlimited` cannot be combined with limits such as `second`; a rule is either \
             `unlimited`, `deny`, or a set of limits"
        );
        assert_eq!(
            one_error(quote!("^/a" => [unlimited deny])),
            "`deny` cannot be combined with `unlimited`; a rule is either `unlimited`, `deny`, \
             or a set of limits"
        );
        assert_eq!(
            one_error(quote!("^/a" => [unlimited = 1])),
            "`unlimited` takes no value; write `unlimited` alone"
        );
        assert_eq!(
            one_error(quote!("^/a" => [deny block_time = 60])),
            "`block_time` applies only to a rule with limits; remove it, or replace `deny` with \
             limits"
        );
        assert_eq!(
            one_error(quote!("^/a" => [unlimited zone = "z"])),
            "`zone` applies only to a rule with limits; remove it, or replace `unlimited` with \
             limits"
        );
        assert_eq!(
            one_error(quote!("^/a" => [method = GET])),
            "this rule sets no limit; add one, as in `second = 10`, or write `unlimited` or `deny`"
        );
        assert_eq!(
            one_error(quote!("^/a" => [@admin])),
            "this rule is empty; give it a limit (`second = 10`), `unlimited` or `deny`"
        );
        assert_eq!(
            one_error(quote!("^/a" => [])),
            "this route has no rules; add one, as in `[second = 10]`, or remove the route"
        );
    }

    #[test]
    fn bad_names() {
        assert_eq!(
            one_error(quote!("^/a" => [method = GTE second = 1])),
            "unknown method `GTE`; did you mean `GET`? the methods are `GET`, `HEAD`, `POST`, \
             `PUT`, `DELETE`, `CONNECT`, `OPTIONS`, `TRACE` and `PATCH`; write an extension \
             method as a string, as in `method = \"PURGE\"`"
        );
        assert_eq!(
            one_error(quote!("^/a" => [method = "G T" second = 1])),
            "\"G T\" is not an HTTP method: a method is a token such as `GET` or `PURGE`"
        );
        assert_eq!(
            one_error(quote!("^/a" => [second = 1 zone = ""])),
            "the zone name is empty; name the shared pool, as in `zone = \"api\"`"
        );
        assert_eq!(
            one_error(quote!("^/a" => [second = 1 zone = api])),
            "expected the zone's name as a string, as in `zone = \"api\"`"
        );
        assert_eq!(
            one_error(quote!("^/a" => [second = 1 @""])),
            "the group name is empty; name it, as in `@admin`, or leave the group out for \
             `default`"
        );
        assert_eq!(
            one_error(quote!("^/a" => [frobnicate = 1])),
            "unknown key `frobnicate`; the keys are `second`, `minute`, `hour`, `day`, `month`, \
             `unlimited`, `deny`, `block_time`, `zone`, `method`, `shadow`, `global`, `cost`, `count_if`, and a window of any length such as `10s`"
        );
    }

    #[test]
    fn the_longest_block_time_is_2_to_the_53_microseconds() {
        let longest = MAX_COUNT / 1_000_000;
        assert_eq!(longest, 9_007_199_254);
        let input = parse_routes(quote!("^/a" => [second = 1 block_time = 9007199254]))
            .expect("valid syntax");
        let routes = check_routes(&input).expect("the longest block time");
        assert_eq!(
            routes[0].rules()[0].block_time(),
            Some(Duration::from_secs(longest))
        );
        assert_eq!(
            one_error(quote!("^/a" => [second = 1 block_time = 9007199255])),
            "`block_time = 9007199255` is too long; the longest is 9007199254 seconds"
        );
    }

    #[test]
    fn a_list_of_names_reads_as_english() {
        assert_eq!(list(&["a"]), "`a`");
        assert_eq!(list(&["a", "b"]), "`a` and `b`");
        assert_eq!(list(&["a", "b", "c"]), "`a`, `b` and `c`");
    }

    #[test]
    fn a_typo_is_up_to_a_third_of_the_name_away() {
        // Two edits from a 10-letter key: a typo of it.
        assert_eq!(closest("blok_tme", &KEYS), Some("block_time"));
        // Four edits from it: not.
        assert_eq!(closest("bk_te", &KEYS), None);
        // One edit is always close enough, however short the name.
        assert_eq!(closest("GTE", &STANDARD_METHODS), Some("GET"));
    }

    #[test]
    fn a_swap_of_neighbours_is_one_edit_anywhere_in_the_name() {
        assert_eq!(edit_distance("ab", "ba"), 1);
        assert_eq!(edit_distance("seocnd", "second"), 1);
        assert_eq!(edit_distance("abcdfe", "abcdef"), 1);
        assert_eq!(edit_distance("bolck_time", "block_time"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "day"), 3);
    }

    #[test]
    fn shadow_is_a_bare_item_of_a_rule_that_can_refuse() {
        let input = parse_routes(quote!(
            "^/trial"  => [minute = 1 shadow],
            "^/closed" => [deny shadow],
            "^/live"   => [minute = 1],
        ))
        .expect("valid syntax");
        let routes = check_routes(&input).expect("valid rules");
        let shadows: Vec<bool> = routes
            .iter()
            .map(|route| route.rules()[0].shadow())
            .collect();
        assert_eq!(shadows, [true, true, false]);
        assert_eq!(
            one_error(quote!("^/a" => [unlimited shadow])),
            "`shadow` on an `unlimited` rule has nothing to try: the rule never refuses; remove \
             `shadow`"
        );
        assert_eq!(
            one_error(quote!("^/a" => [second = 1 shadow shadow])),
            "`shadow` is given twice in this rule; keep one"
        );
        assert_eq!(
            one_error(quote!("^/a" => [second = 1 shadow = 1])),
            "`shadow` takes no value; write `shadow` alone"
        );
    }

    #[test]
    fn global_is_a_bare_item_of_a_limited_rule_without_a_block() {
        let input = parse_routes(quote!(
            "^/search" => [second = 3 global],
            "^/other"  => [second = 3],
        ))
        .expect("valid syntax");
        let routes = check_routes(&input).expect("valid rules");
        assert!(routes[0].rules()[0].global());
        assert!(!routes[1].rules()[0].global());
        assert_eq!(
            one_error(quote!("^/a" => [second = 1 global block_time = 60])),
            "`global` cannot be combined with `block_time`: a block belongs to a user, and a \
             `global` rule counts every user together; remove one of them"
        );
        assert_eq!(
            one_error(quote!("^/a" => [deny global])),
            "`global` applies only to a rule with limits; remove it, or replace `deny` with \
             limits"
        );
        assert_eq!(
            one_error(quote!("^/a" => [second = 1 global global])),
            "`global` is given twice in this rule; keep one"
        );
    }

    #[test]
    fn windows_of_any_length_join_the_named_units() {
        let input = parse_routes(quote!(
            "^/a" => [5m = 100 10s = 3 hour = 1000 2h = 1500 1d = 5000],
        ))
        .expect("valid syntax");
        let routes = check_routes(&input).expect("valid rules");
        let limits = routes[0].rules()[0].limits();
        let written: Vec<String> = limits.iter().map(ToString::to_string).collect();
        assert_eq!(
            written,
            [
                "10s = 3",
                "5m = 100",
                "hour = 1000",
                "2h = 1500",
                "day = 5000"
            ],
            "sorted by length; a length that is a unit's is named so"
        );
        assert_eq!(limits[1].window_seconds(), 300);
        assert_eq!(limits[4].unit(), Some(Unit::Day));

        assert_eq!(
            one_error(quote!("^/a" => [60s = 5 minute = 10])),
            "`minute` is the same window as `60s`; keep one of them"
        );
        assert_eq!(
            one_error(quote!("^/a" => [10s = 1 10s = 2])),
            "`10s` is given twice in this rule; keep one"
        );
        assert_eq!(
            one_error(quote!("^/a" => [0s = 3])),
            "a window of `0s` never ends; a window is at least 1 second (`1s`)"
        );
        assert_eq!(
            one_error(quote!("^/a" => [10 = 3])),
            "a window needs a unit: write `10s`, `10m`, `10h` or `10d`, or a named one such as \
             `minute`"
        );
        assert_eq!(
            one_error(quote!("^/a" => [10w = 3])),
            "unknown duration unit `w` in `10w`; use `s`, `m`, `h` or `d`, as in `60s`, `10m`, \
             `2h` or `1d`"
        );
        assert_eq!(
            one_error(quote!("^/a" => [32d = 3])),
            "the window `32d` is too long; the longest is 31 days (`31d`, a `month`)"
        );
        assert!(one_error(quote!("^/a" => [31d = 3 month = 4])).contains("same window"));
        assert_eq!(
            one_error(quote!("^/a" => [10s = 0])),
            "a count of 0 admits nothing; to refuse every request write `deny` instead of \
             `10s = 0`"
        );
        assert_eq!(
            one_error(quote!("^/a" => [10s = 5 1m = 5])),
            "`10s = 5` can never bind: `minute = 5` admits no more requests over a longer \
             window; remove `10s = 5`, or make its count lower than 5"
        );
    }

    #[test]
    fn count_if_lists_codes_and_classes_of_a_limited_rule() {
        let input = parse_routes(quote!(
            "^/login" => [minute = 3 count_if = 401 block_time = 60],
            "^/api" => [minute = 3 count_if = 429 | 5xx],
            "^/other" => [minute = 3],
        ))
        .expect("valid syntax");
        let routes = check_routes(&input).expect("valid rules");
        let login = routes[0].rules()[0].count_if().expect("a set");
        assert!(login.contains(401) && !login.contains(400) && !login.contains(200));
        let api = routes[1].rules()[0].count_if().expect("a set");
        assert!(api.contains(429) && api.contains(500) && api.contains(503));
        assert!(!api.contains(401) && !api.contains(200));
        assert!(
            routes[2].rules()[0].count_if().is_none(),
            "every response counts"
        );

        assert_eq!(
            one_error(quote!("^/a" => [minute = 3 count_if = 600])),
            "`600` is not an HTTP status; a status is from 100 to 599, or a class such as `4xx`"
        );
        assert_eq!(
            one_error(quote!("^/a" => [minute = 3 count_if = 99])),
            "`99` is not an HTTP status; a status is from 100 to 599, or a class such as `4xx`"
        );
        assert_eq!(
            one_error(quote!("^/a" => [minute = 3 count_if = 6xx])),
            "`6xx` is not a class of statuses; the classes are `1xx`, `2xx`, `3xx`, `4xx` and \
             `5xx`"
        );
        assert_eq!(
            one_error(quote!("^/a" => [minute = 3 count_if = 4xx | 401])),
            "`401` is already in `4xx`; remove it"
        );
        assert_eq!(
            one_error(quote!("^/a" => [minute = 3 count_if = 401 | 401])),
            "`401` is given twice; keep one"
        );
        assert_eq!(
            one_error(quote!("^/a" => [minute = 3 count_if = "401"])),
            "expected a status such as `401` or a class such as `4xx`, joined by `|`"
        );
        assert_eq!(
            one_error(quote!("^/a" => [minute = 3 count_if])),
            "`count_if` needs the statuses that count, as in `count_if = 401` or \
             `count_if = 401 | 5xx`"
        );
        assert_eq!(
            one_error(quote!("^/a" => [unlimited count_if = 401])),
            "`count_if` applies only to a rule with limits; remove it, or replace `unlimited` \
             with limits"
        );
        assert_eq!(
            one_error(quote!("^/a" => [minute = 3 count_if = 401 count_if = 403])),
            "`count_if` is given twice in this rule; keep one"
        );
        assert_eq!(
            errors(quote!("^/a" => [minute = 3 count_if = 600 | 7xx])).len(),
            2,
            "every bad status is reported"
        );
    }

    #[test]
    fn a_cost_is_what_every_limit_of_a_limited_rule_counts_per_request() {
        let input = parse_routes(quote!(
            "^/export" => [minute = 10 cost = 4],
            "^/other"  => [minute = 10],
        ))
        .expect("valid syntax");
        let routes = check_routes(&input).expect("valid rules");
        assert_eq!(routes[0].rules()[0].cost(), 4);
        assert_eq!(routes[1].rules()[0].cost(), 1, "1 by default");
        assert_eq!(
            one_error(quote!("^/a" => [minute = 10 cost = 0])),
            "a cost of 0 would count nothing; a cost is at least 1 (the default), or use \
             `unlimited` for requests that count nothing"
        );
        assert_eq!(
            one_error(quote!("^/a" => [second = 3 minute = 10 cost = 4])),
            "a request of `cost = 4` can never be admitted: `second = 3` has room for 3 at \
             most; lower the cost or raise the limit"
        );
        assert!(
            check_routes(&parse_routes(quote!("^/a" => [second = 3 cost = 3])).unwrap()).is_ok()
        );
        assert_eq!(
            one_error(quote!("^/a" => [deny cost = 2])),
            "`cost` applies only to a rule with limits; remove it, or replace `deny` with limits"
        );
        assert_eq!(
            one_error(quote!("^/a" => [second = 5 cost = 2 cost = 3])),
            "`cost` is given twice in this rule; keep one"
        );
        assert_eq!(
            one_error(quote!("^/a" => [second = 5 cost])),
            "`cost` needs a count, as in `cost = 5`: how much of every limit a request uses"
        );
        assert_eq!(
            one_error(quote!("^/a" => [second = 5 cost = 2s])),
            "a count takes no suffix; write `2`, not `2s`"
        );
    }

    #[test]
    fn a_limit_that_can_never_bind() {
        assert_eq!(
            one_error(quote!("^/a" => [second = 10 minute = 5])),
            "`second = 10` can never bind: `minute = 5` admits no more requests over a longer \
             window; remove `second = 10`, or make its count lower than 5"
        );
        assert_eq!(
            one_error(quote!("^/a" => [day = 5 hour = 5])),
            "`hour = 5` can never bind: `day = 5` admits no more requests over a longer window; \
             remove `hour = 5`, or make its count lower than 5"
        );
    }

    #[test]
    fn rules_hidden_by_earlier_rules() {
        assert_eq!(
            one_error(quote!("^/a" => [second = 1 @admin, minute = 5 @admin])),
            "this rule can never apply: an earlier rule for group `admin` already applies to \
             every method; put the rule with a method first"
        );
        assert_eq!(
            one_error(quote!("^/a" => [method = GET second = 1, method = get minute = 5])),
            "this rule can never apply: an earlier rule already applies to group `default` and \
             method `GET`; merge the two"
        );
        // A method-specific rule before a catch-all is the intended idiom.
        let input = parse_routes(quote!("^/a" => [method = GET second = 1, minute = 5]))
            .expect("valid syntax");
        assert!(check_routes(&input).is_ok());
    }

    #[test]
    fn duplicate_and_shadowed_routes() {
        assert_eq!(
            one_error(quote!("^/a" => [second = 1], "/a" => [second = 2])),
            "the pattern \"/a\" is already a route above (\"^/a\"); merge the two routes' rules"
        );
        assert_eq!(
            one_error(quote!("^/" => [second = 1], "^/api" => [second = 2])),
            "this route can never apply: the route \"^/\" above matches every path this one \
             matches, for every group and method it names; declare this route first"
        );
        // Not shadowed: the later route has a group the earlier one lacks.
        let input = parse_routes(quote! {
            "^/" => [second = 1],
            "^/api" => [second = 2, second = 3 @admin],
            r"^/api/\d+" => [method = POST second = 1 @admin, second = 1 @other],
        })
        .expect("valid syntax");
        assert_eq!(
            check_routes(&input).map_err(|e| e.to_string()).err(),
            None,
            "a route with a group the earlier one lacks is reachable"
        );
    }

    #[test]
    fn suggestions_allow_one_edit_per_three_letters() {
        assert_eq!(edit_distance("GTE", "GET"), 1);
        assert_eq!(edit_distance("secnd", "second"), 1);
        assert_eq!(closest("minutes", &KEYS), Some("minute"));
        assert_eq!(closest("blocktime", &KEYS), Some("block_time"));
        assert_eq!(closest("frobnicate", &KEYS), None);
    }

    #[test]
    fn the_attribute_rule_list_is_checked_alone() {
        let input = parse_rules(quote!(second = 1 @default, unlimited @admin)).expect("syntax");
        let rules = check_rules(&input, Span::call_site()).expect("valid");
        assert_eq!(rules.len(), 2);
        let empty = parse_rules(quote!()).expect("syntax");
        assert_eq!(
            check_rules(&empty, Span::call_site())
                .map_err(|e| e.to_string())
                .err(),
            Some("no rules given; add one, as in `#[rate_limited(second = 10)]`".into())
        );
    }
}

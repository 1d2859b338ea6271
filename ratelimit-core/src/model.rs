//! The typed rule model: what a `ratelimit! { … }` invocation means once it has been checked.
//!
//! Every type here can be built in a `const` context from `'static` data (that is what the
//! macro emits) and at run time from owned data (what the checker produces), through
//! [`Cow`]. A value of these types is always valid: the constructors that take unchecked
//! parts are `const fn`s that refuse invalid input at compile time, and the checker is the
//! only other way in.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use crate::__private::MAX_COUNT;
use crate::bytes::same_bytes;
use crate::pattern::Pattern;

/// The length of a rate-limit window.
///
/// Windows are fixed lengths, as in the original `asgi-ratelimit`: a month is 31 days.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Unit {
    /// One second.
    Second,
    /// Sixty seconds.
    Minute,
    /// 3 600 seconds.
    Hour,
    /// 86 400 seconds.
    Day,
    /// 31 days: 2 678 400 seconds.
    Month,
}

impl Unit {
    /// Every unit, shortest window first.
    pub const ALL: [Self; 5] = [
        Self::Second,
        Self::Minute,
        Self::Hour,
        Self::Day,
        Self::Month,
    ];

    /// The unit's name in the DSL (`second`, `minute`, …).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Second => "second",
            Self::Minute => "minute",
            Self::Hour => "hour",
            Self::Day => "day",
            Self::Month => "month",
        }
    }

    /// The unit named `name` in the DSL, if any.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|unit| unit.name() == name)
    }

    /// The window length in whole seconds.
    #[must_use]
    pub const fn seconds(self) -> u64 {
        match self {
            Self::Second => 1,
            Self::Minute => 60,
            Self::Hour => 3_600,
            Self::Day => 86_400,
            Self::Month => 31 * 86_400,
        }
    }

    /// The window length.
    #[must_use]
    pub const fn window(self) -> Duration {
        Duration::from_secs(self.seconds())
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The most limits a rule can have (one per window length).
pub const MAX_LIMITS: usize = 8;

/// The longest window a limit can have: 31 days, a [`Unit::Month`].
pub const MAX_WINDOW_SECONDS: u64 = Unit::Month.seconds();

impl Unit {
    /// The unit whose window is `seconds` long, if any.
    #[must_use]
    pub const fn from_seconds(seconds: u64) -> Option<Self> {
        match seconds {
            1 => Some(Self::Second),
            60 => Some(Self::Minute),
            3_600 => Some(Self::Hour),
            86_400 => Some(Self::Day),
            2_678_400 => Some(Self::Month),
            _ => None,
        }
    }
}

/// At most `count` requests per window of a whole number of seconds: a named [`Unit`]
/// (`minute = 10`) or any length up to [`MAX_WINDOW_SECONDS`] (`10s = 3`, `5m = 100`).
///
/// A limit is its window's length and its count: `60s = 5` and `minute = 5` are the same
/// limit, and count in the same window of a pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Limit {
    seconds: u64,
    count: u64,
}

impl Limit {
    /// A limit of `count` requests per `unit`.
    ///
    /// # Panics
    ///
    /// When `count` is 0 or above 2^53 - 1. In a `const` or `static` initializer (which
    /// is how `ratelimit!` uses it) that is a compile error, never a run-time panic.
    #[must_use]
    pub const fn new(unit: Unit, count: u64) -> Self {
        Self::per_seconds(unit.seconds(), count)
    }

    /// A limit of `count` requests per window of `seconds`.
    ///
    /// # Panics
    ///
    /// When `count` is 0 or above 2^53 - 1, or `seconds` is 0 or above
    /// [`MAX_WINDOW_SECONDS`]. In a `const` or `static` initializer (which is how
    /// `ratelimit!` uses it) that is a compile error, never a run-time panic.
    #[must_use]
    pub const fn per_seconds(seconds: u64, count: u64) -> Self {
        assert!(
            count >= 1 && count <= MAX_COUNT,
            "a limit's count is from 1 to 2^53 - 1"
        );
        assert!(
            seconds >= 1 && seconds <= MAX_WINDOW_SECONDS,
            "a limit's window is from 1 second to 31 days"
        );
        Self { seconds, count }
    }

    /// The named unit whose window this limit's is, if any (`None` for `10s = 3`).
    #[must_use]
    pub const fn unit(&self) -> Option<Unit> {
        Unit::from_seconds(self.seconds)
    }

    /// The number of requests admitted per window (at least 1).
    #[must_use]
    pub const fn count(&self) -> u64 {
        self.count
    }

    /// The window length in whole seconds.
    #[must_use]
    pub const fn window_seconds(&self) -> u64 {
        self.seconds
    }

    /// The window length.
    #[must_use]
    pub const fn window(&self) -> Duration {
        Duration::from_secs(self.seconds)
    }

    /// The window's name as the DSL writes it: the unit's (`minute`) when it is one, else
    /// the length in the largest unit that divides it (`10s`, `5m`, `2h`, `3d`).
    #[must_use]
    pub const fn window_name(&self) -> WindowName {
        WindowName(self.seconds)
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} = {}", self.window_name(), self.count)
    }
}

/// A window's name, as [`Limit::window_name`] gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowName(u64);

impl fmt::Display for WindowName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(unit) = Unit::from_seconds(self.0) {
            return f.write_str(unit.name());
        }
        let (length, suffix) = [(86_400, 'd'), (3_600, 'h'), (60, 'm')]
            .into_iter()
            .find(|(unit, _)| self.0.is_multiple_of(*unit))
            .map_or((self.0, 's'), |(unit, suffix)| (self.0 / unit, suffix));
        write!(f, "{length}{suffix}")
    }
}

/// An HTTP method a rule applies to, upper-cased.
///
/// A request matches it whatever the case of the request's method.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RuleMethod(Cow<'static, str>);

impl RuleMethod {
    /// A method from its upper-case name.
    ///
    /// # Panics
    ///
    /// When `name` is empty or is not an upper-case HTTP token (RFC 9110 §5.6.2); in a
    /// `const` or `static` initializer that is a compile error.
    #[must_use]
    pub const fn from_static(name: &'static str) -> Self {
        assert!(
            is_method_token(name),
            "a method is an upper-case HTTP token"
        );
        Self(Cow::Borrowed(name))
    }

    /// Parses a method name, in any case, into its upper-case form.
    ///
    /// Returns `None` unless `name` is a non-empty HTTP token.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        let upper = name.to_ascii_uppercase();
        is_method_token(&upper).then_some(Self(Cow::Owned(upper)))
    }

    /// The upper-case name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether a request with method `request_method` matches, comparing without case.
    #[must_use]
    pub fn matches(&self, request_method: &str) -> bool {
        self.0.eq_ignore_ascii_case(request_method)
    }
}

impl fmt::Display for RuleMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether `name` is a non-empty HTTP token without lower-case letters.
const fn is_method_token(name: &str) -> bool {
    let bytes = name.as_bytes();
    if bytes.is_empty() {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let tchar = b.is_ascii_uppercase()
            || b.is_ascii_digit()
            || matches!(
                b,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        if !tchar {
            return false;
        }
        i += 1;
    }
    true
}

/// A set of HTTP statuses, from 100 to 599: what `count_if = 401 | 5xx` lists.
///
/// Built in a `const` context by the macros, from its bits; [`contains`](Self::contains) is
/// a shift and a mask.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusSet([u64; 8]);

impl StatusSet {
    /// The set of no status.
    pub const EMPTY: Self = Self([0; 8]);

    /// The set whose bit `i` (bit `i % 64` of word `i / 64`) is status `100 + i`.
    ///
    /// # Panics
    ///
    /// When a bit above status 599 is set; in a `const` or `static` initializer that is a
    /// compile error.
    #[must_use]
    pub const fn from_bits(bits: [u64; 8]) -> Self {
        assert!(bits[7] >> 52 == 0, "a status is from 100 to 599");
        Self(bits)
    }

    /// The bits [`from_bits`](Self::from_bits) takes.
    #[must_use]
    pub const fn bits(&self) -> [u64; 8] {
        self.0
    }

    /// This set and `status`.
    ///
    /// # Panics
    ///
    /// When `status` is not from 100 to 599.
    #[must_use]
    pub const fn with(mut self, status: u16) -> Self {
        assert!(
            status >= 100 && status <= 599,
            "a status is from 100 to 599"
        );
        let index = (status - 100) as usize;
        self.0[index / 64] |= 1 << (index % 64);
        self
    }

    /// This set and every status of the class `class` (1 for `1xx` … 5 for `5xx`).
    ///
    /// # Panics
    ///
    /// When `class` is not from 1 to 5.
    #[must_use]
    pub const fn with_class(mut self, class: u16) -> Self {
        assert!(
            class >= 1 && class <= 5,
            "a class of statuses is from 1xx to 5xx"
        );
        let mut status = class * 100;
        while status < class * 100 + 100 {
            self = self.with(status);
            status += 1;
        }
        self
    }

    /// Whether `status` is in the set (never, for a status outside 100 to 599).
    #[must_use]
    #[inline]
    pub const fn contains(&self, status: u16) -> bool {
        if status < 100 || status > 599 {
            return false;
        }
        let index = (status - 100) as usize;
        self.0[index / 64] >> (index % 64) & 1 == 1
    }

    /// Whether the set holds no status.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        let mut word = 0;
        while word < self.0.len() {
            if self.0[word] != 0 {
                return false;
            }
            word += 1;
        }
        true
    }
}

impl fmt::Debug for StatusSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries((100..600).filter(|&status| self.contains(status)))
            .finish()
    }
}

/// What a rule does with the requests it applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Count the request against every limit; admit it only if all of them have room.
    ///
    /// The limits are sorted by window, shortest first, and there is at least one.
    Limited(Cow<'static, [Limit]>),
    /// Admit every request, uncounted.
    Unlimited,
    /// Refuse every request: waiting will not help.
    Deny,
}

/// The group a rule applies to when it names none.
pub const DEFAULT_GROUP: &str = "default";

/// One rule of a route: for one group and method, what happens to a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    parts: RuleParts,
}

/// The parts of a [`Rule`], as written in the DSL; [`Rule::new`] checks them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleParts {
    /// The group the rule applies to ([`DEFAULT_GROUP`] when the DSL names none).
    pub group: Cow<'static, str>,
    /// The method the rule applies to, or `None` for every method.
    pub method: Option<RuleMethod>,
    /// What the rule does.
    pub policy: Policy,
    /// The shared pool the rule counts in, instead of one pool per path.
    pub zone: Option<Cow<'static, str>>,
    /// How long a user who exceeds the rule is blocked.
    pub block_time: Option<Duration>,
    /// Whether the rule runs in shadow: decided and counted as usual, never refusing.
    pub shadow: bool,
    /// Whether the rule counts every user in one pool (`global`): its pool has no user.
    pub global: bool,
    /// How much of every limit one request uses (`cost = N`; 1 when the DSL names none).
    pub cost: u64,
    /// The responses that use up the limits (`count_if = 401 | 5xx`); `None` for every
    /// response. A request is counted when admitted, and given back when its response's
    /// status is not in the set.
    pub count_if: Option<StatusSet>,
}

impl Rule {
    /// A rule from its parts.
    ///
    /// # Panics
    ///
    /// When the parts break a rule the DSL checks: an empty group or zone, a
    /// [`Policy::Limited`] without limits or with more than [`MAX_LIMITS`], a zone or block time on a rule without limits, a
    /// block time under a second, a cost of 0, a cost on a rule without limits or above
    /// its smallest count. In a `const` or `static` initializer (which is how `ratelimit!`
    /// uses it) that is a compile error, never a run-time panic.
    #[must_use]
    pub const fn new(parts: RuleParts) -> Self {
        assert!(!cow_str_is_empty(&parts.group), "a group name is not empty");
        let limited = match &parts.policy {
            Policy::Limited(limits) => {
                assert!(!cow_slice_is_empty(limits), "a limited rule has a limit");
                assert!(
                    cow_slice_len(limits) <= MAX_LIMITS,
                    "a rule has at most 8 limits"
                );
                assert!(
                    parts.cost <= smallest_count(limits),
                    "a rule's cost is at most its smallest count"
                );
                true
            }
            Policy::Unlimited | Policy::Deny => false,
        };
        assert!(parts.cost >= 1, "a cost is at least 1");
        if let Some(statuses) = &parts.count_if {
            assert!(!statuses.is_empty(), "a `count_if` names a status");
            assert!(limited, "only a rule with limits has a `count_if`");
        }
        assert!(
            limited || parts.cost == 1,
            "only a rule with limits has a cost"
        );
        if let Some(zone) = &parts.zone {
            assert!(!cow_str_is_empty(zone), "a zone name is not empty");
            assert!(limited, "only a rule with limits has a zone");
        }
        if let Some(block_time) = &parts.block_time {
            assert!(
                block_time.as_secs() >= 1,
                "a block time is at least 1 second"
            );
            assert!(limited, "only a rule with limits has a block time");
        }
        assert!(
            !(parts.shadow && matches!(parts.policy, Policy::Unlimited)),
            "an `unlimited` rule never refuses, so it has no shadow"
        );
        if parts.global {
            assert!(limited, "only a rule with limits is global");
            assert!(
                parts.block_time.is_none(),
                "a global rule has no block time: a block belongs to a user"
            );
        }
        Self { parts }
    }

    /// The group the rule applies to (`"default"` when the DSL names none).
    #[must_use]
    pub fn group(&self) -> &str {
        &self.parts.group
    }

    /// The method the rule applies to, or `None` for every method.
    #[must_use]
    pub const fn method(&self) -> Option<&RuleMethod> {
        self.parts.method.as_ref()
    }

    /// What the rule does.
    #[must_use]
    pub const fn policy(&self) -> &Policy {
        &self.parts.policy
    }

    /// The limits, shortest window first; empty for `unlimited` and `deny`.
    #[must_use]
    pub fn limits(&self) -> &[Limit] {
        match &self.parts.policy {
            Policy::Limited(limits) => limits,
            Policy::Unlimited | Policy::Deny => &[],
        }
    }

    /// The shared pool the rule counts in, if any.
    #[must_use]
    pub fn zone(&self) -> Option<&str> {
        self.parts.zone.as_deref()
    }

    /// How long a user who exceeds the rule is blocked, if at all.
    #[must_use]
    pub const fn block_time(&self) -> Option<Duration> {
        self.parts.block_time
    }

    /// Whether the rule runs in shadow (`shadow` in the DSL): decided and counted exactly as
    /// if enforced, but a request it would refuse is admitted (and the would-be refusal
    /// logged and counted).
    #[must_use]
    pub const fn shadow(&self) -> bool {
        self.parts.shadow
    }

    /// Whether the rule counts every user together (`global` in the DSL): its pool has no
    /// user, so every identity counts against the same windows. The rule is still chosen by
    /// the identity's group and the method.
    #[must_use]
    pub const fn global(&self) -> bool {
        self.parts.global
    }

    /// How much of every limit one request uses (`cost = N` in the DSL; 1 by default).
    #[must_use]
    pub const fn cost(&self) -> u64 {
        self.parts.cost
    }

    /// The responses that use up the limits (`count_if` in the DSL), or `None` for every
    /// response: a request is counted when admitted and given back when its response's
    /// status is not in the set.
    #[must_use]
    pub const fn count_if(&self) -> Option<&StatusSet> {
        self.parts.count_if.as_ref()
    }

    /// Whether the rule applies to a request of `group` with `method` (compared without
    /// case).
    #[must_use]
    #[inline]
    pub fn applies_to(&self, group: &str, method: &str) -> bool {
        // Compared inline (a group is a word or two), not through a `memcmp` call: this runs
        // for every limited request.
        same_bytes(self.parts.group.as_bytes(), group.as_bytes())
            && self.parts.method.as_ref().is_none_or(|m| m.matches(method))
    }
}

/// A route: a path pattern and its rules, in declaration order.
#[derive(Clone, Debug)]
pub struct Route {
    pattern: Pattern,
    rules: Cow<'static, [Rule]>,
}

impl Route {
    /// A route matching `pattern` with `rules`.
    ///
    /// # Panics
    ///
    /// When `rules` is empty; in a `const` or `static` initializer that is a compile error.
    #[must_use]
    pub const fn new(pattern: Pattern, rules: Cow<'static, [Rule]>) -> Self {
        assert!(!cow_slice_is_empty(&rules), "a route has a rule");
        Self { pattern, rules }
    }

    /// The path pattern.
    #[must_use]
    pub const fn pattern(&self) -> &Pattern {
        &self.pattern
    }

    /// The rules, in declaration order.
    #[must_use]
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The first rule that applies to a request of `group` with `method`, if any: see
    /// [`rule_for`].
    #[must_use]
    #[inline]
    pub fn rule_for(&self, group: &str, method: &str) -> Option<&Rule> {
        rule_for(&self.rules, group, method)
    }
}

/// The first of `rules` that applies to a request of `group` with `method` (compared without
/// case), if any.
///
/// A `HEAD` request is served by the `GET` handler (axum, hyper and most frameworks answer
/// `HEAD` with it), so it is selected as a `GET` unless a rule of `rules` for `group` names
/// `HEAD` itself: a `method = GET` rule limits `HEAD` too, in the same pool, and a client
/// cannot skip it by asking for the headers only.
#[must_use]
#[inline]
pub fn rule_for<'r>(rules: &'r [Rule], group: &str, method: &str) -> Option<&'r Rule> {
    if method.eq_ignore_ascii_case("HEAD") {
        return head_rule_for(rules, group);
    }
    rules.iter().find(|rule| rule.applies_to(group, method))
}

/// [`rule_for`] a `HEAD` request: out of line, off the path of the other methods.
#[cold]
#[inline(never)]
fn head_rule_for<'r>(rules: &'r [Rule], group: &str) -> Option<&'r Rule> {
    let names_head = rules.iter().any(|rule| {
        rule.method().is_some_and(|m| m.matches("HEAD"))
            && same_bytes(rule.group().as_bytes(), group.as_bytes())
    });
    let method = if names_head { "HEAD" } else { "GET" };
    rules.iter().find(|rule| rule.applies_to(group, method))
}

#[allow(clippy::ptr_arg, reason = "`Cow`'s `Deref` is not `const`")]
const fn cow_str_is_empty(s: &Cow<'static, str>) -> bool {
    match s {
        Cow::Borrowed(s) => s.is_empty(),
        Cow::Owned(s) => s.is_empty(),
    }
}

#[allow(clippy::ptr_arg, reason = "`Cow`'s `Deref` is not `const`")]
const fn cow_slice_len<T: Clone>(s: &Cow<'static, [T]>) -> usize {
    match s {
        Cow::Borrowed(s) => s.len(),
        Cow::Owned(s) => s.len(),
    }
}

/// The smallest count of `limits` (`u64::MAX` for none).
#[allow(clippy::ptr_arg, reason = "`Cow`'s `Deref` is not `const`")]
const fn smallest_count(limits: &Cow<'static, [Limit]>) -> u64 {
    let limits: &[Limit] = match limits {
        Cow::Borrowed(limits) => limits,
        Cow::Owned(limits) => limits.as_slice(),
    };
    let mut smallest = u64::MAX;
    let mut index = 0;
    while index < limits.len() {
        if limits[index].count < smallest {
            smallest = limits[index].count;
        }
        index += 1;
    }
    smallest
}

#[allow(clippy::ptr_arg, reason = "`Cow`'s `Deref` is not `const`")]
const fn cow_slice_is_empty<T: Clone>(s: &Cow<'static, [T]>) -> bool {
    match s {
        Cow::Borrowed(s) => s.is_empty(),
        Cow::Owned(s) => s.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_have_the_original_lengths() {
        let secs: Vec<u64> = Unit::ALL.iter().map(|u| u.seconds()).collect();
        assert_eq!(secs, [1, 60, 3_600, 86_400, 2_678_400]);
        assert_eq!(Unit::from_name("hour"), Some(Unit::Hour));
        assert_eq!(Unit::from_name("hours"), None);
        let names: Vec<String> = Unit::ALL.iter().map(ToString::to_string).collect();
        assert_eq!(names, ["second", "minute", "hour", "day", "month"]);
    }

    #[test]
    fn a_status_set_holds_codes_and_classes_from_100_to_599() {
        let set = StatusSet::EMPTY.with(401).with_class(5);
        assert!(set.contains(401) && set.contains(500) && set.contains(599));
        assert!(!set.contains(400) && !set.contains(402) && !set.contains(499));
        assert!(!set.contains(99) && !set.contains(600) && !set.contains(0));
        assert_eq!(StatusSet::from_bits(set.bits()), set);
        let edges = StatusSet::EMPTY.with(100).with(163).with(164).with(599);
        let present: Vec<u16> = (0..700).filter(|&s| edges.contains(s)).collect();
        assert_eq!(present, [100, 163, 164, 599]);
        assert!(StatusSet::EMPTY.is_empty() && !edges.is_empty());
        assert_eq!(format!("{:?}", StatusSet::EMPTY.with(404)), "{404}");
    }

    #[test]
    fn a_window_is_named_by_its_unit_or_its_largest_whole_unit() {
        let name = |seconds| Limit::per_seconds(seconds, 1).window_name().to_string();
        assert_eq!(name(1), "second");
        assert_eq!(name(60), "minute");
        assert_eq!(name(2_678_400), "month");
        assert_eq!(name(10), "10s");
        assert_eq!(name(90), "90s");
        assert_eq!(name(300), "5m");
        assert_eq!(name(7_200), "2h");
        assert_eq!(name(172_800), "2d");
        assert_eq!(Limit::per_seconds(60, 5), Limit::new(Unit::Minute, 5));
        assert_eq!(Limit::per_seconds(10, 3).unit(), None);
        for unit in Unit::ALL {
            assert_eq!(Unit::from_seconds(unit.seconds()), Some(unit));
        }
        assert_eq!(Unit::from_seconds(2), None);
    }

    #[test]
    fn methods_parse_without_case_and_match_without_case() {
        let get = RuleMethod::parse("get").expect("valid");
        assert_eq!(get.as_str(), "GET");
        assert!(get.matches("GET") && get.matches("gEt"));
        assert!(!get.matches("POST"));
        assert_eq!(
            RuleMethod::parse("PURGE").map(|m| m.to_string()),
            Some("PURGE".into())
        );
        // Any HTTP token: digits and the token's punctuation too.
        for token in ["M-SEARCH", "V2", "X_Y.Z~1", "A!#$%&'*+^`|"] {
            assert_eq!(
                RuleMethod::parse(token).as_ref().map(RuleMethod::as_str),
                Some(token)
            );
        }
        assert_eq!(RuleMethod::parse("A:B"), None);
        assert_eq!(RuleMethod::parse(""), None);
        assert_eq!(RuleMethod::parse("G T"), None);
        assert_eq!(RuleMethod::parse("GÉT"), None);
    }

    #[test]
    fn a_rule_applies_by_group_and_method() {
        let rule = Rule::new(RuleParts {
            group: Cow::Borrowed("admin"),
            method: Some(RuleMethod::from_static("POST")),
            policy: Policy::Unlimited,
            zone: None,
            block_time: None,
            shadow: false,
            global: false,
            cost: 1,
            count_if: None,
        });
        assert!(rule.applies_to("admin", "post"));
        assert!(!rule.applies_to("admin", "GET"));
        assert!(!rule.applies_to("default", "POST"));
        let any = Rule::new(RuleParts {
            group: Cow::Borrowed(DEFAULT_GROUP),
            method: None,
            policy: Policy::Deny,
            zone: None,
            block_time: None,
            shadow: false,
            global: false,
            cost: 1,
            count_if: None,
        });
        assert!(any.applies_to("default", "DELETE"));
    }

    fn rule(group: &'static str, method: Option<&'static str>) -> Rule {
        Rule::new(RuleParts {
            group: Cow::Borrowed(group),
            method: method.map(RuleMethod::from_static),
            policy: Policy::Unlimited,
            zone: None,
            block_time: None,
            shadow: false,
            global: false,
            cost: 1,
            count_if: None,
        })
    }

    fn limited(limits: Vec<Limit>, cost: u64) -> RuleParts {
        RuleParts {
            group: Cow::Borrowed(DEFAULT_GROUP),
            method: None,
            policy: Policy::Limited(Cow::Owned(limits)),
            zone: None,
            block_time: None,
            shadow: false,
            global: false,
            cost,
            count_if: None,
        }
    }

    #[test]
    fn a_cost_up_to_the_smallest_count_is_a_rule() {
        let limits = vec![Limit::new(Unit::Second, 5), Limit::new(Unit::Minute, 3)];
        assert_eq!(Rule::new(limited(limits, 3)).cost(), 3);
    }

    #[test]
    #[should_panic(expected = "a rule's cost is at most its smallest count")]
    fn a_cost_above_the_smallest_count_is_refused() {
        let limits = vec![Limit::new(Unit::Second, 5), Limit::new(Unit::Minute, 3)];
        let _ = Rule::new(limited(limits, 4));
    }

    #[test]
    #[should_panic(expected = "a rule has at most 8 limits")]
    fn more_than_eight_limits_are_refused() {
        let limits = (1..=9)
            .map(|seconds| Limit::per_seconds(seconds, seconds))
            .collect();
        let _ = Rule::new(limited(limits, 1));
    }

    #[test]
    fn eight_limits_are_a_rule() {
        let limits = (1..=8)
            .map(|seconds| Limit::per_seconds(seconds, seconds))
            .collect();
        assert_eq!(Rule::new(limited(limits, 1)).limits().len(), 8);
    }

    #[test]
    #[should_panic(expected = "a limited rule has a limit")]
    fn a_limited_rule_without_limits_is_refused() {
        let _ = Rule::new(limited(Vec::new(), 1));
    }

    #[test]
    #[should_panic(expected = "a group name is not empty")]
    fn an_empty_group_is_refused() {
        let mut parts = limited(vec![Limit::new(Unit::Second, 1)], 1);
        parts.group = Cow::Owned(String::new());
        let _ = Rule::new(parts);
    }

    #[test]
    #[should_panic(expected = "a zone name is not empty")]
    fn an_empty_zone_is_refused() {
        let mut parts = limited(vec![Limit::new(Unit::Second, 1)], 1);
        parts.zone = Some(Cow::Borrowed(""));
        let _ = Rule::new(parts);
    }

    #[test]
    #[should_panic(expected = "a route has a rule")]
    fn a_route_without_rules_is_refused() {
        let pattern = Pattern::analyze("^/a").expect("a pattern");
        let _ = Route::new(pattern, Cow::Owned(Vec::new()));
    }

    #[test]
    fn a_route_selects_its_rule_for_a_group_and_method() {
        let pattern = Pattern::analyze("^/a").expect("a pattern");
        let route = Route::new(
            pattern,
            Cow::Owned(vec![rule("admin", None), rule("default", Some("POST"))]),
        );
        assert_eq!(
            route.rule_for("admin", "GET").map(Rule::group),
            Some("admin")
        );
        assert_eq!(
            route.rule_for("default", "post").map(Rule::group),
            Some("default")
        );
        assert!(route.rule_for("default", "GET").is_none());
    }

    #[test]
    fn head_is_selected_as_get_unless_a_rule_of_the_group_names_head() {
        let rules = [rule("default", Some("GET")), rule("default", None)];
        let head = rule_for(&rules, "default", "head").expect("a rule");
        assert_eq!(head.method().map(RuleMethod::as_str), Some("GET"));
        let get = rule_for(&rules, "default", "GET").expect("a rule");
        assert!(std::ptr::eq(head, get), "HEAD and GET share the rule");

        // A HEAD rule of the group wins, wherever it is declared.
        let rules = [rule("default", Some("GET")), rule("default", Some("HEAD"))];
        let head = rule_for(&rules, "default", "HEAD").expect("a rule");
        assert_eq!(head.method().map(RuleMethod::as_str), Some("HEAD"));

        // Another group's HEAD rule does not count.
        let rules = [rule("admin", Some("HEAD")), rule("default", Some("GET"))];
        let head = rule_for(&rules, "default", "HEAD").expect("a rule");
        assert_eq!(head.method().map(RuleMethod::as_str), Some("GET"));

        // No GET rule: HEAD is not limited by a POST rule.
        let rules = [rule("default", Some("POST"))];
        assert!(rule_for(&rules, "default", "HEAD").is_none());
    }
}

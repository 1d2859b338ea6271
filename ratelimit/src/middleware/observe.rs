//! What the limiter tells the outside about its decisions: a `tracing` event per decision of
//! a limited route (at debug level), the warnings a flood could repeat written at most once
//! per interval with a count, and, with the `metrics` feature, counters and a histogram
//! through the [`metrics`](https://docs.rs/metrics) facade.
//!
//! Labels are bounded: a route's pattern as written (or a handler's path), a rule's group
//! and zone as the rules name them, never a request's path, user id or group header.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use ratelimit_core::Rule;

use crate::rules::Rules;

/// The `outcome` label of a decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Admitted by its rule (limited and counted, or `unlimited`).
    Admitted,
    /// Refused with `429`: over a limit, or blocked.
    Limited,
    /// Refused with `403` by a `deny` rule.
    Denied,
    /// A shadow rule would have refused it with `429`: admitted.
    ShadowLimited,
    /// A shadow `deny` rule would have refused it: admitted.
    ShadowDenied,
    /// Not authenticated (`401`, or `500` for a misconfigured authenticator).
    Unauthenticated,
    /// The backend failed (admitted or refused by the failure policy).
    BackendError,
}

impl Verdict {
    /// The label's value.
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Self::Admitted => "admitted",
            Self::Limited => "limited",
            Self::Denied => "denied",
            Self::ShadowLimited => "shadow_limited",
            Self::ShadowDenied => "shadow_denied",
            Self::Unauthenticated => "unauthenticated",
            Self::BackendError => "backend_error",
        }
    }
}

/// Where a decision was made, for its route label.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Site<'a> {
    /// The layer's routes, of which `routes[first]` is the request's first matching route.
    Layer { first: usize },
    /// A [`Limiter::check`](super::Limiter::check) of other rules (a `#[rate_limited]`
    /// handler's), counted in this scope: the label.
    Check(&'a str),
}

/// Whether a decision is recorded anywhere: always with the `metrics` feature, else when a
/// `tracing` subscriber wants `ratelimit::decision` events at debug level. When not, the
/// middleware's common case records nothing and costs nothing for it.
#[inline(always)]
pub(crate) fn enabled() -> bool {
    cfg!(feature = "metrics")
        || tracing::enabled!(target: "ratelimit::decision", tracing::Level::DEBUG)
}

/// Records the decisions of one layer: a `tracing` event each and, with the `metrics`
/// feature, its counters, registered once per route, rule and outcome and then only
/// incremented (a decision of the layer's routes allocates nothing).
#[derive(Debug)]
pub(crate) struct Recorder {
    rules: Rules,
    #[cfg(feature = "metrics")]
    counters: Box<[RouteCounters]>,
}

/// One route's counters, registered on first use.
#[cfg(feature = "metrics")]
#[derive(Debug, Default)]
struct RouteCounters {
    /// Decisions without a rule (a request that could not be authenticated).
    unruled: Outcomes,
    /// By rule of the route.
    rules: Box<[RuleCounters]>,
}

#[cfg(feature = "metrics")]
#[derive(Debug, Default)]
struct RuleCounters {
    outcomes: Outcomes,
    blocks: std::sync::OnceLock<metrics::Counter>,
}

/// A counter per outcome label.
#[cfg(feature = "metrics")]
type Outcomes = [std::sync::OnceLock<metrics::Counter>; VERDICTS];

#[cfg(feature = "metrics")]
const VERDICTS: usize = 7;

impl Recorder {
    /// The recorder of a layer with `rules`.
    pub(crate) fn new(rules: Rules) -> Self {
        Self {
            rules,
            #[cfg(feature = "metrics")]
            counters: rules
                .routes()
                .iter()
                .map(|route| RouteCounters {
                    unruled: Outcomes::default(),
                    rules: route
                        .rules()
                        .iter()
                        .map(|_| RuleCounters::default())
                        .collect(),
                })
                .collect(),
        }
    }

    /// Records one decision made at `site` by `rule` (none when the request was not
    /// authenticated); `blocked` says that this refusal started a block. The labels are the
    /// route's pattern as written (or the handler's scope), the rule's group and zone as the
    /// rules name them, and the outcome.
    pub(crate) fn decision(
        &self,
        site: Site<'_>,
        rule: Option<&'static Rule>,
        verdict: Verdict,
        blocked: bool,
    ) {
        let group = rule.map_or("", Rule::group);
        let zone = rule.and_then(Rule::zone).unwrap_or("");
        let place = match site {
            Site::Layer { first } => Some(self.place(rule, first)),
            Site::Check(_) => None,
        };
        let route = match (site, place) {
            (_, Some((route, _))) => self.rules.routes()[route].pattern().source(),
            (Site::Check(scope), None) => scope,
            (Site::Layer { .. }, None) => "",
        };
        tracing::debug!(
            target: "ratelimit::decision",
            route,
            group,
            zone,
            outcome = verdict.as_str(),
            "rate-limit decision"
        );
        #[cfg(feature = "metrics")]
        {
            let labels = || {
                vec![
                    metrics::Label::new("route", route.to_owned()),
                    metrics::Label::from_static_parts("group", group),
                    metrics::Label::from_static_parts("zone", zone),
                ]
            };
            let outcome = |labels: Vec<metrics::Label>| {
                let mut labels = labels;
                labels.push(metrics::Label::from_static_parts(
                    "outcome",
                    verdict.as_str(),
                ));
                metrics::counter!("ratelimit_requests_total", labels)
            };
            let blocks =
                |labels: Vec<metrics::Label>| metrics::counter!("ratelimit_blocks_total", labels);
            match place.and_then(|(route, rule)| self.counters.get(route).map(|c| (c, rule))) {
                Some((counters, rule)) => {
                    let (outcomes, blocks_slot) = match rule.and_then(|k| counters.rules.get(k)) {
                        Some(rule) => (&rule.outcomes, Some(&rule.blocks)),
                        None => (&counters.unruled, None),
                    };
                    if let Some(slot) = outcomes.get(verdict as usize) {
                        slot.get_or_init(|| outcome(labels())).increment(1);
                    }
                    if blocked && let Some(slot) = blocks_slot {
                        slot.get_or_init(|| blocks(labels())).increment(1);
                    }
                }
                None => {
                    outcome(labels()).increment(1);
                    if blocked {
                        blocks(labels()).increment(1);
                    }
                }
            }
        }
        #[cfg(not(feature = "metrics"))]
        let _ = blocked;
    }

    /// The index of the route whose rules hold `rule` and of `rule` among them; else of the
    /// route `first`, with no rule.
    fn place(&self, rule: Option<&'static Rule>, first: usize) -> (usize, Option<usize>) {
        let routes = self.rules.routes();
        rule.and_then(|rule| {
            routes.iter().enumerate().find_map(|(index, route)| {
                let rules = route.rules();
                let at = rules.iter().position(|own| std::ptr::eq(own, rule))?;
                Some((index, Some(at)))
            })
        })
        .unwrap_or((first, None))
    }
}

/// The `ratelimit_backend_seconds` histograms of one backend, by result (`ok`, `error`,
/// `timeout`), registered on first use and then only recorded into.
#[cfg(feature = "metrics")]
#[derive(Debug, Default)]
pub(crate) struct BackendTimings {
    by_result: [std::sync::OnceLock<metrics::Histogram>; 3],
}

#[cfg(feature = "metrics")]
impl BackendTimings {
    /// Records how long one decision of the backend named `backend` took, and its result.
    pub(crate) fn record(
        &self,
        backend: &'static str,
        decided: &Result<crate::backend::Decision, crate::backend::BackendError>,
        took: Duration,
    ) {
        let (index, result) = match decided {
            Ok(_) => (0, "ok"),
            Err(crate::backend::BackendError::Timeout(_)) => (1, "timeout"),
            Err(_) => (2, "error"),
        };
        if let Some(slot) = self.by_result.get(index) {
            slot.get_or_init(|| {
                metrics::histogram!(
                    "ratelimit_backend_seconds",
                    "backend" => backend,
                    "result" => result
                )
            })
            .record(took.as_secs_f64());
        }
    }
}

/// How often a warning that a flood could repeat is written: at most once per interval, with
/// the count of the ones not written since.
pub(crate) const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Lets a repeated warning through at most once per [`LOG_INTERVAL`]; counts the rest.
#[derive(Debug, Default)]
pub(crate) struct LogThrottle {
    state: Mutex<Throttled>,
}

#[derive(Debug, Default)]
struct Throttled {
    /// When a line was last let through.
    last: Option<Instant>,
    /// The warnings held back since.
    held: u64,
}

impl LogThrottle {
    /// Whether to write a warning now: `Some(n)` when it may be written, `n` being how many
    /// were held back since the last one; `None` when it is held back (and counted).
    pub(crate) fn admit(&self, now: Instant) -> Option<u64> {
        // A poisoned lock only means a panic elsewhere while counting: go on with its state.
        let mut state = crate::lock(&self.state);
        match state.last {
            Some(last) if now.saturating_duration_since(last) < LOG_INTERVAL => {
                state.held += 1;
                None
            }
            _ => {
                state.last = Some(now);
                Some(std::mem::take(&mut state.held))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_of_warnings_is_one_line_per_interval_with_the_count_held_back() {
        let throttle = LogThrottle::default();
        let start = Instant::now();
        assert_eq!(throttle.admit(start), Some(0));
        let written = (1..100)
            .filter_map(|i| throttle.admit(start + Duration::from_millis(i)))
            .count();
        assert_eq!(written, 0, "99 more within the interval are held back");
        assert_eq!(throttle.admit(start + LOG_INTERVAL), Some(99));
        assert_eq!(throttle.admit(start + LOG_INTERVAL), None);
        assert_eq!(throttle.admit(start + LOG_INTERVAL * 3), Some(1));
    }

    #[test]
    fn every_verdict_has_its_documented_label() {
        let labels = [
            Verdict::Admitted,
            Verdict::Limited,
            Verdict::Denied,
            Verdict::ShadowLimited,
            Verdict::ShadowDenied,
            Verdict::Unauthenticated,
            Verdict::BackendError,
        ]
        .map(Verdict::as_str);
        assert_eq!(
            labels,
            [
                "admitted",
                "limited",
                "denied",
                "shadow_limited",
                "shadow_denied",
                "unauthenticated",
                "backend_error"
            ]
        );
    }
}

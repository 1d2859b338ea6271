//! Giving back what a rule with `count_if` counted, once the response says it should not
//! count: the middleware's last step for such a request.

use std::fmt;
use std::sync::Arc;

use http::StatusCode;
use ratelimit_core::Rule;

use super::pipeline::{Core, Counted};

/// A request a rule with `count_if` admitted and counted, held until its response: given
/// back when the response's status is not in the rule's set.
pub(crate) struct GiveBackTicket {
    pub(super) core: Arc<dyn Core>,
    pub(super) rule: &'static Rule,
    pub(super) counted: Box<Counted>,
    pub(super) counted_at: u64,
}

impl GiveBackTicket {
    /// Settles the request by its response's `status`: nothing when the rule counts it, else
    /// the backend gives it back, at once (in memory) or in a spawned task (Redis), so that
    /// the response is not delayed. A give-back that fails is logged at debug level: the
    /// request stays counted, which errs on the side of limiting.
    pub(crate) fn settle(self, status: StatusCode) {
        let counts = self
            .rule
            .count_if()
            .is_none_or(|statuses| statuses.contains(status.as_u16()));
        if counts {
            return;
        }
        let request = self.counted.request(self.rule);
        let Some(future) = self.core.give_back(&request, self.counted_at).into_future() else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if let Err(error) = future.await {
                        tracing::debug!(
                            error = &error as &dyn std::error::Error,
                            "could not give back a request its rule's `count_if` does not count"
                        );
                    }
                });
            }
            Err(_) => tracing::debug!(
                "no tokio runtime to give back a request its rule's `count_if` does not count"
            ),
        }
    }
}

impl fmt::Debug for GiveBackTicket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GiveBackTicket")
            .field("counted", &self.counted)
            .field("counted_at", &self.counted_at)
            .finish_non_exhaustive()
    }
}

//! Giving back a request that a rule's `count_if` does not count: one call of the
//! algorithm's give-back script (`lua/give_back.lua`), in a future of its own that the
//! middleware spawns, so that the response is not delayed.

use std::sync::Arc;

use redis::Cmd;

use super::health::BreakerState;
use super::{Inner, keys, micros};
use crate::backend::{BackendError, DecisionRequest, GiveBack};

/// What one give-back sends: the limits' keys and the script's arguments, owned (the future
/// outlives the request).
struct Command {
    keys: Vec<String>,
    args: Vec<u64>,
}

impl Command {
    fn of(inner: &Inner, request: &DecisionRequest<'_>, counted_at: u64) -> Self {
        let keys = request
            .limits
            .iter()
            .map(|limit| {
                let mut key = String::new();
                keys::write_limit_key(
                    &mut key,
                    &inner.prefix,
                    inner.algorithm,
                    &request.pool,
                    *limit,
                );
                key
            })
            .collect();
        let mut args = Vec::with_capacity(2 + 2 * request.limits.len());
        args.extend([request.cost, counted_at]);
        for limit in request.limits {
            args.extend([limit.count(), micros(limit.window())]);
        }
        Self { keys, args }
    }

    /// The command `name` (`EVALSHA` or `EVAL`) of `body` (the SHA or the text).
    fn cmd(&self, name: &str, body: &str) -> Cmd {
        let mut cmd = redis::cmd(name);
        cmd.arg(body).arg(self.keys.len());
        for key in &self.keys {
            cmd.arg(key.as_str());
        }
        for arg in &self.args {
            cmd.arg(*arg);
        }
        cmd
    }
}

/// The give-back of `request`, counted at `counted_at` (Redis's `TIME` then, in
/// microseconds), for [`Backend::give_back`](crate::backend::Backend::give_back). Nothing
/// while the breaker of the user's node is not closed (Redis is failing: the request stays counted, which errs
/// on the side of limiting), and the refusal cache forgets the pool's limits (it may have
/// room again before the time Redis gave).
pub(super) fn give_back(
    inner: &Arc<Inner>,
    request: &DecisionRequest<'_>,
    counted_at: u64,
) -> GiveBack {
    if request.limits.is_empty()
        || inner.breakers.state_of(request.pool.user) != BreakerState::Closed
    {
        return GiveBack::done();
    }
    inner.cache.forget(request);
    let command = Command::of(inner, request, counted_at);
    let inner = Arc::clone(inner);
    GiveBack::later(async move {
        let call = inner.run_give_back(&command);
        match tokio::time::timeout(inner.timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(BackendError::Timeout(inner.timeout)),
        }
    })
}

impl Inner {
    async fn run_give_back(&self, command: &Command) -> Result<(), BackendError> {
        let cmd = |name: &str, body: &str| command.cmd(name, body);
        #[cfg(feature = "test-util")]
        if let Some(reply) = self
            .test_clock
            .run(true, &self.connection, cmd, || ())
            .await
        {
            return reply.map(drop);
        }
        self.give_back_script
            .run(&self.connection, cmd, || ())
            .await
            .map(drop)
    }
}

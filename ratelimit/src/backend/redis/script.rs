//! The decision scripts, one per algorithm, and their replies: the command of one decision,
//! `EVALSHA` (or `EVAL` when Redis lost the script), and the reply parsed into a [`Decision`].

use std::sync::OnceLock;
use std::time::Duration;

use redis::{Cmd, ErrorKind, RedisError, ServerErrorKind, Value};

use super::builder::Connection;
use super::cache::Blocked;
use super::{Inner, keys, micros, store_error};
use crate::backend::{
    Algorithm, BackendError, Decision, DecisionRequest, Denial, DenialCause, Quota, Scope,
};

/// The texts of the two scripts of `$algorithm` on `$clock`: the decision (`lua/decide.lua`,
/// which describes the contract) and the give-back (`lua/give_back.lua`), each a clock, an
/// algorithm and what the script does, joined at compile time.
macro_rules! scripts {
    ($clock:literal, $algorithm:expr) => {
        match $algorithm {
            $crate::backend::Algorithm::FixedWindow => scripts!(@ $clock, "fixed_window.lua"),
            $crate::backend::Algorithm::SlidingWindow => scripts!(@ $clock, "sliding_window.lua"),
            $crate::backend::Algorithm::Gcra => scripts!(@ $clock, "gcra.lua"),
        }
    };
    (@ $clock:literal, $algorithm:literal) => {
        (
            scripts!(@ $clock, $algorithm, "decide.lua"),
            scripts!(@ $clock, $algorithm, "give_back.lua"),
        )
    };
    (@ $clock:literal, $algorithm:literal, $main:literal) => {
        concat!(
            include_str!(concat!("lua/", $clock)),
            include_str!(concat!("lua/", $algorithm)),
            include_str!(concat!("lua/", $main)),
        )
    };
}
#[cfg(feature = "test-util")]
pub(super) use scripts;

/// A decision script, loaded in Redis when it first answers.
pub(super) struct Script {
    text: &'static str,
    /// Its SHA-1, as `SCRIPT LOAD` returned it; unset until Redis answered it.
    sha: OnceLock<String>,
}

impl Script {
    /// The texts of `algorithm`'s decision and give-back (a rule's `count_if`) scripts.
    pub(super) fn texts(algorithm: Algorithm) -> (&'static str, &'static str) {
        scripts!("clock.lua", algorithm)
    }

    /// The script `text`, not loaded yet.
    pub(super) const fn new(text: &'static str) -> Self {
        Self {
            text,
            sha: OnceLock::new(),
        }
    }

    /// Loads it (`SCRIPT LOAD`, on every node of a cluster) and keeps its SHA.
    pub(super) async fn load(&self, connection: &Connection) -> Result<&str, RedisError> {
        if let Some(sha) = self.sha.get() {
            return Ok(sha);
        }
        let sha = connection
            .query::<String>(redis::cmd("SCRIPT").arg("LOAD").arg(self.text))
            .await?;
        Ok(self.sha.get_or_init(|| sha))
    }

    /// Runs the script: `command(name, body)` is the command `name` (`EVALSHA` or `EVAL`) of
    /// `body` (the SHA or the text). One `EVALSHA`, plus one `EVAL` when Redis lost the
    /// script (which caches it again), or, until Redis first answered, a `SCRIPT LOAD` first.
    /// `lost` is called when Redis had lost the script.
    pub(super) async fn run(
        &self,
        connection: &Connection,
        command: impl Fn(&str, &str) -> Cmd,
        lost: impl FnOnce(),
    ) -> Result<Value, BackendError> {
        let sha = self
            .load(connection)
            .await
            .map_err(|error| BackendError::Store(Box::new(error)))?;
        match connection.query(&command("EVALSHA", sha)).await {
            Err(error) if error.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                tracing::debug!("redis lost the rate-limit script; running it with EVAL");
                lost();
                connection.query(&command("EVAL", self.text)).await
            }
            reply => reply,
        }
        .map_err(|error: RedisError| BackendError::Store(Box::new(error)))
    }
}

impl Inner {
    /// One decision in Redis: one `EVALSHA` (plus one `EVAL` when Redis lost the script); with
    /// a refusal of a blocked user, what Redis said of the block.
    pub(super) async fn run(
        &self,
        request: &DecisionRequest<'_>,
    ) -> Result<(Decision, Option<Blocked>), BackendError> {
        let command = |name: &str, body: &str| self.command(name, body, request);
        // A Redis that lost its scripts (a restart, a fail-over, `SCRIPT FLUSH`) has likely
        // lost its counts too: what the refusal cache learnt from them goes.
        let lost = || self.cache.clear();
        #[cfg(feature = "test-util")]
        if let Some(reply) = self
            .test_clock
            .run(false, &self.connection, command, lost)
            .await
        {
            return parse_reply(&reply?, request);
        }
        let reply = self.script.run(&self.connection, command, lost).await?;
        parse_reply(&reply, request)
    }

    /// The command `name` (`EVALSHA` or `EVAL`) of `body` (a script's SHA or its text) for
    /// `request`: the keys (the user's block, then each limit's state, in the rule's order)
    /// and the arguments `lua/decide.lua` describes. The keys are written one after the
    /// other into one buffer and copied into the command, which allocates only that buffer
    /// and the command's own.
    fn command(&self, name: &str, body: &str, request: &DecisionRequest<'_>) -> Cmd {
        let pool = &request.pool;
        let limits = request.limits.len();
        let (scope, method) = match pool.scope {
            Scope::Zone(scope) | Scope::Path(scope) => (scope, pool.method.unwrap_or("")),
        };
        // Enough for every key (a user escaped in full triples; the fixed parts take less
        // than 48 bytes) and every number (at most 20 digits), so that neither the buffer nor
        // the command grows.
        let key_len = self.prefix.len() + 3 * pool.user.len() + scope.len() + method.len() + 48;
        let mut cmd = Cmd::with_capacity(
            6 + 3 * limits,
            name.len() + body.len() + (1 + limits) * key_len + 20 * (3 + 2 * limits),
        );
        cmd.arg(name).arg(body).arg(limits + 1);
        let mut key = String::with_capacity(key_len);
        keys::write_block_key(&mut key, &self.prefix, pool.user);
        cmd.arg(key.as_str());
        for limit in request.limits {
            key.clear();
            keys::write_limit_key(&mut key, &self.prefix, self.algorithm, pool, *limit);
            cmd.arg(key.as_str());
        }
        cmd.arg(request.block_time.map_or(0, micros))
            .arg(request.cost);
        for limit in request.limits {
            cmd.arg(limit.count()).arg(micros(limit.window()));
        }
        cmd
    }
}

/// The most fields a reply of the script has.
const REPLY_FIELDS: usize = 5;

/// The fields of the script's reply: one string of decimal integers joined by `:` (parsed here
/// in a fraction of what redis-rs takes for an array of integers: `BENCHMARKS.md`). `None` for anything else: another
/// type of reply, an empty field, a sign, a byte other than a digit, more than
/// [`REPLY_FIELDS`] fields, a number above `u64::MAX`.
fn reply_fields(reply: &Value) -> Option<([u64; REPLY_FIELDS], usize)> {
    let Value::BulkString(bytes) = reply else {
        return None;
    };
    let mut fields = [0_u64; REPLY_FIELDS];
    let mut index = 0;
    let mut digits = 0;
    for &byte in bytes {
        if byte == b':' && digits > 0 {
            index += 1;
            digits = 0;
            continue;
        }
        let digit = byte.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        let field = fields.get_mut(index)?;
        *field = field.checked_mul(10)?.checked_add(u64::from(digit))?;
        digits += 1;
    }
    (digits > 0).then_some((fields, index + 1))
}

/// Turns the script's reply into a decision (see `lua/decide.lua`), and, for a blocked user,
/// what Redis said of the block.
fn parse_reply(
    reply: &Value,
    request: &DecisionRequest<'_>,
) -> Result<(Decision, Option<Blocked>), BackendError> {
    let Some((fields, count)) = reply_fields(reply) else {
        return Err(store_error("unexpected reply from the rate-limit script"));
    };
    let reply = fields.get(..count).unwrap_or_default();
    let limit = |index: u64| {
        usize::try_from(index)
            .ok()
            .and_then(|i| i.checked_sub(1))
            .and_then(|i| request.limits.get(i))
            .copied()
    };
    match *reply {
        [1, index, remaining, reset, now] => match limit(index) {
            Some(limit) => Ok((
                Decision::Allow(Quota {
                    limit,
                    remaining,
                    reset: Duration::from_micros(reset),
                    counted_at: now,
                }),
                None,
            )),
            None => Err(store_error("unexpected reply from the rate-limit script")),
        },
        [0, 0, retry, rest, outlasting] => Ok((
            Decision::Deny(Denial {
                retry_after: Duration::from_micros(retry.max(1)),
                cause: DenialCause::Blocked,
            }),
            Some(Blocked {
                rest: Duration::from_micros(rest),
                outlasting: match outlasting {
                    0 => None,
                    index => Some(limit(index).ok_or_else(|| {
                        store_error("unexpected reply from the rate-limit script")
                    })?),
                },
            }),
        )),
        [0, index, retry] if index > 0 => match limit(index) {
            Some(limit) => Ok((
                Decision::Deny(Denial {
                    retry_after: Duration::from_micros(retry.max(1)),
                    cause: DenialCause::Limit(limit),
                }),
                None,
            )),
            None => Err(store_error("unexpected reply from the rate-limit script")),
        },
        _ => Err(store_error("unexpected reply from the rate-limit script")),
    }
}

#[cfg(test)]
mod tests {
    use ratelimit_core::{Limit, Unit};

    use super::*;
    use crate::backend::Pool;

    const LIMITS: [Limit; 2] = [Limit::new(Unit::Second, 5), Limit::new(Unit::Minute, 100)];

    fn request() -> DecisionRequest<'static> {
        DecisionRequest {
            pool: Pool {
                scope: Scope::Path("/a"),
                method: None,
                user: "u",
            },
            limits: &LIMITS,
            block_time: None,
            cost: 1,
        }
    }

    fn parse(reply: &str) -> Result<Decision, BackendError> {
        parse_reply(&Value::BulkString(reply.as_bytes().to_vec()), &request())
            .map(|(decision, _)| decision)
    }

    #[test]
    fn an_admission_names_its_tightest_limit() {
        let Ok(Decision::Allow(quota)) = parse("1:2:99:60000000:1700000000000001") else {
            panic!("an admission");
        };
        assert_eq!(quota.limit, LIMITS[1]);
        assert_eq!(quota.remaining, 99);
        assert_eq!(quota.reset, Duration::from_secs(60));
        assert_eq!(
            quota.counted_at, 1_700_000_000_000_001,
            "Redis's time, for a give-back"
        );
    }

    #[test]
    fn a_refusal_names_its_limit_or_the_block() {
        let Ok(Decision::Deny(denial)) = parse("0:1:250000") else {
            panic!("a refusal");
        };
        assert_eq!(denial.cause, DenialCause::Limit(LIMITS[0]));
        assert_eq!(denial.retry_after, Duration::from_millis(250));
        let Ok(Decision::Deny(denial)) = parse("0:0:0:0:0") else {
            panic!("a refusal");
        };
        assert_eq!(denial.cause, DenialCause::Blocked);
        assert_eq!(denial.retry_after, Duration::from_micros(1), "never zero");
        let reply = Value::BulkString(b"0:0:3000000:2000000:2".to_vec());
        assert_eq!(
            parse_reply(&reply, &request()).unwrap().1,
            Some(Blocked {
                rest: Duration::from_secs(2),
                outlasting: Some(LIMITS[1]),
            }),
            "a blocked user's refusal says the rest of the block, and the limit outlasting it"
        );
    }

    #[test]
    fn the_largest_numbers_parse_exactly() {
        let max = u64::MAX;
        let Ok(Decision::Allow(quota)) = parse(&format!("1:1:{max}:{max}:{max}")) else {
            panic!("an admission");
        };
        assert_eq!(quota.remaining, max);
        assert_eq!(quota.reset, Duration::from_micros(max));
        assert_eq!(quota.counted_at, max);
    }

    #[test]
    fn any_other_reply_is_a_store_error() {
        for reply in [
            "",
            ":",
            "1",
            "1:",
            ":1",
            "1::2:3",
            "1:2:3",
            "1:1:2:3",
            "1:1:2:3:",
            "0:1",
            "0:0:1",
            "0:0:1:1",
            "0:1:1:1",
            "0:0:1:1:3",
            "1:1:2:3:4:5",
            "0:0:1:1:1:1",
            "1:3:2:3:4",
            "0:3:1",
            "2:1:2:3:4",
            "-1:1:2:3:4",
            "+1:1:2:3:4",
            "1:1:2:3:4 ",
            "1:1:2:3:x",
            "1:1:18446744073709551616:3:4",
        ] {
            let result = parse(reply);
            assert!(
                matches!(result, Err(BackendError::Store(_))),
                "{reply:?}: {result:?}"
            );
        }
        for reply in [
            Value::Int(1),
            Value::Nil,
            Value::Array(vec![
                Value::Int(1),
                Value::Int(1),
                Value::Int(2),
                Value::Int(3),
            ]),
            Value::SimpleString("1:1:2:3".to_owned()),
        ] {
            let result = parse_reply(&reply, &request());
            assert!(
                matches!(result, Err(BackendError::Store(_))),
                "{reply:?}: {result:?}"
            );
        }
    }
}

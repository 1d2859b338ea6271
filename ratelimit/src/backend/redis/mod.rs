//! The Redis backend: counts shared by every instance of a service, in Redis or Redis Cluster.
//!
//! ```no_run
//! # async fn run() -> Result<(), ratelimit::backend::redis::RedisSetupError> {
//! use std::time::Duration;
//!
//! use ratelimit::backend::Algorithm;
//! use ratelimit::backend::redis::RedisBackend;
//!
//! let backend = RedisBackend::builder("redis://127.0.0.1:6379/")
//!     .algorithm(Algorithm::SlidingWindow)
//!     .prefix("myapp:ratelimit")
//!     .timeout(Duration::from_millis(50))
//!     .build()
//!     .await?;
//! # let _ = backend;
//! # Ok(())
//! # }
//! ```
//!
//! # One round trip per decision
//!
//! A decision is one `EVALSHA` of a Lua script that checks the user's block, checks every
//! limit of the rule, counts the request in all of them or none, and sets a block when the
//! rule has `block_time`: whatever the number of limits, one command and one reply. The
//! script is loaded (`SCRIPT LOAD`, on every node of a cluster) when the backend is built.
//! When Redis has lost it (a restart, a fail-over, `SCRIPT FLUSH`), the `NOSCRIPT` reply is
//! answered by running the script with `EVAL`, which also caches it again: that request
//! takes two round trips and still gets its decision.
//!
//! Inside Redis the script makes at most three calls: `TIME`, one `MGET` of the block and
//! every limit's state, and, when it admits, one `SET … PX` per limit (each state is one
//! string); a refusal writes nothing but the block, when the rule sets one.
//!
//! Time is Redis's own (`TIME` inside the script, in integer microseconds), so the clocks of
//! the service's instances do not matter. Every key the script writes gets its expiry in the
//! same command (`SET … PX`), so none is ever left without one; state is always judged
//! against the script's clock, so expiry only collects garbage.
//!
//! # Keys
//!
//! ```text
//! <prefix>:{<user>}:block                                      the user's block
//! <prefix>:{<user>}:v2:<algorithm>:<scope>:<method>:<unit>     one limit of one pool
//! ```
//!
//! for example `ratelimit:{alice}:v2:fw:P6:/towns:M3:GET:second`. The user is the cluster hash
//! tag, so every key of a decision lives in one slot; `%`, `{` and `}` in user ids are
//! escaped (`%25`, `%7B`, `%7D`) so that no id can move or break the tag, and the zone or
//! path and the method are length-prefixed, so no two pools share a key whatever they
//! contain. The prefix ([`RedisBackendBuilder::prefix`], `ratelimit` by default) may not
//! contain `{` or `}`. `v2` is the layout of the limits' state, a string since this version;
//! the first layout (no `v2`, a hash per limit) is neither read nor overwritten, so during a
//! rolling upgrade each version counts in its own keys, and the old ones expire by
//! themselves. Blocks keep their name and form, and hold for both.
//!
//! # Semantics
//!
//! Those of every backend, and those of the in-memory one to the microsecond (one conformance
//! suite runs against both): a rule's limits are checked, then counted, all at once (the script runs
//! atomically), so a denied request counts in no window and N concurrent decisions against a
//! limit of L admit exactly L. [`Denial::retry_after`] is the time until the same request
//! would be admitted (the longest wait over the exhausted limits, the longer window on a
//! tie), never zero; [`Quota`] reports the limit with the fewest requests left (the longer
//! reset on a tie). A denial by a rule with `block_time` blocks the user on every pool for
//! that long, without extension by later requests; while blocked, every decision for the user
//! is a [`DenialCause::Blocked`] denial that counts nothing, waiting for the rest of the block
//! or longer when a limit of the rule is still exhausted then.
//!
//! The [`Algorithm`]s, all in integer microseconds:
//!
//! - fixed window: a window of the limit's length starts at a pool's first request, and the
//!   next request after it ends starts a new one;
//! - sliding window: Cloudflare's counter, over consecutive windows from a pool's first
//!   request (a pool idle for two windows starts afresh); a request at offset `e` into the
//!   current window fits when `current + 1 + previous · (window − e) / window ≤ count`;
//! - GCRA: requests spaced by window / count, with a burst of count; the spacing is kept
//!   exactly (in units of 1/count µs), so a third of a second does not drift.
//!
//! Lua numbers are doubles: every time and product is exact while count × window (in
//! microseconds) stays below 2^53, i.e. for counts up to about 9·10^9 a second or 3·10^3 a
//! month; beyond, comparisons at the very instant of a boundary may round.
//!
//! # Outages
//!
//! Every call to Redis has a deadline ([`RedisBackendBuilder::timeout`], 50 ms by default),
//! so no request waits longer for Redis. A failure (timeout, connection lost, any error
//! reply) is never a denial; what happens is the [`OutagePolicy`]:
//!
//! - [`OutagePolicy::Report`] (the default): the decision is a [`BackendError`], and the
//!   middleware's failure policy answers: it fails open by default (the request is admitted
//!   uncounted and a warning logged) or closed (503);
//! - [`OutagePolicy::Fallback`]: another backend (an in-memory one) decides while Redis is
//!   away.
//!
//! After a failure the backend stops calling Redis for
//! [`recheck_interval`](RedisBackendBuilder::recheck_interval) (1 s by default), answering by
//! the policy at once instead of waiting for the deadline on every request; then one request
//! tries Redis again, and when it succeeds everything goes back to Redis. The connection
//! reconnects by itself: the service never needs a restart. The first failure and the return
//! are logged (`tracing` warn and info), and so is each failed retry.
//!
//! A decision that timed out was not necessarily lost: Redis may still run it when it gets to
//! it, counting a request the service treated as undecided.
//!
//! # Runtime
//!
//! The backend runs on tokio, with its time driver enabled (`#[tokio::main]` enables it).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;
use redis::cluster::{ClusterClient, ClusterClientBuilder, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Client, Cmd, ErrorKind, RedisError, ServerErrorKind, Value};

use super::{
    Algorithm, Backend, BackendError, Decision, DecisionFuture, DecisionRequest, Denial,
    DenialCause, Quota, Scope,
};

mod keys;

/// The decision script (see `decide.lua` for its contract).
const SCRIPT: &str = include_str!("decide.lua");

/// The default key prefix.
pub const DEFAULT_PREFIX: &str = "ratelimit";
/// The default deadline of one call to Redis.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(50);
/// The default deadline for connecting (and for loading the script when the backend is built).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// The default time between two tries of Redis after a failure.
pub const DEFAULT_RECHECK_INTERVAL: Duration = Duration::from_secs(1);

/// A [`Backend`] that keeps its counts in Redis or Redis Cluster; see the
/// [module docs](self).
///
/// Cheap to clone: clones share the connection.
#[derive(Clone)]
pub struct RedisBackend {
    inner: Arc<Inner>,
}

/// What to do when Redis cannot decide (down, slow, or answering with an error).
///
/// A failure is never taken for "over the limit".
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum OutagePolicy {
    /// Return a [`BackendError`]: the middleware's own failure policy decides, failing open
    /// (admitted, uncounted, logged) by default or closed (503). The default.
    #[default]
    Report,
    /// Decide with this backend (typically an in-memory one, built with the same algorithm)
    /// while Redis is away. Its counts are separate: when Redis is back, decisions go back to
    /// the counts in Redis and the fallback's are left behind.
    Fallback(Arc<dyn Backend>),
}

impl OutagePolicy {
    /// [`OutagePolicy::Fallback`] to `backend`.
    pub fn fallback(backend: impl Backend) -> Self {
        Self::Fallback(Arc::new(backend))
    }
}

impl fmt::Debug for OutagePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Report => f.write_str("Report"),
            Self::Fallback(_) => f.write_str("Fallback(..)"),
        }
    }
}

/// Building a [`RedisBackend`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisSetupError {
    /// The key prefix contains `{` or `}`, which would take the cluster hash tag's place.
    #[error("the key prefix {0:?} contains `{{` or `}}`; use a prefix without braces")]
    InvalidPrefix(String),
    /// The URL is not a Redis URL, or the client configuration is invalid.
    #[error("invalid redis configuration")]
    Config(#[source] RedisError),
    /// Redis could not be reached, or refused to load the script.
    #[error("could not connect to redis and load the rate-limit script")]
    Connect(#[source] RedisError),
    /// Redis did not answer within the connect timeout.
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
}

/// Builds a [`RedisBackend`]: see [`RedisBackend::builder`] and
/// [`RedisBackend::cluster_builder`].
#[must_use = "a builder does nothing until `build` is awaited"]
pub struct RedisBackendBuilder {
    target: Target,
    algorithm: Algorithm,
    prefix: String,
    timeout: Duration,
    connect_timeout: Duration,
    recheck_interval: Duration,
    outage: OutagePolicy,
    frozen_clock: bool,
}

/// Where a frozen test clock starts: 2023-11-14, in microseconds since the Unix epoch (a time
/// of the size Redis's clock gives).
const FROZEN_CLOCK_START_US: u64 = 1_700_000_000_000_000;

enum Target {
    Url(String),
    Client(Box<Client>),
    ClusterUrls(Vec<String>),
    ClusterClient(Box<ClusterClient>),
}

impl RedisBackend {
    /// A builder for a backend on one Redis server (or a proxy in front of several), from a
    /// URL such as `redis://127.0.0.1:6379/` or `rediss://user:password@host/0`. The URL is
    /// checked by [`build`](RedisBackendBuilder::build).
    pub fn builder(url: impl Into<String>) -> RedisBackendBuilder {
        RedisBackendBuilder::new(Target::Url(url.into()))
    }

    /// A builder for a backend on one Redis server, from a client configured by hand.
    pub fn builder_with_client(client: Client) -> RedisBackendBuilder {
        RedisBackendBuilder::new(Target::Client(Box::new(client)))
    }

    /// A builder for a backend on a Redis Cluster, from the URLs of some of its nodes.
    pub fn cluster_builder<I>(urls: I) -> RedisBackendBuilder
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        RedisBackendBuilder::new(Target::ClusterUrls(
            urls.into_iter().map(Into::into).collect(),
        ))
    }

    /// A builder for a backend on a Redis Cluster, from a client configured by hand.
    pub fn cluster_builder_with_client(client: ClusterClient) -> RedisBackendBuilder {
        RedisBackendBuilder::new(Target::ClusterClient(Box::new(client)))
    }

    /// The algorithm it counts with.
    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        self.inner.algorithm
    }

    /// The prefix of its keys.
    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// Moves the backend's clock forward by `by`: the script adds the total to Redis's
    /// `TIME` (or, with [`RedisBackendBuilder::frozen_clock_for_tests`], uses it alone).
    ///
    /// **For tests only**: it lets a test step over windows without sleeping (Redis's clock
    /// cannot be paused). Never call it in a service: it shortens every window and block
    /// this backend sees. Clones share the offset; another backend on the same keys does not
    /// see it. Keys still expire by Redis's real clock, later than the moved clock says,
    /// which the script never relies on.
    #[doc(hidden)]
    pub fn advance_clock_for_tests(&self, by: Duration) {
        let micros = u64::try_from(by.as_micros()).unwrap_or(u64::MAX);
        self.inner
            .clock_offset_us
            .fetch_add(micros, Ordering::Relaxed);
    }
}

impl fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        f.debug_struct("RedisBackend")
            .field(
                "store",
                &match inner.connection {
                    Connection::Single(_) => "redis",
                    Connection::Cluster(_) => "redis cluster",
                },
            )
            .field("algorithm", &inner.algorithm)
            .field("prefix", &inner.prefix)
            .field("timeout", &inner.timeout)
            .field("recheck_interval", &inner.health.recheck_interval)
            .field("outage", &inner.outage)
            .finish_non_exhaustive()
    }
}

impl RedisBackendBuilder {
    fn new(target: Target) -> Self {
        Self {
            target,
            algorithm: Algorithm::default(),
            prefix: DEFAULT_PREFIX.to_owned(),
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            recheck_interval: DEFAULT_RECHECK_INTERVAL,
            outage: OutagePolicy::Report,
            frozen_clock: false,
        }
    }

    /// The algorithm to count with; [`Algorithm::FixedWindow`] by default.
    ///
    /// The algorithm is part of every key, so changing it starts every count afresh.
    pub fn algorithm(mut self, algorithm: Algorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// The prefix of every key, `ratelimit` by default: give each service (or each set of
    /// rules) its own. It may not contain `{` or `}`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The deadline of one decision's call to Redis, 50 ms by default. A decision that
    /// misses it is a [`BackendError::Timeout`] (or goes to the fallback).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The deadline for connecting to Redis, 1 s by default; it also bounds
    /// [`build`](Self::build) (connecting and loading the script) and each reconnection.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// What to do when Redis cannot decide; [`OutagePolicy::Report`] by default.
    pub fn on_outage(mut self, policy: OutagePolicy) -> Self {
        self.outage = policy;
        self
    }

    /// Decide with `backend` while Redis is away: [`OutagePolicy::fallback`].
    pub fn fallback(self, backend: impl Backend) -> Self {
        self.on_outage(OutagePolicy::fallback(backend))
    }

    /// How long to leave Redis alone after a failure, 1 s by default: meanwhile decisions
    /// follow the [`OutagePolicy`] at once, then one request tries Redis again. Zero tries
    /// Redis on every request (each then waits up to the [timeout](Self::timeout) while it
    /// is down).
    pub fn recheck_interval(mut self, interval: Duration) -> Self {
        self.recheck_interval = interval;
        self
    }

    /// Stops the backend's clock: the script ignores Redis's `TIME` and time moves only by
    /// [`RedisBackend::advance_clock_for_tests`], so a test's assertions are exact whatever
    /// the real time its steps take. Keys live a minute longer than they need to, so that
    /// real time cannot expire them before the stopped clock says.
    ///
    /// **For tests only**: a service built with it never sees a window end.
    #[doc(hidden)]
    pub fn frozen_clock_for_tests(mut self) -> Self {
        self.frozen_clock = true;
        self
    }

    /// Connects, loads the script, and returns the backend.
    ///
    /// # Errors
    ///
    /// When the prefix or the configuration is invalid, or Redis cannot be reached or does
    /// not load the script within the connect timeout.
    pub async fn build(self) -> Result<RedisBackend, RedisSetupError> {
        if !keys::valid_prefix(&self.prefix) {
            return Err(RedisSetupError::InvalidPrefix(self.prefix));
        }
        let connect_timeout = self.connect_timeout;
        let setup = async {
            let connection = self.target.connect(connect_timeout).await?;
            let sha = connection
                .clone()
                .query::<String>(redis::cmd("SCRIPT").arg("LOAD").arg(SCRIPT))
                .await
                .map_err(RedisSetupError::Connect)?;
            Ok::<_, RedisSetupError>((connection, sha))
        };
        let (connection, sha) = tokio::time::timeout(connect_timeout, setup)
            .await
            .map_err(|_| RedisSetupError::Timeout(connect_timeout))??;
        Ok(RedisBackend {
            inner: Arc::new(Inner {
                connection,
                sha,
                algorithm: self.algorithm,
                prefix: self.prefix,
                timeout: self.timeout,
                outage: self.outage,
                health: Health::new(self.recheck_interval),
                clock_offset_us: AtomicU64::new(if self.frozen_clock {
                    FROZEN_CLOCK_START_US
                } else {
                    0
                }),
                frozen_clock: self.frozen_clock,
            }),
        })
    }
}

impl fmt::Debug for RedisBackendBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let target = match &self.target {
            Target::Url(_) | Target::Client(_) => "redis",
            Target::ClusterUrls(_) | Target::ClusterClient(_) => "redis cluster",
        };
        f.debug_struct("RedisBackendBuilder")
            .field("store", &target)
            .field("algorithm", &self.algorithm)
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("recheck_interval", &self.recheck_interval)
            .field("outage", &self.outage)
            .field("frozen_clock", &self.frozen_clock)
            .finish()
    }
}

impl Target {
    async fn connect(self, connect_timeout: Duration) -> Result<Connection, RedisSetupError> {
        let client = match self {
            Self::Url(url) => Ok(Client::open(url).map_err(RedisSetupError::Config)?),
            Self::Client(client) => Ok(*client),
            Self::ClusterUrls(urls) => Err(ClusterClientBuilder::new(urls)
                .connection_timeout(connect_timeout)
                .build()
                .map_err(RedisSetupError::Config)?),
            Self::ClusterClient(client) => Err(*client),
        };
        match client {
            Ok(client) => {
                // Reconnection: quick retries in the background, at least once a second, for
                // a while (then the next call starts another round); each attempt bounded by
                // the connect timeout.
                let config = redis::aio::ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(connect_timeout))
                    .set_response_timeout(None)
                    .set_min_delay(Duration::from_millis(50))
                    .set_max_delay(Duration::from_secs(1))
                    .set_number_of_retries(8);
                let manager = ConnectionManager::new_with_config(client, config)
                    .await
                    .map_err(RedisSetupError::Connect)?;
                Ok(Connection::Single(manager))
            }
            Err(client) => {
                let config = ClusterConfig::new().set_connection_timeout(connect_timeout);
                let connection = client
                    .get_async_connection_with_config(config)
                    .await
                    .map_err(RedisSetupError::Connect)?;
                Ok(Connection::Cluster(connection))
            }
        }
    }
}

struct Inner {
    connection: Connection,
    /// The script's SHA-1, as `SCRIPT LOAD` returned it.
    sha: String,
    algorithm: Algorithm,
    prefix: String,
    timeout: Duration,
    outage: OutagePolicy,
    health: Health,
    /// Test-only: added to Redis's `TIME` by the script, or the time itself when
    /// `frozen_clock`.
    clock_offset_us: AtomicU64,
    /// Test-only: the script's clock is `clock_offset_us` alone.
    frozen_clock: bool,
}

#[derive(Clone)]
enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Connection {
    async fn query<T: redis::FromRedisValue>(mut self, cmd: &Cmd) -> Result<T, RedisError> {
        match &mut self {
            Self::Single(connection) => cmd.query_async(connection).await,
            Self::Cluster(connection) => cmd.query_async(connection).await,
        }
    }
}

impl Backend for RedisBackend {
    fn decide<'a>(&'a self, request: &'a DecisionRequest<'a>) -> DecisionFuture<'a> {
        DecisionFuture::boxed(self.inner.decide(request))
    }
}

impl Inner {
    async fn decide(&self, request: &DecisionRequest<'_>) -> Result<Decision, BackendError> {
        if request.limits.is_empty() {
            return Err(store_error("a decision needs at least one limit"));
        }
        if !self.health.try_store() {
            return self.outage(request, None).await;
        }
        let error = match tokio::time::timeout(self.timeout, self.run(request)).await {
            Ok(Ok(decision)) => {
                if self.health.succeeded() {
                    tracing::info!("the redis rate-limit store is back; deciding with it again");
                }
                return Ok(decision);
            }
            Ok(Err(error)) => error,
            Err(_) => BackendError::Timeout(self.timeout),
        };
        let first = self.health.failed();
        let next = match self.outage {
            OutagePolicy::Report => "reporting failures",
            OutagePolicy::Fallback(_) => "deciding with the fallback backend",
        };
        if first {
            tracing::warn!(
                error = %error,
                "the redis rate-limit store failed; {next}, retrying in {:?}",
                self.health.recheck_interval,
            );
        } else {
            tracing::warn!(
                error = %error,
                "the redis rate-limit store is still failing; {next}, retrying in {:?}",
                self.health.recheck_interval,
            );
        }
        self.outage(request, Some(error)).await
    }

    /// The decision while Redis cannot give one.
    async fn outage(
        &self,
        request: &DecisionRequest<'_>,
        error: Option<BackendError>,
    ) -> Result<Decision, BackendError> {
        match &self.outage {
            OutagePolicy::Report => Err(error.unwrap_or_else(|| {
                store_error(
                    "the redis rate-limit store failed recently and is not retried until the \
                     recheck interval has passed",
                )
            })),
            OutagePolicy::Fallback(fallback) => fallback.decide(request).await,
        }
    }

    /// One decision in Redis: one `EVALSHA` (plus one `EVAL` when Redis lost the script).
    async fn run(&self, request: &DecisionRequest<'_>) -> Result<Decision, BackendError> {
        let evalsha = self.script_command("EVALSHA", &self.sha, request);
        let reply = match self.connection.clone().query::<Value>(&evalsha).await {
            Err(error) if error.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                tracing::debug!("redis lost the rate-limit script; running it with EVAL");
                let eval = self.script_command("EVAL", SCRIPT, request);
                self.connection.clone().query::<Value>(&eval).await
            }
            reply => reply,
        }
        .map_err(|error| BackendError::Store(Box::new(error)))?;
        parse_reply(&reply, request)
    }

    /// The script's command for `request`: `command` (`EVALSHA` or `EVAL`) of `script` (its
    /// SHA or its text), the keys (the user's block, then each limit's state, in the rule's
    /// order) and the arguments `decide.lua` describes. The keys are written one after the
    /// other into one buffer and copied into the command, which allocates only that buffer and
    /// the command's own.
    fn script_command(&self, command: &str, script: &str, request: &DecisionRequest<'_>) -> Cmd {
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
            7 + 3 * limits,
            command.len() + script.len() + (1 + limits) * key_len + 20 * (5 + 2 * limits),
        );
        cmd.arg(command).arg(script).arg(limits + 1);
        let mut key = String::with_capacity(key_len);
        keys::write_block_key(&mut key, &self.prefix, pool.user);
        cmd.arg(key.as_str());
        for limit in request.limits {
            key.clear();
            keys::write_limit_key(&mut key, &self.prefix, self.algorithm, pool, limit.unit());
            cmd.arg(key.as_str());
        }
        let algorithm: u8 = match self.algorithm {
            Algorithm::FixedWindow => 1,
            Algorithm::SlidingWindow => 2,
            Algorithm::Gcra => 3,
        };
        cmd.arg(algorithm)
            .arg(self.clock_offset_us.load(Ordering::Relaxed))
            .arg(u8::from(self.frozen_clock))
            .arg(request.block_time.map_or(0, micros));
        for limit in request.limits {
            cmd.arg(limit.count()).arg(micros(limit.window()));
        }
        cmd
    }
}

/// The most fields a reply of the script has.
const REPLY_FIELDS: usize = 4;

/// The fields of the script's reply: one string of decimal integers joined by `:` (redis-rs
/// parsed an array of four integers in about 6 000 instructions, a quarter of what a whole
/// decision costs the client; this takes a few hundred). `None` for anything else: another
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

/// Turns the script's reply into a decision (see `decide.lua`).
fn parse_reply(reply: &Value, request: &DecisionRequest<'_>) -> Result<Decision, BackendError> {
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
        [1, index, remaining, reset] => match limit(index) {
            Some(limit) => Ok(Decision::Allow(Quota {
                limit,
                remaining,
                reset: Duration::from_micros(reset),
            })),
            None => Err(store_error("unexpected reply from the rate-limit script")),
        },
        [0, index, retry] => {
            let cause = match index {
                0 => DenialCause::Blocked,
                index => match limit(index) {
                    Some(limit) => DenialCause::Limit(limit),
                    None => return Err(store_error("unexpected reply from the rate-limit script")),
                },
            };
            Ok(Decision::Deny(Denial {
                retry_after: Duration::from_micros(retry.max(1)),
                cause,
            }))
        }
        _ => Err(store_error("unexpected reply from the rate-limit script")),
    }
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

fn store_error(message: &'static str) -> BackendError {
    BackendError::Store(message.into())
}

/// When to call Redis: always while it works; after a failure, once per recheck interval.
struct Health {
    epoch: Instant,
    recheck_interval: Duration,
    /// Microseconds since `epoch` until which Redis is left alone; 0 while it works.
    down_until: AtomicU64,
}

impl Health {
    fn new(recheck_interval: Duration) -> Self {
        Self {
            epoch: Instant::now(),
            recheck_interval,
            down_until: AtomicU64::new(0),
        }
    }

    fn now(&self) -> u64 {
        micros(self.epoch.elapsed())
    }

    /// Whether this request should call Redis. After a failure, the first request once the
    /// interval has passed does (and pushes the next try one interval further); the others
    /// do not.
    fn try_store(&self) -> bool {
        if self.recheck_interval.is_zero() {
            return true;
        }
        let down_until = self.down_until.load(Ordering::Acquire);
        if down_until == 0 {
            return true;
        }
        let now = self.now();
        now >= down_until
            && self
                .down_until
                .compare_exchange(
                    down_until,
                    self.next_try(now),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
    }

    /// Records a failure; true when Redis was taken to work until now.
    fn failed(&self) -> bool {
        let next = self.next_try(self.now());
        self.down_until.swap(next, Ordering::AcqRel) == 0
    }

    /// Records a success; true when Redis was taken to be down until now.
    fn succeeded(&self) -> bool {
        self.down_until.load(Ordering::Acquire) != 0
            && self.down_until.swap(0, Ordering::AcqRel) != 0
    }

    fn next_try(&self, now: u64) -> u64 {
        now.saturating_add(micros(self.recheck_interval)).max(1)
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
        }
    }

    fn parse(reply: &str) -> Result<Decision, BackendError> {
        parse_reply(&Value::BulkString(reply.as_bytes().to_vec()), &request())
    }

    #[test]
    fn an_admission_names_its_tightest_limit() {
        let Ok(Decision::Allow(quota)) = parse("1:2:99:60000000") else {
            panic!("an admission");
        };
        assert_eq!(quota.limit, LIMITS[1]);
        assert_eq!(quota.remaining, 99);
        assert_eq!(quota.reset, Duration::from_secs(60));
    }

    #[test]
    fn a_refusal_names_its_limit_or_the_block() {
        let Ok(Decision::Deny(denial)) = parse("0:1:250000") else {
            panic!("a refusal");
        };
        assert_eq!(denial.cause, DenialCause::Limit(LIMITS[0]));
        assert_eq!(denial.retry_after, Duration::from_millis(250));
        let Ok(Decision::Deny(denial)) = parse("0:0:0") else {
            panic!("a refusal");
        };
        assert_eq!(denial.cause, DenialCause::Blocked);
        assert_eq!(denial.retry_after, Duration::from_micros(1), "never zero");
    }

    #[test]
    fn the_largest_numbers_parse_exactly() {
        let max = u64::MAX;
        let Ok(Decision::Allow(quota)) = parse(&format!("1:1:{max}:{max}")) else {
            panic!("an admission");
        };
        assert_eq!(quota.remaining, max);
        assert_eq!(quota.reset, Duration::from_micros(max));
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
            "0:1",
            "1:1:2:3:4",
            "1:3:2:3",
            "0:3:1",
            "2:1:2:3",
            "-1:1:2:3",
            "+1:1:2:3",
            "1:1:2:3 ",
            "1:1:2:x",
            "1:1:18446744073709551616:3",
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

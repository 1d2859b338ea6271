//! Building a [`RedisBackend`]: the builder, the connection to Redis or Redis Cluster, and
//! loading the script.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::cluster::{ClusterClient, ClusterClientBuilder, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Client, Cmd, RedisError};

use super::health::{BreakerConfig, OutagePolicy};
use super::nodes::Breakers;
use super::script::Script;
use super::{Inner, RedisBackend, keys};
use crate::backend::{Algorithm, Backend};

/// The default key prefix.
pub const DEFAULT_PREFIX: &str = "ratelimit";
/// The default deadline of one call to Redis.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(50);
/// The default deadline for connecting (and for [`build`](RedisBackendBuilder::build)'s wait for
/// Redis).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// The default time the circuit breaker stays open before one request tries Redis again.
pub const DEFAULT_RECHECK_INTERVAL: Duration = Duration::from_secs(1);
/// The default number of failures that opens the circuit breaker, within
/// [`DEFAULT_FAILURE_WINDOW`].
pub const DEFAULT_FAILURE_THRESHOLD: u32 = 5;
/// The default window in which [`DEFAULT_FAILURE_THRESHOLD`] failures open the breaker.
pub const DEFAULT_FAILURE_WINDOW: Duration = Duration::from_secs(10);
/// The default number of refusals the refusal cache holds.
pub const DEFAULT_REFUSAL_CACHE_CAPACITY: usize = 10_000;
/// The default interval between two log lines counting the decisions an outage answered.
pub const DEFAULT_OUTAGE_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Building a [`RedisBackend`] failed: its configuration is invalid. (Redis being
/// unreachable is not an error: see [`RedisBackendBuilder::build`].)
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisSetupError {
    /// The key prefix contains `{` or `}`, which would take the cluster hash tag's place.
    #[error("the key prefix {0:?} contains `{{` or `}}`; use a prefix without braces")]
    InvalidPrefix(String),
    /// The URL is not a Redis URL, or the client configuration is invalid.
    #[error("invalid redis configuration")]
    Config(#[source] RedisError),
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
    failure_threshold: u32,
    failure_window: Duration,
    outage_log_interval: Duration,
    refusal_cache: usize,
    outage: OutagePolicy,
    #[cfg(feature = "test-util")]
    pub(super) frozen_clock: bool,
}

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
            failure_threshold: DEFAULT_FAILURE_THRESHOLD,
            failure_window: DEFAULT_FAILURE_WINDOW,
            outage_log_interval: DEFAULT_OUTAGE_LOG_INTERVAL,
            refusal_cache: DEFAULT_REFUSAL_CACHE_CAPACITY,
            outage: OutagePolicy::Report,
            #[cfg(feature = "test-util")]
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
    /// misses it is a [`BackendError::Timeout`](crate::backend::BackendError::Timeout) (or
    /// goes to the fallback).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The deadline for connecting to Redis, 1 s by default; it also bounds how long
    /// [`build`](Self::build) waits for Redis (to connect and load the script) and each
    /// reconnection.
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

    /// How long the circuit breaker stays open, 1 s by default: meanwhile decisions follow
    /// the [`OutagePolicy`] at once, without calling Redis; then one request probes Redis
    /// (the others keep following the policy until it answers), and its success closes the
    /// breaker. Zero lets a probe through as soon as the last one answered. On a cluster each
    /// node's breaker (see [Outages](super#outages)) has its own interval and probe.
    pub fn recheck_interval(mut self, interval: Duration) -> Self {
        self.recheck_interval = interval;
        self
    }

    /// How many failed calls open the circuit breaker: `count` within `within` (a window
    /// starting at a failure), 5 within 10 s by default. Timeouts, lost connections and error
    /// replies count; one slow call does not open it. A `count` of 1 opens it on any failure;
    /// 0 is taken as 1. On a cluster the failures are counted per node: `count` failures of
    /// the decisions whose slots one node serves open that node's breaker only. A failed call
    /// that the [refusal cache](super#the-refusal-cache) can answer by then is not counted.
    pub fn failure_threshold(mut self, count: u32, within: Duration) -> Self {
        self.failure_threshold = count;
        self.failure_window = within;
        self
    }

    /// The interval of the outage's log lines, 10 s by default: an outage logs a warning when
    /// the breaker opens, at most one line per interval while it lasts (the number of
    /// decisions that followed the [`OutagePolicy`] in it), and one when it ends; never one
    /// per request (single failures that do not open the breaker are `debug`).
    pub fn outage_log_interval(mut self, interval: Duration) -> Self {
        self.outage_log_interval = interval;
        self
    }

    /// How many refusals the [refusal cache](super#the-refusal-cache) holds, 10 000 by
    /// default; 0 turns it off, and every decision calls Redis. Each holds a pool's key parts
    /// and a time: measured, 293 bytes of heap with a 129-byte path (the longest a pool key
    /// holds) and a 16-byte user id, so 2.9 MB for a full cache of 10 000.
    pub fn refusal_cache(mut self, capacity: usize) -> Self {
        self.refusal_cache = capacity;
        self
    }

    /// Returns the backend, connected and with its script loaded when Redis answers within
    /// the [connect timeout](Self::connect_timeout).
    ///
    /// Redis need not be up: when it does not answer in time, the backend is returned all the
    /// same (after a warning), its decisions follow the [`OutagePolicy`] while it is away (a
    /// failure each, so the breaker opens), and it connects, and loads its script, when Redis
    /// comes up (on the first decisions after that, within their deadlines). A service can
    /// start before its Redis.
    ///
    /// # Errors
    ///
    /// When the prefix or the configuration is invalid ([`RedisSetupError`]).
    pub async fn build(self) -> Result<RedisBackend, RedisSetupError> {
        if !keys::valid_prefix(&self.prefix) {
            return Err(RedisSetupError::InvalidPrefix(self.prefix));
        }
        let connect_timeout = self.connect_timeout;
        let algorithm = self.algorithm;
        let (connection, address) = self.target.connect(connect_timeout).await?;
        // The give-back script (a rule's `count_if`) is loaded with the decision script, or
        // else on first use.
        let (text, give_back) = Script::texts(algorithm);
        let (script, give_back_script) = (Script::new(text), Script::new(give_back));
        #[cfg(feature = "test-util")]
        let test_clock = super::test_clock::TestClock::new(algorithm, self.frozen_clock);
        let setup = async {
            script.load(&connection).await?;
            give_back_script.load(&connection).await?;
            #[cfg(feature = "test-util")]
            test_clock.load(&connection).await?;
            Ok::<_, RedisError>(())
        };
        let reached = match tokio::time::timeout(connect_timeout, setup).await {
            Ok(Ok(())) => true,
            Ok(Err(error)) => {
                tracing::warn!(
                    error = %error,
                    "the redis rate-limit store is unreachable: starting without it; decisions \
                     follow the outage policy until it answers"
                );
                false
            }
            Err(_) => {
                tracing::warn!(
                    "the redis rate-limit store did not answer within {connect_timeout:?}: \
                     starting without it; decisions follow the outage policy until it answers"
                );
                false
            }
        };
        let config = BreakerConfig {
            threshold: self.failure_threshold,
            window: self.failure_window,
            open_for: self.recheck_interval,
            log_interval: self.outage_log_interval,
        };
        let epoch = std::time::Instant::now();
        let breakers = Arc::new(match (&connection, address) {
            (Connection::Cluster(cluster), _) => {
                Breakers::cluster(config, Arc::clone(cluster), connect_timeout, epoch)
            }
            (Connection::Single(_), address) => {
                Breakers::single(config, address.unwrap_or_default(), epoch)
            }
        });
        if reached {
            // A cluster's topology, for its breakers per node (else learnt on a later call).
            match tokio::time::timeout(connect_timeout, breakers.refresh()).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::debug!(
                    error = %error,
                    "could not read the redis cluster's topology: one breaker until it is read"
                ),
                Err(_) => tracing::debug!(
                    "the redis cluster's topology did not come within {connect_timeout:?}: one \
                     breaker until it is read"
                ),
            }
        }
        let inner = Inner {
            connection,
            script,
            give_back_script,
            algorithm,
            prefix: self.prefix,
            timeout: self.timeout,
            outage: self.outage,
            breakers,
            cache: super::cache::RefusalCache::new(self.refusal_cache),
            #[cfg(feature = "test-util")]
            test_clock,
        };
        Ok(RedisBackend {
            inner: Arc::new(inner),
        })
    }
}

impl fmt::Debug for RedisBackendBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let target = match &self.target {
            Target::Url(_) | Target::Client(_) => "redis",
            Target::ClusterUrls(_) | Target::ClusterClient(_) => "redis cluster",
        };
        let mut f = f.debug_struct("RedisBackendBuilder");
        f.field("store", &target)
            .field("algorithm", &self.algorithm)
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("recheck_interval", &self.recheck_interval)
            .field("failure_threshold", &self.failure_threshold)
            .field("failure_window", &self.failure_window)
            .field("outage_log_interval", &self.outage_log_interval)
            .field("refusal_cache", &self.refusal_cache)
            .field("outage", &self.outage);
        #[cfg(feature = "test-util")]
        f.field("frozen_clock", &self.frozen_clock);
        f.finish()
    }
}

impl Target {
    /// The connection: for one server, a connection manager that connects on first use; for
    /// a cluster, connected now if it answers within `connect_timeout`, else on a later call.
    /// With a single server's address (`host:port`), which names its breaker.
    async fn connect(
        self,
        connect_timeout: Duration,
    ) -> Result<(Connection, Option<String>), RedisSetupError> {
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
                let address = client.get_connection_info().addr().to_string();
                // Reconnection: quick retries in the background, at least once a second, for
                // a while (then the next call starts another round); each attempt bounded by
                // the connect timeout.
                let config = redis::aio::ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(connect_timeout))
                    .set_response_timeout(None)
                    .set_min_delay(Duration::from_millis(50))
                    .set_max_delay(Duration::from_secs(1))
                    .set_number_of_retries(8);
                let manager = ConnectionManager::new_lazy_with_config(client, config)
                    .map_err(RedisSetupError::Config)?;
                Ok((Connection::Single(manager), Some(address)))
            }
            Err(client) => {
                let cluster = Arc::new(LazyCluster {
                    client,
                    config: ClusterConfig::new().set_connection_timeout(connect_timeout),
                    connect_timeout,
                    connection: OnceLock::new(),
                    connecting: AtomicBool::new(false),
                });
                // Connected now when the cluster answers in time; else on a later call.
                let _ = tokio::time::timeout(connect_timeout, cluster.try_connect()).await;
                Ok((Connection::Cluster(cluster), None))
            }
        }
    }
}

/// A connection to Redis or Redis Cluster, which reconnects by itself; cheap to clone.
#[derive(Clone)]
pub(super) enum Connection {
    Single(ConnectionManager),
    Cluster(Arc<LazyCluster>),
}

/// A cluster connection made when the cluster first answers: redis-rs's cluster connection
/// needs the cluster up to be made (and then reconnects by itself).
pub(super) struct LazyCluster {
    client: ClusterClient,
    config: ClusterConfig,
    connect_timeout: Duration,
    connection: OnceLock<ClusterConnection>,
    /// Whether an attempt is under way (in the background).
    connecting: AtomicBool,
}

impl LazyCluster {
    /// One attempt to connect; the connection, once made, is kept.
    async fn try_connect(&self) -> Result<ClusterConnection, RedisError> {
        if let Some(connection) = self.connection.get() {
            return Ok(connection.clone());
        }
        let connection = self
            .client
            .get_async_connection_with_config(self.config.clone())
            .await?;
        Ok(self.connection.get_or_init(|| connection).clone())
    }

    /// The connection, or an error (and an attempt to connect started in the background,
    /// unless one is under way) while there is none.
    pub(super) fn get(self: &Arc<Self>) -> Result<ClusterConnection, RedisError> {
        if let Some(connection) = self.connection.get() {
            return Ok(connection.clone());
        }
        if !self.connecting.swap(true, Ordering::AcqRel) {
            let cluster = Arc::clone(self);
            tokio::spawn(async move {
                let _ = tokio::time::timeout(cluster.connect_timeout, cluster.try_connect()).await;
                cluster.connecting.store(false, Ordering::Release);
            });
        }
        Err(RedisError::from((
            redis::ErrorKind::Io,
            "not connected to the redis cluster yet",
        )))
    }
}

impl Connection {
    /// Sends `cmd` (on a clone, as redis-rs's `query_async` wants `&mut`).
    pub(super) async fn query<T: redis::FromRedisValue>(&self, cmd: &Cmd) -> Result<T, RedisError> {
        match self {
            Self::Single(connection) => cmd.query_async(&mut connection.clone()).await,
            Self::Cluster(cluster) => cmd.query_async(&mut cluster.get()?).await,
        }
    }

    /// What it connects to, for `Debug`.
    pub(super) fn store(&self) -> &'static str {
        match self {
            Self::Single(_) => "redis",
            Self::Cluster(_) => "redis cluster",
        }
    }
}

//! The circuit breakers: one for a single server, one per node of a Redis Cluster.
//!
//! Every key of a decision carries the user's hash tag (`keys.rs`), so a decision's slot is
//! known before it is sent: CRC16 (XMODEM) of the escaped user, mod 16 384, as Redis computes
//! it. The cluster's topology (`CLUSTER SLOTS`) maps each slot to its primary; each primary
//! has a breaker of its own, so one frozen node opens only its breaker, and the users of the
//! other nodes keep being limited by Redis.
//!
//! A [`Topology`] (a slot table, `[u16; 16384]` of node indices, and the nodes' breakers) is
//! one value behind an `ArcSwap`: a decision loads it (no lock), hashes its user, and reads
//! its node's breaker (one atomic load while closed). A node's index never changes once given
//! (a refresh keeps every breaker it had and appends new nodes), so an index taken before a
//! call still names the same breaker after it.
//!
//! Node 0 is the breaker of the whole store: the only one of a single server, and, for a
//! cluster, the one every decision uses until the topology is known (and for a slot no known
//! node serves). The topology is asked for when the backend connects, when a decision finds it
//! still unknown (at most once a second), when a node's breaker opens (its slots may have
//! moved: a fail-over), and every [`REFRESH_INTERVAL`] (redis-rs follows `MOVED` itself and
//! does not tell, so a migration is seen then). The refresh runs in the background, one at a
//! time, each node it asks bounded by the connect timeout.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{RedisError, Value};

use super::builder::LazyCluster;
use super::health::{Breaker, BreakerConfig, BreakerState, Call};
use super::micros;

/// The slots of a Redis Cluster.
pub(super) const SLOTS: usize = 16_384;

/// How often a cluster's topology is asked for again while nothing else asked for it.
pub(super) const REFRESH_INTERVAL: Duration = Duration::from_secs(30);

/// The least time between two refreshes (a cluster that does not answer is not asked more
/// often).
const MIN_REFRESH_GAP: Duration = Duration::from_secs(1);

/// The name of a cluster's breaker of node 0 (the whole cluster, while its topology is not
/// known): its metric label and its name in [`Breakers::states`].
pub(super) const WHOLE_CLUSTER: &str = "cluster";

/// The slot of every key of `user`: CRC16 of its hash tag (the user escaped as `keys.rs`
/// writes it) mod 16 384. No allocation.
pub(super) fn slot_of_user(user: &str) -> u16 {
    let mut crc = crc16::State::<crc16::XMODEM>::new();
    for part in super::keys::escaped_user(user) {
        crc.update(part.as_bytes());
    }
    // mod 16 384
    crc.get() & 0x3FFF
}

/// One range of slots and the address (`host:port`) of the primary that serves it, from
/// `CLUSTER SLOTS`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct SlotRange {
    pub(super) first: u16,
    pub(super) last: u16,
    pub(super) node: String,
}

/// The ranges of a `CLUSTER SLOTS` reply (`[[first, last, [host, port, id, …], replicas…],
/// …]`); `None` for a reply of another shape or a slot out of range.
pub(super) fn parse_slots(reply: &Value) -> Option<Vec<SlotRange>> {
    let Value::Array(ranges) = reply else {
        return None;
    };
    ranges
        .iter()
        .map(|range| {
            let Value::Array(fields) = range else {
                return None;
            };
            let slot = |value: Option<&Value>| match value {
                Some(Value::Int(slot)) => u16::try_from(*slot)
                    .ok()
                    .filter(|slot| usize::from(*slot) < SLOTS),
                _ => None,
            };
            let (first, last) = (slot(fields.first())?, slot(fields.get(1))?);
            let Some(Value::Array(primary)) = fields.get(2) else {
                return None;
            };
            let host = match primary.first()? {
                Value::BulkString(bytes) => std::str::from_utf8(bytes).ok()?.to_owned(),
                Value::SimpleString(host) => host.clone(),
                _ => return None,
            };
            let Some(Value::Int(port)) = primary.get(1) else {
                return None;
            };
            (first <= last).then(|| SlotRange {
                first,
                last,
                node: format!("{host}:{port}"),
            })
        })
        .collect()
}

/// Which node serves each slot, and the nodes' breakers.
pub(super) struct Topology {
    /// Each slot's node (an index into `nodes`); `None` while unknown (a single server, a
    /// cluster not asked yet): every decision then takes node 0.
    slots: Option<Box<[u16]>>,
    /// Every node's breaker by index, node 0 (the whole store) first: kept across refreshes,
    /// so an index always names the same node.
    nodes: Vec<Arc<Breaker>>,
    /// The nodes that serve slots now (node 0 alone while the topology is unknown).
    serving: Vec<u16>,
}

impl Topology {
    fn unknown(store: Breaker) -> Self {
        Self {
            slots: None,
            nodes: vec![Arc::new(store)],
            serving: vec![0],
        }
    }

    /// The topology of `ranges`, keeping the breakers of `self`'s nodes (by address) and
    /// adding one for each new node. A slot in no range takes node 0.
    fn with_ranges(&self, ranges: &[SlotRange], config: BreakerConfig) -> Self {
        let mut nodes = self.nodes.clone();
        let mut slots = vec![0_u16; SLOTS].into_boxed_slice();
        let mut serving = Vec::new();
        for range in ranges {
            let index = match nodes
                .iter()
                .position(|node| node.node.as_deref() == Some(range.node.as_str()))
            {
                Some(index) => index,
                None => {
                    nodes.push(Arc::new(Breaker::for_node(
                        config,
                        Some(range.node.as_str().into()),
                    )));
                    nodes.len() - 1
                }
            };
            // More nodes than indices (a cluster that replaced 65 535 nodes): node 0.
            let index = u16::try_from(index).unwrap_or(0);
            slots[usize::from(range.first)..=usize::from(range.last)].fill(index);
            if !serving.contains(&index) {
                serving.push(index);
            }
        }
        if slots.contains(&0) && !serving.contains(&0) {
            serving.push(0);
        }
        serving.sort_unstable();
        Self {
            slots: Some(slots),
            nodes,
            serving,
        }
    }

    /// The node of `user`'s keys.
    fn node_of(&self, user: &str) -> u16 {
        match &self.slots {
            None => 0,
            Some(slots) => slots[usize::from(slot_of_user(user))],
        }
    }

    fn node(&self, index: u16) -> &Breaker {
        self.nodes.get(usize::from(index)).unwrap_or(&self.nodes[0])
    }
}

/// The breakers of a backend, and, for a cluster, what refreshes its topology.
pub(super) struct Breakers {
    pub(super) config: BreakerConfig,
    topology: ArcSwap<Topology>,
    /// For a single server, its address (`host:port`), for [`Self::states`].
    single: Option<String>,
    refresh: Option<Refresh>,
    /// The origin of the breakers' clock (the backend's, and its refusal cache's).
    pub(super) epoch: Instant,
}

/// A cluster's topology refresh.
struct Refresh {
    cluster: Arc<LazyCluster>,
    /// Each node's deadline to answer `CLUSTER SLOTS`.
    timeout: Duration,
    /// Whether a refresh is under way.
    running: AtomicBool,
    /// When the periodic refresh is due (microseconds on the breakers' clock).
    due: AtomicU64,
    /// No refresh before this time.
    not_before: AtomicU64,
}

impl Breakers {
    /// The breakers of a single server at `address`: one.
    pub(super) fn single(config: BreakerConfig, address: String, epoch: Instant) -> Self {
        Self {
            config,
            topology: ArcSwap::from_pointee(Topology::unknown(Breaker::for_node(config, None))),
            single: Some(address),
            refresh: None,
            epoch,
        }
    }

    /// The breakers of a cluster: one for the whole cluster until its topology is known, then
    /// one per node.
    pub(super) fn cluster(
        config: BreakerConfig,
        cluster: Arc<LazyCluster>,
        timeout: Duration,
        epoch: Instant,
    ) -> Self {
        Self {
            config,
            topology: ArcSwap::from_pointee(Topology::unknown(Breaker::for_node(
                config,
                Some(WHOLE_CLUSTER.into()),
            ))),
            single: None,
            refresh: Some(Refresh {
                cluster,
                timeout,
                running: AtomicBool::new(false),
                due: AtomicU64::new(0),
                not_before: AtomicU64::new(0),
            }),
            epoch,
        }
    }

    /// Microseconds on the breakers' clock.
    pub(super) fn now(&self) -> u64 {
        micros(self.epoch.elapsed())
    }

    /// The node of a decision for `user` at `now`, and whether it calls Redis: a load of the
    /// topology (no lock), for a cluster a hash of the user and a look-up in the slot table,
    /// and the node's breaker's atomic load while closed. Starts a refresh of a cluster's
    /// topology when one is due.
    pub(super) fn call(self: &Arc<Self>, user: &str, now: u64) -> (u16, Call) {
        let topology = self.topology.load();
        if let Some(refresh) = &self.refresh
            && now >= refresh.due.load(Ordering::Relaxed)
        {
            self.refresh_soon(now);
        }
        let node = topology.node_of(user);
        (node, topology.node(node).call(now))
    }

    /// Runs `f` on the breaker of node `index` (from [`Self::call`]).
    pub(super) fn with<R>(&self, index: u16, f: impl FnOnce(&Breaker) -> R) -> R {
        f(self.topology.load().node(index))
    }

    /// The state of the breaker of `user`'s node.
    pub(super) fn state_of(&self, user: &str) -> BreakerState {
        let topology = self.topology.load();
        topology.node(topology.node_of(user)).state()
    }

    /// The worst state of the breakers of the nodes that serve slots now (open, then
    /// half-open, then closed); a single server's own.
    pub(super) fn state(&self) -> BreakerState {
        let topology = self.topology.load();
        topology
            .serving
            .iter()
            .map(|index| topology.node(*index).state())
            .max_by_key(|state| match state {
                BreakerState::Closed => 0,
                BreakerState::HalfOpen => 1,
                BreakerState::Open => 2,
            })
            .unwrap_or(BreakerState::Closed)
    }

    /// The state of each breaker in use: a single server's (named by its address), a
    /// cluster's per node that serves slots (by address, in the order of their first slot),
    /// or the whole cluster's (named `cluster`) while its topology is unknown.
    pub(super) fn states(&self) -> Vec<(String, BreakerState)> {
        let topology = self.topology.load();
        topology
            .serving
            .iter()
            .map(|index| {
                let breaker = topology.node(*index);
                let name = match (&breaker.node, &self.single) {
                    (Some(node), _) => node.to_string(),
                    (None, Some(address)) => address.clone(),
                    (None, None) => WHOLE_CLUSTER.to_owned(),
                };
                (name, breaker.state())
            })
            .collect()
    }

    /// Starts a refresh of a cluster's topology in the background, unless one is under way or
    /// the last started less than [`MIN_REFRESH_GAP`] ago. Nothing for a single server.
    pub(super) fn refresh_soon(self: &Arc<Self>, now: u64) {
        let Some(refresh) = &self.refresh else {
            return;
        };
        if now < refresh.not_before.load(Ordering::Relaxed)
            || refresh.running.load(Ordering::Relaxed)
            || refresh.running.swap(true, Ordering::AcqRel)
        {
            return;
        }
        // Tried again in a second when it fails (the decisions' check is then one load);
        // in `REFRESH_INTERVAL` when it succeeds.
        let retry = now.saturating_add(micros(MIN_REFRESH_GAP));
        refresh.not_before.store(retry, Ordering::Relaxed);
        refresh.due.store(retry, Ordering::Relaxed);
        let breakers = Arc::clone(self);
        tokio::spawn(async move {
            if let Err(error) = breakers.refresh().await {
                tracing::debug!(error = %error, "could not read the redis cluster's topology");
            }
            if let Some(refresh) = &breakers.refresh {
                refresh.running.store(false, Ordering::Release);
            }
        });
    }

    /// Asks the cluster for its topology (`CLUSTER SLOTS`) and installs it. Nothing for a
    /// single server.
    pub(super) async fn refresh(&self) -> Result<(), RedisError> {
        let Some(refresh) = &self.refresh else {
            return Ok(());
        };
        let ranges = self.fetch(refresh).await?;
        self.install(&ranges, self.now());
        refresh.due.store(
            self.now().saturating_add(micros(REFRESH_INTERVAL)),
            Ordering::Relaxed,
        );
        Ok(())
    }

    /// `CLUSTER SLOTS` from a node whose breaker is closed, else from any node.
    async fn fetch(&self, refresh: &Refresh) -> Result<Vec<SlotRange>, RedisError> {
        let mut connection = refresh.cluster.get()?;
        let mut cmd = redis::cmd("CLUSTER");
        cmd.arg("SLOTS");
        let healthy: Vec<(String, u16)> = {
            let topology = self.topology.load();
            topology
                .serving
                .iter()
                .map(|index| topology.node(*index))
                .filter(|breaker| breaker.state() == BreakerState::Closed)
                .filter_map(|breaker| {
                    let (host, port) = breaker.node.as_deref()?.rsplit_once(':')?;
                    Some((host.to_owned(), port.parse().ok()?))
                })
                .collect()
        };
        let routes = healthy
            .into_iter()
            .map(|(host, port)| SingleNodeRoutingInfo::ByAddress { host, port })
            .chain([SingleNodeRoutingInfo::Random]);
        let mut last = None;
        for route in routes {
            let asked = connection.route_command(cmd.clone(), RoutingInfo::SingleNode(route));
            match tokio::time::timeout(refresh.timeout, asked).await {
                Ok(Ok(reply)) => match parse_slots(&reply) {
                    Some(ranges) if !ranges.is_empty() => return Ok(ranges),
                    _ => {
                        last = Some(RedisError::from((
                            redis::ErrorKind::Parse,
                            "an unexpected reply to CLUSTER SLOTS",
                        )));
                    }
                },
                Ok(Err(error)) => last = Some(error),
                Err(_) => {
                    last = Some(RedisError::from((
                        redis::ErrorKind::Io,
                        "CLUSTER SLOTS timed out",
                    )));
                }
            }
        }
        Err(last.unwrap_or_else(|| {
            RedisError::from((redis::ErrorKind::Io, "no node to ask for CLUSTER SLOTS"))
        }))
    }

    /// Installs the topology of `ranges`, at `now`. The first one ends the whole cluster's
    /// outage, if its breaker was not closed: decisions go to the nodes' breakers from now on.
    pub(super) fn install(&self, ranges: &[SlotRange], now: u64) {
        let old = self.topology.load_full();
        let next = old.with_ranges(ranges, self.config);
        let first = old.slots.is_none();
        self.topology.store(Arc::new(next));
        if first && let Some(outage) = old.nodes[0].reset(now) {
            tracing::info!(
                "the redis rate-limit cluster answers after {:?}: deciding with it again, with \
                 a circuit breaker per node ({} decisions followed the outage policy meanwhile)",
                outage.lasted,
                outage.answered,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000;

    fn config(threshold: u32) -> BreakerConfig {
        BreakerConfig {
            threshold,
            window: Duration::from_secs(10),
            open_for: Duration::from_secs(1),
            log_interval: Duration::from_secs(10),
        }
    }

    fn breakers() -> Arc<Breakers> {
        Arc::new(Breakers::single(
            config(2),
            "127.0.0.1:6379".to_owned(),
            Instant::now(),
        ))
    }

    fn range(first: u16, last: u16, node: &str) -> SlotRange {
        SlotRange {
            first,
            last,
            node: node.to_owned(),
        }
    }

    /// A 3-node cluster's split, as `redis-cli --cluster create` makes it.
    fn three_nodes() -> [SlotRange; 3] {
        [
            range(0, 5460, "10.0.0.1:7000"),
            range(5461, 10922, "10.0.0.2:7001"),
            range(10923, 16383, "10.0.0.3:7002"),
        ]
    }

    /// A user whose keys are in `slots`.
    fn user_in(slots: std::ops::RangeInclusive<u16>) -> String {
        (0..)
            .map(|i| format!("user-{i}"))
            .find(|user| slots.contains(&slot_of_user(user)))
            .unwrap()
    }

    fn crc(bytes: &[u8]) -> u16 {
        crc16::State::<crc16::XMODEM>::calculate(bytes)
    }

    #[test]
    fn slots_are_redis_clusters() {
        // `CLUSTER KEYSLOT` of the same keys.
        assert_eq!(slot_of_user("123456789"), 12_739);
        // Escaped as in the key: `{%25}`, `{%7B}`, `{%}`.
        assert_eq!(slot_of_user("%"), crc(b"%25") % 16_384);
        assert_eq!(slot_of_user("{"), crc(b"%7B") % 16_384);
        assert_eq!(slot_of_user("a}b"), crc(b"a%7Db") % 16_384);
        assert_eq!(slot_of_user(""), crc(b"%") % 16_384);
    }

    #[test]
    fn cluster_slots_replies_are_read() {
        let node = |host: &str, port: i64, id: &str| {
            Value::Array(vec![
                Value::BulkString(host.into()),
                Value::Int(port),
                Value::BulkString(id.into()),
                Value::Array(vec![]),
            ])
        };
        let reply = Value::Array(vec![
            Value::Array(vec![
                Value::Int(0),
                Value::Int(5460),
                node("127.0.0.1", 30001, "a"),
                node("127.0.0.1", 30004, "replica"),
            ]),
            Value::Array(vec![
                Value::Int(5461),
                Value::Int(16383),
                node("127.0.0.1", 30002, "b"),
            ]),
        ]);
        assert_eq!(
            parse_slots(&reply),
            Some(vec![
                range(0, 5460, "127.0.0.1:30001"),
                range(5461, 16383, "127.0.0.1:30002"),
            ])
        );
        let out_of_range = Value::Array(vec![Value::Array(vec![
            Value::Int(0),
            Value::Int(16384),
            node("h", 1, "a"),
        ])]);
        assert_eq!(parse_slots(&out_of_range), None);
        assert_eq!(parse_slots(&Value::Okay), None);
    }

    #[cfg(feature = "metrics")]
    #[test]
    fn the_gauge_names_the_node() {
        use metrics_util::debugging::{DebugValue, DebuggingRecorder};
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, || {
            let breakers = breakers();
            breakers.install(&three_nodes(), 0);
            let (node, call) = breakers.call(&user_in(0..=5460), 0);
            breakers.with(node, |breaker| {
                breaker.failed(call, 0);
                breaker.failed(call, 0);
            });
        });
        let gauges: Vec<_> = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .filter_map(|(key, _, _, value)| match (key.key().name(), value) {
                ("ratelimit_breaker_state", DebugValue::Gauge(value)) => {
                    let labels: Vec<_> = key
                        .key()
                        .labels()
                        .map(|label| format!("{}={}", label.key(), label.value()))
                        .collect();
                    Some((labels, value.0))
                }
                _ => None,
            })
            .collect();
        assert_eq!(
            gauges,
            [(
                vec!["backend=redis".to_owned(), "node=10.0.0.1:7000".to_owned()],
                2.0
            )]
        );
    }

    #[test]
    fn slots_map_to_their_nodes() {
        let breakers = breakers();
        let [a, b, c] = three_nodes();
        // Unknown: one breaker.
        assert_eq!(breakers.call("anyone", 0), (0, Call::Redis));
        breakers.install(&[a.clone(), b.clone(), c.clone()], 0);
        let topology = breakers.topology.load();
        for (user, node) in [
            (user_in(0..=5460), "10.0.0.1:7000"),
            (user_in(5461..=10922), "10.0.0.2:7001"),
            (user_in(10923..=16383), "10.0.0.3:7002"),
        ] {
            let index = topology.node_of(&user);
            assert_eq!(topology.node(index).node.as_deref(), Some(node), "{user}");
        }
        assert_eq!(topology.serving, [1, 2, 3]);
    }

    #[test]
    fn a_failing_node_opens_its_own_breaker_only() {
        let breakers = breakers();
        breakers.install(&three_nodes(), 0);
        let (on_a, on_b) = (user_in(0..=5460), user_in(5461..=10922));
        let (a, call) = breakers.call(&on_a, 0);
        assert_eq!(call, Call::Redis);
        assert_eq!(breakers.with(a, |breaker| breaker.failed(call, 0)), None);
        assert_eq!(breakers.with(a, |breaker| breaker.failed(call, 1)), Some(2));
        // a's users follow the policy at once; b's still call Redis.
        assert_eq!(breakers.call(&on_a, 2), (a, Call::Skip));
        let (b, call) = breakers.call(&on_b, 2);
        assert_ne!(a, b);
        assert_eq!(call, Call::Redis);
        assert_eq!(breakers.state_of(&on_b), BreakerState::Closed);
        assert_eq!(breakers.state(), BreakerState::Open, "the worst");
        assert_eq!(
            breakers.states(),
            [
                ("10.0.0.1:7000".to_owned(), BreakerState::Open),
                ("10.0.0.2:7001".to_owned(), BreakerState::Closed),
                ("10.0.0.3:7002".to_owned(), BreakerState::Closed),
            ]
        );
        // After the recheck interval, one probe on a's node; its success closes it.
        assert_eq!(breakers.call(&on_a, S + 1), (a, Call::Probe));
        assert_eq!(breakers.call(&on_a, S + 1), (a, Call::Skip));
        assert!(
            breakers
                .with(a, |b| b.succeeded(Call::Probe, S + 2))
                .is_some()
        );
        assert_eq!(breakers.call(&on_a, S + 3), (a, Call::Redis));
        assert_eq!(breakers.state(), BreakerState::Closed);
    }

    #[test]
    fn a_refresh_keeps_the_breakers_and_follows_moved_slots() {
        let breakers = breakers();
        let [a, b, c] = three_nodes();
        breakers.install(&[a.clone(), b.clone(), c.clone()], 0);
        let on_a = user_in(0..=5460);
        let (node, call) = breakers.call(&on_a, 0);
        breakers.with(node, |breaker| breaker.failed(call, 0));
        breakers.with(node, |breaker| breaker.failed(call, 0));
        // The same topology again: a's breaker is still open, under the same index.
        breakers.install(&[a.clone(), b.clone(), c.clone()], 1);
        assert_eq!(breakers.call(&on_a, 1), (node, Call::Skip));
        // a's slots failed over to a new node: its users call Redis there at once, and the
        // old node, serving nothing, is no longer part of the state.
        let d = range(0, 5460, "10.0.0.4:7003");
        breakers.install(&[d, b, c], 2);
        let (moved, call) = breakers.call(&on_a, 2);
        assert_eq!((moved, call), (4, Call::Redis));
        assert_eq!(breakers.state(), BreakerState::Closed);
        assert_eq!(breakers.topology.load().nodes.len(), 5);
    }

    #[test]
    fn slots_no_node_serves_take_the_whole_stores_breaker() {
        let breakers = breakers();
        breakers.install(&[range(0, 99, "10.0.0.1:7000")], 0);
        let topology = breakers.topology.load();
        assert_eq!(topology.node_of(&user_in(100..=16383)), 0);
        assert_eq!(topology.serving, [0, 1]);
    }

    #[test]
    fn the_first_topology_ends_the_whole_clusters_outage() {
        let breakers = breakers();
        let (node, call) = breakers.call("u", 0);
        breakers.with(node, |breaker| breaker.failed(call, 0));
        breakers.with(node, |breaker| breaker.failed(call, 0));
        assert_eq!(breakers.state(), BreakerState::Open);
        breakers.install(&three_nodes(), S);
        assert_eq!(breakers.state(), BreakerState::Closed);
        assert_eq!(
            breakers.topology.load().node(0).state(),
            BreakerState::Closed
        );
    }
}

//! A real 3-node Redis Cluster: every decision in one slot (no CROSSSLOT), users spread over
//! every node, one EVALSHA per decision, exact counts under concurrency, a lost script, a node
//! frozen under load.

use ratelimit::Unit::{Hour, Minute, Second};
use ratelimit::backend::BackendError;
use ratelimit::backend::redis::BreakerState;
use ratelimit_tests::redis_server::{Monitor, RedisCluster};

use crate::semantics::admitted_of;
use crate::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_decides_every_algorithm_in_one_slot_per_user() {
    let Some(cluster) =
        RedisCluster::start_or_skip("cluster_decides_every_algorithm_in_one_slot_per_user")
    else {
        return;
    };
    let users: Vec<String> = (0..24)
        .map(|i| format!("user-{i}"))
        .chain(["".to_owned(), "}{".to_owned(), "a{b}c".to_owned()])
        .collect();
    for algorithm in ALGORITHMS {
        let backend = cluster
            .builder()
            .frozen_clock_for_tests()
            .algorithm(algorithm)
            .prefix(format!("cluster-{algorithm:?}"))
            .build()
            .await
            .unwrap();
        let login = [limit(Second, 1), limit(Minute, 3), limit(Hour, 10)];
        let other = [limit(Minute, 100)];
        for user in &users {
            let r = request("/login", user, &login, Some(secs(5)));
            allowed(decide(&backend, &r).await);
            assert_denied_by(decide(&backend, &r).await, login[0], secs(5));
            let elsewhere = request("/other", user, &other, None);
            assert_blocked(decide(&backend, &elsewhere).await, secs(5));
        }
        assert_eq!(admitted_of(&backend, 40).await, 10, "{algorithm:?}");
    }
    // The users' keys are spread over every node.
    for node in &cluster.nodes {
        let size = node.command(&["DBSIZE"]);
        assert_ne!(size.trim_end(), ":0", "node {} holds no key", node.port);
    }
}

#[tokio::test]
async fn cluster_one_evalsha_per_decision() {
    let Some(cluster) = RedisCluster::start_or_skip("cluster_one_evalsha_per_decision") else {
        return;
    };
    // Every decision calls Redis: no refusal answered from memory.
    let backend = cluster.builder().refusal_cache(0).build().await.unwrap();
    let limits = [limit(Second, 1), limit(Minute, 5), limit(Hour, 10)];
    // Warm every node's connection up first.
    for i in 0..30 {
        decide(&backend, &request("/warm", &format!("w{i}"), &limits, None)).await;
    }
    let mut monitors: Vec<Monitor> = cluster
        .nodes
        .iter()
        .map(|node| Monitor::start(node.port))
        .collect();
    let mut decisions = 0;
    for i in 0..30 {
        let user = format!("u{i}");
        let r = request("/rt", &user, &limits, Some(secs(3)));
        for _ in 0..3 {
            decide(&backend, &r).await;
            decisions += 1;
        }
    }
    let mut evalsha = 0;
    for monitor in &mut monitors {
        let seen = monitor.drain();
        assert!(
            seen.top_level.iter().all(|command| command == "EVALSHA"),
            "{:?}",
            seen.top_level
        );
        evalsha += seen.top_level.len();
    }
    assert_eq!(evalsha, decisions);
}

#[tokio::test]
async fn cluster_recovers_a_flushed_script() {
    let Some(cluster) = RedisCluster::start_or_skip("cluster_recovers_a_flushed_script") else {
        return;
    };
    let backend = cluster
        .builder()
        .algorithm(Algorithm::Gcra)
        .build()
        .await
        .unwrap();
    let limits = [limit(Minute, 3)];
    for node in &cluster.nodes {
        assert!(node.command(&["SCRIPT", "FLUSH"]).starts_with("+OK"));
    }
    for i in 0..20 {
        let user = format!("f{i}");
        let r = request("/flush", &user, &limits, None);
        assert_eq!(allowed(decide(&backend, &r).await).remaining, 2);
        assert_eq!(allowed(decide(&backend, &r).await).remaining, 1);
    }
}

/// A cluster down when the backend is built (every node frozen: killing them would free their
/// ports for other tests' servers): the backend builds, the policy answers, and it limits
/// once the cluster is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_down_at_start_up_is_used_once_it_comes_up() {
    let Some(cluster) =
        RedisCluster::start_or_skip("cluster_down_at_start_up_is_used_once_it_comes_up")
    else {
        return;
    };
    for node in &cluster.nodes {
        node.pause();
    }
    let backend = cluster
        .builder()
        .connect_timeout(millis(300))
        .recheck_interval(millis(100))
        .build()
        .await
        .expect("built without the cluster");
    let limits = [limit(Minute, 2)];
    let r = request("/late", "user", &limits, None);
    assert!(backend.decide(&r).await.is_err());
    for node in &cluster.nodes {
        node.resume();
    }
    let up = std::time::Instant::now();
    let first = loop {
        match backend.decide(&r).await {
            Ok(decision) => break decision,
            Err(_) => {
                assert!(up.elapsed() < secs(30), "never limited");
                tokio::time::sleep(millis(50)).await;
            }
        }
    };
    println!("cluster: limiting {:?} after it came up", up.elapsed());
    assert_eq!(allowed(first).remaining, 1);
    allowed(decide(&backend, &r).await);
    denied(decide(&backend, &r).await);
}

/// One node of three frozen (SIGSTOP) under load, from 24 users at once: each decision on
/// that node fails (an error, the middleware's failure policy's to answer) within twice the
/// deadline, the users of the other two nodes are limited exactly meanwhile, and once the
/// node thaws (SIGCONT) its users are limited again by themselves, with no restart. The
/// breaker's threshold is set out of reach here: what is tested is the deadline per node (the
/// breakers per node are `a_frozen_nodes_breaker_opens_alone_and_closes_by_itself`'s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_node_fails_its_own_decisions_within_the_deadline_and_recovers() {
    frozen_node(
        "a_frozen_node_fails_its_own_decisions_within_the_deadline_and_recovers",
        false,
    )
    .await;
}

/// The same with a fallback: the frozen node's users are limited in memory, exactly, within
/// twice the deadline, and by Redis again once it thaws.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_nodes_users_are_limited_by_the_fallback_within_the_deadline() {
    frozen_node(
        "a_frozen_nodes_users_are_limited_by_the_fallback_within_the_deadline",
        true,
    )
    .await;
}

async fn frozen_node(test: &str, with_fallback: bool) {
    let Some(cluster) = RedisCluster::start_or_skip(test) else {
        return;
    };
    const TIMEOUT: Duration = millis(200);
    // Twice the deadline: one deadline of scheduling slack for 24 tasks on two loaded cores.
    const BOUND: Duration = millis(400);
    let mut builder = cluster
        .builder()
        .timeout(TIMEOUT)
        .failure_threshold(100_000, secs(10))
        .refusal_cache(0)
        .prefix("frozen-node");
    if with_fallback {
        builder = builder.fallback(ratelimit::backend::MemoryBackend::new());
    }
    let backend = std::sync::Arc::new(builder.build().await.unwrap());
    let limits = [limit(Minute, 5)];
    let users: Vec<String> = (0..24).map(|i| format!("n{i}")).collect();
    for user in &users {
        let r = request("/load", user, &limits, None);
        assert_eq!(allowed(decide(&backend, &r).await).remaining, 4);
    }
    // Which users the frozen node holds: those whose key it has.
    let frozen = &cluster.nodes[0];
    let on_frozen: Vec<bool> = users
        .iter()
        .map(|user| {
            let key = format!("frozen-node:{{{user}}}:*");
            !frozen.command(&["KEYS", &key]).starts_with("*0")
        })
        .collect();
    let held = on_frozen.iter().filter(|on| **on).count();
    assert!(0 < held && held < users.len(), "{held} users on node 0");

    frozen.pause();
    let all = load(&backend, &users, limits[0]).await;
    frozen.resume();
    for ((user, on_frozen), (_, results)) in users.iter().zip(&on_frozen).zip(all) {
        for (i, (result, took)) in results.into_iter().enumerate() {
            assert!(took < BOUND, "{user}: decision {i} took {took:?}");
            if *on_frozen && with_fallback {
                // The fallback's fresh count: 5 admitted, then refused by the limit.
                let decision = result.unwrap_or_else(|error| panic!("{user}: {error}"));
                if i < 5 {
                    assert_eq!(allowed(decision).remaining, 4 - i as u64, "{user}");
                } else {
                    assert_eq!(denied(decision).cause, DenialCause::Limit(limits[0]));
                }
            } else if *on_frozen {
                assert!(
                    matches!(result, Err(BackendError::Timeout(_))),
                    "{user} on the frozen node: {result:?}"
                );
            } else {
                // 4 left after the first request: 4 admitted, then 2 refused by the limit.
                let decision = result.unwrap_or_else(|error| panic!("{user}: {error}"));
                if i < 4 {
                    assert_eq!(allowed(decision).remaining, 3 - i as u64, "{user}");
                } else {
                    assert_eq!(denied(decision).cause, DenialCause::Limit(limits[0]));
                }
            }
        }
    }

    // Thawed: the node's users are limited again by Redis (their keys written on that node),
    // on fresh pools (the timed-out calls may have been counted in the old one when the node
    // woke). A probe first, until Redis answers it (the fallback would answer before).
    let holds = |user: &str, path: &str| {
        let pattern = format!("frozen-node:{{{user}}}:*{path}*");
        !frozen.command(&["KEYS", &pattern]).starts_with("*0")
    };
    let deadline = std::time::Instant::now() + secs(15);
    for (user, _) in users.iter().zip(&on_frozen).filter(|(_, on)| **on) {
        let probe = request("/probe", user, &limits, None);
        while !(backend.decide(&probe).await.is_ok() && holds(user, "/probe")) {
            assert!(std::time::Instant::now() < deadline, "never recovered");
            tokio::time::sleep(millis(50)).await;
        }
        limited_exactly(&backend, user, "/after", limits[0]).await;
        assert!(holds(user, "/after"), "{user}: Redis did not count");
    }
}

/// Load from `users`, all at once: six decisions each on `/load` under `limit`, one after
/// another, each with the time it took, by user (in the order of `users`).
async fn load(
    backend: &std::sync::Arc<RedisBackend>,
    users: &[String],
    limit: Limit,
) -> Vec<(String, Vec<(Result<Decision, BackendError>, Duration)>)> {
    let tasks: Vec<_> = users
        .iter()
        .map(|user| {
            let backend = std::sync::Arc::clone(backend);
            let user = user.clone();
            tokio::spawn(async move {
                let limits = [limit];
                let r = request("/load", &user, &limits, None);
                let mut results = Vec::new();
                for _ in 0..6 {
                    let start = std::time::Instant::now();
                    let result = backend.decide(&r).await;
                    results.push((result, start.elapsed()));
                }
                (user, results)
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.push(task.await.expect("a load task"));
    }
    all
}

/// `user`'s requests to `path` under `limit` (of count 5), a pool they have not used: five
/// admitted, the remaining counting down, and the sixth refused by `limit`.
async fn limited_exactly(backend: &RedisBackend, user: &str, path: &str, limit: Limit) {
    let limits = [limit];
    let r = request(path, user, &limits, None);
    for left in (0..5).rev() {
        assert_eq!(allowed(decide(backend, &r).await).remaining, left, "{user}");
    }
    assert_eq!(
        denied(decide(backend, &r).await).cause,
        DenialCause::Limit(limit)
    );
}

/// The node of three that serves `user`'s keys (its hash tag's slot): the one that does not
/// answer `MOVED` for it.
fn owner(cluster: &RedisCluster, user: &str) -> usize {
    let key = format!("{{{user}}}");
    cluster
        .nodes
        .iter()
        .position(|node| !node.command(&["EXISTS", &key]).starts_with("-MOVED"))
        .expect("a node serves every slot")
}

/// Issue #19: a breaker per node. With the default breaker (5 failures within 10 s open it,
/// a probe after 1 s), one node frozen (SIGSTOP) under load: its users' decisions time out
/// (within the deadline) until its breaker opens, then follow the policy at once, without
/// waiting; meanwhile the users of the two other nodes are limited exactly by Redis (their
/// 6th request of 5 a minute is refused), their breakers closed. Thawed (SIGCONT), the node's
/// breaker closes by itself after the recheck interval, on one probe, and its users are
/// limited by Redis again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_nodes_breaker_opens_alone_and_closes_by_itself() {
    let Some(cluster) =
        RedisCluster::start_or_skip("a_frozen_nodes_breaker_opens_alone_and_closes_by_itself")
    else {
        return;
    };
    const TIMEOUT: Duration = millis(200);
    const BOUND: Duration = millis(400);
    let backend = std::sync::Arc::new(
        cluster
            .builder()
            .timeout(TIMEOUT)
            .refusal_cache(0)
            .prefix("per-node")
            .build()
            .await
            .unwrap(),
    );
    // The backend read the topology when it connected: a breaker per node.
    let address = |i: usize| format!("127.0.0.1:{}", cluster.nodes[i].port);
    let mut states = backend.breaker_states();
    states.sort_by(|a, b| a.0.cmp(&b.0));
    let mut expected: Vec<_> = (0..3).map(|i| (address(i), BreakerState::Closed)).collect();
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(states, expected);

    // Users whose slots are on node 0 (frozen), and on the others.
    let (mut frozen_users, mut healthy_users) = (Vec::new(), Vec::new());
    for i in 0.. {
        let user = format!("p{i}");
        match owner(&cluster, &user) {
            0 if frozen_users.len() < 6 => frozen_users.push(user),
            1 | 2 if healthy_users.len() < 12 => healthy_users.push(user),
            _ => {}
        }
        if frozen_users.len() == 6 && healthy_users.len() == 12 {
            break;
        }
    }
    assert!(healthy_users.iter().any(|user| owner(&cluster, user) == 1));
    assert!(healthy_users.iter().any(|user| owner(&cluster, user) == 2));
    let limits = [limit(Minute, 5)];

    let frozen = &cluster.nodes[0];
    frozen.pause();
    let state_of = |backend: &RedisBackend, i: usize| {
        backend
            .breaker_states()
            .into_iter()
            .find(|(node, _)| *node == address(i))
            .map(|(_, state)| state)
    };
    // The threshold (5), over several of the node's users: each times out within the deadline.
    for i in 0..5 {
        let user = &frozen_users[i % frozen_users.len()];
        let start = std::time::Instant::now();
        let result = backend
            .decide(&request("/before", user, &limits, None))
            .await;
        let took = start.elapsed();
        assert!(
            matches!(result, Err(BackendError::Timeout(_))),
            "{user}: {result:?}"
        );
        assert!(took < BOUND, "{user}: {took:?}");
    }
    assert_eq!(state_of(&backend, 0), Some(BreakerState::Open));
    assert_eq!(state_of(&backend, 1), Some(BreakerState::Closed));
    assert_eq!(state_of(&backend, 2), Some(BreakerState::Closed));
    assert_eq!(backend.breaker_state(), BreakerState::Open, "the worst");

    // Under load, all at once: the frozen node's users follow the policy without waiting;
    // the others are limited exactly.
    let opened = std::time::Instant::now();
    let everyone: Vec<String> = frozen_users.iter().chain(&healthy_users).cloned().collect();
    let mut slow = 0;
    for (user, results) in load(&backend, &everyone, limits[0]).await {
        let on_frozen = frozen_users.contains(&user);
        for (i, (result, took)) in results.into_iter().enumerate() {
            assert!(took < BOUND, "{user}: decision {i} took {took:?}");
            if on_frozen {
                assert!(result.is_err(), "{user} on the frozen node: {result:?}");
                // At once, but for a probe once the recheck interval has passed.
                if took >= TIMEOUT / 2 {
                    slow += 1;
                }
            } else {
                let decision = result.unwrap_or_else(|error| panic!("{user}: {error}"));
                if i < 5 {
                    assert_eq!(allowed(decision).remaining, 4 - i as u64, "{user}");
                } else {
                    assert_eq!(denied(decision).cause, DenialCause::Limit(limits[0]));
                }
            }
        }
    }
    let probes = opened.elapsed().as_secs() + 1;
    assert!(slow <= probes, "{slow} slow decisions on the open node");
    assert_eq!(state_of(&backend, 1), Some(BreakerState::Closed));
    assert_eq!(state_of(&backend, 2), Some(BreakerState::Closed));

    // Thawed: the next decision after the recheck interval probes, and the breaker closes.
    frozen.resume();
    let user = &frozen_users[0];
    let probe = request("/probe", user, &limits, None);
    let deadline = std::time::Instant::now() + secs(15);
    while backend.decide(&probe).await.is_err() {
        assert!(std::time::Instant::now() < deadline, "never closed");
        tokio::time::sleep(millis(50)).await;
    }
    assert_eq!(state_of(&backend, 0), Some(BreakerState::Closed));
    assert_eq!(backend.breaker_state(), BreakerState::Closed);
    for user in &frozen_users {
        limited_exactly(&backend, user, "/after", limits[0]).await;
    }
}

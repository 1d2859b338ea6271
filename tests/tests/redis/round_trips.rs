//! One round trip per decision, counted with `MONITOR` on a separate connection, and the
//! calls the script makes inside Redis; the script cache lost (`SCRIPT FLUSH`); every key
//! with a TTL.

use ratelimit::Unit::{self, Day, Hour, Minute, Month, Second};
use ratelimit_tests::redis_server::{Monitor, RedisServer};

use crate::*;

#[tokio::test]
async fn one_evalsha_per_decision_whatever_the_rule() {
    let Some(server) = RedisServer::start_or_skip("one_evalsha_per_decision_whatever_the_rule")
    else {
        return;
    };
    for algorithm in ALGORITHMS {
        // Every decision calls Redis: no refusal answered from memory.
        let backend = server
            .builder()
            .algorithm(algorithm)
            .prefix(format!("rt-{algorithm:?}"))
            .refusal_cache(0)
            .build()
            .await
            .unwrap();
        let mut monitor = Monitor::start(server.port);

        let one = [limit(Second, 1)];
        let three = [limit(Second, 2), limit(Minute, 5), limit(Hour, 10)];
        let five = [
            limit(Second, 2),
            limit(Minute, 5),
            limit(Hour, 10),
            limit(Day, 20),
            limit(Month, 40),
        ];
        let mut decisions = 0;
        // What the script runs inside Redis for each decision: `TIME` and one `MGET` (the
        // block and every limit's state), then one `SET … PX` per limit when admitted, or of
        // the block when a rule with a block time refuses; nothing else.
        let mut expected: Vec<&str> = Vec::new();
        let mut note = |decision: &Decision, r: &DecisionRequest<'_>| {
            expected.extend(["TIME", "MGET"]);
            match decision {
                Decision::Allow(_) => expected.extend(vec!["SET"; r.limits.len()]),
                Decision::Deny(denial) => {
                    if matches!(denial.cause, DenialCause::Limit(_)) && r.block_time.is_some() {
                        expected.push("SET");
                    }
                }
            }
        };
        for limits in [&one[..], &three[..], &five[..]] {
            let r = request("/rt", "user", limits, None);
            // Admitted, then denied by a limit.
            for _ in 0..3 {
                let decision = decide(&backend, &r).await;
                note(&decision, &r);
                decisions += 1;
            }
        }
        // A denial that sets a block, and denials while blocked.
        let blocking = request("/login", "blocked", &three, Some(secs(30)));
        for _ in 0..4 {
            let decision = decide(&backend, &blocking).await;
            note(&decision, &blocking);
            decisions += 1;
        }
        let elsewhere = request("/other", "blocked", &five, None);
        let decision = decide(&backend, &elsewhere).await;
        note(&decision, &elsewhere);
        let denial = denied(decision);
        assert_eq!(denial.cause, DenialCause::Blocked);
        decisions += 1;

        let seen = monitor.drain();
        assert_eq!(
            seen.top_level,
            vec!["EVALSHA"; decisions],
            "{algorithm:?}: every decision is one EVALSHA and nothing else"
        );
        assert_eq!(seen.in_scripts, expected, "{algorithm:?}");
        // Both the counting and the blocking paths ran.
        assert!(
            expected.len() > 2 * decisions,
            "{algorithm:?}: {expected:?}"
        );
    }
}

#[tokio::test]
async fn a_lost_script_is_run_with_eval_and_cached_again() {
    let Some(server) =
        RedisServer::start_or_skip("a_lost_script_is_run_with_eval_and_cached_again")
    else {
        return;
    };
    let backend = server.builder().build().await.unwrap();
    let limits = [limit(Minute, 3)];
    let r = request("/flush", "user", &limits, None);
    assert_eq!(allowed(decide(&backend, &r).await).remaining, 2);

    let mut monitor = Monitor::start(server.port);
    assert!(server.command(&["SCRIPT", "FLUSH"]).starts_with("+OK"));
    monitor.drain();

    // The request still gets its decision, on the counts already there.
    assert_eq!(allowed(decide(&backend, &r).await).remaining, 1);
    assert_eq!(monitor.drain().top_level, ["EVALSHA", "EVAL"]);
    // EVAL cached the script: back to one EVALSHA.
    assert_eq!(allowed(decide(&backend, &r).await).remaining, 0);
    assert_eq!(monitor.drain().top_level, ["EVALSHA"]);
}

#[tokio::test]
async fn every_key_written_has_a_ttl() {
    let Some(server) = RedisServer::start_or_skip("every_key_written_has_a_ttl") else {
        return;
    };
    for algorithm in ALGORITHMS {
        let backend = server
            .builder()
            .algorithm(algorithm)
            .prefix(format!("ttl-{algorithm:?}"))
            .build()
            .await
            .unwrap();
        let limits = [limit(Second, 1), limit(Minute, 2), limit(Month, 3)];
        for user in ["a", "b", "c"] {
            for path in ["/x", "/y"] {
                let r = request(path, user, &limits, Some(secs(7)));
                for _ in 0..3 {
                    decide(&backend, &r).await;
                }
                backend.advance_clock_for_tests(secs(61));
            }
        }
    }
    let mut connection = inspect(&server.url()).await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("ttl-*")
        .query_async(&mut connection)
        .await
        .unwrap();
    // 3 algorithms × (3 users × 2 paths × 3 limits, and the blocks of the 3 users).
    assert_eq!(keys.len(), 3 * (3 * 2 * 3 + 3), "{keys:?}");
    assert!(keys.iter().any(|key| key.ends_with(":block")));
    for key in keys {
        let ttl: i64 = redis::cmd("PTTL")
            .arg(&key)
            .query_async(&mut connection)
            .await
            .unwrap();
        assert!(ttl > 0, "{key} has PTTL {ttl}");
    }
}

/// On Redis's own clock (the production script), every key lives at least as long as its
/// state matters, and no longer: a window for the fixed window's count, two for the sliding
/// window's (the previous window weighs in the next), until the theoretical arrival time
/// for GCRA's, the block time for a block, for every unit. The bound is exact but for the
/// real time the test takes (`elapsed`, a few milliseconds on an idle machine): a PTTL
/// shorter than the state needs by more, or longer at all, fails.
#[tokio::test]
async fn keys_live_as_long_as_their_state_matters() {
    let Some(server) = RedisServer::start_or_skip("keys_live_as_long_as_their_state_matters")
    else {
        return;
    };
    let mut connection = inspect(&server.url()).await;
    let day = secs(86_400);
    for (algorithm, tag) in ALGORITHMS.into_iter().zip(["fw", "sw", "gcra"]) {
        let prefix = format!("life-{tag}");
        let backend = server
            .builder()
            .algorithm(algorithm)
            .prefix(&prefix)
            .build()
            .await
            .unwrap();
        // Every unit (a month is 31 days), so that a TTL written for one unit's window in
        // another's place fails.
        let windows_ms: [(Unit, u64); 5] = [
            (Second, 1_000),
            (Minute, 60_000),
            (Hour, 3_600_000),
            (Day, 86_400_000),
            (Month, 31 * 86_400_000),
        ];
        let limits = windows_ms.map(|(unit, _)| limit(unit, 2));
        let r = request("/life", "u", &limits, Some(day));
        let start = std::time::Instant::now();
        // Two requests fill every limit (for GCRA, the arrival time is two spacings, one
        // window, ahead); the third is denied and blocks the user for a day.
        allowed(decide(&backend, &r).await);
        allowed(decide(&backend, &r).await);
        denied(decide(&backend, &r).await);

        // (key, lifetime in ms), the windows written out rather than asked of the library.
        let mut expected = vec![(format!("{prefix}:{{u}}:block"), 86_400_000)];
        for (unit, window) in windows_ms {
            let lifetime = match algorithm {
                Algorithm::SlidingWindow => 2 * window,
                _ => window,
            };
            let key = format!("{prefix}:{{u}}:v2:{tag}:P5:/life:*:{}", unit.name());
            expected.push((key, lifetime));
        }
        let mut ttls = Vec::new();
        for (key, _) in &expected {
            let ttl: i64 = redis::cmd("PTTL")
                .arg(key)
                .query_async(&mut connection)
                .await
                .unwrap();
            ttls.push(u64::try_from(ttl).unwrap_or_else(|_| panic!("{key} has PTTL {ttl}")));
        }
        // Every key was written after `start` and read before now; PTTL rounds down to
        // the millisecond.
        let elapsed = u64::try_from(start.elapsed().as_millis()).unwrap() + 1;
        for ((key, lifetime), ttl) in expected.iter().zip(ttls) {
            let lifetime = *lifetime;
            assert!(
                ttl <= lifetime && ttl + elapsed >= lifetime,
                "{algorithm:?}: {key} has PTTL {ttl} ms, not {lifetime} ms less up to {elapsed} ms"
            );
        }
    }
}

#[tokio::test]
async fn a_missing_or_malformed_state_is_a_fresh_one() {
    let Some(server) = RedisServer::start_or_skip("a_missing_or_malformed_state_is_a_fresh_one")
    else {
        return;
    };
    let mut connection = inspect(&server.url()).await;
    for (algorithm, tag) in ALGORITHMS.into_iter().zip(["fw", "sw", "gcra"]) {
        let prefix = format!("bad-{tag}");
        let backend = server
            .builder()
            .algorithm(algorithm)
            .prefix(&prefix)
            .build()
            .await
            .unwrap();
        let limits = [limit(Minute, 3)];
        let r = request("/m", "u", &limits, None);
        let key = format!("{prefix}:{{u}}:v2:{tag}:P2:/m:*:minute");
        // The key the backend counts in.
        assert_eq!(allowed(decide(&backend, &r).await).remaining, 2);
        let exists: i64 = redis::cmd("EXISTS")
            .arg(&key)
            .query_async(&mut connection)
            .await
            .unwrap();
        assert_eq!(exists, 1, "{key}");
        for bad in [
            "", "x", "1", "1:", ":1", "1:2:3:4", "-5:1:1", "1.5:1:1", "a:b:c", "1 :2:3",
        ] {
            let _: () = redis::cmd("SET")
                .arg(&key)
                .arg(bad)
                .query_async(&mut connection)
                .await
                .unwrap();
            assert_eq!(
                allowed(decide(&backend, &r).await).remaining,
                2,
                "{algorithm:?}: {bad:?} is a fresh state"
            );
        }
        // Another type (the first layout kept hashes) is fresh too, and overwritten.
        let _: () = redis::cmd("DEL")
            .arg(&key)
            .query_async(&mut connection)
            .await
            .unwrap();
        let _: () = redis::cmd("HSET")
            .arg(&key)
            .arg("s")
            .arg(1)
            .query_async(&mut connection)
            .await
            .unwrap();
        assert_eq!(allowed(decide(&backend, &r).await).remaining, 2);
        assert_eq!(allowed(decide(&backend, &r).await).remaining, 1);
    }
}

//! One round trip per decision, counted with `MONITOR` on a separate connection; the script
//! cache lost (`SCRIPT FLUSH`); every key with a TTL.

use ratelimit::Unit::{Day, Hour, Minute, Month, Second};

use crate::support::{Monitor, RedisServer};
use crate::*;

#[tokio::test]
async fn one_evalsha_per_decision_whatever_the_rule() {
    let Some(server) = RedisServer::start_or_skip("one_evalsha_per_decision_whatever_the_rule")
    else {
        return;
    };
    for algorithm in ALGORITHMS {
        let backend = server
            .builder()
            .algorithm(algorithm)
            .prefix(format!("rt-{algorithm:?}"))
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
        for limits in [&one[..], &three[..], &five[..]] {
            let r = request("/rt", "user", limits, None);
            // Admitted, then denied by a limit.
            for _ in 0..3 {
                decide(&backend, &r).await;
                decisions += 1;
            }
        }
        // A denial that sets a block, and denials while blocked.
        let blocking = request("/login", "blocked", &three, Some(secs(30)));
        for _ in 0..4 {
            decide(&backend, &blocking).await;
            decisions += 1;
        }
        let elsewhere = request("/other", "blocked", &five, None);
        let denial = denied(decide(&backend, &elsewhere).await);
        assert_eq!(denial.cause, DenialCause::Blocked);
        decisions += 1;

        let seen = monitor.drain();
        assert_eq!(
            seen.top_level,
            vec!["EVALSHA"; decisions],
            "{algorithm:?}: every decision is one EVALSHA and nothing else"
        );
        // Sanity: the script did the work (one TIME per decision).
        let times = seen.in_scripts.iter().filter(|c| *c == "TIME").count();
        assert_eq!(times, decisions, "{algorithm:?}");
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

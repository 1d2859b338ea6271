//! N concurrent decisions against a limit of L admit exactly L, on a multi-threaded runtime.

use std::sync::Arc;

use ratelimit::backend::{Backend, Decision, DecisionRequest, DenialCause, Pool, Scope};
use ratelimit::{Limit, Unit};
use ratelimit_tests::harness::{Ask, Harness, per_algorithm, secs};
use tokio::sync::Barrier;
use tokio::task::JoinSet;

/// Runs `tasks` decisions at once, each for user `users[i % users.len()]`; the decisions.
async fn race(
    h: &impl Harness,
    tasks: usize,
    users: &'static [&'static str],
    limits: &'static [Limit],
    block_time: Option<std::time::Duration>,
) -> Vec<(&'static str, Decision)> {
    let barrier = Arc::new(Barrier::new(tasks));
    let mut set = JoinSet::new();
    for task in 0..tasks {
        let backend: Arc<dyn Backend> = h.backend();
        let barrier = Arc::clone(&barrier);
        let user = users[task % users.len()];
        set.spawn(async move {
            let request = DecisionRequest {
                pool: Pool {
                    scope: Scope::Path("/race"),
                    method: Some("POST"),
                    user,
                },
                limits,
                block_time,
                cost: 1,
            };
            barrier.wait().await;
            let decision = backend.decide(&request).await.expect("decided");
            (user, decision)
        });
    }
    set.join_all().await
}

fn admitted(decisions: &[(&str, Decision)], user: &str) -> usize {
    decisions
        .iter()
        .filter(|(who, decision)| *who == user && matches!(decision, Decision::Allow(_)))
        .count()
}

pub(crate) async fn concurrent_decisions_admit_exactly_the_limit(h: &impl Harness) {
    static LIMITS: [Limit; 2] = [Limit::new(Unit::Minute, 50), Limit::new(Unit::Hour, 70)];
    let decisions = race(h, 200, &["alice"], &LIMITS, None).await;
    assert_eq!(admitted(&decisions, "alice"), 50);
    // The 150 denials counted nothing: two minutes on, the hour has 20 left (GCRA: plus the
    // 2 its 51.4 s interval gave back meanwhile).
    h.advance(secs(120)).await;
    let ask = Ask::path("/race", "alice", &LIMITS).method("POST");
    assert_eq!(ask.admitted(h, 30).await, per_algorithm(h, 20, 20, 22));
}

pub(crate) async fn concurrent_users_each_get_their_limit(h: &impl Harness) {
    static LIMITS: [Limit; 1] = [Limit::new(Unit::Minute, 10)];
    static USERS: [&str; 4] = ["alice", "bob", "carol", "dave"];
    let decisions = race(h, 160, &USERS, &LIMITS, None).await;
    for user in USERS {
        assert_eq!(admitted(&decisions, user), 10, "{user}");
    }
}

pub(crate) async fn concurrent_blocked_user_counts_nothing(h: &impl Harness) {
    static LIMITS: [Limit; 1] = [Limit::new(Unit::Minute, 10)];
    let decisions = race(h, 100, &["alice"], &LIMITS, Some(secs(30))).await;
    assert_eq!(admitted(&decisions, "alice"), 10);
    // Decisions are atomic, so they happen one after the other: 10 admitted, then one refused
    // by the limit (which sets the block), then 89 refused by the block.
    let causes = |cause: DenialCause| {
        decisions
            .iter()
            .filter(
                |(_, decision)| matches!(decision, Decision::Deny(denial) if denial.cause == cause),
            )
            .count()
    };
    assert_eq!(causes(DenialCause::Limit(LIMITS[0])), 1);
    assert_eq!(causes(DenialCause::Blocked), 89);
    let other = Ask::path("/elsewhere", "alice", &LIMITS);
    assert_eq!(other.deny(h).await.cause, DenialCause::Blocked);
    h.advance(secs(60)).await;
    assert_eq!(other.allow(h).await.remaining, 9);
}

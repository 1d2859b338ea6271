//! What a pool is: zone or path, method, user; and that no two pools collide.

use ratelimit::{Limit, Unit};
use ratelimit_tests::harness::{Ask, Harness};

const ONE: [Limit; 1] = [Limit::new(Unit::Minute, 1)];

pub(crate) async fn a_zone_is_one_pool(h: &impl Harness) {
    // Two routes naming zone "user-api" ask for the same pool, whatever their paths.
    let limits = [Limit::new(Unit::Minute, 3)];
    let zone = Ask::zone("user-api", "alice", &limits);
    assert_eq!(zone.allow(h).await.remaining, 2);
    assert_eq!(zone.allow(h).await.remaining, 1);
    assert_eq!(zone.allow(h).await.remaining, 0);
    zone.deny(h).await;
    Ask::zone("other-zone", "alice", &limits).allow(h).await;
}

pub(crate) async fn zone_and_path_of_one_name_are_two_pools(h: &impl Harness) {
    Ask::zone("/towns", "alice", &ONE).allow(h).await;
    Ask::path("/towns", "alice", &ONE).allow(h).await;
    Ask::zone("/towns", "alice", &ONE).deny(h).await;
    Ask::path("/towns", "alice", &ONE).deny(h).await;
}

pub(crate) async fn method_is_part_of_the_pool(h: &impl Harness) {
    let post = Ask::path("/upload", "alice", &ONE).method("POST");
    post.allow(h).await;
    post.deny(h).await;
    Ask::path("/upload", "alice", &ONE)
        .method("GET")
        .allow(h)
        .await;
    // A rule for any method counts in its own pool.
    Ask::path("/upload", "alice", &ONE).allow(h).await;
    Ask::path("/upload", "alice", &ONE).deny(h).await;
}

pub(crate) async fn users_are_isolated(h: &impl Harness) {
    Ask::path("/towns", "alice", &ONE).allow(h).await;
    Ask::path("/towns", "alice", &ONE).deny(h).await;
    Ask::path("/towns", "bob", &ONE).allow(h).await;
    Ask::zone("z", "alice", &ONE).allow(h).await;
    Ask::zone("z", "bob", &ONE).allow(h).await;
}

pub(crate) async fn the_pool_of_no_user_is_one_pool_apart_from_every_user(h: &impl Harness) {
    // A `global` rule's pool: the empty user id, every identity counted together.
    let limits = [Limit::new(Unit::Minute, 2)];
    let global = Ask::path("/search", "", &limits);
    assert_eq!(global.allow(h).await.remaining, 1);
    assert_eq!(global.allow(h).await.remaining, 0);
    global.deny(h).await;
    // Users' own pools of the same path are apart from it, and a user's block is not its.
    Ask::path("/search", "alice", &limits).allow(h).await;
    let login = Ask::path("/login", "alice", &ONE).block(ratelimit_tests::harness::secs(60));
    login.allow(h).await;
    login.deny(h).await;
    Ask::zone("catalog", "", &limits).allow(h).await;
}

pub(crate) async fn pool_parts_never_collide(h: &impl Harness) {
    // Pools a `scope:method:user` key (the original's) would merge, or a `:` in a part
    // would confuse.
    let pools = [
        Ask::path("/a:GET", "u", &ONE),
        Ask::path("/a", "u", &ONE).method("GET"),
        Ask::path("/a", "", &ONE).method("GET:u"),
        Ask::path("/a", "GET:u", &ONE),
        Ask::path("/a", "GET:u", &ONE).method(""),
        Ask::path("/a:", "GET:u", &ONE),
        Ask::path("", "/a:GET:u", &ONE),
        Ask::zone("/a", "u", &ONE).method("GET"),
        Ask::zone("/a:GET", "u", &ONE),
        Ask::zone("{u}", "u", &ONE),
        Ask::path("/a", "{u}", &ONE),
    ];
    for ask in &pools {
        ask.allow(h).await;
    }
    for ask in &pools {
        ask.deny(h).await;
    }
}

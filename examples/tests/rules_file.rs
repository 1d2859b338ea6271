//! The `rules_file` example serves its contract: real HTTP to the example's own app on a
//! loopback port, its rules in a temporary copy of the file that the tests edit while it
//! serves.

#[path = "../rules_file.rs"]
#[allow(dead_code)]
mod example;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use ratelimit::Rules;
use ratelimit::backend::MemoryBackend;
use ratelimit::rules_file::RulesWatcher;
use ratelimit_tests::net::Server;
use tempfile::TempDir;

/// The shipped rules file.
fn shipped() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("limits.rl")
}

/// Every line logged by this test binary (the watcher logs from its own thread).
fn logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    Arc::clone(LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let writer = Arc::clone(&logs);
        tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || Log(Arc::clone(&writer)))
            .init();
        logs
    }))
}

struct Log(Arc<Mutex<Vec<u8>>>);

impl Write for Log {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("the log").extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The example serving a copy of the shipped rules; the copy's path; its watcher.
async fn start() -> (Server, PathBuf, RulesWatcher, TempDir) {
    let _ = logs();
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("limits.rl");
    std::fs::copy(shipped(), &path).expect("copied");
    let (app, watcher) = example::app(&path, MemoryBackend::new()).expect("valid rules");
    (Server::start(app).await, path, watcher, dir)
}

/// Writes `rules` over the file as an editor does: truncated, then written.
fn edit(path: &Path, rules: &str) {
    std::fs::write(path, rules).expect("written");
}

/// Polls `check` every 50 ms until it holds, for at most 2 s; how long it took.
async fn within_2s(mut check: impl AsyncFnMut() -> bool) -> Duration {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(2) {
        if check().await {
            return start.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("not within 2 s");
}

const ALICE: (&str, &str) = ("x-user", "alice");

#[test]
fn the_shipped_rules_are_valid() {
    let rules = Rules::from_file(shipped()).expect("valid");
    assert_eq!(rules.routes().len(), 5);
}

#[tokio::test]
async fn every_unlimited_path_answers_ok_and_a_limited_one_needs_a_user() {
    let (server, _path, _watcher, _dir) = start().await;
    for method in ["GET", "POST", "DELETE"] {
        let reply = server.send(method, "/anything/else?x=1", &[]).await;
        assert_eq!((reply.status, reply.text().as_str()), (200, "ok"));
    }
    assert_eq!(server.get("/towns", &[]).await.status, 401);
    assert_eq!(server.get("/towns", &[("x-user", "")]).await.status, 401);
    assert_eq!(server.get("/towns", &[ALICE]).await.status, 200);
    assert_eq!(server.get("/towns", &[ALICE]).await.status, 429);
    let admin = [ALICE, ("x-group", "admin")];
    assert_eq!(server.get("/towns", &admin).await.status, 200);
    let blocked = [ALICE, ("x-group", "blocked")];
    assert_eq!(server.get("/banned", &blocked).await.status, 403);
}

/// Waits until the rules that deny `marker` are in force.
async fn until_denied(server: &Server, marker: &str) -> Duration {
    within_2s(async || server.get(marker, &[("x-user", "probe")]).await.status == 403).await
}

#[tokio::test]
async fn a_raised_limit_applies_within_2_s_and_the_counts_go_on() {
    let (server, path, _watcher, _dir) = start().await;
    edit(&path, "\"^/api\" => [minute = 2],\n\"^/v1\" => [deny],\n");
    until_denied(&server, "/v1").await;
    // Two a minute: the third is refused.
    assert_eq!(server.get("/api/x", &[ALICE]).await.status, 200);
    assert_eq!(server.get("/api/x", &[ALICE]).await.status, 200);
    assert_eq!(server.get("/api/x", &[ALICE]).await.status, 429);
    edit(
        &path,
        "// raised\n\"^/api\" => [minute = 4],\n\"^/v2\" => [deny],\n",
    );
    until_denied(&server, "/v2").await;
    // The pool and window are the same: the two requests still count; two more fit.
    assert_eq!(server.get("/api/x", &[ALICE]).await.status, 200);
    assert_eq!(server.get("/api/x", &[ALICE]).await.status, 200);
    assert_eq!(server.get("/api/x", &[ALICE]).await.status, 429);
}

#[tokio::test]
async fn an_invalid_file_keeps_the_rules_and_logs_where_then_its_fix_applies() {
    let (server, path, _watcher, _dir) = start().await;
    let bob = ("x-user", "bob");
    assert_eq!(server.get("/towns", &[bob]).await.status, 200);
    edit(&path, "\"^/towns\" => [\n    secnd = 100,\n]\n");
    let wanted = format!("{}:2:5: unknown key `secnd`", path.display());
    within_2s(async || String::from_utf8_lossy(&logs().lock().expect("the log")).contains(&wanted))
        .await;
    // The shipped rules stay: one a second.
    assert_eq!(server.get("/towns", &[bob]).await.status, 429);
    edit(
        &path,
        "\"^/towns\" => [\n    second = 100,\n],\n\"^/v1\" => [deny],\n",
    );
    until_denied(&server, "/v1").await;
    for _ in 0..10 {
        assert_eq!(server.get("/towns", &[bob]).await.status, 200);
    }
}

#[tokio::test]
async fn a_file_renamed_over_the_rules_applies_too() {
    let (server, path, _watcher, dir) = start().await;
    let carol = ("x-user", "carol");
    assert_eq!(server.get("/towns", &[carol]).await.status, 200);
    assert_eq!(server.get("/towns", &[carol]).await.status, 429);
    let staged = dir.path().join("limits.rl.new");
    std::fs::write(
        &staged,
        "\"^/towns\" => [second = 50],\n\"^/v1\" => [deny],\n",
    )
    .expect("written");
    std::fs::rename(&staged, &path).expect("renamed");
    until_denied(&server, "/v1").await;
    assert_eq!(server.get("/towns", &[carol]).await.status, 200);
}

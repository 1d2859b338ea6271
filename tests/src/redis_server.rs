//! Real Redis servers for the tests: each test starts its own `redis-server` (or a 3-node
//! cluster) on free loopback ports, with no persistence, and kills it (by pid) on drop.
//!
//! Without `redis-server` on `PATH` the tests say loudly on stderr that they were skipped and
//! pass, unless `RATELIMIT_REQUIRE_REDIS=1`, where they fail.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use ratelimit::backend::redis::{RedisBackend, RedisBackendBuilder};

/// Whether the Redis tools are installed; if not, says so (and fails under
/// `RATELIMIT_REQUIRE_REDIS=1`).
pub fn redis_available(test: &str, tools: &[&str]) -> bool {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|tool| {
            Command::new(tool)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map_or(true, |status| !status.success())
        })
        .collect();
    if missing.is_empty() {
        return true;
    }
    let why = format!(
        "{} not found on PATH (Debian: `apt-get install -y redis-server redis-tools`)",
        missing.join(" and ")
    );
    if std::env::var("RATELIMIT_REQUIRE_REDIS").as_deref() == Ok("1") {
        panic!("{test}: {why}, and RATELIMIT_REQUIRE_REDIS=1 requires the Redis tests to run");
    }
    // Straight to the process's stderr: libtest captures `eprintln!`, not this, so the skip
    // shows in a plain `cargo test` run as well as with `--nocapture`.
    let _ = writeln!(
        std::io::stderr(),
        "\n*** SKIPPED redis test `{test}`: {why}. It passes without testing anything; set \
         RATELIMIT_REQUIRE_REDIS=1 to make it fail instead. ***"
    );
    println!("SKIPPED {test}: {why}");
    false
}

/// A server shared by the tests that run at the same time (each with its own key prefix):
/// started by the first, killed when the last one lets go. `None` (after saying why) when
/// Redis is not installed.
pub fn shared_server(test: &str) -> Option<Arc<RedisServer>> {
    static SHARED: Mutex<Weak<RedisServer>> = Mutex::new(Weak::new());
    if !redis_available(test, &["redis-server"]) {
        return None;
    }
    let mut shared = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(server) = shared.upgrade() {
        return Some(server);
    }
    let server = Arc::new(RedisServer::start(Vec::new()));
    *shared = Arc::downgrade(&server);
    Some(server)
}

/// A cluster shared like [`shared_server`].
pub fn shared_cluster(test: &str) -> Option<Arc<RedisCluster>> {
    static SHARED: Mutex<Weak<RedisCluster>> = Mutex::new(Weak::new());
    let mut shared = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(cluster) = shared.upgrade() {
        return Some(cluster);
    }
    let cluster = Arc::new(RedisCluster::start_or_skip(test)?);
    *shared = Arc::downgrade(&cluster);
    Some(cluster)
}

/// A key prefix no other test of this process uses.
pub fn fresh_prefix(name: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("{name}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A free loopback port (bound, then released for the server to take).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

fn scratch_dir(port: u16) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "ratelimit-redis-{}-{}-{port}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

/// One `redis-server` on 127.0.0.1, killed on drop.
#[derive(Debug)]
pub struct RedisServer {
    /// The port it listens on.
    pub port: u16,
    child: Option<Child>,
    dir: PathBuf,
    extra: Vec<String>,
}

impl RedisServer {
    /// Starts a standalone server, or returns `None` (after saying why) when Redis is not
    /// installed.
    pub fn start_or_skip(test: &str) -> Option<Self> {
        redis_available(test, &["redis-server"]).then(|| Self::start(Vec::new()))
    }

    fn start(extra: Vec<String>) -> Self {
        let port = free_port();
        let mut server = Self {
            port,
            child: None,
            dir: scratch_dir(port),
            extra,
        };
        server.restart();
        server
    }

    /// Its URL, `redis://127.0.0.1:port/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// A backend builder on this server, with a generous timeout for a loaded test machine.
    pub fn builder(&self) -> RedisBackendBuilder {
        RedisBackend::builder(self.url()).timeout(Duration::from_millis(500))
    }

    /// Kills the server (SIGKILL, by pid) and waits for it to die.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server (again) on the same port, empty, and waits until it answers.
    pub fn restart(&mut self) {
        self.stop();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--dir", self.dir.to_str().expect("a UTF-8 temp dir")])
            .args(debug_command_flag())
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        wait_for_ping(self.port);
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing answers.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Thaws a paused server (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("a running server").id();
        let status = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill {signal} {pid}");
    }

    /// Runs one command and returns its raw RESP reply.
    pub fn command(&self, args: &[&str]) -> String {
        command(self.port, args)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(child) = &self.child {
            // A paused server must be thawed to die cleanly.
            let _ = Command::new("kill")
                .args(["-CONT", &child.id().to_string()])
                .status();
        }
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A 3-node Redis Cluster (no replicas) on 127.0.0.1, killed on drop.
#[derive(Debug)]
pub struct RedisCluster {
    /// Its nodes.
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts and forms a cluster, or returns `None` (after saying why) when Redis is not
    /// installed.
    pub fn start_or_skip(test: &str) -> Option<Self> {
        if !redis_available(test, &["redis-server", "redis-cli"]) {
            return None;
        }
        let nodes: Vec<RedisServer> = (0..3)
            .map(|_| {
                let bus = free_port();
                RedisServer::start(
                    [
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                        "--cluster-node-timeout",
                        "5000",
                        "--cluster-port",
                        &bus.to_string(),
                    ]
                    .map(str::to_owned)
                    .to_vec(),
                )
            })
            .collect();
        let addresses: Vec<String> = nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port))
            .collect();
        let output = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .expect("redis-cli runs");
        assert!(
            output.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        for node in &nodes {
            while !node
                .command(&["CLUSTER", "INFO"])
                .contains("cluster_state:ok")
            {
                assert!(Instant::now() < deadline, "the cluster never became ok");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Some(Self { nodes })
    }

    /// The URLs of its nodes.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// A backend builder on this cluster, with a generous timeout for a loaded test machine.
    pub fn builder(&self) -> RedisBackendBuilder {
        RedisBackend::cluster_builder(self.urls()).timeout(Duration::from_millis(500))
    }
}

/// Lets the fault tests run `DEBUG SLEEP` from loopback: Redis 7 refuses `DEBUG` unless
/// `enable-debug-command` allows it, and Redis 6 does not know the option (and allows `DEBUG`).
fn debug_command_flag() -> &'static [&'static str] {
    static MAJOR: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let major = *MAJOR.get_or_init(|| {
        // `Redis server v=7.0.15 sha=…`
        let output = Command::new("redis-server").arg("--version").output();
        output
            .ok()
            .and_then(|output| {
                let text = String::from_utf8_lossy(&output.stdout).into_owned();
                let version = text.split("v=").nth(1)?.split('.').next()?.parse().ok()?;
                Some(version)
            })
            .unwrap_or(0)
    });
    if major >= 7 {
        &["--enable-debug-command", "local"]
    } else {
        &[]
    }
}

fn wait_for_ping(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if try_command(port, &["PING"]).is_ok_and(|reply| reply.starts_with("+PONG")) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "redis-server on port {port} never answered"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Encodes a command in RESP.
pub fn encode(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Runs one command on the server at `port` (a fresh connection, a 10 s read timeout) and
/// returns its raw RESP reply.
pub fn command_on(port: u16, args: &[&str]) -> String {
    command(port, args)
}

fn command(port: u16, args: &[&str]) -> String {
    try_command(port, args).unwrap_or_else(|error| panic!("{args:?} on port {port}: {error}"))
}

/// Runs one command on a fresh connection and returns the whole reply, raw.
fn try_command(port: u16, args: &[&str]) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(&encode(args))?;
    let mut reader = BufReader::new(stream);
    let mut reply = String::new();
    read_value(&mut reader, &mut reply)?;
    Ok(reply)
}

/// Reads one RESP2 value, appending its raw text to `out`.
fn read_value(reader: &mut impl BufRead, out: &mut String) -> std::io::Result<()> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    if line.is_empty() {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    out.push_str(&line);
    let len = || line[1..].trim_end().parse::<i64>().unwrap_or(-1);
    match line.as_bytes()[0] {
        b'$' if len() >= 0 => {
            let mut bulk = vec![0; usize::try_from(len()).unwrap_or(0) + 2];
            reader.read_exact(&mut bulk)?;
            out.push_str(&String::from_utf8_lossy(&bulk));
        }
        b'*' if len() > 0 => {
            for _ in 0..len() {
                read_value(reader, out)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// A `MONITOR` connection: every command the server runs, as it runs it.
#[derive(Debug)]
pub struct Monitor {
    reader: BufReader<TcpStream>,
    port: u16,
}

impl Monitor {
    /// Monitors the server at `port`.
    pub fn start(port: u16) -> Self {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("monitor connects");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("a read timeout");
        stream
            .write_all(&encode(&["MONITOR"]))
            .expect("MONITOR sent");
        let mut reader = BufReader::new(stream);
        let mut ok = String::new();
        reader.read_line(&mut ok).expect("MONITOR answers");
        assert_eq!(ok.trim_end(), "+OK");
        Self { reader, port }
    }

    /// Every command run since the last call, up to a marker this sends: the top-level ones
    /// (sent by clients) and the ones scripts ran, as (command name, full line).
    pub fn drain(&mut self) -> Commands {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let marker = format!("monitor-marker-{}", NEXT.fetch_add(1, Ordering::Relaxed));
        command(self.port, &["ECHO", &marker]);
        let mut commands = Commands::default();
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).expect("a monitor line");
            if line.contains(&marker) {
                return commands;
            }
            // `+1700000000.123456 [0 127.0.0.1:4242] "EVALSHA" "…"` or `[0 lua] "GET" …`.
            let name = line
                .split("] \"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_default()
                .to_ascii_uppercase();
            if line.contains(" lua] ") {
                commands.in_scripts.push(name);
            } else {
                commands.top_level.push(name);
            }
        }
    }
}

/// What a [`Monitor`] saw.
#[derive(Debug, Default)]
pub struct Commands {
    /// Commands clients sent, in order.
    pub top_level: Vec<String>,
    /// Commands scripts ran, in order.
    pub in_scripts: Vec<String>,
}

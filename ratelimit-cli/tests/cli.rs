//! The `ratelimit` command as a shell or CI sees it: exit codes, stdout and stderr.

use std::path::Path;
use std::process::{Command, Output};

fn ratelimit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ratelimit"))
        .args(args)
        .output()
        .expect("the command runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn write(dir: &Path, name: &str, rules: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, rules).expect("written");
    path.display().to_string()
}

const VALID: &str = r#"// The API: ten a second; admins more.
"^/api"      => [minute = 200 second = 10, minute = 500 second = 25 @admin],
r"^/user/\d+" => [minute = 200 zone = "user-api"],
"^/upload"   => [method = POST minute = 3, unlimited @admin],
"^/banned"   => [deny @blocked],
"^/stats"    => [second = 100 global],
"#;

#[test]
fn check_exits_0_when_every_file_is_valid() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let a = write(dir.path(), "a.rl", VALID);
    let b = write(dir.path(), "b.rl", "/* nothing limited */");
    let out = ratelimit(&["check", &a, &b]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!("{a}: ok (5 routes)\n{b}: ok (0 routes)\n")
    );
    assert_eq!(text(&out.stderr), "");
}

#[test]
fn check_writes_every_error_as_rustc_does_and_exits_1() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let good = write(dir.path(), "good.rl", VALID);
    let bad = write(
        dir.path(),
        "bad.rl",
        "\"^/towns\" => [secnd = 1],\n\"^/forests\" => [minute = 0],\n",
    );
    let out = ratelimit(&["check", &good, &bad]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), format!("{good}: ok (5 routes)\n"));
    let stderr = text(&out.stderr);
    let expected = format!(
        "error: unknown key `secnd`; did you mean `second`? the keys are `second`, `minute`, \
         `hour`, `day`, `month`, `unlimited`, `deny`, `block_time`, `zone`, `method`, `shadow`, \
         `global`, `cost`, `count_if`, and a window of any length such as `10s`\n --> {bad}:1:15\n  |\n1 | \"^/towns\" => [secnd = 1],\n  |               ^^^^^\n\n\
         error: a count of 0 admits nothing; to refuse every request write `deny` instead of \
         `minute = 0`\n --> {bad}:2:26\n  |\n2 | \"^/forests\" => [minute = 0],\n  |                          ^\n"
    );
    assert!(stderr.starts_with(&expected), "{stderr}");
    assert!(
        stderr.ends_with("error: 1 of 2 files have errors\n"),
        "{stderr}"
    );
}

#[test]
fn check_refuses_a_missing_or_binary_file() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let missing = dir.path().join("missing.rl").display().to_string();
    let out = ratelimit(&["check", &missing]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).starts_with(&format!("error: cannot read the rules file {missing}")),
        "{}",
        text(&out.stderr)
    );
    let binary = dir.path().join("binary.rl");
    std::fs::write(&binary, b"\"^/a\" => [\xff\xfe]").expect("written");
    let out = ratelimit(&["check", &binary.display().to_string()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("the rules are not UTF-8 text"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn explain_names_the_route_the_rule_and_the_pool() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let file = write(dir.path(), "limits.rl", VALID);
    let out = ratelimit(&["explain", &file, "/api/users?page=2"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stdout),
        "route 1: \"^/api\"\nrule: second = 10 minute = 200 @default\n\
         pool: path `/api/users`, any method, per user; windows: second = 10, minute = 200\n"
    );
    let out = ratelimit(&["explain", &file, "/user/7", "--group", "admin"]);
    assert_eq!(
        text(&out.stdout),
        "GET /user/7 by group `admin` passes unlimited: no matching route has a rule for the \
         group and the method\n"
    );
    let out = ratelimit(&["explain", &file, "/user/7"]);
    assert!(
        text(&out.stdout)
            .ends_with("pool: zone `user-api`, any method, per user; windows: minute = 200\n"),
        "{}",
        text(&out.stdout)
    );
    let out = ratelimit(&["explain", &file, "/upload", "-m", "post", "-g", "admin"]);
    assert_eq!(
        text(&out.stdout),
        "route 3: \"^/upload\"\nrule: unlimited @admin\n\
         pool: none: the rule admits every request, uncounted\n"
    );
    let out = ratelimit(&["explain", &file, "/banned", "--group", "blocked"]);
    assert!(text(&out.stdout).contains("rule: deny @blocked"));
    let out = ratelimit(&["explain", &file, "/stats"]);
    assert!(text(&out.stdout).contains("every user together"));
}

#[test]
fn explain_of_an_invalid_file_writes_its_errors_and_exits_1() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let file = write(dir.path(), "limits.rl", "\"towns\" => [second = 1]");
    let out = ratelimit(&["explain", &file, "/towns"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).starts_with("error: this pattern can never match"));
}

#[test]
fn help_and_usage_errors_follow_clap() {
    let out = ratelimit(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    assert!(help.contains("Usage: ratelimit <COMMAND>"), "{help}");
    assert!(help.contains("check") && help.contains("explain"), "{help}");
    let out = ratelimit(&["check"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("<FILE>..."),
        "{}",
        text(&out.stderr)
    );
}

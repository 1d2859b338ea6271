//! `ratelimit`: checks rules files and explains which rule a request meets.
//!
//! ```text
//! ratelimit check limits.rl other.rl     # exit 0 when every file is valid; else errors, exit 1
//! ratelimit explain limits.rl /api/users --method POST --group admin
//! ```
//!
//! A rules file holds what goes between the braces of `ratelimit! { … }`; it is checked by
//! the macro's own parser and checks, and every mistake is written as rustc writes the
//! macro's compile error (the same message, at the same line and column).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ratelimit::{DEFAULT_GROUP, Policy, Rule, Rules};

/// Checks rate-limit rules files and explains which rule a request meets.
#[derive(Debug, Parser)]
#[command(name = "ratelimit", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Checks rules files: exit 0 when every one is valid; otherwise every mistake on
    /// stderr, as rustc writes compile errors, and exit 1.
    Check {
        /// The rules files.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Says which route and rule a request meets and what its pool would be, or that it
    /// passes unlimited.
    Explain {
        /// The rules file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// The request's path (a query string is ignored).
        #[arg(value_name = "PATH")]
        path: String,
        /// The request's method.
        #[arg(long, short, default_value = "GET")]
        method: String,
        /// The group of the request's identity.
        #[arg(long, short, default_value = DEFAULT_GROUP)]
        group: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr().lock();
    let ok = match cli.command {
        Command::Check { files } => check(&files, &mut stdout, &mut stderr),
        Command::Explain {
            file,
            path,
            method,
            group,
        } => match Rules::from_file(&file) {
            Ok(rules) => {
                let _ = writeln!(stdout, "{}", explain(rules, &path, &method, &group));
                true
            }
            Err(error) => {
                let _ = writeln!(stderr, "{}", error.render());
                false
            }
        },
    };
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Checks each file, writing the errors of the invalid ones; whether all are valid.
fn check(files: &[PathBuf], stdout: &mut impl Write, stderr: &mut impl Write) -> bool {
    let mut invalid = 0;
    for file in files {
        match Rules::from_file(file) {
            Ok(rules) => {
                let _ = writeln!(
                    stdout,
                    "{}: ok ({} routes)",
                    file.display(),
                    rules.routes().len()
                );
            }
            Err(error) => {
                invalid += 1;
                let _ = writeln!(stderr, "{}\n", error.render());
            }
        }
    }
    if invalid > 0 {
        let _ = writeln!(
            stderr,
            "error: {invalid} of {} files have errors",
            files.len()
        );
    }
    invalid == 0
}

/// Which route and rule a request meets, and its pool; or why it is not limited.
fn explain(rules: Rules, path: &str, method: &str, group: &str) -> String {
    let matching = rules.matching(path);
    let routed = matching.path().to_owned();
    let Some(selection) = matching.select(method, group) else {
        return format!(
            "{method} {routed} by group `{group}` passes unlimited: no matching route has a \
             rule for the group and the method"
        );
    };
    let position = rules
        .routes()
        .iter()
        .position(|route| std::ptr::eq(route, selection.route))
        .map_or(0, |index| index + 1);
    let rule = selection.rule;
    let mut lines = vec![
        format!("route {position}: {:?}", selection.route.pattern().source()),
        format!("rule: {}", describe(rule)),
    ];
    let pool = match rule.policy() {
        Policy::Unlimited => "none: the rule admits every request, uncounted".to_owned(),
        Policy::Deny => "none: the rule refuses every request (403)".to_owned(),
        Policy::Limited(limits) => {
            let scope = rule.zone().map_or_else(
                || format!("path `{routed}`"),
                |zone| format!("zone `{zone}`"),
            );
            let method = rule
                .method()
                .map_or_else(|| "any method".to_owned(), |m| format!("method {m}"));
            let user = if rule.global() {
                "every user together"
            } else {
                "per user"
            };
            let windows: Vec<String> = limits.iter().map(ToString::to_string).collect();
            format!("{scope}, {method}, {user}; windows: {}", windows.join(", "))
        }
    };
    lines.push(format!("pool: {pool}"));
    lines.join("\n")
}

/// A rule as the DSL writes it.
fn describe(rule: &Rule) -> String {
    let mut items: Vec<String> = Vec::new();
    if let Some(method) = rule.method() {
        items.push(format!("method = {method}"));
    }
    match rule.policy() {
        Policy::Unlimited => items.push("unlimited".to_owned()),
        Policy::Deny => items.push("deny".to_owned()),
        Policy::Limited(limits) => items.extend(limits.iter().map(ToString::to_string)),
    }
    if let Some(block) = rule.block_time() {
        items.push(format!("block_time = {}", block.as_secs()));
    }
    if let Some(zone) = rule.zone() {
        items.push(format!("zone = {zone:?}"));
    }
    if rule.shadow() {
        items.push("shadow".to_owned());
    }
    if rule.global() {
        items.push("global".to_owned());
    }
    format!("{} @{}", items.join(" "), rule.group())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}

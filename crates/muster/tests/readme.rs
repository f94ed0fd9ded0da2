//! The README runs as a test: every ```sh block from "A five-minute tour"
//! to the end runs, in order, in one bash, against a fresh `muster serve`
//! on each backend — the way a new user would paste them.
//!
//! The README's conventions, which this test holds it to:
//! - The tour's first block is the line the server prints on its first
//!   start (`export MUSTER_URL=… MUSTER_TOKEN=mst_…`); the test pastes the
//!   line its server printed in its place, as the README tells the reader.
//! - `alias muster="$PWD/target/release/muster"` finds the binary: the
//!   script runs in a directory where `target/release/muster` is this
//!   build's binary.
//! - Whole-line comments right after a command are its output: with white
//!   space collapsed, they must appear in what that command printed.
//!
//! So a README change that breaks a command, or shows output the command no
//! longer prints, fails here.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{BIN, Server};
use muster_store::testing::TestDatabase;

const README: &str = include_str!("../../../README.md");
/// Where the runnable part of the README begins.
const FIRST_HEADING: &str = "## A five-minute tour";

on_both_backends!(every_shell_block_of_the_readme_runs_and_shows_what_it_says);

/// A piece of a block: commands, and what the README says they print.
#[derive(Debug, PartialEq)]
struct Segment {
    /// The README line the commands start on.
    line: usize,
    code: String,
    expected: Option<String>,
}

/// The ```sh blocks from [`FIRST_HEADING`] on, cut into segments.
fn segments(readme: &str) -> Vec<Segment> {
    let start = readme.lines().position(|l| l.trim_end() == FIRST_HEADING).expect("the README has its tour");
    let mut out = Vec::new();
    let mut in_block = false;
    let mut code: Vec<&str> = Vec::new();
    let mut code_line = 0;
    let mut expected: Vec<&str> = Vec::new();
    let flush = |code: &mut Vec<&str>, expected: &mut Vec<&str>, line: usize, out: &mut Vec<Segment>| {
        if !code.is_empty() {
            let expected = (!expected.is_empty()).then(|| collapse(&expected.join(" ")));
            out.push(Segment { line, code: code.join("\n"), expected });
        }
        code.clear();
        expected.clear();
    };
    for (i, line) in readme.lines().enumerate().skip(start) {
        let number = i + 1;
        if !in_block {
            in_block = line.trim_end() == "```sh";
            continue;
        }
        if line.trim_end() == "```" {
            flush(&mut code, &mut expected, code_line, &mut out);
            in_block = false;
            continue;
        }
        let trimmed = line.trim_start();
        if let Some(comment) = trimmed.strip_prefix('#') {
            // Output of the commands above it (none above: a remark).
            if !code.is_empty() {
                expected.push(comment.trim());
            }
            continue;
        }
        if !expected.is_empty() {
            flush(&mut code, &mut expected, code_line, &mut out);
        }
        if trimmed.is_empty() && code.is_empty() {
            continue;
        }
        if code.is_empty() {
            code_line = number;
        }
        code.push(line);
    }
    assert!(!in_block, "the README has an unclosed ```sh block");
    out
}

fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The bash script that runs every segment, each one's output to its own file.
fn script(segments: &[Segment], printed: &str, out: &Path) -> String {
    let mut s = String::from("set -eo pipefail\nshopt -s expand_aliases\n");
    for (n, seg) in segments.iter().enumerate() {
        if seg.code.contains("MUSTER_TOKEN=mst_…") {
            assert!(n == 0, "only the tour's first block is the line the server prints");
        }
        let code: Vec<&str> =
            seg.code.lines().map(|l| if l.contains("MUSTER_TOKEN=mst_…") { printed } else { l }).collect();
        let code = code.join("\n");
        s.push_str(&format!("echo {n} > {}/at\n", out.display()));
        // A group, not a subshell: variables and aliases carry on.
        s.push_str(&format!("{{\n{code}\n}} > {dir}/{n}.out 2>&1\n", dir = out.display()));
    }
    s.push_str(&format!("echo done > {}/at\n", out.display()));
    s
}

fn every_shell_block_of_the_readme_runs_and_shows_what_it_says(db: TestDatabase) {
    let segments = segments(README);
    assert!(segments.len() > 5, "the README's tour has its blocks: {segments:?}");

    // The server as the README starts it: no admin token, so it prints one.
    let mut server = Server::start(&db.url, None);
    let printed = loop {
        let line = server.next_line();
        assert!(!line.is_empty(), "the server printed no token line");
        if line.trim_start().starts_with("export MUSTER_URL=") {
            break line.trim().to_owned();
        }
    };

    let dir = tempdir();
    let work = dir.join("checkout");
    std::fs::create_dir_all(work.join("target/release")).unwrap();
    std::os::unix::fs::symlink(BIN, work.join("target/release/muster")).unwrap();
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let path = dir.join("readme.sh");
    std::fs::write(&path, script(&segments, &printed, &out)).unwrap();

    let status = Command::new("bash")
        .arg(&path)
        .current_dir(&work)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &dir)
        .env("TZ", "UTC")
        .env("LANG", "C.UTF-8")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("bash runs");
    let at = std::fs::read_to_string(out.join("at")).unwrap_or_default();
    let output_of = |n: usize| std::fs::read_to_string(out.join(format!("{n}.out"))).unwrap_or_default();
    if !status.success() {
        let n: usize = at.trim().parse().unwrap_or(0);
        let seg = &segments[n];
        panic!("README.md line {}: this failed ({status}):\n{}\n--- its output:\n{}", seg.line, seg.code, output_of(n));
    }
    assert_eq!(at.trim(), "done");
    if std::env::var_os("MUSTER_README_SHOW").is_some() {
        // To see what the README's commands print: `MUSTER_README_SHOW=1 cargo test -p muster
        // --test readme sqlite -- --nocapture`.
        for (n, seg) in segments.iter().enumerate() {
            println!("$ {}\n{}", seg.code.replace('\n', "\n$ "), output_of(n));
        }
    }
    for (n, seg) in segments.iter().enumerate() {
        if let Some(expected) = &seg.expected {
            let got = collapse(&output_of(n));
            assert!(
                got.contains(expected.as_str()),
                "README.md line {}: the README shows\n  {expected}\nbut\n{}\nprinted\n{}",
                seg.line,
                seg.code,
                output_of(n)
            );
        }
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "muster-readme-{}-{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_block_is_cut_where_the_readme_shows_output() {
    let readme = "intro\n```sh\nnot run\n```\n## A five-minute tour\n```sh\n# a remark\na\nb \\\n  c\n# out 1\n#   more\nd\n```\n```yaml\nx\n```\n```sh\ne\n```\n";
    let got = segments(readme);
    assert_eq!(
        got,
        vec![
            Segment { line: 8, code: "a\nb \\\n  c".into(), expected: Some("out 1 more".into()) },
            Segment { line: 13, code: "d".into(), expected: None },
            Segment { line: 19, code: "e".into(), expected: None },
        ]
    );
}

//! The README's bench examples are real command lines: each must parse.

use clap::Parser;
use gpuwarden::cli::Cli;

#[test]
fn every_bench_example_in_the_readme_parses() {
    let readme = include_str!("../../README.md");
    let section = readme
        .split("<!-- bench -->")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("the README has a bench section");
    let examples: Vec<&str> = section
        .lines()
        .filter(|l| l.starts_with("gpuwarden bench"))
        .collect();
    assert!(examples.len() >= 5, "{examples:?}");
    for line in examples {
        let command = line
            .split(" #")
            .next()
            .unwrap_or_default()
            .replace(" > bench.json", "");
        let args: Vec<&str> = command.split_whitespace().collect();
        if let Err(e) = Cli::try_parse_from(&args) {
            panic!("README example {line:?} does not parse:\n{e}");
        }
    }
}

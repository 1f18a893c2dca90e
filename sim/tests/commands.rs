//! The `switchboard-sim` binary as a user runs it: its commands, their help, and a clear error
//! when the engine it would load is missing.

use std::process::Command;

fn sim() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard-sim"));
    cmd.env("SWITCHBOARD_LOG_LEVEL", "warn");
    cmd
}

#[test]
fn help_names_each_command_and_what_it_does() {
    let help = sim().arg("--help").output().unwrap();
    assert_eq!(help.status.code(), Some(0));
    let text = String::from_utf8_lossy(&help.stdout);
    for command in ["demo", "loadtest"] {
        assert!(text.contains(command), "{command} not in --help: {text}");
    }
    for (command, phrase) in [("demo", "defaults"), ("loadtest", "--calls")] {
        let out = sim().args([command, "--help"]).output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains(phrase),
            "`{command} --help` lacks {phrase}: {text}"
        );
    }
    let out = sim().args(["demo", "--calls", "many"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn loadtest_without_an_engine_says_how_to_get_one() {
    let out = sim()
        .args([
            "loadtest",
            "--calls",
            "1",
            "--engine",
            "/nonexistent/switchboard",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no engine at /nonexistent/switchboard")
            && stderr.contains("--engine PATH"),
        "{stderr}"
    );
}

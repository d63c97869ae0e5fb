//! Runs the Node interop suite (`tests/interop/`, the stock `y-websocket`
//! provider: sync, and versions with restore) against the server binary built
//! by this `cargo test`.
//!
//! Needs `node` and `npm ci --prefix tests/interop`. Without them the test says
//! why and passes, so `cargo test` works on a machine without Node; under
//! `CI=true` a missing prerequisite fails it instead.

use std::{path::Path, process::Command};

fn skip_or_fail(reason: &str) {
    if std::env::var("CI").is_ok_and(|ci| ci == "true") {
        panic!("interop test cannot run in CI: {reason}");
    }
    eprintln!("skipping the y-websocket interop test: {reason}");
}

#[test]
fn the_stock_y_websocket_client_interoperates() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop");
    if !dir.join("node_modules/y-websocket").is_dir() {
        return skip_or_fail("run `npm ci --prefix tests/interop` first");
    }
    let output = match Command::new("node")
        .arg("--test")
        .arg("--test-reporter=spec")
        .arg(dir.join("y-websocket.test.mjs"))
        .arg(dir.join("versions.test.mjs"))
        .env("SERVER_BIN", env!("CARGO_BIN_EXE_canvas-server"))
        .env_remove("RUST_LOG")
        .output()
    {
        Ok(output) => output,
        Err(err) => return skip_or_fail(&format!("cannot run node: {err}")),
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The server's own JSON log lines go to the node test's stdout; keep the report.
    for line in stdout.lines().filter(|line| !line.starts_with('{')) {
        println!("{line}");
    }
    assert!(
        output.status.success(),
        "interop suite failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
}

//! Webhooks and the real binary: deliveries pending at a `kill -9` are sent
//! after the restart, and a webhook configuration that cannot work stops the
//! server at start, naming the variable.

use std::{
    process::{Command, Stdio},
    time::Duration,
};

use crate::{
    harness::{backend_test, TestDatabase},
    server_process::Server,
    webhook_receiver::{Answer, Receiver, SECRET},
};

backend_test!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    deliveries_pending_at_a_kill_9_are_delivered_after_the_restart
);
async fn deliveries_pending_at_a_kill_9_are_delivered_after_the_restart(database: TestDatabase) {
    let dir = tempfile::tempdir().expect("temp dir");
    // Down: every request is answered 503 until it comes back.
    let receiver = Receiver::start().await;
    receiver.answer_otherwise(Some(Answer::Status(503)));
    let delays = vec!["200"; 100].join(",");
    let env = [
        ("WEBHOOK_URLS", receiver.url.as_str()),
        ("WEBHOOK_SECRET", SECRET),
        ("WEBHOOK_RETRY_DELAYS_MS", delays.as_str()),
    ];
    let server = Server::start(dir.path(), &database.url(), &env);
    let (_token, board) = server.user_and_board().await;
    // The event was written and tried, and refused.
    let refused = receiver
        .wait_for(
            "an attempt while down",
            Duration::from_secs(10),
            |received| !received.is_empty(),
        )
        .await;
    let id = refused[0].id.clone();
    assert_eq!(refused[0].json()["board_id"], board.as_str());
    server.kill_9();

    receiver.answer_otherwise(None);
    let before = receiver.received().len();
    let server = Server::start(dir.path(), &database.url(), &env);
    let received = receiver
        .wait_for(
            "the delivery after the restart",
            Duration::from_secs(30),
            |received| received[before..].iter().any(|r| r.id == id),
        )
        .await;
    let delivered = received[before..]
        .iter()
        .find(|r| r.id == id)
        .expect("found");
    delivered.assert_signed();
    assert_eq!(delivered.event_type(), "board.created");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while database.count("SELECT COUNT(*) AS n FROM webhook_deliveries") > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the delivery is still pending"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(server);
}

/// Runs the binary with `env` and returns whether it exited successfully
/// and its output (a binary still running after 30 s is killed: it started).
fn start_and_exit(env: &[(&str, &str)]) -> (bool, String) {
    use std::io::Read;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_canvas-server"))
        .env_clear()
        .current_dir(dir.path())
        .env("BIND_ADDR", "127.0.0.1:0")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut text = String::new();
    for pipe in [
        child.stdout.take().map(|p| Box::new(p) as Box<dyn Read>),
        child.stderr.take().map(|p| Box::new(p) as Box<dyn Read>),
    ]
    .into_iter()
    .flatten()
    {
        let mut pipe = pipe;
        let _ = pipe.read_to_string(&mut text);
    }
    (status.is_none_or(|status| status.success()), text)
}

#[test]
fn webhook_urls_without_a_usable_secret_stop_the_server_at_start_naming_the_variable() {
    for env in [
        vec![("WEBHOOK_URLS", "https://hooks.example/canvas")],
        vec![
            ("WEBHOOK_URLS", "https://hooks.example/canvas"),
            (
                "WEBHOOK_SECRET",
                "Y2FudmFzLXdlYmhvb2stdGVzdC1rZXktMzItYnl0ZXM=",
            ),
        ],
        vec![
            ("WEBHOOK_URLS", "https://hooks.example/canvas"),
            ("WEBHOOK_SECRET", "whsec_*not*base64*"),
        ],
    ] {
        let (started, output) = start_and_exit(&env);
        assert!(!started, "{env:?} was accepted: {output}");
        assert!(output.contains("WEBHOOK_SECRET"), "{env:?}: {output}");
        assert!(
            !output.contains("not*base64"),
            "the secret is not shown: {output}"
        );
    }
    let (started, output) = start_and_exit(&[
        ("WEBHOOK_URLS", "ftp://hooks.example/canvas"),
        ("WEBHOOK_SECRET", SECRET),
    ]);
    assert!(!started, "{output}");
    assert!(output.contains("WEBHOOK_URLS"), "{output}");
}

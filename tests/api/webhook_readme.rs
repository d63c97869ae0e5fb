//! The README's signature checks for receivers (the Node.js and Python code
//! blocks of its "Webhooks" section), run as written against a request the
//! server signed and delivered, and against forged ones.
//!
//! Needs `node` and `python3`; without them the test says so and passes,
//! except under `CI=true`, where it fails.

use std::{
    io::Write,
    process::{Command, Stdio},
};

use base64::{engine::general_purpose::STANDARD, Engine};
use serde_json::{json, Value};

use crate::{
    harness::TestApp,
    webhook_receiver::{webhook_config, Received, Receiver, SECRET},
};

/// The README's code block that starts with ```` ```{lang}\n{first_line} ````.
fn readme_block(lang: &str, first_line: &str) -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let opening = format!("```{lang}\n{first_line}\n");
    let start = readme
        .find(&opening)
        .unwrap_or_else(|| panic!("README has no block opening {opening:?}"))
        + opening.len()
        - first_line.len()
        - 1;
    let end = readme[start..].find("\n```").expect("the block closes") + start;
    readme[start..end].to_owned()
}

/// Appended to the Node block: reads a request as JSON on stdin.
const NODE_DRIVER: &str = r#"
const input = JSON.parse(require("node:fs").readFileSync(0, "utf8"));
const valid = verifyWebhook(input.secret, input.headers, Buffer.from(input.body, "base64"));
process.stdout.write(valid ? "valid" : "invalid");
"#;

/// Appended to the Python block: reads a request as JSON on stdin.
const PYTHON_DRIVER: &str = r#"
import json, sys
request = json.load(sys.stdin)
valid = verify_webhook(request["secret"], request["headers"], base64.b64decode(request["body"]))
print("valid" if valid else "invalid", end="")
"#;

/// Runs `program` with the script on the command line and `input` on stdin;
/// its output, or `None` when the program is not installed.
fn run(program: &str, args: &[&str], script: &str, input: &Value) -> Option<String> {
    let mut child = match Command::new(program)
        .args(args)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return None,
        Err(err) => panic!("{program} did not start: {err}"),
    };
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.to_string().as_bytes())
        .expect("input written");
    let output = child.wait_with_output().expect("finished");
    assert!(
        output.status.success(),
        "{program} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn input(secret: &str, id: &str, timestamp: &str, signature: &str, body: &[u8]) -> Value {
    json!({
        "secret": secret,
        "headers": {
            "webhook-id": id,
            "webhook-timestamp": timestamp,
            "webhook-signature": signature,
        },
        "body": STANDARD.encode(body),
    })
}

/// The delivered request, and forgeries of it that must fail.
fn cases(request: &Received) -> Vec<(&'static str, Value, &'static str)> {
    let genuine = input(
        SECRET,
        &request.id,
        &request.timestamp,
        &request.signature,
        &request.body,
    );
    let mut tampered = request.body.to_vec();
    tampered.extend_from_slice(b" ");
    let other_secret = "whsec_b3RoZXItc2VjcmV0LW9mLWF0LWxlYXN0LTI0LWJ5dGVz";
    // Signed correctly, with the right key, but an hour ago.
    let stale_at = (chrono::Utc::now().timestamp() - 3600).to_string();
    let stale_signature = canvas_server::webhooks::SigningKey::from_secret(SECRET)
        .expect("key")
        .sign(
            &request.id,
            stale_at.parse().expect("seconds"),
            &request.body,
        );
    vec![
        ("the delivered request", genuine, "valid"),
        (
            "a changed body",
            input(
                SECRET,
                &request.id,
                &request.timestamp,
                &request.signature,
                &tampered,
            ),
            "invalid",
        ),
        (
            "another secret",
            input(
                other_secret,
                &request.id,
                &request.timestamp,
                &request.signature,
                &request.body,
            ),
            "invalid",
        ),
        (
            "another id",
            input(
                SECRET,
                "another-id",
                &request.timestamp,
                &request.signature,
                &request.body,
            ),
            "invalid",
        ),
        (
            "a stale timestamp",
            input(
                SECRET,
                &request.id,
                &stale_at,
                &stale_signature,
                &request.body,
            ),
            "invalid",
        ),
    ]
}

#[tokio::test]
async fn the_readmes_node_and_python_checks_accept_the_servers_signature_and_nothing_else() {
    let receiver = Receiver::start().await;
    let app = TestApp::spawn_with(webhook_config(&receiver.url)).await;
    let owner = app.register("verifier").await;
    app.create_board(&owner, "Signed").await;
    let request = receiver.event("board.created").await;

    let node = format!(
        "{}\n{NODE_DRIVER}",
        readme_block("js", "// verify-webhook.js")
    );
    let python = format!(
        "{}\n{PYTHON_DRIVER}",
        readme_block("python", "# verify_webhook.py")
    );
    let mut missing = Vec::new();
    for (program, args, script) in [
        ("node", &["-e"][..], &node),
        ("python3", &["-c"][..], &python),
    ] {
        for (case, input, expected) in cases(&request) {
            match run(program, args, script, &input) {
                Some(verdict) => assert_eq!(verdict, expected, "{program}, {case}"),
                None => {
                    missing.push(program);
                    break;
                }
            }
        }
    }
    if !missing.is_empty() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but {missing:?} not installed"
        );
        eprintln!("skipped the README's signature checks in {missing:?}: not installed");
    }
}

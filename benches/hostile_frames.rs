//! What 100 hostile frames cost a running server, and what a client on another
//! board notices meanwhile.
//!
//! Starts the real `canvas-server` binary (as built for this bench), keeps a
//! pair of clients on a calm board doing edit round trips, and sends 100
//! hostile frames to another board (the yrs allocation hazard as sync update and
//! step 2, random update payloads, an awareness message announcing a huge count),
//! each on a fresh socket. Prints one JSON line per phase: round-trip latency on
//! the calm board, and the server's CPU time and memory from `/proc/PID`.
//!
//! `cargo bench --bench hostile_frames`

#[path = "../tests/api/sync_client.rs"]
#[allow(dead_code)]
mod sync_client;

#[path = "../tests/api/hostile_input.rs"]
mod hostile_input;

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use hostile_input::hostile_frames;
use serde_json::{json, Value};
use sync_client::{connect, round_trip};

struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(db: &std::path::Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_canvas-server"))
        .env("BIND_ADDR", "127.0.0.1:0")
        .env("DATABASE_URL", format!("sqlite://{}", db.display()))
        .env("JWT_SECRET", "bench-secret-of-at-least-32-bytes")
        // The calm board's round trips are far over the per-socket message
        // limit, and the attack opens 100 sockets: limits off, as for any load test.
        .env("RATE_LOGIN_PER_MIN", "0")
        .env("RATE_WS_CONNECT_PER_MIN", "0")
        .env("RATE_WS_MSGS_PER_SEC", "0")
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "warn,canvas_server=info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("server starts");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(event) = serde_json::from_str::<Value>(&line) {
                if event["message"] == "canvas-server listening" {
                    let _ = tx.send(event["addr"].as_str().unwrap_or_default().to_owned());
                }
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("server listening");
    Server { child, addr }
}

/// (CPU seconds, RSS KiB, peak RSS KiB) of a process.
fn proc_usage(pid: u32) -> (f64, u64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are 14 and 15.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find(|line| line.starts_with(key))
            .and_then(|line| line.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0)
    };
    (ticks as f64 / 100.0, kib("VmRSS:"), kib("VmHWM:"))
}

fn summary(phase: &str, mut samples: Vec<Duration>, extra: Value) -> Value {
    samples.sort();
    let pick = |q: f64| {
        samples
            .get(((samples.len() as f64 - 1.0) * q).round() as usize)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    let mut line = json!({
        "phase": phase,
        "round_trips": samples.len(),
        "rtt_p50_ms": pick(0.5),
        "rtt_p99_ms": pick(0.99),
        "rtt_max_ms": pick(1.0),
    });
    if let (Some(line), Some(extra)) = (line.as_object_mut(), extra.as_object()) {
        line.extend(extra.clone());
    }
    line
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_server(&dir.path().join("bench.db"));
    let pid = server.child.id();
    let http = reqwest::Client::new();
    let base = format!("http://{}/api/v1", server.addr);
    let auth: Value = http
        .post(format!("{base}/auth/register"))
        .json(&json!({"email": "bench@example.com", "password": "password123"}))
        .send()
        .await
        .expect("register")
        .json()
        .await
        .expect("json");
    let token = auth["token"].as_str().expect("token").to_owned();
    let mut boards = Vec::new();
    for name in ["calm", "target"] {
        let board: Value = http
            .post(format!("{base}/boards"))
            .bearer_auth(&token)
            .json(&json!({ "name": name }))
            .send()
            .await
            .expect("create board")
            .json()
            .await
            .expect("json");
        boards.push(board["id"].as_str().expect("id").to_owned());
    }
    let url = |board: &str| {
        format!(
            "ws://{}/api/v1/boards/{board}/sync?token={token}",
            server.addr
        )
    };
    let mut writer = connect(&url(&boards[0])).await;
    let mut watcher = connect(&url(&boards[0])).await;

    // Baseline: round trips with no attack, for the same wall time as a typical attack.
    let mut baseline = Vec::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(2) {
        let n = baseline.len();
        baseline.push(round_trip(&mut writer, &mut watcher, &format!("k{n}")).await);
    }
    println!("{}", summary("baseline", baseline, json!({})));

    // The attack alone: what 100 hostile frames (and their 100 connections)
    // cost the server with nothing else going on.
    let (cpu_idle_before, _, _) = proc_usage(pid);
    let alone_started = Instant::now();
    let mut closed_alone = 0;
    for frame in hostile_frames(100) {
        let mut attacker = connect(&url(&boards[1])).await;
        attacker.send_raw(frame).await;
        if attacker.ended().await == sync_client::Ended::Closed(1007) {
            closed_alone += 1;
        }
    }
    let (cpu_idle_after, _, peak_alone) = proc_usage(pid);
    println!(
        "{}",
        json!({
            "phase": "100_hostile_frames_alone",
            "wall_ms": alone_started.elapsed().as_secs_f64() * 1000.0,
            "closed_1007": closed_alone,
            "server_cpu_ms": (cpu_idle_after - cpu_idle_before) * 1000.0,
            "server_peak_rss_kib": peak_alone,
        })
    );

    let (cpu_before, _, _) = proc_usage(pid);
    let target = url(&boards[1]);
    let attack_started = Instant::now();
    let attack = tokio::spawn(async move {
        let mut closed_1007 = 0;
        for frame in hostile_frames(100) {
            let mut attacker = connect(&target).await;
            attacker.send_raw(frame).await;
            if attacker.ended().await == sync_client::Ended::Closed(1007) {
                closed_1007 += 1;
            }
        }
        closed_1007
    });
    let mut during = Vec::new();
    let mut n = 1_000_000;
    while !attack.is_finished() {
        during.push(round_trip(&mut writer, &mut watcher, &format!("k{n}")).await);
        n += 1;
    }
    let closed = attack.await.expect("attack");
    // What an operator would have seen: the server's own series right after.
    let exposition = http
        .get(format!("http://{}/metrics", server.addr))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics body");
    let excerpt: Vec<&str> = exposition
        .lines()
        .filter(|line| {
            !line.starts_with('#')
                && (line.starts_with("ws_")
                    || line.starts_with("boards_")
                    || line.starts_with("board_saves_total")
                    || line.starts_with("http_requests_total"))
        })
        .collect();
    let attack_ms = attack_started.elapsed().as_secs_f64() * 1000.0;
    let (cpu_after, rss, peak) = proc_usage(pid);
    println!(
        "{}",
        summary(
            "during_100_hostile_frames",
            during,
            json!({
                "attack_wall_ms": attack_ms,
                "closed_1007": closed,
                "server_cpu_ms": (cpu_after - cpu_before) * 1000.0,
                "server_rss_kib": rss,
                "server_peak_rss_kib": peak,
            })
        )
    );
    println!(
        "{}",
        json!({ "phase": "metrics_after_attack", "series": excerpt })
    );
}

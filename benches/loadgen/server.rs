//! The server under test. Either canvas-server started here (the binary built
//! for this bench, on a temporary SQLite database, throttles off), reached over
//! its REST API for an account, boards, board state and `/metrics`; or any
//! y-websocket-compatible server at a URL, whose rooms are `{url}/{room}` (or,
//! with Hocuspocus framing, documents on the socket at `{url}`).

use std::{
    collections::HashMap,
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use anyhow::{anyhow, bail, Context};
use serde_json::{json, Value};

use crate::{client::Room, proto::Framing};

/// A canvas-server process started for a scenario; killed when dropped.
pub struct CanvasServer {
    child: Child,
    pub addr: String,
    pub db_path: PathBuf,
    _dir: tempfile::TempDir,
    token: String,
    http: reqwest::Client,
}

impl Drop for CanvasServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(dir: &std::path::Path, db: &std::path::Path) -> anyhow::Result<(Child, String)> {
    let database_url = format!("sqlite://{}", db.display());
    spawn_canvas_server(dir, &[("DATABASE_URL", &database_url)], &[])
}

/// Starts the binary built for this bench (or `CANVAS_SERVER_BIN`: an A/B
/// comparison runs the same load generator against a saved build) in `dir`
/// on a free port, throttles off, with `env` set and `unset` removed; returns
/// it with the address it logged.
pub fn spawn_canvas_server(
    dir: &std::path::Path,
    env: &[(&str, &str)],
    unset: &[&str],
) -> anyhow::Result<(Child, String)> {
    let bin = std::env::var_os("CANVAS_SERVER_BIN")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_canvas-server").into());
    let mut command = Command::new(bin);
    command
        .current_dir(dir)
        .env("BIND_ADDR", "127.0.0.1:0")
        .env("JWT_SECRET", "bench-secret-of-at-least-32-bytes")
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "warn,canvas_server=info")
        .env("RATE_LOGIN_PER_MIN", "0")
        .env("RATE_WS_CONNECT_PER_MIN", "0")
        .env("RATE_WS_MSGS_PER_SEC", "0")
        .env_remove("METRICS_ADDR")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for name in unset {
        command.env_remove(name);
    }
    let mut child = command.spawn().context("starting canvas-server")?;
    let stdout = child.stdout.take().context("server stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    // Keeps draining the log for the whole run so the server never blocks on it.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(event) = serde_json::from_str::<Value>(&line) {
                if event["message"] == "canvas-server listening" {
                    let _ = tx.send(event["addr"].as_str().unwrap_or_default().to_owned());
                }
            }
        }
    });
    // Migrations on a fresh PostgreSQL schema take longer than on SQLite.
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(addr) => Ok((child, addr)),
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            bail!("canvas-server did not log `canvas-server listening` within 60 s")
        }
    }
}

impl CanvasServer {
    /// Starts the server and registers an account.
    pub async fn start() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir().context("temp dir")?;
        let db_path = dir.path().join("loadgen.db");
        let (workdir, db) = (dir.path().to_owned(), db_path.clone());
        let (child, addr) = tokio::task::spawn_blocking(move || spawn(&workdir, &db)).await??;
        let mut server = Self {
            child,
            addr,
            db_path,
            _dir: dir,
            token: String::new(),
            http: reqwest::Client::new(),
        };
        let auth: Value = server
            .http
            .post(server.api("/auth/register"))
            .json(&json!({"email": "loadgen@example.com", "password": "loadgen-password"}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        server.token = auth["token"].as_str().context("token")?.to_owned();
        Ok(server)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn api(&self, path: &str) -> String {
        format!("http://{}/api/v1{path}", self.addr)
    }

    /// Creates `n` boards (a few at a time) and returns their rooms.
    pub async fn create_boards(&self, n: usize) -> anyhow::Result<Vec<Room>> {
        let mut rooms = Vec::with_capacity(n);
        for chunk in (0..n).collect::<Vec<_>>().chunks(16) {
            let requests = chunk.iter().map(|i| async move {
                let board: Value = self
                    .http
                    .post(self.api("/boards"))
                    .bearer_auth(&self.token)
                    .json(&json!({ "name": format!("loadgen {i}") }))
                    .send()
                    .await?
                    .error_for_status()?
                    .json()
                    .await?;
                let id = board["id"].as_str().context("board id")?.to_owned();
                anyhow::Ok(id)
            });
            for id in futures_util::future::join_all(requests).await {
                let id = id?;
                rooms.push(Room {
                    url: format!(
                        "ws://{}/api/v1/boards/{id}/sync?token={}",
                        self.addr, self.token
                    ),
                    id,
                    framing: Framing::plain(),
                    auth_token: String::new(),
                });
            }
        }
        Ok(rooms)
    }

    /// `POST /boards/{id}/updates`.
    pub async fn post_update(&self, board: &str, update: Vec<u8>) -> anyhow::Result<()> {
        self.http
            .post(self.api(&format!("/boards/{board}/updates")))
            .bearer_auth(&self.token)
            .header("content-type", "application/octet-stream")
            .body(update)
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }

    /// `GET /boards/{id}/state`.
    pub async fn state(&self, board: &str) -> anyhow::Result<Vec<u8>> {
        let bytes = self
            .http
            .get(self.api(&format!("/boards/{board}/state")))
            .bearer_auth(&self.token)
            .send()
            .await?
            .error_for_status()?
            .bytes()
            .await?;
        Ok(bytes.to_vec())
    }

    /// Every unlabelled or labelled series of `/metrics`, keyed as written
    /// (`board_saves_total{result="ok"}`).
    pub async fn metrics(&self) -> anyhow::Result<HashMap<String, f64>> {
        scrape_metrics(&self.http, &self.addr).await
    }

    /// Polls `/metrics` until `series` is at most `target`; returns how long it took.
    pub async fn wait_metric_at_most(
        &self,
        series: &str,
        target: f64,
        limit: Duration,
    ) -> anyhow::Result<Duration> {
        let started = std::time::Instant::now();
        loop {
            let value = self.metrics().await?.get(series).copied().unwrap_or(0.0);
            if value <= target {
                return Ok(started.elapsed());
            }
            if started.elapsed() > limit {
                bail!("{series} still {value} after {limit:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Bytes of the database file and its WAL.
    pub fn db_bytes(&self) -> u64 {
        let size = |suffix: &str| {
            let mut path = self.db_path.clone().into_os_string();
            path.push(suffix);
            std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
        };
        size("") + size("-wal")
    }
}

/// Where the scenarios connect.
pub enum Backend {
    /// A canvas-server started for the scenario.
    Canvas(CanvasServer),
    /// A server given by URL.
    External(External),
}

/// A server given on the command line.
#[derive(Debug, Clone)]
pub struct External {
    pub url: String,
    pub params: Vec<(String, String)>,
    pub pid: Option<u32>,
    /// Hocuspocus framing, with this auth token.
    pub hocuspocus: Option<String>,
    /// Distinguishes this run's rooms from earlier runs' on the same server.
    pub run_tag: String,
}

impl External {
    fn room(&self, name: String) -> Room {
        let base = self.url.trim_end_matches('/');
        let path = match self.hocuspocus {
            // The request needs a path before any query: `ws://host:port/`.
            Some(_) => format!("{base}/"),
            None => format!("{base}/{name}"),
        };
        let query: Vec<String> = self
            .params
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let url = if query.is_empty() {
            path
        } else {
            let sep = if path.contains('?') { '&' } else { '?' };
            format!("{path}{sep}{}", query.join("&"))
        };
        Room {
            framing: match self.hocuspocus {
                Some(_) => Framing::hocuspocus(&name),
                None => Framing::plain(),
            },
            auth_token: self.hocuspocus.clone().unwrap_or_default(),
            url,
            id: name,
        }
    }
}

impl Backend {
    /// A fresh canvas-server, or the external server.
    pub async fn new(external: Option<&External>) -> anyhow::Result<Self> {
        Ok(match external {
            Some(external) => Self::External(external.clone()),
            None => Self::Canvas(CanvasServer::start().await?),
        })
    }

    /// `n` fresh rooms for `label`.
    pub async fn rooms(&self, label: &str, n: usize) -> anyhow::Result<Vec<Room>> {
        match self {
            Self::Canvas(server) => server.create_boards(n).await,
            Self::External(external) => Ok((0..n)
                .map(|i| external.room(format!("loadgen-{}-{label}-{i}", external.run_tag)))
                .collect()),
        }
    }

    pub fn pid(&self) -> Option<u32> {
        match self {
            Self::Canvas(server) => Some(server.pid()),
            Self::External(external) => external.pid,
        }
    }

    pub fn canvas(&self) -> Option<&CanvasServer> {
        match self {
            Self::Canvas(server) => Some(server),
            Self::External(_) => None,
        }
    }

    /// A short name of the target for the JSON lines.
    pub fn describe(&self) -> String {
        match self {
            Self::Canvas(_) => "canvas-server".to_owned(),
            Self::External(external) => match external.hocuspocus {
                Some(_) => format!("{} (hocuspocus)", external.url),
                None => external.url.clone(),
            },
        }
    }

    /// Server resident memory in KiB, when the PID is known.
    pub fn rss_kib(&self) -> Option<u64> {
        crate::procstat::rss_kib(&self.pid()?.to_string())
    }
}

/// Reads `key=value` into a pair.
pub fn parse_param(text: &str) -> anyhow::Result<(String, String)> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| anyhow!("expected key=value, got {text:?}"))?;
    Ok((key.to_owned(), value.to_owned()))
}

/// Every series of the `/metrics` of the server at `addr`, keyed as written.
pub async fn scrape_metrics(
    http: &reqwest::Client,
    addr: &str,
) -> anyhow::Result<HashMap<String, f64>> {
    let text = http
        .get(format!("http://{addr}/metrics"))
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    Ok(text
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (key, value) = line.rsplit_once(' ')?;
            Some((key.trim().to_owned(), value.parse().ok()?))
        })
        .collect())
}

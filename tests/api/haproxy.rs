//! Board-affine routing through a real load balancer: HAProxy running
//! `deploy/haproxy.cfg` as it is, in front of three instances of the binary
//! over one PostgreSQL schema and one Redis, on loopback ports chosen at run
//! time. All sockets and REST requests of a board reach one instance; killing
//! an instance moves only its boards, whose clients reconnect through the
//! balancer to another instance and find every acknowledged edit; starting it
//! again brings its boards back.
//!
//! Needs `TEST_POSTGRES_URL`, `TEST_REDIS_URL` and `haproxy` (Debian's
//! package; `.ci/run` installs it). Without one of them the test says so and
//! passes; under `CI=true` it fails instead.
//!
//! Instances are told apart by their own `/metrics`: a socket is on the
//! instance whose `ws_connections_open` rose when it connected, a REST
//! request on the one whose `http_requests_total` for its route rose.

use std::{
    collections::{BTreeMap, BTreeSet},
    io::Write,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use serde_json::{json, Value};

use crate::{
    harness::{run_on, service_url, yjs_update, Backend, TestDatabase},
    server_process::{keys_of, post_json, set_key, Server},
    sync_client::{connect, SyncClient, WAIT},
};

/// The recipe the README documents, run unchanged.
const CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/haproxy.cfg");

/// The `server` names of `deploy/haproxy.cfg`, in the order of the instances.
const SERVER_NAMES: [&str; 3] = ["canvas1", "canvas2", "canvas3"];

/// Clients per board.
const CLIENTS: usize = 3;

/// Keys each client sets on its board.
const KEYS_PER_CLIENT: usize = 2;

/// The REST route whose counter tells where an update was served.
const UPDATES_ROUTE: &str = r#"route="/api/v1/boards/{id}/updates""#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn haproxy_keeps_each_board_on_one_instance_and_moves_only_a_dead_instances_boards() {
    // The instances are separate processes: they share a PostgreSQL schema.
    run_on(Backend::Postgres, three_instances_behind_haproxy).await;
}

async fn three_instances_behind_haproxy(database: TestDatabase) {
    let test = "haproxy_keeps_each_board_on_one_instance_and_moves_only_a_dead_instances_boards";
    let Some(redis) = service_url("TEST_REDIS_URL") else {
        skip(
            test,
            "set TEST_REDIS_URL (e.g. redis://127.0.0.1:6379) to run it",
        );
        return;
    };
    let Some(haproxy) = haproxy_binary() else {
        skip(test, "haproxy is not installed (apt-get install haproxy)");
        return;
    };
    let mut instances = Instances::start(&database.url(), &redis).await;
    let balancer = Balancer::start(&haproxy, &instances.addrs);
    for name in SERVER_NAMES {
        balancer.wait_for_status(name, "UP").await;
    }
    let token = balancer.register().await;

    // (a) Boards until every instance holds two: each board's sockets all
    // land where its first one did, and so do its REST updates.
    let mut boards: Vec<Board> = Vec::new();
    while (0..SERVER_NAMES.len()).any(|i| boards.iter().filter(|b| b.home == i).count() < 2) {
        assert!(
            boards.len() < 40,
            "40 boards and an instance still holds fewer than two"
        );
        let id = balancer.create_board(&token).await;
        let mut clients = Vec::new();
        let mut served_by = BTreeSet::new();
        for _ in 0..CLIENTS {
            let (client, at) = instances
                .connect_tracked(&balancer.sync_url(&id, &token))
                .await;
            clients.push(client);
            served_by.insert(at);
        }
        assert_eq!(
            served_by.len(),
            1,
            "board {id}: sockets on instances {served_by:?}"
        );
        let home = served_by.into_iter().next().expect("one instance");
        boards.push(Board {
            id,
            home,
            clients,
            keys: BTreeSet::new(),
        });
    }

    let victim = 0;
    let journaled_before = instances.metric(victim, "journal_appends_total", "").await;
    let mut victim_updates = 0.0;
    for board in &mut boards {
        for (c, client) in board.clients.iter_mut().enumerate() {
            for k in 0..KEYS_PER_CLIENT {
                let key = format!("client{c}-key{k}");
                set_key(client, key.clone()).await;
                board.keys.insert(key);
            }
        }
        let served_at = instances
            .post_update_tracked(&balancer, &board.id, &token, "rest")
            .await;
        assert_eq!(served_at, board.home, "board {}: REST update", board.id);
        board.keys.insert("rest".to_owned());
        for client in &mut board.clients {
            client.wait_for(|c| keys_of(c) == board.keys).await;
        }
        if board.home == victim {
            victim_updates += (CLIENTS * KEYS_PER_CLIENT + 1) as f64;
        }
    }
    // Acknowledged: the victim's socket updates are committed to its journal
    // (its REST updates were answered 204 once they were).
    instances
        .wait_for_metric(
            victim,
            "journal_appends_total",
            journaled_before + victim_updates,
        )
        .await;

    // (b) kill -9: only the victim's boards move, each to one instance, and
    // their clients find every acknowledged edit there.
    instances.kill(victim);
    let mut interim: BTreeMap<String, (usize, SyncClient)> = BTreeMap::new();
    for board in &mut boards {
        if board.home != victim {
            // Still connected where it was: an edit goes round.
            let key = "after-the-kill".to_owned();
            set_key(&mut board.clients[0], key.clone()).await;
            board.keys.insert(key);
            board.clients[1]
                .wait_for(|c| keys_of(c) == board.keys)
                .await;
            continue;
        }
        for client in &mut board.clients {
            client.ended().await;
        }
        let mut clients = Vec::new();
        let mut served_by = BTreeSet::new();
        for _ in 0..CLIENTS {
            let (mut client, at) = instances
                .connect_tracked(&balancer.sync_url(&board.id, &token))
                .await;
            client.wait_for(|c| keys_of(c) == board.keys).await;
            clients.push(client);
            served_by.insert(at);
        }
        assert_eq!(
            served_by.len(),
            1,
            "board {}: sockets on {served_by:?}",
            board.id
        );
        let at = served_by.into_iter().next().expect("one instance");
        assert_ne!(at, victim);
        board.clients = clients;
        board.home = at;
        let key = "after-the-move".to_owned();
        set_key(&mut board.clients[0], key.clone()).await;
        board.keys.insert(key);
        for client in &mut board.clients {
            client.wait_for(|c| keys_of(c) == board.keys).await;
        }
        interim.insert(board.id.clone(), (at, board.clients.remove(0)));
    }
    assert!(!interim.is_empty(), "the victim held boards");
    // A new socket of a board that did not move still lands where it was.
    // (Every socket stays open to the end: one closing would move the
    // counts the next one is located by.)
    let mut kept_open = Vec::new();
    for board in boards.iter().filter(|b| !interim.contains_key(&b.id)) {
        let (mut client, at) = instances
            .connect_tracked(&balancer.sync_url(&board.id, &token))
            .await;
        assert_eq!(at, board.home, "board {} moved", board.id);
        client.wait_for(|c| keys_of(c) == board.keys).await;
        kept_open.push(client);
    }

    // (c) The victim back on its address: its boards' new sockets go to it
    // again, the others' stay; a returned board's new socket and a socket
    // still on the interim instance share it through Redis.
    instances.restart(victim).await;
    balancer.wait_for_status(SERVER_NAMES[victim], "UP").await;
    for board in &mut boards {
        let (mut client, at) = instances
            .connect_tracked(&balancer.sync_url(&board.id, &token))
            .await;
        client.wait_for(|c| keys_of(c) == board.keys).await;
        let Some((interim_at, old)) = interim.get_mut(&board.id) else {
            assert_eq!(at, board.home, "board {} moved", board.id);
            kept_open.push(client);
            continue;
        };
        assert_eq!(at, victim, "board {} did not come back", board.id);
        assert_ne!(*interim_at, victim);
        let key = "on-the-returned-instance".to_owned();
        set_key(&mut client, key.clone()).await;
        board.keys.insert(key);
        old.wait_for(|c| keys_of(c) == board.keys).await;
        let key = "on-the-interim-instance".to_owned();
        set_key(old, key.clone()).await;
        board.keys.insert(key);
        client.wait_for(|c| keys_of(c) == board.keys).await;
        kept_open.push(client);
    }
}

/// A board of the test: the instance serving it and its connected clients.
struct Board {
    id: String,
    home: usize,
    clients: Vec<SyncClient>,
    /// Every key set on it so far.
    keys: BTreeSet<String>,
}

fn skip(test: &str, why: &str) {
    let _ = writeln!(std::io::stderr(), "skipped {test}: {why}");
}

/// The `haproxy` executable (on `PATH`, or in Debian's `/usr/sbin`), or
/// `None` to skip, except under `CI=true`.
fn haproxy_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|dir| dir.join("haproxy"))
        .find(|candidate| candidate.is_file());
    assert!(
        found.is_some() || std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but haproxy is not installed (.ci/run installs Debian's package)"
    );
    found
}

/// A loopback port free right now, held until the returned listener is
/// dropped (HAProxy binds its listeners itself).
fn unused_loopback_port() -> (std::net::TcpListener, SocketAddr) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
    let addr = listener.local_addr().expect("its address");
    (listener, addr)
}

/// The three instances, each a process of the binary; `None` while killed.
struct Instances {
    dir: tempfile::TempDir,
    database_url: String,
    redis: String,
    servers: Vec<Option<Server>>,
    addrs: Vec<SocketAddr>,
    http: reqwest::Client,
}

impl Instances {
    async fn start(database_url: &str, redis: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut servers = Vec::new();
        for _ in SERVER_NAMES {
            let server = Server::start(dir.path(), database_url, &[("REDIS_URL", redis)]);
            server.wait_until_ready().await;
            servers.push(Some(server));
        }
        let addrs = servers.iter().flatten().map(|s| s.addr).collect();
        Self {
            dir,
            database_url: database_url.to_owned(),
            redis: redis.to_owned(),
            servers,
            addrs,
            http: reqwest::Client::new(),
        }
    }

    fn kill(&mut self, index: usize) {
        self.servers[index].take().expect("running").kill_9();
    }

    /// Starts instance `index` again on the address it had.
    async fn restart(&mut self, index: usize) {
        let addr = self.addrs[index].to_string();
        let server = Server::start(
            self.dir.path(),
            &self.database_url,
            &[("REDIS_URL", &self.redis), ("BIND_ADDR", &addr)],
        );
        server.wait_until_ready().await;
        self.servers[index] = Some(server);
    }

    /// The sum of the series of `name` on instance `index` whose labels
    /// contain `labels`.
    async fn metric(&self, index: usize, name: &str, labels: &str) -> f64 {
        let server = self.servers[index].as_ref().expect("running");
        let text = self
            .http
            .get(server.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text");
        text.lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| line.rsplit_once(' '))
            .filter(|(series, _)| {
                let rest = series.strip_prefix(name).unwrap_or("#");
                (rest.is_empty() || rest.starts_with('{')) && rest.contains(labels)
            })
            .filter_map(|(_, value)| value.parse::<f64>().ok())
            .sum()
    }

    /// `name` (summed over its labels containing `labels`) on each running
    /// instance.
    async fn metric_everywhere(&self, name: &str, labels: &str) -> Vec<Option<f64>> {
        let mut values = Vec::new();
        for index in 0..self.servers.len() {
            values.push(match self.servers[index] {
                Some(_) => Some(self.metric(index, name, labels).await),
                None => None,
            });
        }
        values
    }

    async fn wait_for_metric(&self, index: usize, name: &str, at_least: f64) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let value = self.metric(index, name, "").await;
            if value >= at_least {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{name} on instance {index} is {value} after {WAIT:?}, expected {at_least}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Runs `act` and returns it with the one instance whose `name` (labels
    /// containing `labels`) rose by one meanwhile. Nothing else may move
    /// that series at the same time.
    async fn tracked<T>(
        &self,
        name: &str,
        labels: &str,
        act: impl std::future::Future<Output = T>,
    ) -> (T, usize) {
        let before = self.metric_everywhere(name, labels).await;
        let done = act.await;
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let after = self.metric_everywhere(name, labels).await;
            let rose: Vec<usize> = (0..after.len())
                .filter(|&i| after[i] != before[i])
                .collect();
            if let [index] = rose[..] {
                assert_eq!(after[index], before[index].map(|v| v + 1.0), "{name}");
                return (done, index);
            }
            assert!(
                rose.is_empty() && tokio::time::Instant::now() < deadline,
                "{name}: before {before:?}, after {after:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Connects (and syncs) a client; returns it with the instance serving it.
    async fn connect_tracked(&self, url: &str) -> (SyncClient, usize) {
        self.tracked("ws_connections_open", "", connect(url)).await
    }

    /// `POST /boards/{id}/updates` through the balancer, setting `key`;
    /// returns the instance that answered `204`.
    async fn post_update_tracked(
        &self,
        balancer: &Balancer,
        board: &str,
        token: &str,
        key: &str,
    ) -> usize {
        let request = balancer
            .http
            .post(balancer.url(&format!("/api/v1/boards/{board}/updates")))
            .bearer_auth(token)
            .header("content-type", "application/octet-stream")
            .body(yjs_update(key, "v"))
            .send();
        let (response, at) = self
            .tracked("http_requests_total", UPDATES_ROUTE, request)
            .await;
        assert_eq!(response.expect("request sent").status().as_u16(), 204);
        at
    }
}

/// HAProxy running `deploy/haproxy.cfg` in the foreground; stopped when dropped.
struct Balancer {
    child: Child,
    addr: SocketAddr,
    stats: SocketAddr,
    http: reqwest::Client,
}

impl Balancer {
    fn start(binary: &Path, instances: &[SocketAddr]) -> Self {
        let (held, addr) = unused_loopback_port();
        let (held_too, stats) = unused_loopback_port();
        drop((held, held_too));
        let mut command = Command::new(binary);
        command
            .args(["-db", "-f", CONFIG])
            // The configuration reads its addresses from the environment,
            // and nothing else of the test's.
            .env_clear()
            .env("CANVAS_LB_ADDR", addr.to_string())
            .env("CANVAS_LB_STATS_ADDR", stats.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (n, instance) in instances.iter().enumerate() {
            command.env(format!("CANVAS_{}", n + 1), instance.to_string());
        }
        let child = command.spawn().expect("haproxy starts");
        Self {
            child,
            addr,
            stats,
            http: reqwest::Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn sync_url(&self, board: &str, token: &str) -> String {
        format!(
            "ws://{}/api/v1/boards/{board}/sync?token={token}",
            self.addr
        )
    }

    /// The status HAProxy gives each server of the `canvas` backend (`UP`,
    /// `DOWN`, …), from its stats page; `None` while it does not answer.
    async fn statuses(&self) -> Option<BTreeMap<String, String>> {
        let csv = self
            .http
            .get(format!("http://{}/stats;csv", self.stats))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        let mut lines = csv.lines();
        let header: Vec<&str> = lines.next()?.trim_start_matches("# ").split(',').collect();
        let column = |name: &str| header.iter().position(|h| *h == name);
        let (proxy, server, status) = (column("pxname")?, column("svname")?, column("status")?);
        Some(
            lines
                .map(|line| line.split(',').collect::<Vec<_>>())
                .filter(|fields| fields.get(proxy) == Some(&"canvas"))
                .filter_map(|fields| {
                    Some((
                        (*fields.get(server)?).to_owned(),
                        (*fields.get(status)?).to_owned(),
                    ))
                })
                .collect(),
        )
    }

    async fn wait_for_status(&self, server: &str, status: &str) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let statuses = self.statuses().await;
            if statuses
                .as_ref()
                .and_then(|all| all.get(server))
                .is_some_and(|s| s == status)
            {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{server} not {status} after {WAIT:?}: {statuses:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Value {
        post_json(&self.http, &self.url(path), token, body).await
    }

    /// Registers an account through the balancer; returns its token.
    async fn register(&self) -> String {
        let body = json!({ "email": "ada@example.com", "password": "password123" });
        let registered = self.post("/api/v1/auth/register", None, body).await;
        registered["token"].as_str().expect("token").to_owned()
    }

    async fn create_board(&self, token: &str) -> String {
        let board = self
            .post("/api/v1/boards", Some(token), json!({ "name": "Plan" }))
            .await;
        board["id"].as_str().expect("id").to_owned()
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

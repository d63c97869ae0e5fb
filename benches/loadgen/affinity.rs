//! `affinity`: three canvas-server instances over one PostgreSQL schema and
//! one Redis, behind HAProxy, all on loopback; what crosses Redis and what is
//! written to the database per 1,000 updates/s, with clients routed at random
//! (HAProxy `balance roundrobin`: a board's sockets spread over the
//! instances) and board-affine (`deploy/haproxy.cfg` as it is: consistent
//! hashing on the board id), and how long a board's clients take to be
//! served again after its instance is killed with SIGKILL.
//!
//! Each routing gets a fresh deployment (a new schema, new instances, a new
//! HAProxy). Redis is a private `redis-server` started here, so its
//! `INFO commandstats` counts only this deployment (and this bench's own
//! `INFO`, left out); `AFFINITY_REDIS_URL` uses another one instead, whose
//! other users then count too. PostgreSQL is `AFFINITY_POSTGRES_URL`, else
//! `TEST_POSTGRES_URL`, else `postgres://postgres@127.0.0.1:5432/test`.
//!
//! Steady state: the fanout clients connect, then the writers send on the
//! open-loop schedule. The instances save with their defaults
//! (`SAVE_MAX_DEBOUNCE_MS`: 10 s under continuous editing), so each edited
//! board should be written once per 10 s, at 10, 20, 30 s… of writing.
//! Redis commands, snapshot writes (the sum of `board_states.version`: one
//! per write), updates the instances accepted and CPU are counted from 5 s
//! of writing (board loads, subscriptions and first summaries are over) to
//! the end of the drain: the counted window never starts or ends on a save.
//!
//! Failover (board-affine only, after the steady state): fresh boards with
//! a few clients each, every client keeping its own replica; the first
//! client of each board sets some keys, the others receive them, the
//! journal commits them; then one instance is killed. Each client of its
//! boards reconnects through HAProxy at once (again every 100 ms while
//! refused) and syncs; once all have, the first sends a probe. A board is
//! served again when all of its clients have synced, and converged when the
//! probe reached them all; times count from the kill. A fresh client then
//! checks that no key set before the kill is missing.

use std::{
    collections::{BTreeMap, HashMap},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context};
use serde_json::{json, Value};
use tokio::sync::watch;
use yrs::{updates::decoder::Decode, Doc, Map, Transact, Update, WriteTxn};

use crate::{
    client::{Conn, Read, Room},
    fanout::{self, Pace},
    hist::summary_of,
    procstat::{cpu_seconds, round2, round3},
    proto::{Framing, Incoming},
    server::{scrape_metrics, spawn_canvas_server},
};

/// The recipe the README documents.
const CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/haproxy.cfg");
/// Its balance line, replaced by `balance roundrobin` for random routing.
const AFFINE_BALANCE: &str = "    balance hash var(txn.board)";
/// Instances behind the balancer (the recipe's `server` lines).
const INSTANCES: usize = 3;
/// `SAVE_MAX_DEBOUNCE_MS` of the instances (their default).
const SAVE_WINDOW: Duration = Duration::from_secs(10);
/// Keys the first client of each failover board sets before the kill.
const FAILOVER_KEYS: usize = 10;
/// The instances' counter of updates received from their sockets.
const UPDATES_IN: &str = "ws_messages_total{direction=\"in\",type=\"sync_update\"";
/// Longest a failover may take before the run gives up on it.
const FAILOVER_LIMIT: Duration = Duration::from_secs(60);

/// One run.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The steady-state load (open loop), on fresh boards of each deployment.
    pub fanout: fanout::Spec,
    /// Boards and clients per board of the failover part.
    pub failover_boards: usize,
    pub failover_clients: usize,
}

/// How HAProxy picks an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Routing {
    Random,
    Affine,
}

impl Routing {
    fn name(self) -> &'static str {
        match self {
            Self::Random => "random",
            Self::Affine => "board_affine",
        }
    }
}

pub async fn run(spec: &Spec) -> anyhow::Result<Value> {
    let postgres = std::env::var("AFFINITY_POSTGRES_URL")
        .or_else(|_| std::env::var("TEST_POSTGRES_URL"))
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let haproxy = find_binary("haproxy").context("haproxy not found (apt-get install haproxy)")?;
    let redis = match std::env::var("AFFINITY_REDIS_URL") {
        Ok(url) => RedisServer::External(url),
        Err(_) => RedisServer::start().await?,
    };
    let mut line = json!({
        "target": format!("{INSTANCES} canvas-server instances, PostgreSQL, Redis, HAProxy on loopback"),
        "redis": match &redis {
            RedisServer::Private { .. } => "private redis-server (nothing else counted)",
            RedisServer::External(_) => "AFFINITY_REDIS_URL (its other users count too)",
        },
        "boards": spec.fanout.boards,
        "clients": spec.fanout.clients,
        "writers": spec.fanout.writers,
        "rate_target": match spec.fanout.pace {
            Pace::Open { rate } => json!(rate),
            Pace::Closed { window } => json!(format!("closed loop, window {window}")),
        },
        "save_window_s": SAVE_WINDOW.as_secs(),
    });
    for routing in [Routing::Random, Routing::Affine] {
        eprintln!("loadgen: affinity: {} routing", routing.name());
        let mut deployment = Deployment::start(&postgres, &redis, &haproxy, routing).await?;
        let mut part = steady_state(&deployment, &redis, spec).await?;
        if routing == Routing::Affine {
            eprintln!("loadgen: affinity: failover");
            part["failover"] = failover(&mut deployment, spec).await?;
        }
        line[routing.name()] = part;
    }
    Ok(line)
}

/// The steady-state figures of one deployment.
async fn steady_state(
    deployment: &Deployment,
    redis: &RedisServer,
    spec: &Spec,
) -> anyhow::Result<Value> {
    anyhow::ensure!(
        spec.fanout.duration >= 2 * SAVE_WINDOW,
        "affinity: write for at least {:?} (--duration-secs)",
        2 * SAVE_WINDOW
    );
    let rooms = deployment.create_boards(spec.fanout.boards).await?;
    let group = fanout::connect(rooms, spec.fanout.clone()).await?;
    let base = Instant::now();
    let start = tokio::time::Instant::now() + Duration::from_millis(50);
    let (stop_tx, stop_rx) = watch::channel(false);
    let running = group.launch(base, start, stop_rx);
    tokio::time::sleep_until(start + SAVE_WINDOW / 2).await;
    let before = Counters::read(deployment, redis).await?;
    let (send_window, drain) =
        fanout::write_and_drain(&[&running], start, start + spec.fanout.duration).await;
    let after = Counters::read(deployment, redis).await?;
    let _ = stop_tx.send(true);
    let done = running.finish().await?;

    let window_s = after.at.duration_since(before.at).as_secs_f64();
    let metric = |name: &str| after.metric(name) - before.metric(name);
    // Accepted by the instances within the counted window.
    let updates = metric(UPDATES_IN);
    let per_1000 = |n: f64| round3(n * 1000.0 / updates.max(1.0));
    let mut by_command: BTreeMap<String, u64> = BTreeMap::new();
    for (command, calls) in &after.redis {
        let delta = calls - before.redis.get(command).copied().unwrap_or(0);
        if delta > 0 {
            by_command.insert(command.clone(), delta);
        }
    }
    let commands: u64 = by_command.values().sum();
    // PING: each instance's link keepalive and every `/readyz` (HAProxy's
    // checks), whatever the load.
    let pings = by_command.get("ping").copied().unwrap_or(0);
    let writes = (after.snapshot_writes - before.snapshot_writes) as f64;
    let windows = window_s / SAVE_WINDOW.as_secs_f64();
    let cpu =
        |pick: fn(&Counters) -> f64| round2(100.0 * (pick(&after) - pick(&before)) / window_s);
    let (ended, errors) = done.problems();
    Ok(json!({
        "write_s": round3(send_window.as_secs_f64()),
        "drain_ms": round2(drain.as_secs_f64() * 1e3),
        "updates_sent": done.sent,
        "updates_per_s": round2(done.sent as f64 / send_window.as_secs_f64()),
        "counted_s": round3(window_s),
        "counted_updates": updates,
        "deliveries": done.hist.count(),
        "deliveries_expected": done.expected,
        "latency_ms": done.hist.summary_ms(),
        "redis_commands": commands,
        "redis_commands_per_s": round2(commands as f64 / window_s),
        "redis_commands_per_1000_updates": per_1000(commands as f64),
        "redis_commands_per_100_updates_without_pings": round3((commands - pings) as f64 * 100.0 / updates.max(1.0)),
        "redis_by_command": by_command,
        "cluster_messages_published": metric("cluster_messages_total{direction=\"published\""),
        "cluster_messages_received": metric("cluster_messages_total{direction=\"received\""),
        "cluster_publishes_skipped": metric("cluster_publishes_skipped_total"),
        "snapshot_writes": writes,
        "snapshot_writes_per_s": round2(writes / window_s),
        "snapshot_writes_per_1000_updates": per_1000(writes),
        "snapshot_writes_per_board_per_save_window": round3(writes / spec.fanout.boards as f64 / windows),
        "saves_ok": metric("board_saves_total{result=\"ok\""),
        "save_merges": metric("board_save_merges_total"),
        "saves_deferred": metric("board_saves_deferred_total"),
        "cpu_pct_of_one_core": {
            "servers": cpu(|c| c.cpu.servers),
            "haproxy": cpu(|c| c.cpu.haproxy),
            "redis": cpu(|c| c.cpu.redis),
            "loadgen": cpu(|c| c.cpu.loadgen),
        },
        "sockets_ended_early": ended,
        "errors": errors,
    }))
}

/// A failover board: its room and its clients, each with its replica.
struct FailoverBoard {
    room: Room,
    clients: Vec<(Conn, Doc)>,
    /// The instance serving it before the kill.
    home: usize,
}

/// What recovering one board took, from the kill.
struct Recovered {
    served: Duration,
    converged: Duration,
    missing_keys: usize,
}

async fn failover(deployment: &mut Deployment, spec: &Spec) -> anyhow::Result<Value> {
    anyhow::ensure!(
        spec.failover_clients >= 2,
        "failover needs two clients per board"
    );
    let rooms = deployment.create_boards(spec.failover_boards).await?;
    let mut boards = Vec::new();
    for room in rooms {
        // One socket at a time: the instance whose socket count rose serves it.
        let before = deployment.metric_each("ws_connections_open").await?;
        let first = connected(&room).await?;
        let home = loop {
            let now = deployment.metric_each("ws_connections_open").await?;
            let rose: Vec<usize> = (0..INSTANCES).filter(|&i| now[i] > before[i]).collect();
            if let [home] = rose[..] {
                break home;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let mut clients = vec![first];
        for _ in 1..spec.failover_clients {
            clients.push(connected(&room).await?);
        }
        boards.push(FailoverBoard {
            room,
            clients,
            home,
        });
    }
    let journaled = deployment.metric_sum("journal_appends_total").await?;
    for board in &mut boards {
        let (writer, doc) = &mut board.clients[0];
        for key in 0..FAILOVER_KEYS {
            send_edit(writer, doc, &format!("key-{key}")).await?;
        }
        for (conn, doc) in &mut board.clients[1..] {
            receive_until(conn, doc, |doc| keys(doc) >= FAILOVER_KEYS).await?;
        }
    }
    // Acknowledged: committed to the journal before the kill.
    let expected = journaled + (boards.len() * FAILOVER_KEYS) as f64;
    let deadline = Instant::now() + Duration::from_secs(10);
    while deployment.metric_sum("journal_appends_total").await? < expected {
        anyhow::ensure!(Instant::now() < deadline, "journal commits missing");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let victim = (0..INSTANCES)
        .max_by_key(|&i| boards.iter().filter(|b| b.home == i).count())
        .unwrap_or(0);
    let affected: Vec<FailoverBoard> = boards.into_iter().filter(|b| b.home == victim).collect();
    anyhow::ensure!(!affected.is_empty(), "no failover board on any instance");
    let killed = Instant::now();
    deployment.kill(victim)?;
    let recoveries = affected.into_iter().map(|board| {
        tokio::spawn(async move {
            tokio::time::timeout(FAILOVER_LIMIT, recover(board, killed))
                .await
                .context("a board was not served again within 60 s")?
        })
    });
    let mut served = Vec::new();
    let mut converged = Vec::new();
    let mut missing = 0;
    for recovery in futures_util::future::join_all(recoveries).await {
        let recovered = recovery??;
        served.push(recovered.served);
        converged.push(recovered.converged);
        missing += recovered.missing_keys;
    }
    Ok(json!({
        "boards": spec.failover_boards,
        "clients_per_board": spec.failover_clients,
        "boards_on_killed_instance": served.len(),
        "served_again_ms": summary_of(&served),
        "converged_ms": summary_of(&converged),
        "keys_missing_after": missing,
    }))
}

/// Reconnects every client of a board whose instance is gone, then probes.
async fn recover(board: FailoverBoard, killed: Instant) -> anyhow::Result<Recovered> {
    let mut clients = Vec::new();
    for (old, doc) in board.clients {
        drop(old);
        let mut conn = loop {
            match Conn::connect(&board.room).await {
                Ok(conn) => break conn,
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        let state = conn.handshake(Some(&doc)).await?;
        doc.transact_mut()
            .apply_update(Update::decode_v1(&state)?)?;
        clients.push((conn, doc));
    }
    let served = killed.elapsed();
    let (writer, doc) = &mut clients[0];
    send_edit(writer, doc, "probe").await?;
    for (conn, doc) in &mut clients[1..] {
        receive_until(conn, doc, |doc| has_key(doc, "probe")).await?;
    }
    let converged = killed.elapsed();
    let mut fresh = Conn::connect(&board.room).await?;
    let state = fresh.handshake(None).await?;
    let stored = Doc::new();
    stored
        .transact_mut()
        .apply_update(Update::decode_v1(&state)?)?;
    let missing_keys = (0..FAILOVER_KEYS)
        .filter(|key| !has_key(&stored, &format!("key-{key}")))
        .count();
    fresh.close().await;
    for (conn, _) in clients {
        conn.close().await;
    }
    Ok(Recovered {
        served,
        converged,
        missing_keys,
    })
}

/// A connected and synced client with its replica.
async fn connected(room: &Room) -> anyhow::Result<(Conn, Doc)> {
    let doc = Doc::new();
    let mut conn = Conn::connect(room).await?;
    let state = conn.handshake(Some(&doc)).await?;
    doc.transact_mut()
        .apply_update(Update::decode_v1(&state)?)?;
    Ok((conn, doc))
}

/// Sets `key` in the root map `keys` of `doc` and sends the update.
async fn send_edit(conn: &mut Conn, doc: &Doc, key: &str) -> anyhow::Result<()> {
    let update = {
        let mut txn = doc.transact_mut();
        let map = txn.get_or_insert_map("keys");
        map.insert(&mut txn, key, true);
        txn.encode_update_v1()
    };
    conn.send(conn.framing().update(&update)).await
}

/// Reads (applying updates, answering step 1) until `done(doc)`.
async fn receive_until(
    conn: &mut Conn,
    doc: &Doc,
    done: impl Fn(&Doc) -> bool,
) -> anyhow::Result<()> {
    while !done(doc) {
        let frame = match tokio::time::timeout(Duration::from_secs(30), conn.read()).await {
            Err(_) => bail!("nothing received for 30 s"),
            Ok(Read::Ended(code)) => bail!("socket ended ({code:?})"),
            Ok(Read::Binary(frame)) => frame,
        };
        match conn.framing().parse(&frame) {
            Some(Incoming::Update(update) | Incoming::Step2(update)) => {
                doc.transact_mut()
                    .apply_update(Update::decode_v1(update)?)?;
            }
            Some(Incoming::Step1(sv)) => {
                let reply = conn.step2_for(Some(doc), sv)?;
                conn.send(reply).await?;
            }
            _ => {}
        }
    }
    Ok(())
}

fn keys(doc: &Doc) -> usize {
    let map = doc.get_or_insert_map("keys");
    let len = map.len(&doc.transact());
    len as usize
}

fn has_key(doc: &Doc, key: &str) -> bool {
    let map = doc.get_or_insert_map("keys");
    let found = map.contains_key(&doc.transact(), key);
    found
}

/// Redis: a `redis-server` of this run's own, or one given by URL.
enum RedisServer {
    Private { child: Child, url: String },
    External(String),
}

impl RedisServer {
    async fn start() -> anyhow::Result<Self> {
        let binary = find_binary("redis-server")
            .context("redis-server not found (or set AFFINITY_REDIS_URL)")?;
        let [port, _] = free_ports()?;
        let child = Command::new(binary)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting redis-server")?;
        let server = Self::Private {
            child,
            url: format!("redis://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while server.command_calls().await.is_err() {
            anyhow::ensure!(Instant::now() < deadline, "redis-server did not answer");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(server)
    }

    fn url(&self) -> &str {
        match self {
            Self::Private { url, .. } | Self::External(url) => url,
        }
    }

    fn pid(&self) -> Option<u32> {
        match self {
            Self::Private { child, .. } => Some(child.id()),
            Self::External(_) => None,
        }
    }

    /// `calls` of every command in `INFO commandstats`, but `info`.
    async fn command_calls(&self) -> anyhow::Result<HashMap<String, u64>> {
        let client = redis::Client::open(self.url())?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        let info: String = redis::cmd("INFO")
            .arg("commandstats")
            .query_async(&mut conn)
            .await?;
        Ok(info
            .lines()
            .filter_map(|line| {
                let (name, fields) = line.strip_prefix("cmdstat_")?.split_once(':')?;
                let calls = fields.split(',').find_map(|f| f.strip_prefix("calls="))?;
                Some((name.to_owned(), calls.parse().ok()?))
            })
            .filter(|(name, _)| name != "info")
            .collect())
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Self::Private { child, .. } = self {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// CPU seconds so far of each part.
#[derive(Debug, Default, Clone, Copy)]
struct Cpu {
    servers: f64,
    haproxy: f64,
    redis: f64,
    loadgen: f64,
}

/// Everything counted at one moment.
struct Counters {
    at: Instant,
    redis: HashMap<String, u64>,
    /// Each instance's `/metrics`, summed over the instances.
    metrics: HashMap<String, f64>,
    snapshot_writes: i64,
    cpu: Cpu,
}

impl Counters {
    async fn read(deployment: &Deployment, redis: &RedisServer) -> anyhow::Result<Self> {
        let cpu_of =
            |pid: Option<u32>| pid.and_then(|p| cpu_seconds(&p.to_string())).unwrap_or(0.0);
        let cpu = Cpu {
            servers: deployment.instances.iter().map(|i| cpu_of(i.pid())).sum(),
            haproxy: cpu_of(Some(deployment.balancer.id())),
            redis: cpu_of(redis.pid()),
            loadgen: cpu_seconds("self").unwrap_or(0.0),
        };
        let mut metrics = HashMap::new();
        for instance in deployment.instances.iter().filter(|i| i.child.is_some()) {
            for (series, value) in deployment.metrics(instance).await? {
                *metrics.entry(series).or_insert(0.0) += value;
            }
        }
        Ok(Self {
            at: Instant::now(),
            redis: redis.command_calls().await?,
            metrics,
            snapshot_writes: deployment.schema.snapshot_writes()?,
            cpu,
        })
    }

    /// The sum of the series whose key starts with `prefix` (a name, or a
    /// name and its first labels).
    fn metric(&self, prefix: &str) -> f64 {
        self.metrics
            .iter()
            .filter(|(series, _)| {
                series.strip_prefix(prefix).is_some_and(|rest| {
                    rest.is_empty()
                        || rest.starts_with(',')
                        || rest.starts_with('}')
                        || rest.starts_with('{')
                })
            })
            .map(|(_, value)| value)
            .sum()
    }
}

/// A PostgreSQL schema of the run's own, dropped at the end.
struct Schema {
    admin_url: String,
    name: String,
}

impl Schema {
    fn create(admin_url: &str) -> anyhow::Result<Self> {
        use diesel::{connection::SimpleConnection, Connection, PgConnection};
        let name = format!("loadgen_{}", uuid::Uuid::new_v4().simple());
        PgConnection::establish(admin_url)
            .with_context(|| format!("connecting to {admin_url}"))?
            .batch_execute(&format!("CREATE SCHEMA {name}"))?;
        Ok(Self {
            admin_url: admin_url.to_owned(),
            name,
        })
    }

    /// The `DATABASE_URL` of the instances: the schema first on the search path.
    fn url(&self) -> String {
        let separator = if self.admin_url.contains('?') {
            '&'
        } else {
            '?'
        };
        format!(
            "{}{separator}options=-csearch_path%3D{}",
            self.admin_url, self.name
        )
    }

    /// Snapshots written so far: each write sets its board's version one
    /// higher (the first to 1).
    fn snapshot_writes(&self) -> anyhow::Result<i64> {
        use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl};
        #[derive(QueryableByName)]
        struct Total {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = PgConnection::establish(&self.url())?;
        let total: Total =
            diesel::sql_query("SELECT COALESCE(SUM(version), 0)::bigint AS n FROM board_states")
                .get_result(&mut conn)?;
        Ok(total.n)
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        use diesel::{connection::SimpleConnection, Connection, PgConnection};
        if let Ok(mut conn) = PgConnection::establish(&self.admin_url) {
            let _ = conn.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
        }
    }
}

/// One instance: the process (until killed) and its address.
struct Instance {
    child: Option<Child>,
    addr: String,
}

impl Instance {
    fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
}

/// Three instances, HAProxy in front, and the account the load uses.
/// Fields drop in order: processes first, the schema last.
struct Deployment {
    instances: Vec<Instance>,
    balancer: Child,
    _config: tempfile::NamedTempFile,
    _dir: tempfile::TempDir,
    lb_addr: String,
    token: String,
    http: reqwest::Client,
    schema: Schema,
}

impl Drop for Deployment {
    fn drop(&mut self) {
        let _ = self.balancer.kill();
        let _ = self.balancer.wait();
        for instance in &mut self.instances {
            if let Some(mut child) = instance.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

impl Deployment {
    async fn start(
        postgres: &str,
        redis: &RedisServer,
        haproxy: &Path,
        routing: Routing,
    ) -> anyhow::Result<Self> {
        let schema = Schema::create(postgres)?;
        let dir = tempfile::tempdir()?;
        let mut instances = Vec::new();
        for _ in 0..INSTANCES {
            let (workdir, database, redis) =
                (dir.path().to_owned(), schema.url(), redis.url().to_owned());
            let (child, addr) =
                tokio::task::spawn_blocking(move || spawn_instance(&workdir, &database, &redis))
                    .await??;
            instances.push(Instance {
                child: Some(child),
                addr,
            });
        }

        let recipe = std::fs::read_to_string(CONFIG).context("reading deploy/haproxy.cfg")?;
        anyhow::ensure!(
            recipe.lines().any(|line| line == AFFINE_BALANCE),
            "deploy/haproxy.cfg has no line {AFFINE_BALANCE:?}"
        );
        let config = match routing {
            Routing::Affine => recipe,
            Routing::Random => recipe.replace(AFFINE_BALANCE, "    balance roundrobin"),
        };
        let mut file = tempfile::NamedTempFile::new()?;
        std::io::Write::write_all(&mut file, config.as_bytes())?;
        let [lb_port, stats_port] = free_ports()?;
        let lb_addr = format!("127.0.0.1:{lb_port}");
        let stats_addr = format!("127.0.0.1:{stats_port}");
        let mut command = Command::new(haproxy);
        command
            .arg("-db")
            .arg("-f")
            .arg(file.path())
            .env_clear()
            .env("CANVAS_LB_ADDR", &lb_addr)
            .env("CANVAS_LB_STATS_ADDR", &stats_addr)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (n, instance) in instances.iter().enumerate() {
            command.env(format!("CANVAS_{}", n + 1), &instance.addr);
        }
        let balancer = command.spawn().context("starting haproxy")?;
        let mut deployment = Self {
            instances,
            balancer,
            _config: file,
            _dir: dir,
            lb_addr,
            token: String::new(),
            http: reqwest::Client::new(),
            schema,
        };
        deployment.wait_all_up(&stats_addr).await?;
        let auth: Value = deployment
            .http
            .post(deployment.api("/auth/register"))
            .json(&json!({"email": "loadgen@example.com", "password": "loadgen-password"}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        deployment.token = auth["token"].as_str().context("token")?.to_owned();
        Ok(deployment)
    }

    /// Waits until HAProxy's stats page shows every instance `UP`.
    async fn wait_all_up(&self, stats_addr: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let csv = match self
                .http
                .get(format!("http://{stats_addr}/stats;csv"))
                .send()
                .await
            {
                Ok(response) => response.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            let up = csv
                .lines()
                .filter(|line| line.starts_with("canvas,canvas"))
                .filter(|line| line.split(',').any(|field| field == "UP"))
                .count();
            if up == INSTANCES {
                return Ok(());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "HAProxy: {up} instances up after 30 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn api(&self, path: &str) -> String {
        format!("http://{}/api/v1{path}", self.lb_addr)
    }

    /// Creates `n` boards through the balancer; their rooms connect through it.
    async fn create_boards(&self, n: usize) -> anyhow::Result<Vec<Room>> {
        let mut rooms = Vec::with_capacity(n);
        for i in 0..n {
            let board: Value = self
                .http
                .post(self.api("/boards"))
                .bearer_auth(&self.token)
                .json(&json!({ "name": format!("affinity {i}") }))
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            let id = board["id"].as_str().context("board id")?.to_owned();
            rooms.push(Room {
                url: format!(
                    "ws://{}/api/v1/boards/{id}/sync?token={}",
                    self.lb_addr, self.token
                ),
                id,
                framing: Framing::plain(),
                auth_token: String::new(),
            });
        }
        Ok(rooms)
    }

    /// One instance's `/metrics`, keyed by series as written.
    async fn metrics(&self, instance: &Instance) -> anyhow::Result<HashMap<String, f64>> {
        scrape_metrics(&self.http, &instance.addr).await
    }

    /// An unlabelled series on each instance (0 for a killed one).
    async fn metric_each(&self, name: &str) -> anyhow::Result<Vec<f64>> {
        let mut values = Vec::new();
        for instance in &self.instances {
            values.push(match instance.child {
                Some(_) => self
                    .metrics(instance)
                    .await?
                    .get(name)
                    .copied()
                    .unwrap_or(0.0),
                None => 0.0,
            });
        }
        Ok(values)
    }

    async fn metric_sum(&self, name: &str) -> anyhow::Result<f64> {
        Ok(self.metric_each(name).await?.iter().sum())
    }

    /// SIGKILL.
    fn kill(&mut self, index: usize) -> anyhow::Result<()> {
        let mut child = self.instances[index].child.take().context("running")?;
        child.kill()?;
        child.wait()?;
        Ok(())
    }
}

/// Starts an instance on a free port; returns it with its address. Saves
/// keep the binary's defaults (the save window the figures count in).
fn spawn_instance(
    dir: &Path,
    database_url: &str,
    redis_url: &str,
) -> anyhow::Result<(Child, String)> {
    spawn_canvas_server(
        dir,
        &[("DATABASE_URL", database_url), ("REDIS_URL", redis_url)],
        &["SAVE_DEBOUNCE_MS", "SAVE_MAX_DEBOUNCE_MS"],
    )
}

/// Two different loopback ports free right now (for a process that binds
/// them itself).
fn free_ports() -> anyhow::Result<[u16; 2]> {
    let first = std::net::TcpListener::bind("127.0.0.1:0")?;
    let second = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok([first.local_addr()?.port(), second.local_addr()?.port()])
}

/// An executable on `PATH`, or in `/usr/sbin` (Debian's `haproxy`).
fn find_binary(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

//! Load generator for y-websocket servers: canvas-server (started here by
//! default) or any server speaking the y-websocket protocol (`--url`),
//! Hocuspocus framing included (`--hocuspocus`). Prints one JSON line per
//! scenario on stdout; progress goes to stderr.
//!
//! ```text
//! cargo bench --bench loadgen -- <scenario> [options]
//!
//! scenarios
//!   fanout        C clients on B boards, W writing; latency send → every other client
//!   connections   N sockets over B boards, each synced; connect+sync time, RSS per socket
//!   coldload      the automerge-paper trace as a Y.Text; fresh clients warm and cold
//!   saves         database writes during a fanout; stored size after many updates
//!   isolation     a quiet board's delivery latency, alone and beside a busy board
//!                 (closed-loop fanout)
//!   awareness-flood  one socket sends awareness removals of ids it never
//!                 announced; server RSS growth, how that socket ended, and the
//!                 latency of another socket's edits before/during/after
//!   journal       the board journal in process (no server): group-commit
//!                 throughput and latency, cold load of automerge-paper + 10,000 rows
//!   journal-cold-load  only the journal's cold load
//!   affinity      3 instances (PostgreSQL, Redis, HAProxy on loopback): Redis
//!                 commands and snapshot writes per 1,000 updates/s, random
//!                 versus board-affine routing; failover after a SIGKILL
//!   all           fanout closed 50/10 w8, open 1000/s over 50 and 100 clients,
//!                 connections 2000/200, coldload, saves, isolation (each on a
//!                 fresh server)
//!
//! target (default: start canvas-server on a temporary database, throttles off;
//! the environment variable CANVAS_SERVER_BIN names another build of it)
//!   --url ws://HOST:PORT/PREFIX  rooms are PREFIX/ROOM (Hocuspocus: documents on that socket)
//!   --pid PID                    process whose CPU and memory are reported (with --url)
//!   --param K=V                  extra query parameter, repeatable (alias: --token-param)
//!   --hocuspocus                 Hocuspocus framing and auth message
//!   --token T                    Hocuspocus auth token (default: the `token` parameter, else "")
//!   --run-tag TAG                rooms are named loadgen-TAG-{fanout,connections,coldload}-{i}
//!                                (default: a fresh tag per run), so they can be created beforehand
//!
//! fanout / saves
//!   --clients 50  --writers 10  --boards 1 (saves: 10)
//!   --window 8 (closed loop, default)  |  --rate 1000 (open loop, updates/s over all writers)
//!   --duration-secs 10  --updates 100000 (saves: stored-size part)
//! isolation (--clients, --writers, --window: the busy board, default 50/10/8)
//!   --quiet-clients 5  --quiet-writers 2  --quiet-rate 100 (updates/s)  --duration-secs 10
//!   --busy-nice 0  the busy board's clients run at this nice value (10: they yield
//!                  the cores to the server and the quiet board, as a separate
//!                  load host would)
//! connections
//!   --sockets 2000  --boards 200  --concurrency 64
//! awareness-flood (not part of `all`)
//!   --flood-messages 200  --flood-entries 5000  --samples 200
//! journal
//!   --updates 100000 (per throughput run)  --boards 100
//! affinity (not part of `all`; see benches/loadgen/affinity.rs for its environment)
//!   --boards 60  --clients 300  --writers 60  --rate 1000  --duration-secs (at least 20; 35 advised)
//! coldload
//!   --trace PATH  --fresh-clients 20  --unload-wait-secs 5 (with --url)
//! general
//!   --threads N   worker threads (default: available cores)
//! ```

mod affinity;
mod awareness_flood;
mod client;
mod coldload;
mod connections;
mod fanout;
mod hist;
mod isolation;
mod journal;
mod procstat;
mod proto;
mod saves;
mod server;
mod track;
mod update_ids;
mod writer;

use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::Value;

use crate::{
    fanout::Pace,
    server::{parse_param, Backend, External},
};

const DEFAULT_TRACE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/data/automerge-paper.json.gz"
);

/// Everything given on the command line.
#[derive(Debug, Clone)]
struct Opts {
    scenario: String,
    external: Option<External>,
    clients: Option<usize>,
    writers: Option<usize>,
    boards: Option<usize>,
    rate: Option<f64>,
    window: Option<u64>,
    duration: Duration,
    updates: u64,
    sockets: usize,
    concurrency: usize,
    trace: std::path::PathBuf,
    fresh_clients: usize,
    unload_wait: Duration,
    quiet_clients: usize,
    quiet_writers: usize,
    quiet_rate: f64,
    busy_nice: u8,
    flood_messages: usize,
    flood_entries: usize,
    samples: usize,
    threads: usize,
}

fn usage() -> &'static str {
    "usage: cargo bench --bench loadgen -- <fanout|connections|coldload|saves|isolation|awareness-flood|journal|journal-cold-load|affinity|all> [options]\n\
     (see benches/loadgen/main.rs for the options)"
}

fn parse_args(args: Vec<String>) -> anyhow::Result<Option<Opts>> {
    let mut scenario = None;
    let mut url = None;
    let mut pid = None;
    let mut params = Vec::new();
    let mut hocuspocus = false;
    let mut token = None;
    let mut run_tag = None;
    let mut opts = Opts {
        scenario: String::new(),
        external: None,
        clients: None,
        writers: None,
        boards: None,
        rate: None,
        window: None,
        duration: Duration::from_secs(10),
        updates: 100_000,
        sockets: 2000,
        concurrency: 64,
        trace: DEFAULT_TRACE.into(),
        fresh_clients: 20,
        unload_wait: Duration::from_secs(5),
        quiet_clients: 5,
        quiet_writers: 2,
        quiet_rate: 100.0,
        busy_nice: 0,
        flood_messages: 200,
        flood_entries: 5000,
        samples: 200,
        threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().with_context(|| format!("{name} needs a value"));
        match arg.as_str() {
            // cargo bench passes --bench to every bench binary.
            "--bench" => {}
            "-h" | "--help" => return Ok(None),
            "--url" => url = Some(value("--url")?),
            "--pid" => pid = Some(value("--pid")?.parse()?),
            "--param" | "--token-param" => params.push(parse_param(&value(&arg)?)?),
            "--hocuspocus" => hocuspocus = true,
            "--token" => token = Some(value("--token")?),
            "--run-tag" => run_tag = Some(value("--run-tag")?),
            "--clients" => opts.clients = Some(value("--clients")?.parse()?),
            "--writers" => opts.writers = Some(value("--writers")?.parse()?),
            "--boards" => opts.boards = Some(value("--boards")?.parse()?),
            "--rate" => opts.rate = Some(value("--rate")?.parse()?),
            "--window" => opts.window = Some(value("--window")?.parse()?),
            "--duration-secs" => {
                opts.duration = Duration::from_secs_f64(value("--duration-secs")?.parse()?)
            }
            "--updates" => opts.updates = value("--updates")?.parse()?,
            "--sockets" => opts.sockets = value("--sockets")?.parse()?,
            "--concurrency" => opts.concurrency = value("--concurrency")?.parse()?,
            "--trace" => opts.trace = value("--trace")?.into(),
            "--fresh-clients" => opts.fresh_clients = value("--fresh-clients")?.parse()?,
            "--unload-wait-secs" => {
                opts.unload_wait = Duration::from_secs_f64(value("--unload-wait-secs")?.parse()?)
            }
            "--quiet-clients" => opts.quiet_clients = value("--quiet-clients")?.parse()?,
            "--quiet-writers" => opts.quiet_writers = value("--quiet-writers")?.parse()?,
            "--quiet-rate" => opts.quiet_rate = value("--quiet-rate")?.parse()?,
            "--busy-nice" => opts.busy_nice = value("--busy-nice")?.parse()?,
            "--flood-messages" => opts.flood_messages = value("--flood-messages")?.parse()?,
            "--flood-entries" => opts.flood_entries = value("--flood-entries")?.parse()?,
            "--samples" => opts.samples = value("--samples")?.parse()?,
            "--threads" => opts.threads = value("--threads")?.parse()?,
            other if other.starts_with('-') => bail!("unknown option {other}"),
            other if scenario.is_none() => scenario = Some(other.to_owned()),
            other => bail!("unexpected argument {other}"),
        }
    }
    let Some(scenario) = scenario else {
        return Ok(None);
    };
    opts.scenario = scenario;
    if opts.rate.is_some() && opts.window.is_some() {
        bail!("--rate (open loop) and --window (closed loop) exclude each other");
    }
    if let Some(url) = url {
        anyhow::ensure!(
            url.starts_with("ws://") || url.starts_with("wss://"),
            "--url must be a ws:// URL"
        );
        let hocus_token = hocuspocus.then(|| {
            token.clone().unwrap_or_else(|| {
                params
                    .iter()
                    .find(|(k, _)| k == "token")
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            })
        });
        let tag = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        opts.external = Some(External {
            url,
            params,
            pid,
            hocuspocus: hocus_token,
            run_tag: run_tag.unwrap_or_else(|| format!("{tag:x}")),
        });
    } else if pid.is_some() || hocuspocus || !params.is_empty() || run_tag.is_some() {
        bail!("--pid, --param, --hocuspocus and --run-tag need --url");
    }
    Ok(Some(opts))
}

impl Opts {
    fn fanout(&self, pace: Pace, clients: usize, boards: usize) -> fanout::Spec {
        fanout::Spec {
            clients: self.clients.unwrap_or(clients),
            writers: self.writers.unwrap_or(10),
            boards: self.boards.unwrap_or(boards),
            pace,
            duration: self.duration,
            updates_per_writer: None,
            replica: false,
            connect_concurrency: 32,
        }
    }

    fn pace(&self) -> Pace {
        match (self.rate, self.window) {
            (Some(rate), _) => Pace::Open { rate },
            (None, window) => Pace::Closed {
                window: window.unwrap_or(8),
            },
        }
    }

    fn connections(&self, boards: usize) -> connections::Spec {
        connections::Spec {
            sockets: self.sockets,
            boards: self.boards.unwrap_or(boards),
            concurrency: self.concurrency,
            settle: Duration::from_secs(1),
        }
    }

    fn coldload(&self) -> coldload::Spec {
        coldload::Spec {
            trace: self.trace.clone(),
            clients: self.fresh_clients.max(2),
            unload_wait: self.unload_wait,
        }
    }

    fn isolation(&self) -> isolation::Spec {
        let window = self.window.unwrap_or(8);
        isolation::Spec {
            busy: self.fanout(Pace::Closed { window }, 50, 1),
            busy_nice: self.busy_nice,
            quiet: fanout::Spec {
                clients: self.quiet_clients,
                writers: self.quiet_writers,
                boards: 1,
                pace: Pace::Open {
                    rate: self.quiet_rate,
                },
                duration: self.duration,
                updates_per_writer: None,
                replica: false,
                connect_concurrency: 8,
            },
        }
    }

    fn saves(&self) -> saves::Spec {
        saves::Spec {
            fanout: self.fanout(self.pace(), 50, 10),
            updates: self.updates,
            size_writers: self.writers.unwrap_or(10),
            size_window: self.window.unwrap_or(8),
            size_time_limit: Duration::from_secs(300),
        }
    }
}

/// One scenario to run.
enum Job {
    Fanout(fanout::Spec),
    Connections(connections::Spec),
    Coldload(coldload::Spec),
    Saves(saves::Spec),
    Isolation(isolation::Spec),
    AwarenessFlood(awareness_flood::Spec),
    Journal(journal::Spec),
    Affinity(affinity::Spec),
}

fn jobs(opts: &Opts) -> anyhow::Result<Vec<(&'static str, Job)>> {
    Ok(match opts.scenario.as_str() {
        "fanout" => vec![("fanout", Job::Fanout(opts.fanout(opts.pace(), 50, 1)))],
        "connections" => vec![("connections", Job::Connections(opts.connections(200)))],
        "coldload" => vec![("coldload", Job::Coldload(opts.coldload()))],
        "awareness-flood" => vec![(
            "awareness-flood",
            Job::AwarenessFlood(awareness_flood::Spec {
                messages: opts.flood_messages,
                entries: opts.flood_entries,
                samples: opts.samples.max(1),
            }),
        )],
        "saves" => vec![("saves", Job::Saves(opts.saves()))],
        "affinity" => {
            anyhow::ensure!(opts.window.is_none(), "affinity: open loop only (--rate)");
            let boards = opts.boards.unwrap_or(60);
            let fanout = fanout::Spec {
                clients: opts.clients.unwrap_or(5 * boards),
                writers: opts.writers.unwrap_or(boards),
                boards,
                pace: Pace::Open {
                    rate: opts.rate.unwrap_or(1000.0),
                },
                duration: opts.duration,
                updates_per_writer: None,
                replica: false,
                connect_concurrency: 32,
            };
            vec![(
                "affinity",
                Job::Affinity(affinity::Spec {
                    fanout,
                    failover_boards: 30,
                    failover_clients: 4,
                }),
            )]
        }
        "journal" | "journal-cold-load" => vec![(
            "journal",
            Job::Journal(journal::Spec {
                trace: opts.trace.clone(),
                updates: opts.updates,
                boards: opts.boards.unwrap_or(100),
                cold_load_only: opts.scenario == "journal-cold-load",
            }),
        )],
        "isolation" => {
            anyhow::ensure!(
                opts.rate.is_none(),
                "isolation: the busy board is closed loop; use --quiet-rate"
            );
            anyhow::ensure!(
                opts.boards.is_none_or(|b| b == 1),
                "isolation: one busy board"
            );
            vec![("isolation", Job::Isolation(opts.isolation()))]
        }
        "all" => {
            let fixed = Opts {
                clients: None,
                writers: None,
                boards: None,
                rate: None,
                window: None,
                ..opts.clone()
            };
            let open = Pace::Open { rate: 1000.0 };
            vec![
                (
                    "fanout",
                    Job::Fanout(fixed.fanout(Pace::Closed { window: 8 }, 50, 1)),
                ),
                ("fanout", Job::Fanout(fixed.fanout(open, 50, 1))),
                ("fanout", Job::Fanout(fixed.fanout(open, 100, 1))),
                ("connections", Job::Connections(fixed.connections(200))),
                ("coldload", Job::Coldload(fixed.coldload())),
                ("saves", Job::Saves(fixed.saves())),
                ("isolation", Job::Isolation(fixed.isolation())),
            ]
        }
        other => bail!("unknown scenario {other:?}\n{}", usage()),
    })
}

async fn run_job(opts: &Opts, job: &Job) -> anyhow::Result<Value> {
    if let Job::Journal(spec) = job {
        // In process: no server to start.
        return journal::run(spec).await;
    }
    if let Job::Affinity(spec) = job {
        // Starts its own deployments.
        return affinity::run(spec).await;
    }
    // A fresh canvas-server per scenario, so memory and counters start clean.
    let backend = Backend::new(opts.external.as_ref()).await?;
    match job {
        Job::Fanout(spec) => Ok(fanout::run(&backend, spec).await?.json),
        Job::Connections(spec) => connections::run(&backend, spec).await,
        Job::Coldload(spec) => coldload::run(&backend, spec).await,
        Job::Saves(spec) => saves::run(&backend, spec).await,
        Job::Isolation(spec) => isolation::run(&backend, spec).await,
        Job::AwarenessFlood(spec) => awareness_flood::run(&backend, spec).await,
        Job::Journal(spec) => journal::run(spec).await,
        Job::Affinity(spec) => affinity::run(spec).await,
    }
}

/// Prints `{"scenario": name, …fields}` on one line.
fn print_line(name: &str, fields: Value) {
    let rest = serde_json::to_string(&fields).unwrap_or_else(|_| "{}".to_owned());
    let rest = rest
        .strip_prefix('{')
        .and_then(|r| r.strip_suffix('}'))
        .unwrap_or_default();
    let sep = if rest.is_empty() { "" } else { "," };
    println!("{{\"scenario\":\"{name}\"{sep}{rest}}}");
}

fn main() -> anyhow::Result<()> {
    let Some(opts) = parse_args(std::env::args().skip(1).collect())? else {
        eprintln!("{}", usage());
        return Ok(());
    };
    let jobs = jobs(&opts)?;
    track::check_update_reader()?;
    // Thousands of client sockets: grow the descriptor table while this is
    // the only thread, or each doubling stalls every connect in flight for
    // an RCU grace period (the server does the same).
    let room = canvas_server::descriptors::prepare();
    if let Some(problem) = room.problem {
        eprintln!("loadgen: {problem}");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(opts.threads.max(1))
        .enable_all()
        .build()?;
    let mut failed = 0;
    for (name, job) in &jobs {
        eprintln!("loadgen: running {name}");
        match runtime.block_on(run_job(&opts, job)) {
            Ok(mut fields) => {
                fields["loadgen_threads"] = opts.threads.into();
                print_line(name, fields);
            }
            Err(err) => {
                failed += 1;
                eprintln!("loadgen: {name} failed: {err:#}");
                print_line(name, serde_json::json!({ "error": format!("{err:#}") }));
            }
        }
    }
    if failed > 0 {
        bail!("{failed} scenario(s) failed");
    }
    Ok(())
}

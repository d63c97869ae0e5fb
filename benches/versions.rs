//! Versions and the board as JSON on a large real document, in process (no
//! HTTP): one JSON line per case with the median and the slowest of its runs.
//!
//! - `content_stored`: `GET /boards/{id}/content` of a board not in memory:
//!   the automerge-paper board's stored state decoded and rendered;
//! - `content_live`: the same board open (rendered from its live document);
//! - `restore`: the update that turns the whole paper back into its state
//!   halfway through the trace (`restore_update`);
//! - `list_versions`: one page (50, the default, and 100) of a board with 100
//!   versions, from a SQLite file.
//!
//! The automerge-paper trace (259,778 single-character edits by Martin
//! Kleppmann et al., CC BY 4.0; see `shared/data/automerge-paper.SOURCE.md`)
//! is replayed into a Y.Text, as the `loadgen` bench's `coldload` does.
//!
//! cargo bench --bench versions

use std::{
    io::Read as _,
    time::{Duration, Instant},
};

use canvas_server::{
    board_service::{
        content_json::{doc_from_update, render_doc, render_update, KindOverrides},
        restore::restore_update,
    },
    config::{DatabaseLocation, Durability},
    db::{Db, NewVersion, VersionKind},
};
use serde::Deserialize;
use serde_json::json;
use yrs::{Doc, ReadTxn, StateVector, Text, Transact};

const TRACE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/data/automerge-paper.json.gz"
);
const RUNS: usize = 21;

#[derive(Deserialize)]
struct Trace {
    #[serde(rename = "startContent")]
    start_content: String,
    txns: Vec<Txn>,
}

#[derive(Deserialize)]
struct Txn {
    patches: Vec<(u32, u32, String)>,
}

/// The paper's full update, and its update halfway through the trace.
fn replay() -> (Vec<u8>, Vec<u8>) {
    let file = std::fs::File::open(TRACE).expect("the automerge-paper trace is in ../shared/data");
    let mut json = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut json)
        .expect("gunzip trace");
    let trace: Trace = serde_json::from_str(&json).expect("parse trace");
    let doc = Doc::new();
    let text = doc.get_or_insert_text("text");
    if !trace.start_content.is_empty() {
        text.insert(&mut doc.transact_mut(), 0, &trace.start_content);
    }
    let half = trace.txns.len() / 2;
    let mut halfway = Vec::new();
    for (i, txn) in trace.txns.iter().enumerate() {
        if i == half {
            halfway = doc
                .transact()
                .encode_state_as_update_v1(&StateVector::default());
        }
        let mut t = doc.transact_mut();
        for (pos, deleted, inserted) in &txn.patches {
            if *deleted > 0 {
                text.remove_range(&mut t, *pos, *deleted);
            }
            if !inserted.is_empty() {
                text.insert(&mut t, *pos, inserted);
            }
        }
    }
    let full = doc
        .transact()
        .encode_state_as_update_v1(&StateVector::default());
    (full, halfway)
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// Runs `f` [`RUNS`] times; prints the median and the slowest.
fn measure(case: &str, detail: serde_json::Value, mut f: impl FnMut()) {
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed()
        })
        .collect();
    times.sort_unstable();
    println!(
        "{}",
        json!({
            "case": case,
            "runs": RUNS,
            "median_ms": ms(times[RUNS / 2]),
            "max_ms": ms(times[RUNS - 1]),
            "detail": detail,
        })
    );
}

fn main() {
    let (full, halfway) = replay();
    let overrides = KindOverrides::new();
    let rendered = render_update(&full, &overrides).expect("renders");
    let chars = rendered["roots"]["text"].as_str().map_or(0, str::len);
    measure(
        "content_stored",
        json!({ "update_bytes": full.len(), "text_bytes": chars }),
        || {
            render_update(&full, &overrides).expect("renders");
        },
    );
    let live = doc_from_update(&full).expect("decodes");
    measure("content_live", json!({ "text_bytes": chars }), || {
        render_doc(&live, &overrides).expect("renders");
    });
    let mut restore_bytes = 0;
    measure(
        "restore",
        json!({ "live_bytes": full.len(), "version_bytes": halfway.len() }),
        || {
            restore_bytes = restore_update(&full, &halfway)
                .expect("restores")
                .map_or(0, |update| update.len());
        },
    );
    println!(
        "{}",
        json!({ "case": "restore_update_bytes", "bytes": restore_bytes })
    );

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("versions.db");
        let db = Db::open_with(
            &DatabaseLocation::SqliteFile(path.to_string_lossy().into_owned()),
            Durability::Process,
        )
        .await
        .expect("database");
        let user = db
            .create_user("bench@example.com".into(), "bench".into(), "x".into())
            .await
            .expect("user");
        let board = db
            .create_board(user.id, "paper".into())
            .await
            .expect("board");
        for i in 0..100 {
            db.create_version(
                NewVersion {
                    board_id: board.id,
                    kind: if i % 2 == 0 {
                        VersionKind::Auto
                    } else {
                        VersionKind::Manual
                    },
                    label: Some(format!("version {i}")),
                    state: full.clone(),
                    created_by: Some(user.id),
                },
                1_000,
            )
            .await
            .expect("version");
        }
        for limit in [50, 100] {
            let mut times = Vec::with_capacity(RUNS);
            for _ in 0..RUNS {
                let started = Instant::now();
                let (items, total) = db.list_versions(board.id, limit, 0).await.expect("listing");
                times.push(started.elapsed());
                assert_eq!((items.len() as i64, total), (limit, 100));
            }
            times.sort_unstable();
            println!(
                "{}",
                json!({
                    "case": "list_versions",
                    "limit": limit,
                    "versions": 100,
                    "version_bytes": full.len(),
                    "runs": RUNS,
                    "median_ms": ms(times[RUNS / 2]),
                    "max_ms": ms(times[RUNS - 1]),
                })
            );
        }
    });
}

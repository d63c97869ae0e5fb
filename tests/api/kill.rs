//! `kill -9` of the real binary: what the server relayed or answered `204`
//! before the kill is there after a restart on the same database file, though
//! saves were a minute away (only the journal can have kept it).

use std::{
    collections::BTreeSet,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use crate::{
    harness::yjs_update,
    server_process::{keys_of, set_key, Server},
    sync_client::connect,
};

/// The longest a socket update may wait for its commit (API.md: Durability).
const GROUP_COMMIT_PROMISE: Duration = Duration::from_millis(50);

fn sqlite_url(dir: &std::path::Path) -> String {
    format!("sqlite://{}", dir.join("canvas.db").display())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_edits_100_ms_old_and_a_rest_update_answered_204_survive_kill_9() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path(), &sqlite_url(dir.path()), &[]);
    let (token, board) = server.user_and_board().await;
    let mut writer = connect(&server.sync_url(&board, &token)).await;
    let mut reader = connect(&server.sync_url(&board, &token)).await;
    let mut expected = BTreeSet::new();
    for n in 0..200 {
        let key = format!("socket-{n}");
        expected.insert(key.clone());
        set_key(&mut writer, key).await;
    }
    let last_edit = Instant::now();
    assert_eq!(
        server
            .post_update(&board, &token, yjs_update("rest", "r"))
            .await,
        204
    );
    expected.insert("rest".to_owned());
    // The server had them: it relayed them all.
    reader
        .wait_for(|client| keys_of(client).len() == expected.len())
        .await;
    // The scenario: the kill comes 100 ms after the last socket edit.
    tokio::time::sleep(
        (last_edit + Duration::from_millis(100)).saturating_duration_since(Instant::now()),
    )
    .await;
    server.kill_9();
    drop((writer, reader));

    let server = Server::start(dir.path(), &sqlite_url(dir.path()), &[]);
    assert_eq!(server.keys(&board, &token).await, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_edit_relayed_50_ms_before_a_kill_9_during_continuous_editing_survives() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path(), &sqlite_url(dir.path()), &[]);
    let (token, board) = server.user_and_board().await;
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for writer in 0..5 {
        let mut client = connect(&server.sync_url(&board, &token)).await;
        let stop = Arc::clone(&stop);
        writers.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                set_key(&mut client, format!("w{writer}-{n}")).await;
                n += 1;
                // Paced like a person drawing fast, not a flood.
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }));
    }
    // Another client records when each edit reached it (relayed by the server).
    let relayed: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let mut observer = connect(&server.sync_url(&board, &token)).await;
    let record = Arc::clone(&relayed);
    let observing = tokio::spawn(async move {
        let mut seen = BTreeSet::new();
        loop {
            let known = seen.len();
            // Panics when the socket ends at the kill: what was recorded stays.
            observer
                .wait_for(|client| keys_of(client).len() > known)
                .await;
            let at = Instant::now();
            let keys = keys_of(&observer);
            let mut record = record.lock().expect("lock");
            for key in keys.difference(&seen) {
                record.push((key.clone(), at));
            }
            seen = keys;
        }
    });
    // Edit for a while, then kill in the middle of it.
    let deadline = Instant::now() + Duration::from_secs(20);
    while relayed.lock().expect("lock").len() < 1_000 {
        assert!(Instant::now() < deadline, "edits are relayed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let killed_at = Instant::now();
    server.kill_9();
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        let _ = writer.await;
    }
    let _ = observing.await;

    let must_survive: BTreeSet<String> = relayed
        .lock()
        .expect("lock")
        .iter()
        .filter(|(_, at)| *at + GROUP_COMMIT_PROMISE <= killed_at)
        .map(|(key, _)| key.clone())
        .collect();
    assert!(
        must_survive.len() >= 500,
        "only {} edits to check",
        must_survive.len()
    );
    let server = Server::start(dir.path(), &sqlite_url(dir.path()), &[]);
    let stored = server.keys(&board, &token).await;
    let lost: Vec<_> = must_survive.difference(&stored).collect();
    assert!(
        lost.is_empty(),
        "{} of {} edits relayed before the kill were lost, e.g. {:?}",
        lost.len(),
        must_survive.len(),
        lost.iter().take(5).collect::<Vec<_>>()
    );
}

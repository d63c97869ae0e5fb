//! The board journal in a running server: a REST update is committed before
//! its `204`, a board loads its snapshot plus its journal, an undecodable row
//! is kept aside without stopping the rest, saves keep the table small, and a
//! deleted board takes its rows with it. (Kills of the real binary are in
//! `kill.rs`.)

use std::time::Duration;

use canvas_server::Config;

use crate::harness::{test_config, yjs_map_entries, yjs_update, TestApp};

/// Saves that wait a minute: what survives then survived through the journal.
fn without_saves() -> Config {
    Config {
        save_debounce: Duration::from_secs(60),
        save_max_debounce: Duration::from_secs(60),
        ..test_config()
    }
}

fn journal_rows(app: &TestApp, board: &str) -> i64 {
    app.count(&format!(
        "SELECT COUNT(*) AS n FROM board_journal WHERE board_id = '{board}' AND NOT kept_aside"
    ))
}

/// A journal row as the server writes one: each update preceded by its length.
fn framed(updates: &[&[u8]]) -> Vec<u8> {
    let mut row = Vec::new();
    for update in updates {
        let mut len = update.len();
        while len >= 0x80 {
            row.push((len as u8 & 0x7f) | 0x80);
            len >>= 7;
        }
        row.push(len as u8);
        row.extend_from_slice(update);
    }
    row
}

#[tokio::test]
async fn a_rest_update_is_in_the_journal_when_it_is_answered_204() {
    let Some(app) = TestApp::spawn_with(without_saves()).await else {
        return;
    };
    let ada = app.register("ada").await;
    let board = app.create_board(&ada, "Plan").await;
    app.post_bytes(
        &format!("/api/v1/boards/{board}/updates"),
        Some(&ada.token),
        yjs_update("k", "v"),
    )
    .await
    .assert_status(204);
    // No waiting: the answer came after the commit.
    assert_eq!(journal_rows(&app, &board), 1);
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) AS n FROM board_states WHERE board_id = '{board}'"
        )),
        0,
        "not saved yet: the journal alone holds it"
    );
    let metrics = app.get("/metrics", None).await.text();
    for series in [
        "journal_appends_total",
        "journal_bytes_total",
        "journal_commit_updates_bucket",
        "journal_commit_latency_seconds_bucket",
    ] {
        assert!(metrics.contains(series), "{series} exported: {metrics}");
    }
}

#[tokio::test]
async fn a_board_loads_its_snapshot_and_its_journal_then_compacts_them() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let ada = app.register("ada").await;
    let board = app.create_board(&ada, "Plan").await;
    app.post_bytes(
        &format!("/api/v1/boards/{board}/updates"),
        Some(&ada.token),
        yjs_update("saved", "s"),
    )
    .await
    .assert_status(204);
    // Saved (the journal compacted into the snapshot) and unloaded.
    app.wait_for_count(
        &format!("SELECT COUNT(*) AS n FROM board_journal WHERE board_id = '{board}'"),
        0,
    )
    .await;
    let board_id = uuid::Uuid::parse_str(&board).expect("id");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while app.state.boards.loaded(board_id).is_some() {
        assert!(tokio::time::Instant::now() < deadline, "never unloaded");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Rows left by a process that crashed before its save.
    for key in ["a", "b", "c"] {
        app.database
            .insert_journal_row(&board, &framed(&[&yjs_update(key, key)]));
    }
    let state = app
        .get(&format!("/api/v1/boards/{board}/state"), Some(&ada.token))
        .await;
    state.assert_status(200);
    let entries = yjs_map_entries(&state.bytes);
    assert_eq!(
        entries.keys().map(String::as_str).collect::<Vec<_>>(),
        ["a", "b", "c", "saved"]
    );
    // The compaction save right after the load deletes what it replayed.
    app.wait_for_count(
        &format!("SELECT COUNT(*) AS n FROM board_journal WHERE board_id = '{board}'"),
        0,
    )
    .await;
    let saved = app.database.stored_state(&board).expect("compacted");
    assert_eq!(yjs_map_entries(&saved).len(), 4);
}

#[tokio::test]
async fn an_undecodable_journal_row_is_kept_aside_and_the_rest_loads() {
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let ada = app.register("ada").await;
    let board = app.create_board(&ada, "Plan").await;
    app.database
        .insert_journal_row(&board, &framed(&[&yjs_update("before", "1")]));
    // Framed, but the update inside is the hostile-input payload.
    app.database
        .insert_journal_row(&board, &framed(&[&[0x86, 0x9a, 0xe2, 0xb6, 0x11]]));
    // Not even framed.
    app.database.insert_journal_row(&board, &[0xff, 0xff, 0xff]);
    app.database
        .insert_journal_row(&board, &framed(&[&yjs_update("after", "2")]));

    let state = app
        .get(&format!("/api/v1/boards/{board}/state"), Some(&ada.token))
        .await;
    state.assert_status(200);
    let entries = yjs_map_entries(&state.bytes);
    assert!(entries.contains_key("before") && entries.contains_key("after"));

    // The compaction marks the two bad rows and deletes the good ones.
    app.wait_for_count(
        &format!(
            "SELECT COUNT(*) AS n FROM board_journal WHERE board_id = '{board}' AND kept_aside"
        ),
        2,
    )
    .await;
    app.wait_for_count(
        &format!("SELECT COUNT(*) AS n FROM board_journal WHERE board_id = '{board}'"),
        2,
    )
    .await;
    let metrics = app.get("/metrics", None).await.text();
    assert!(
        metrics
            .lines()
            .any(|line| line.starts_with("journal_rows_kept_aside_total") && !line.ends_with(" 0")),
        "counted: {metrics}"
    );
    // And they block nothing later: the board loads again after a restart.
    let app = app.restart().await;
    let state = app
        .get(&format!("/api/v1/boards/{board}/state"), Some(&ada.token))
        .await;
    state.assert_status(200);
    assert_eq!(yjs_map_entries(&state.bytes).len(), 2);
}

#[tokio::test]
async fn deleting_a_board_deletes_its_journal() {
    let Some(app) = TestApp::spawn_with(without_saves()).await else {
        return;
    };
    let ada = app.register("ada").await;
    let board = app.create_board(&ada, "Plan").await;
    app.post_bytes(
        &format!("/api/v1/boards/{board}/updates"),
        Some(&ada.token),
        yjs_update("k", "v"),
    )
    .await
    .assert_status(204);
    assert_eq!(journal_rows(&app, &board), 1);
    app.delete(&format!("/api/v1/boards/{board}"), Some(&ada.token))
        .await
        .assert_status(204);
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) AS n FROM board_journal WHERE board_id = '{board}'"
        )),
        0
    );
}

/// Bytes of the SQLite file's pages in use (free pages left out).
fn used_bytes(app: &TestApp) -> i64 {
    app.count(
        "SELECT ((SELECT page_count FROM pragma_page_count()) \
               - (SELECT freelist_count FROM pragma_freelist_count())) \
              * (SELECT page_size FROM pragma_page_size()) AS n",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_thousand_overwrites_of_one_key_leave_the_database_near_the_compacted_size() {
    if crate::BACKEND != crate::harness::Backend::Sqlite {
        // Pages are SQLite's measure; PostgreSQL reclaims space by VACUUM.
        return;
    }
    let Some(app) = TestApp::spawn().await else {
        return;
    };
    let ada = app.register("ada").await;
    let board = app.create_board(&ada, "Plan").await;
    let before = used_bytes(&app);
    let mut client = crate::sync_client::connect(&app.sync_url(&board, &ada.token)).await;
    const OVERWRITES: usize = 20_000;
    for n in 0..OVERWRITES {
        client
            .edit(move |txn| {
                use yrs::{Map, WriteTxn};
                txn.get_or_insert_map("m").insert(txn, "k", n.to_string());
            })
            .await;
    }
    let last = (OVERWRITES - 1).to_string();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let saved = app
            .database
            .stored_state(&board)
            .map(|state| yjs_map_entries(&state));
        if saved.is_some_and(|entries| entries.get("k") == Some(&last))
            && app.count("SELECT COUNT(*) AS n FROM board_journal") == 0
        {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never compacted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let snapshot = app.database.stored_state(&board).expect("saved").len() as i64;
    let grown = used_bytes(&app) - before;
    // An update log would hold every overwrite: 20,000 updates of ~30 bytes,
    // over 600 KB. Compacted, the board is its snapshot plus a few pages.
    assert!(
        grown <= snapshot + 32 * 1024,
        "used pages grew by {grown} bytes for a {snapshot}-byte snapshot"
    );
}

#[tokio::test]
async fn the_last_save_at_shutdown_compacts_the_journal_it_covers() {
    let Some(mut app) = TestApp::spawn_with(without_saves()).await else {
        return;
    };
    let ada = app.register("ada").await;
    let board = app.create_board(&ada, "Plan").await;
    let mut client = crate::sync_client::connect(&app.sync_url(&board, &ada.token)).await;
    let mut watcher = crate::sync_client::connect(&app.sync_url(&board, &ada.token)).await;
    for n in 0..20 {
        client
            .edit(move |txn| {
                use yrs::{Map, WriteTxn};
                txn.get_or_insert_map("m").insert(txn, format!("k{n}"), "v");
            })
            .await;
    }
    app.post_bytes(
        &format!("/api/v1/boards/{board}/updates"),
        Some(&ada.token),
        yjs_update("rest", "r"),
    )
    .await
    .assert_status(204);
    // The server has them all (it relayed them).
    watcher
        .wait_for(|c| crate::server_process::keys_of(c).len() == 21)
        .await;
    app.shutdown().await;
    drop((client, watcher));
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) AS n FROM board_journal WHERE board_id = '{board}'"
        )),
        0,
        "the final save deleted the rows it covers"
    );
    let saved = app
        .database
        .stored_state(&board)
        .expect("saved at shutdown");
    assert_eq!(yjs_map_entries(&saved).len(), 21);
}

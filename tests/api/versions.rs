//! `/boards/{id}/versions…`: automatic and manual versions with their authors,
//! retention, roles, CASCADE, and restore.

use std::time::Duration;

use canvas_server::{
    board_service::content_json::{render_update, KindOverrides},
    Config,
};
use serde_json::{json, Value};
use yrs::{
    types::Attrs, Any, Array, ArrayPrelim, Doc, Map, MapPrelim, ReadTxn, StateVector, Text,
    Transact, WriteTxn, Xml, XmlElementPrelim, XmlFragment, XmlTextPrelim,
};

use crate::{
    harness::{backend_test, test_config, yjs_update, Backend, TestApp, TestUser},
    sync_client::WAIT,
};

fn versions_path(board: &str) -> String {
    format!("/api/v1/boards/{board}/versions")
}

fn version_path(board: &str, version: &str) -> String {
    format!("/api/v1/boards/{board}/versions/{version}")
}

/// Test settings with automatic versions after `idle_ms` of quiet.
fn versioning_config(idle_ms: u64, max_ms: u64, keep: u32) -> Config {
    Config {
        version_idle: Duration::from_millis(idle_ms),
        version_max_interval: Duration::from_millis(max_ms),
        version_keep: keep,
        ..test_config()
    }
}

async fn list(app: &TestApp, board: &str, user: &TestUser) -> Value {
    let response = app.get(&versions_path(board), Some(&user.token)).await;
    response.assert_status(200);
    response.json()
}

/// Waits until the board has `count` versions of `kind`; returns the listing.
async fn wait_for_versions(
    app: &TestApp,
    board: &str,
    user: &TestUser,
    kind: &str,
    count: usize,
) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let page = list(app, board, user).await;
        let found = page["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|version| version["kind"] == kind)
            .count();
        if found >= count {
            return page;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{found} {kind} versions after {WAIT:?}, expected {count}: {page}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn make_version(app: &TestApp, board: &str, user: &TestUser, label: &str) -> Value {
    let response = app
        .post(
            &versions_path(board),
            Some(&user.token),
            json!({ "label": label }),
        )
        .await;
    response.assert_status(201);
    response.json()
}

async fn post_update(app: &TestApp, board: &str, user: &TestUser, update: Vec<u8>) {
    app.post_update(board, user, update)
        .await
        .assert_status(204);
}

async fn content(app: &TestApp, path: &str, user: &TestUser) -> Value {
    let response = app.get(path, Some(&user.token)).await;
    response.assert_status(200);
    response.json()
}

fn author_ids(version: &Value) -> Vec<String> {
    let mut ids: Vec<String> = version["authors"]
        .as_array()
        .expect("authors")
        .iter()
        .map(|author| author["user_id"].as_str().expect("user_id").to_owned())
        .collect();
    ids.sort();
    ids
}

backend_test!(roles_decide_who_reads_makes_restores_and_deletes_versions);
async fn roles_decide_who_reads_makes_restores_and_deletes_versions(app: TestApp) {
    let ada = app.register("ada").await;
    let eve = app.register("eve").await;
    let vic = app.register("vic").await;
    let out = app.register("out").await;
    let board = app.create_board(&ada, "Plan").await;
    app.share(&board, &ada, &eve, "editor").await;
    app.share(&board, &ada, &vic, "viewer").await;
    post_update(&app, &board, &ada, yjs_update("k", "v")).await;

    let version = make_version(&app, &board, &ada, "first").await;
    assert_eq!(version["kind"], "manual");
    assert_eq!(version["label"], "first");
    assert_eq!(version["created_by"], ada.id.as_str());
    assert_eq!(version["board_id"], board.as_str());
    assert!(version["size_bytes"].as_i64().expect("size") > 0);
    let vid = version["id"].as_str().expect("id").to_owned();
    make_version(&app, &board, &eve, "by the editor").await;

    // The viewer reads everything and changes nothing.
    assert_eq!(list(&app, &board, &vic).await["total"], 2);
    content(&app, &version_path(&board, &vid), &vic).await;
    content(
        &app,
        &format!("{}/content", version_path(&board, &vid)),
        &vic,
    )
    .await;
    app.get(
        &format!("{}/state", version_path(&board, &vid)),
        Some(&vic.token),
    )
    .await
    .assert_status(200);
    app.post(&versions_path(&board), Some(&vic.token), json!({}))
        .await
        .assert_error(403, "forbidden");
    app.post(
        &format!("{}/restore", version_path(&board, &vid)),
        Some(&vic.token),
        json!({}),
    )
    .await
    .assert_error(403, "forbidden");
    app.delete(&version_path(&board, &vid), Some(&vic.token))
        .await
        .assert_error(403, "forbidden");
    // Only the owner deletes.
    app.delete(&version_path(&board, &vid), Some(&eve.token))
        .await
        .assert_error(403, "forbidden");

    // An outsider learns nothing.
    for path in [
        versions_path(&board),
        version_path(&board, &vid),
        format!("{}/state", version_path(&board, &vid)),
        format!("{}/content", version_path(&board, &vid)),
    ] {
        app.get(&path, Some(&out.token))
            .await
            .assert_error(404, "not_found");
    }
    app.post(&versions_path(&board), Some(&out.token), json!({}))
        .await
        .assert_error(404, "not_found");
    app.post(
        &format!("{}/restore", version_path(&board, &vid)),
        Some(&out.token),
        json!({}),
    )
    .await
    .assert_error(404, "not_found");
    app.delete(&version_path(&board, &vid), Some(&out.token))
        .await
        .assert_error(404, "not_found");

    app.delete(&version_path(&board, &vid), Some(&ada.token))
        .await
        .assert_status(204);
    app.get(&version_path(&board, &vid), Some(&ada.token))
        .await
        .assert_error(404, "not_found");
    // A version id of another board is not found either.
    let other = app.create_board(&ada, "Other").await;
    let foreign = make_version(&app, &other, &ada, "elsewhere").await;
    app.get(
        &version_path(&board, foreign["id"].as_str().expect("id")),
        Some(&ada.token),
    )
    .await
    .assert_error(404, "not_found");

    let audit = content(&app, &format!("/api/v1/boards/{board}/audit"), &ada).await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|entry| entry["action"].as_str().expect("action"))
        .collect();
    assert_eq!(
        actions.iter().filter(|a| **a == "version.created").count(),
        2
    );
    assert!(actions.contains(&"version.deleted"), "{actions:?}");
}

backend_test!(labels_longer_than_200_characters_are_refused);
async fn labels_longer_than_200_characters_are_refused(app: TestApp) {
    let (ada, board) = app.user_with_board("ada").await;
    app.post(
        &versions_path(&board),
        Some(&ada.token),
        json!({ "label": "é".repeat(201) }),
    )
    .await
    .assert_error(422, "validation_failed");
    let longest = make_version(&app, &board, &ada, &"é".repeat(200)).await;
    assert_eq!(
        longest["label"].as_str().map(|l| l.chars().count()),
        Some(200)
    );
    // No body at all: a version without a label.
    let response = app
        .send(
            app.client
                .post(app.url(&versions_path(&board)))
                .bearer_auth(&ada.token),
        )
        .await;
    response.assert_status(201);
    assert_eq!(response.json()["label"], Value::Null);
    app.post(
        &versions_path(&board),
        Some(&ada.token),
        json!({ "label": 5 }),
    )
    .await
    .assert_error(422, "validation_failed");
}

backend_test!(a_board_edited_then_quiet_gets_an_automatic_version_with_its_authors);
async fn a_board_edited_then_quiet_gets_an_automatic_version_with_its_authors(backend: Backend) {
    let app = backend
        .spawn_with(versioning_config(200, 3_600_000, 100))
        .await;
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let cyd = app.register("cyd").await;
    let board = app.create_board(&ada, "Plan").await;
    app.share(&board, &ada, &bob, "editor").await;
    app.share(&board, &ada, &cyd, "editor").await;

    // Ada over a socket, Bob over REST; Cyd only watches.
    let mut socket = app.connect(&board, &ada).await;
    let _watcher = app.connect(&board, &cyd).await;
    socket
        .edit(|txn| {
            txn.get_or_insert_map("m").insert(txn, "from-ada", "1");
        })
        .await;
    post_update(&app, &board, &bob, yjs_update("from-bob", "2")).await;

    let page = wait_for_versions(&app, &board, &ada, "auto", 1).await;
    let version = &page["items"][0];
    assert_eq!(version["created_by"], Value::Null);
    let mut expected = vec![ada.id.clone(), bob.id.clone()];
    expected.sort();
    // Ada's socket edit may reach a later save than Bob's: wait for it.
    if author_ids(version) != expected {
        let page = wait_for_versions(&app, &board, &ada, "auto", 2).await;
        let mut all: Vec<String> = page["items"]
            .as_array()
            .expect("items")
            .iter()
            .flat_map(author_ids)
            .collect();
        all.sort();
        all.dedup();
        assert_eq!(all, expected);
    }
    let vid = version["id"].as_str().expect("id");
    let version_content = content(
        &app,
        &format!("{}/content", version_path(&board, vid)),
        &ada,
    )
    .await;
    assert_eq!(version_content["roots"]["m"]["from-bob"], "2");

    // Nothing changes from here: no more versions come.
    let before = list(&app, &board, &ada).await["total"].clone();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(list(&app, &board, &ada).await["total"], before);

    let audit = content(&app, &format!("/api/v1/boards/{board}/audit"), &ada).await;
    let created = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|entry| entry["action"] == "version.created")
        .expect("version.created audited");
    assert_eq!(created["actor_id"], Value::Null);
    assert_eq!(created["detail"]["kind"], "auto");
}

backend_test!(continuous_editing_gets_a_version_within_the_max_interval);
async fn continuous_editing_gets_a_version_within_the_max_interval(backend: Backend) {
    // Never quiet long enough (idle 1 h); the cap is 400 ms.
    let app = backend
        .spawn_with(versioning_config(3_600_000, 400, 100))
        .await;
    let (ada, board) = app.user_with_board("ada").await;
    let mut socket = app.connect(&board, &ada).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut edits = 0u32;
    loop {
        let key = format!("k{edits}");
        socket
            .edit(move |txn| {
                txn.get_or_insert_map("m").insert(txn, key, "v");
            })
            .await;
        edits += 1;
        let page = list(&app, &board, &ada).await;
        if page["total"].as_i64() >= Some(2) {
            let authors = author_ids(&page["items"][0]);
            assert_eq!(authors, vec![ada.id.clone()]);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no two automatic versions under continuous editing within {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

backend_test!(retention_keeps_the_newest_automatic_versions_and_every_manual_one);
async fn retention_keeps_the_newest_automatic_versions_and_every_manual_one(backend: Backend) {
    let app = backend
        .spawn_with(versioning_config(100, 3_600_000, 2))
        .await;
    let (ada, board) = app.user_with_board("ada").await;
    // Each round sets a key of its own (updates made apart from each other
    // would race for one key).
    post_update(&app, &board, &ada, yjs_update("r0", "0")).await;
    wait_for_versions(&app, &board, &ada, "auto", 1).await;
    make_version(&app, &board, &ada, "kept").await;
    let total_auto = |page: &Value| {
        page["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|version| version["kind"] == "auto")
            .count()
    };
    for round in 1..=3 {
        // Each round waits for its own version: the audit counts them.
        post_update(&app, &board, &ada, yjs_update(&format!("r{round}"), "v")).await;
        app.wait_for_count(
            &format!(
                "SELECT COUNT(*) AS n FROM audit_logs WHERE board_id = '{board}' AND action = 'version.created' AND actor_id IS NULL"
            ),
            round + 1,
        )
        .await;
    }
    let page = list(&app, &board, &ada).await;
    assert_eq!(total_auto(&page), 2, "{page}");
    assert_eq!(page["total"], 3, "the manual version stays: {page}");
    let mut rounds = Vec::new();
    for version in page["items"].as_array().expect("items") {
        if version["kind"] == "auto" {
            let vid = version["id"].as_str().expect("id");
            let body = content(
                &app,
                &format!("{}/content", version_path(&board, vid)),
                &ada,
            )
            .await;
            let keys: Vec<String> = body["roots"]["m"]
                .as_object()
                .expect("map")
                .keys()
                .cloned()
                .collect();
            rounds.push(keys.len());
            assert!(keys.contains(&format!("r{}", keys.len() - 1)), "{keys:?}");
        }
    }
    // Rounds 3 and 2 (with 4 and 3 keys), newest first.
    assert_eq!(rounds, vec![4, 3], "the newest two, newest first");
}

backend_test!(versions_go_with_their_board);
async fn versions_go_with_their_board(backend: Backend) {
    let app = backend
        .spawn_with(versioning_config(100, 3_600_000, 100))
        .await;
    let (ada, board) = app.user_with_board("ada").await;
    post_update(&app, &board, &ada, yjs_update("k", "v")).await;
    wait_for_versions(&app, &board, &ada, "auto", 1).await;
    make_version(&app, &board, &ada, "manual").await;
    post_update(&app, &board, &ada, yjs_update("k", "w")).await;
    app.wait_for_count(
        &format!("SELECT COUNT(*) AS n FROM board_version_pending WHERE board_id = '{board}'"),
        1,
    )
    .await;
    app.delete(&format!("/api/v1/boards/{board}"), Some(&ada.token))
        .await
        .assert_status(204);
    for table in [
        "board_versions",
        "board_version_authors",
        "board_version_pending",
        "board_version_pending_authors",
    ] {
        assert_eq!(
            app.count(&format!("SELECT COUNT(*) AS n FROM {table}")),
            0,
            "{table}"
        );
    }
}

/// A document with every kind of root: maps (a nested map too), an array with
/// nested maps, text with formatting, and an XML fragment.
fn rich_document(doc: &Doc, generation: &str) -> Vec<u8> {
    let before = doc.transact().state_vector();
    {
        let mut txn = doc.transact_mut();
        let shapes = txn.get_or_insert_map("shapes");
        shapes.insert(&mut txn, "generation", generation);
        let nested = shapes.insert(
            &mut txn,
            format!("shape-{generation}"),
            MapPrelim::default(),
        );
        nested.insert(&mut txn, "x", 10);
        let list = txn.get_or_insert_array("list");
        let item = list.push_back(&mut txn, MapPrelim::default());
        item.insert(&mut txn, "id", generation);
        list.push_back(&mut txn, ArrayPrelim::from([1, 2]));
        let title = txn.get_or_insert_text("title");
        let len = title.len(&txn);
        title.insert(&mut txn, len, &format!("title {generation} "));
        let bold: Attrs = [("bold".into(), Any::Bool(true))].into_iter().collect();
        title.format(&mut txn, 0, 5, bold);
        let xml = txn.get_or_insert_xml_fragment("prosemirror");
        let p = xml.push_back(&mut txn, XmlElementPrelim::empty("p"));
        p.insert_attribute(&mut txn, "data-gen", generation);
        p.push_back(&mut txn, XmlTextPrelim::new(generation));
    }
    doc.transact().encode_diff_v1(&before)
}

backend_test!(restore_makes_the_content_equal_and_its_backup_undoes_it);
async fn restore_makes_the_content_equal_and_its_backup_undoes_it(app: TestApp) {
    let ada = app.register("ada").await;
    let eve = app.register("eve").await;
    let board = app.create_board(&ada, "Plan").await;
    app.share(&board, &ada, &eve, "editor").await;
    let author = Doc::new();
    post_update(&app, &board, &ada, rich_document(&author, "one")).await;
    let version = make_version(&app, &board, &ada, "one").await;
    let vid = version["id"].as_str().expect("id").to_owned();
    let version_content = content(
        &app,
        &format!("{}/content", version_path(&board, &vid)),
        &ada,
    )
    .await;

    // A client stays connected through the restore.
    let mut live = app.connect(&board, &ada).await;
    post_update(&app, &board, &ada, rich_document(&author, "two")).await;
    {
        let mut txn = author.transact_mut();
        let shapes = txn.get_or_insert_map("shapes");
        shapes.remove(&mut txn, "generation");
        let list = txn.get_or_insert_array("list");
        list.remove(&mut txn, 0);
    }
    let full = author
        .transact()
        .encode_state_as_update_v1(&StateVector::default());
    post_update(&app, &board, &ada, full).await;
    let before_restore = content(&app, &format!("/api/v1/boards/{board}/content"), &ada).await;
    assert_ne!(before_restore, version_content);

    let response = app
        .post(
            &format!("{}/restore", version_path(&board, &vid)),
            Some(&eve.token),
            json!({}),
        )
        .await;
    response.assert_status(200);
    let body = response.json();
    assert_eq!(body["restored"]["id"], vid.as_str());
    assert_eq!(body["backup"]["kind"], "pre_restore");
    assert_eq!(body["backup"]["created_by"], eve.id.as_str());
    let backup = body["backup"]["id"].as_str().expect("backup id").to_owned();

    let after = content(&app, &format!("/api/v1/boards/{board}/content"), &ada).await;
    assert_eq!(after, version_content);
    let expected_roots = version_content["roots"].clone();
    live.wait_for(|client| {
        render_update(&client.state(), &KindOverrides::new()).expect("renders")["roots"]
            == expected_roots
    })
    .await;

    // Undo: the backup brings back the content from before.
    app.post(
        &format!("{}/restore", version_path(&board, &backup)),
        Some(&ada.token),
        json!({}),
    )
    .await
    .assert_status(200);
    assert_eq!(
        content(&app, &format!("/api/v1/boards/{board}/content"), &ada).await,
        before_restore
    );
    let undone_roots = before_restore["roots"].clone();
    live.wait_for(|client| {
        render_update(&client.state(), &KindOverrides::new()).expect("renders")["roots"]
            == undone_roots
    })
    .await;
    // The live client keeps working: its next edit reaches a fresh reader.
    live.edit(|txn| {
        txn.get_or_insert_map("shapes")
            .insert(txn, "after", "restore");
    })
    .await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let now = content(&app, &format!("/api/v1/boards/{board}/content"), &ada).await;
        if now["roots"]["shapes"]["after"] == "restore" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "edit after restore lost: {now}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let audit = content(&app, &format!("/api/v1/boards/{board}/audit"), &ada).await;
    let restored: Vec<&Value> = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|entry| entry["action"] == "version.restored")
        .collect();
    assert_eq!(restored.len(), 2);
    assert_eq!(restored[1]["actor_id"], eve.id.as_str());
    assert_eq!(restored[1]["detail"]["version_id"], vid.as_str());
    assert_eq!(restored[1]["detail"]["backup_id"], backup.as_str());
}

backend_test!(a_version_lists_newest_first_and_pages_like_the_audit);
async fn a_version_lists_newest_first_and_pages_like_the_audit(app: TestApp) {
    let (ada, board) = app.user_with_board("ada").await;
    for label in ["a", "b", "c"] {
        make_version(&app, &board, &ada, label).await;
    }
    let page = content(
        &app,
        &format!("{}?limit=2&offset=1", versions_path(&board)),
        &ada,
    )
    .await;
    assert_eq!(page["total"], 3);
    let labels: Vec<&str> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|v| v["label"].as_str().expect("label"))
        .collect();
    assert_eq!(labels, vec!["b", "a"]);
    app.get(
        &format!("{}?limit=0", versions_path(&board)),
        Some(&ada.token),
    )
    .await
    .assert_error(422, "validation_failed");
    let state = app
        .get(
            &format!(
                "{}/state",
                version_path(&board, page["items"][0]["id"].as_str().expect("id"))
            ),
            Some(&ada.token),
        )
        .await;
    state.assert_status(200);
    assert_eq!(
        state
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/octet-stream")
    );
}

//! `GET /boards/{id}/content`: the board as JSON.

use serde_json::json;
use yrs::{
    types::Attrs, Any, Array, ArrayPrelim, Doc, Map, MapPrelim, ReadTxn, StateVector, Text,
    Transact, WriteTxn, Xml, XmlElementPrelim, XmlFragment, XmlTextPrelim,
};

use crate::harness::{backend_test, TestApp, TestUser};

fn content_path(board: &str, query: &str) -> String {
    format!("/api/v1/boards/{board}/content{query}")
}

async fn post_doc(app: &TestApp, board: &str, user: &TestUser, doc: &Doc) {
    let update = doc
        .transact()
        .encode_state_as_update_v1(&StateVector::default());
    app.post_update(board, user, update)
        .await
        .assert_status(204);
}

fn every_kind() -> Doc {
    let doc = Doc::new();
    {
        let mut txn = doc.transact_mut();
        let shapes = txn.get_or_insert_map("shapes");
        shapes.insert(&mut txn, "count", 3);
        shapes.insert(&mut txn, "ratio", 1.5);
        shapes.insert(&mut txn, "visible", true);
        shapes.insert(&mut txn, "bytes", Any::Buffer(vec![1u8, 2, 3].into()));
        let nested = shapes.insert(&mut txn, "frame", MapPrelim::default());
        nested.insert(&mut txn, "w", 100);
        let list = txn.get_or_insert_array("list");
        let item = list.push_back(&mut txn, MapPrelim::default());
        item.insert(&mut txn, "id", "a");
        item.insert(&mut txn, "points", ArrayPrelim::from([1, 2]));
        list.push_back(&mut txn, "plain");
        let title = txn.get_or_insert_text("title");
        title.insert(&mut txn, 0, "Hello, board");
        let bold: Attrs = [("bold".into(), Any::Bool(true))].into_iter().collect();
        title.format(&mut txn, 0, 5, bold);
        let xml = txn.get_or_insert_xml_fragment("prosemirror");
        let heading = xml.push_back(&mut txn, XmlElementPrelim::empty("heading"));
        heading.insert_attribute(&mut txn, "level", "1");
        heading.push_back(&mut txn, XmlTextPrelim::new("Notes"));
        let p = xml.push_back(&mut txn, XmlElementPrelim::empty("paragraph"));
        p.push_back(&mut txn, XmlTextPrelim::new("text"));
    }
    doc
}

backend_test!(every_root_is_rendered_by_the_kind_its_content_shows);
async fn every_root_is_rendered_by_the_kind_its_content_shows(app: TestApp) {
    let ada = app.register("ada").await;
    let vic = app.register("vic").await;
    let out = app.register("out").await;
    let board = app.create_board(&ada, "Plan").await;
    app.share(&board, &ada, &vic, "viewer").await;
    let empty = app.get(&content_path(&board, ""), Some(&ada.token)).await;
    empty.assert_status(200);
    assert_eq!(empty.json(), json!({ "roots": {} }));

    post_doc(&app, &board, &ada, &every_kind()).await;
    let expected = json!({ "roots": {
        "shapes": { "count": 3, "ratio": 1.5, "visible": true, "bytes": "AQID", "frame": { "w": 100 } },
        "list": [ { "id": "a", "points": [1, 2] }, "plain" ],
        "title": "Hello, board",
        "prosemirror": "<heading level=\"1\">Notes</heading><paragraph>text</paragraph>",
    }});
    // A viewer reads it; the live document and the stored one agree.
    let response = app.get(&content_path(&board, ""), Some(&vic.token)).await;
    response.assert_status(200);
    assert_eq!(response.json(), expected);
    let restarted = app.restart().await;
    let response = restarted
        .get(&content_path(&board, ""), Some(&ada.token))
        .await;
    assert_eq!(response.json(), expected);
    restarted
        .get(&content_path(&board, ""), Some(&out.token))
        .await
        .assert_error(404, "not_found");
}

backend_test!(types_override_the_inference_and_bad_ones_are_refused);
async fn types_override_the_inference_and_bad_ones_are_refused(app: TestApp) {
    let (ada, board) = app.user_with_board("ada").await;
    post_doc(&app, &board, &ada, &every_kind()).await;
    let response = app
        .get(
            &content_path(&board, "?types=title:array,absent:text,shapes:map"),
            Some(&ada.token),
        )
        .await;
    response.assert_status(200);
    let body = response.json();
    // A text read as an array shows its characters' items, not a string.
    assert!(body["roots"]["title"].is_array(), "{body}");
    // A root named but absent stays absent.
    assert_eq!(body["roots"].get("absent"), None);
    assert_eq!(body["roots"]["shapes"]["count"], 3);
    for bad in ["?types=title", "?types=title:list", "?types=:map"] {
        let response = app.get(&content_path(&board, bad), Some(&ada.token)).await;
        response.assert_error(422, "validation_failed");
        let message = response.json()["error"]["message"]
            .as_str()
            .expect("message")
            .to_owned();
        assert!(message.contains("types"), "{message}");
    }
}

backend_test!(a_live_board_is_read_from_its_open_document);
async fn a_live_board_is_read_from_its_open_document(app: TestApp) {
    let (ada, board) = app.user_with_board("ada").await;
    let mut client = app.connect(&board, &ada).await;
    client
        .edit(|txn| {
            txn.get_or_insert_text("notes").insert(txn, 0, "typed live");
        })
        .await;
    let deadline = tokio::time::Instant::now() + crate::sync_client::WAIT;
    loop {
        let body = app
            .get(&content_path(&board, ""), Some(&ada.token))
            .await
            .json();
        if body["roots"]["notes"] == "typed live" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{body}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A map nested `depth` levels deep under the root `deep` (the root is 1).
fn nested_maps(depth: usize) -> Doc {
    let doc = Doc::new();
    {
        let mut txn = doc.transact_mut();
        let mut map = txn.get_or_insert_map("deep");
        for _ in 1..depth {
            map = map.insert(&mut txn, "inner", MapPrelim::default());
        }
        map.insert(&mut txn, "leaf", true);
    }
    doc
}

backend_test!(an_update_nesting_types_past_the_limit_is_refused_and_a_board_at_the_limit_renders);
async fn an_update_nesting_types_past_the_limit_is_refused_and_a_board_at_the_limit_renders(
    app: TestApp,
) {
    let (ada, board) = app.user_with_board("ada").await;
    // Deep enough that yrs, deleting it, would recurse past a thread's stack
    // and abort the process; one level past the limit is refused alike.
    for depth in [20_000, 65] {
        let update = nested_maps(depth)
            .transact()
            .encode_state_as_update_v1(&StateVector::default());
        let refused = app.post_update(&board, &ada, update).await;
        refused.assert_error(400, "bad_request");
        assert!(
            refused.json()["error"]["message"]
                .as_str()
                .is_some_and(|message| message.contains("64 levels")),
            "{}",
            refused.json()
        );
    }
    // Nothing of the refused updates was applied.
    let empty = app.get(&content_path(&board, ""), Some(&ada.token)).await;
    empty.assert_status(200);
    assert_eq!(empty.json()["roots"], json!({}));
    // A board at the limit renders, and deleting its outermost map (which
    // yrs follows level by level) leaves the server serving.
    let at_limit = nested_maps(64);
    post_doc(&app, &board, &ada, &at_limit).await;
    let rendered = app.get(&content_path(&board, ""), Some(&ada.token)).await;
    rendered.assert_status(200);
    let body = rendered.json();
    let mut value = &body["roots"]["deep"];
    for _ in 1..64 {
        value = &value["inner"];
    }
    assert_eq!(value["leaf"], true, "{body}");
    let before = at_limit.transact().state_vector();
    {
        let mut txn = at_limit.transact_mut();
        txn.get_or_insert_map("deep").remove(&mut txn, "inner");
    }
    let removal = at_limit.transact().encode_state_as_update_v1(&before);
    app.post_update(&board, &ada, removal)
        .await
        .assert_status(204);
    let after = app.get(&content_path(&board, ""), Some(&ada.token)).await;
    after.assert_status(200);
    let body = after.json();
    assert!(body["roots"]["deep"]["inner"].is_null(), "{body}");
}

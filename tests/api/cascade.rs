//! `DELETE /me`: the account's boards, their content, members and audit rows go
//! with it, its memberships elsewhere are removed, and audit rows it wrote on
//! other people's boards stay with their actor cleared.

use serde_json::json;

use crate::harness::{backend_test, yjs_update, TestApp};

backend_test!(deleting_an_account_cascades_to_everything_it_owns_and_clears_its_authorship);
async fn deleting_an_account_cascades_to_everything_it_owns_and_clears_its_authorship(
    app: TestApp,
) {
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let cy = app.register("cy").await;

    // Ada's board: content, two members, audit rows.
    let adas = app.create_board(&ada, "Ada's").await;
    app.share(&adas, &ada, &bob, "editor").await;
    app.share(&adas, &ada, &cy, "viewer").await;
    app.post_update(&adas, &ada, yjs_update("k", "v"))
        .await
        .assert_status(204);
    app.wait_for_count("SELECT COUNT(*) AS n FROM board_states", 1)
        .await;

    // Bob's board: Ada edits it and so appears in its audit log.
    let bobs = app.create_board(&bob, "Bob's").await;
    app.share(&bobs, &bob, &ada, "editor").await;
    app.share(&bobs, &bob, &cy, "viewer").await;
    app.patch(
        &format!("/api/v1/boards/{bobs}"),
        Some(&ada.token),
        json!({ "name": "Bob's, renamed by Ada" }),
    )
    .await
    .assert_status(200);

    let count = |sql: String| app.count(&sql);
    let a = &ada.id;
    assert_eq!(
        count(format!(
            "SELECT COUNT(*) AS n FROM audit_logs WHERE board_id = '{adas}'"
        )),
        3
    );
    assert_eq!(
        count(format!(
            "SELECT COUNT(*) AS n FROM audit_logs WHERE board_id = '{bobs}'"
        )),
        4
    );

    app.delete("/api/v1/me", Some(&ada.token))
        .await
        .assert_status(204);

    assert_eq!(
        count(format!("SELECT COUNT(*) AS n FROM users WHERE id = '{a}'")),
        0
    );
    assert_eq!(
        count(format!(
            "SELECT COUNT(*) AS n FROM boards WHERE owner_id = '{a}'"
        )),
        0
    );
    for table in ["board_states", "board_members", "audit_logs"] {
        assert_eq!(
            count(format!(
                "SELECT COUNT(*) AS n FROM {table} WHERE board_id = '{adas}'"
            )),
            0,
            "{table} rows of the deleted account's board remain"
        );
    }
    assert_eq!(
        count(format!(
            "SELECT COUNT(*) AS n FROM board_members WHERE user_id = '{a}'"
        )),
        0,
        "memberships of the deleted account remain"
    );
    assert_eq!(
        count(format!(
            "SELECT COUNT(*) AS n FROM audit_logs WHERE actor_id = '{a}'"
        )),
        0
    );

    // Bob's board survives with its full history; Ada's rename has no actor now.
    assert_eq!(
        count(format!(
            "SELECT COUNT(*) AS n FROM audit_logs WHERE board_id = '{bobs}'"
        )),
        4
    );
    assert_eq!(
        count(format!(
            "SELECT COUNT(*) AS n FROM audit_logs \
             WHERE board_id = '{bobs}' AND action = 'board.renamed' AND actor_id IS NULL"
        )),
        1
    );
    assert_eq!(
        count(format!(
            "SELECT COUNT(*) AS n FROM board_members WHERE board_id = '{bobs}'"
        )),
        2,
        "Bob and Cy remain on Bob's board"
    );

    // The same seen through the API.
    let audit = app
        .get(&format!("/api/v1/boards/{bobs}/audit"), Some(&bob.token))
        .await;
    audit.assert_status(200);
    let renamed = &audit.json()["items"][0];
    assert_eq!(renamed["action"], "board.renamed");
    assert!(renamed["actor_id"].is_null(), "{renamed}");
    app.get(&format!("/api/v1/boards/{adas}"), Some(&bob.token))
        .await
        .assert_error(404, "not_found");
    let bobs_boards = app.get("/api/v1/boards", Some(&bob.token)).await.json();
    assert_eq!(bobs_boards["total"], 1);
    let cys_boards = app.get("/api/v1/boards", Some(&cy.token)).await.json();
    assert_eq!(cys_boards["total"], 1);
    assert_eq!(cys_boards["items"][0]["id"], bobs.as_str());
}

backend_test!(deleting_an_account_leaves_other_accounts_boards_alone);
async fn deleting_an_account_leaves_other_accounts_boards_alone(app: TestApp) {
    let ada = app.register("ada").await;
    let bob = app.register("bob").await;
    let bobs = app.create_board(&bob, "Bob's").await;
    app.post_update(&bobs, &bob, yjs_update("k", "v"))
        .await
        .assert_status(204);
    app.wait_for_count("SELECT COUNT(*) AS n FROM board_states", 1)
        .await;
    app.delete("/api/v1/me", Some(&ada.token))
        .await
        .assert_status(204);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM boards"), 1);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM board_states"), 1);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM audit_logs"), 1);
    let state = app.board_state(&bobs, &bob).await;
    state.assert_status(200);
    assert_eq!(
        crate::harness::yjs_map_entries(&state.bytes)
            .get("k")
            .map(String::as_str),
        Some("v")
    );
}

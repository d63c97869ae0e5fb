//! The access matrix: owner, editor, viewer and stranger against every board
//! route. Each cell runs on a fresh board, checks the status and error code, and
//! checks that the change happened exactly when it was allowed.

use serde_json::json;

use crate::harness::{
    backend_test, yjs_map_entries, yjs_update, Backend, Given, TestApp, TestResponse, TestUser,
};

/// Who calls; the discriminant is the caller's column in [`MATRIX`].
#[derive(Clone, Copy, Debug)]
enum Who {
    Owner,
    Editor,
    Viewer,
    Stranger,
}

/// What the contract answers.
#[derive(Clone, Copy, Debug)]
enum Answer {
    /// Done, with this status.
    Allowed(u16),
    /// 403 `forbidden`: the caller sees the board but may not do this.
    Forbidden,
    /// 404 `not_found`: the caller may not know the board exists.
    Hidden,
}

use Answer::{Allowed, Forbidden, Hidden};

/// A board route.
#[derive(Clone, Copy, Debug)]
enum Route {
    GetBoard,
    RenameBoard,
    DeleteBoard,
    ListMembers,
    PutMember,
    RemoveMember,
    ListAudit,
    GetState,
    PostUpdate,
}

/// The contract, one row per route; columns: owner, editor, viewer, stranger.
#[rustfmt::skip]
const MATRIX: [(Route, [Answer; 4]); 9] = [
    //                       owner          editor         viewer         stranger
    (Route::GetBoard,     [Allowed(200), Allowed(200), Allowed(200), Hidden]),
    (Route::RenameBoard,  [Allowed(200), Allowed(200), Forbidden,    Hidden]),
    (Route::DeleteBoard,  [Allowed(204), Forbidden,    Forbidden,    Hidden]),
    (Route::ListMembers,  [Allowed(200), Allowed(200), Allowed(200), Hidden]),
    (Route::PutMember,    [Allowed(200), Forbidden,    Forbidden,    Hidden]),
    (Route::RemoveMember, [Allowed(204), Forbidden,    Forbidden,    Hidden]),
    (Route::ListAudit,    [Allowed(200), Allowed(200), Allowed(200), Hidden]),
    (Route::GetState,     [Allowed(200), Allowed(200), Allowed(200), Hidden]),
    (Route::PostUpdate,   [Allowed(204), Allowed(204), Forbidden,    Hidden]),
];

/// The accounts around one board: its owner, an editor, a viewer, a stranger,
/// and a bystander (a viewer that member management acts on).
struct Cast {
    app: TestApp,
    owner: TestUser,
    editor: TestUser,
    viewer: TestUser,
    stranger: TestUser,
    bystander: TestUser,
}

impl Given for Cast {
    async fn given(backend: Backend) -> Option<Self> {
        let app = backend.spawn().await;
        Some(Self {
            owner: app.register("owner").await,
            editor: app.register("editor").await,
            viewer: app.register("viewer").await,
            stranger: app.register("stranger").await,
            bystander: app.register("bystander").await,
            app,
        })
    }
}

impl Cast {
    fn user(&self, who: Who) -> &TestUser {
        match who {
            Who::Owner => &self.owner,
            Who::Editor => &self.editor,
            Who::Viewer => &self.viewer,
            Who::Stranger => &self.stranger,
        }
    }

    /// A new board named "Original" with the editor, viewer and bystander on it.
    async fn board(&self) -> String {
        let board = self.app.create_board(&self.owner, "Original").await;
        self.app
            .share(&board, &self.owner, &self.editor, "editor")
            .await;
        self.app
            .share(&board, &self.owner, &self.viewer, "viewer")
            .await;
        self.app
            .share(&board, &self.owner, &self.bystander, "viewer")
            .await;
        board
    }

    /// Calls `route` on `board` (any string, so bad ids can be tried) with `token`.
    async fn call(&self, route: Route, board: &str, token: Option<&str>) -> TestResponse {
        let app = &self.app;
        let base = format!("/api/v1/boards/{board}");
        match route {
            Route::GetBoard => app.get(&base, token).await,
            Route::RenameBoard => app.patch(&base, token, json!({ "name": "Renamed" })).await,
            Route::DeleteBoard => app.delete(&base, token).await,
            Route::ListMembers => app.get(&format!("{base}/members"), token).await,
            Route::PutMember => {
                let body = json!({ "email": self.bystander.email, "role": "editor" });
                app.put(&format!("{base}/members"), token, body).await
            }
            Route::RemoveMember => {
                let path = format!("{base}/members/{}", self.bystander.id);
                app.delete(&path, token).await
            }
            Route::ListAudit => app.get(&format!("{base}/audit"), token).await,
            Route::GetState => app.get(&format!("{base}/state"), token).await,
            Route::PostUpdate => {
                let path = format!("{base}/updates");
                app.post_bytes(&path, token, yjs_update("k", "v")).await
            }
        }
    }

    /// Whether the change `route` makes is visible on `board`; `None` for reads.
    async fn changed(&self, route: Route, board: &str) -> Option<bool> {
        let count = |sql: String| self.app.count(&sql);
        let bystander = &self.bystander.id;
        Some(match route {
            Route::GetBoard | Route::ListMembers | Route::ListAudit | Route::GetState => {
                return None
            }
            Route::RenameBoard => {
                count(format!(
                    "SELECT COUNT(*) AS n FROM boards WHERE id = '{board}' AND name = 'Renamed'"
                )) == 1
            }
            Route::DeleteBoard => {
                count(format!(
                    "SELECT COUNT(*) AS n FROM boards WHERE id = '{board}'"
                )) == 0
            }
            Route::PutMember => {
                count(format!(
                    "SELECT COUNT(*) AS n FROM board_members \
                     WHERE board_id = '{board}' AND user_id = '{bystander}' AND role = 'editor'"
                )) == 1
            }
            Route::RemoveMember => {
                count(format!(
                    "SELECT COUNT(*) AS n FROM board_members \
                     WHERE board_id = '{board}' AND user_id = '{bystander}'"
                )) == 0
            }
            Route::PostUpdate => {
                let state = self
                    .app
                    .get(
                        &format!("/api/v1/boards/{board}/state"),
                        Some(&self.owner.token),
                    )
                    .await;
                state.assert_status(200);
                yjs_map_entries(&state.bytes).contains_key("k")
            }
        })
    }
}

/// Checks what `answer` promises; returns a description of each difference.
fn check_answer(response: &TestResponse, answer: Answer) -> Option<String> {
    let status = response.status.as_u16();
    let code = response.json()["error"]["code"].clone();
    let ok = match answer {
        Allowed(expected) => status == expected,
        Forbidden => status == 403 && code == "forbidden",
        Hidden => status == 404 && code == "not_found",
    };
    (!ok).then(|| format!("expected {answer:?}, got {status} {}", response.text()))
}

/// Runs one column of [`MATRIX`] and fails listing every cell that differs.
async fn check_column(cast: Cast, who: Who) {
    let mut failures = Vec::new();
    for (route, answers) in MATRIX {
        let answer = answers[who as usize];
        let board = cast.board().await;
        let response = cast.call(route, &board, Some(&cast.user(who).token)).await;
        if let Some(failure) = check_answer(&response, answer) {
            failures.push(format!("{who:?} {route:?}: {failure}"));
            continue;
        }
        if let Some(changed) = cast.changed(route, &board).await {
            let allowed = matches!(answer, Allowed(_));
            if changed != allowed {
                failures.push(format!(
                    "{who:?} {route:?}: answered {answer:?} but the change {} made",
                    if changed { "was" } else { "was not" }
                ));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

backend_test!(owner_may_use_every_board_route);
async fn owner_may_use_every_board_route(cast: Cast) {
    check_column(cast, Who::Owner).await;
}

backend_test!(editor_may_read_rename_and_post_updates_but_not_delete_or_manage_members);
async fn editor_may_read_rename_and_post_updates_but_not_delete_or_manage_members(cast: Cast) {
    check_column(cast, Who::Editor).await;
}

backend_test!(viewer_may_only_read);
async fn viewer_may_only_read(cast: Cast) {
    check_column(cast, Who::Viewer).await;
}

backend_test!(stranger_gets_not_found_on_every_board_route_never_forbidden);
async fn stranger_gets_not_found_on_every_board_route_never_forbidden(cast: Cast) {
    check_column(cast, Who::Stranger).await;
}

backend_test!(viewer_cannot_rename_board);
async fn viewer_cannot_rename_board(cast: Cast) {
    let board = cast.board().await;
    cast.call(Route::RenameBoard, &board, Some(&cast.viewer.token))
        .await
        .assert_error(403, "forbidden");
    let seen = cast
        .app
        .get(&format!("/api/v1/boards/{board}"), Some(&cast.viewer.token))
        .await;
    assert_eq!(seen.json()["name"], "Original");
}

backend_test!(successful_reads_return_their_documented_bodies);
async fn successful_reads_return_their_documented_bodies(cast: Cast) {
    let board = cast.board().await;
    for who in [Who::Owner, Who::Editor, Who::Viewer] {
        let token = Some(cast.user(who).token.as_str());
        let state = cast.call(Route::GetState, &board, token).await;
        state.assert_status(200);
        assert_eq!(
            state.headers["content-type"], "application/octet-stream",
            "{who:?}"
        );
        assert!(yjs_map_entries(&state.bytes).is_empty(), "{who:?}");
        let members = cast.call(Route::ListMembers, &board, token).await.json();
        assert_eq!(
            members["items"].as_array().map(Vec::len),
            Some(4),
            "{who:?}"
        );
        let audit = cast.call(Route::ListAudit, &board, token).await.json();
        assert_eq!(audit["total"], 4, "{who:?}");
    }
}

backend_test!(every_board_route_answers_not_found_for_a_board_that_does_not_exist);
async fn every_board_route_answers_not_found_for_a_board_that_does_not_exist(cast: Cast) {
    let missing = uuid::Uuid::new_v4().to_string();
    let mut failures = Vec::new();
    for (route, _) in MATRIX {
        let response = cast.call(route, &missing, Some(&cast.owner.token)).await;
        if let Some(failure) = check_answer(&response, Hidden) {
            failures.push(format!("{route:?}: {failure}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

backend_test!(every_board_route_answers_not_found_for_a_malformed_board_id);
async fn every_board_route_answers_not_found_for_a_malformed_board_id(cast: Cast) {
    let mut failures = Vec::new();
    for (route, _) in MATRIX {
        let response = cast
            .call(route, "not-a-uuid", Some(&cast.owner.token))
            .await;
        if let Some(failure) = check_answer(&response, Hidden) {
            failures.push(format!("{route:?}: {failure}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

backend_test!(every_board_route_needs_a_token);
async fn every_board_route_needs_a_token(cast: Cast) {
    let board = cast.board().await;
    for (route, _) in MATRIX {
        let response = cast.call(route, &board, None).await;
        assert!(
            response.status == 401 && response.json()["error"]["code"] == "unauthorized",
            "{route:?}: {} {}",
            response.status,
            response.text()
        );
        assert_ne!(
            cast.changed(route, &board).await,
            Some(true),
            "{route:?} without a token changed the board"
        );
    }
}

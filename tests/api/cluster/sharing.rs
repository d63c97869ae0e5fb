//! Only what another instance needs goes through Redis, and a board held by
//! several instances is saved by one. The instances are the real binary, so
//! each one's `/metrics` counts only its own publishes and saves.

use std::time::Duration;

use super::Redis;
use crate::{
    harness::{backend_test, yjs_map_entries, TestDatabase},
    server_process::{keys_of, set_key, Server},
    sync_client::connect,
};

/// Saves soon after an edit, and a board leaves memory soon after its last
/// socket: the instance then says it is leaving.
const SAVE_SOON: [(&str, &str); 2] = [("SAVE_DEBOUNCE_MS", "50"), ("SAVE_MAX_DEBOUNCE_MS", "200")];

/// How long a board may take to be found shared, or no longer shared, or a
/// lease to move: a few summary periods and a lease ttl of the binary's
/// default settings (5 s periods, 20 s leases).
const CLUSTER_WAIT: Duration = Duration::from_secs(30);

/// An instance of the binary over `database`, sharing boards through `redis`
/// (the default channel prefix; boards are unique to each test).
async fn instance(dir: &tempfile::TempDir, database: &TestDatabase, redis: &str) -> Server {
    let mut env = vec![("REDIS_URL", redis)];
    env.extend(SAVE_SOON);
    let server = Server::start(dir.path(), &database.url(), &env);
    server.wait_until_ready().await;
    server
}

/// Waits until `series` on `server` satisfies `done`; returns its value.
async fn metric_until(server: &Server, series: &str, done: impl Fn(f64) -> bool) -> f64 {
    let deadline = tokio::time::Instant::now() + CLUSTER_WAIT;
    loop {
        let value = server.metric(series).await;
        if done(value) {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{series} is still {value} after {CLUSTER_WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const UPDATES_PUBLISHED: &str = r#"cluster_messages_total{direction="published",kind="update"}"#;
const UPDATES_SKIPPED: &str = r#"cluster_publishes_skipped_total{kind="update"}"#;
const HELLOS_PUBLISHED: &str =
    r#"cluster_messages_total{direction="published",kind="state_vector"}"#;
const SHARED: &str = "cluster_boards_shared";
const LEASES: &str = "cluster_save_leases_held";
const SAVES: &str = r#"board_saves_total{result="ok"}"#;

backend_test!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    a_board_held_by_one_instance_publishes_nothing_per_edit_until_another_holds_it_too
);
async fn a_board_held_by_one_instance_publishes_nothing_per_edit_until_another_holds_it_too(
    redis: Redis,
    database: TestDatabase,
) {
    let redis = redis.url;
    let dir = tempfile::tempdir().expect("temp dir");
    let a = instance(&dir, &database, &redis).await;
    let (token, board) = a.user_and_board().await;

    // Alone: once its hello was counted, no edit goes to Redis.
    let mut on_a = connect(&a.sync_url(&board, &token)).await;
    metric_until(&a, HELLOS_PUBLISHED, |n| n >= 1.0).await;
    let before = a.metric(UPDATES_PUBLISHED).await;
    for n in 0..20 {
        set_key(&mut on_a, format!("alone-{n}")).await;
    }
    metric_until(&a, UPDATES_SKIPPED, |n| n >= 20.0).await;
    assert_eq!(a.metric(UPDATES_PUBLISHED).await, before, "published alone");
    assert_eq!(a.metric(SHARED).await, 0.0);

    // A second instance opens the board: it gets the edits, and edits flow
    // live both ways.
    let b = instance(&dir, &database, &redis).await;
    let mut on_b = connect(&b.sync_url(&board, &token)).await;
    on_b.wait_for(|client| keys_of(client).len() == 20).await;
    metric_until(&a, SHARED, |n| n == 1.0).await;
    metric_until(&b, SHARED, |n| n == 1.0).await;
    set_key(&mut on_a, "shared-a".to_owned()).await;
    set_key(&mut on_b, "shared-b".to_owned()).await;
    on_b.wait_for(|client| keys_of(client).contains("shared-a"))
        .await;
    on_a.wait_for(|client| keys_of(client).contains("shared-b"))
        .await;
    // Counted once Redis answered the publish, which may be after the other
    // instance heard it.
    metric_until(&a, UPDATES_PUBLISHED, |n| n > before).await;

    // The second instance lets go of the board (its last socket closed):
    // the first stops publishing again.
    on_b.close().await;
    metric_until(&a, SHARED, |n| n == 0.0).await;
    let published = a.metric(UPDATES_PUBLISHED).await;
    let skipped = a.metric(UPDATES_SKIPPED).await;
    for n in 0..10 {
        set_key(&mut on_a, format!("alone-again-{n}")).await;
    }
    metric_until(&a, UPDATES_SKIPPED, |n| n >= skipped + 10.0).await;
    assert_eq!(a.metric(UPDATES_PUBLISHED).await, published);
    drop(on_a);
}

backend_test!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    a_board_on_two_instances_is_saved_by_one_and_by_the_other_once_the_first_dies
);
async fn a_board_on_two_instances_is_saved_by_one_and_by_the_other_once_the_first_dies(
    redis: Redis,
    database: TestDatabase,
) {
    let redis = redis.url;
    let dir = tempfile::tempdir().expect("temp dir");
    let a = instance(&dir, &database, &redis).await;
    let b = instance(&dir, &database, &redis).await;
    let (token, board) = a.user_and_board().await;
    let mut on_a = connect(&a.sync_url(&board, &token)).await;
    let mut on_b = connect(&b.sync_url(&board, &token)).await;
    for server in [&a, &b] {
        metric_until(server, SHARED, |n| n == 1.0).await;
    }
    // One of them holds the lease, and the other knows it.
    let deadline = tokio::time::Instant::now() + CLUSTER_WAIT;
    while a.metric(LEASES).await + b.metric(LEASES).await != 1.0 {
        assert!(tokio::time::Instant::now() < deadline, "no lease taken");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let a_saves = a.metric(LEASES).await == 1.0;

    // Both edit, with saves due every 50 ms on both.
    for n in 0..10 {
        set_key(&mut on_a, format!("a-{n}")).await;
        set_key(&mut on_b, format!("b-{n}")).await;
    }
    on_a.wait_for(|client| keys_of(client).len() == 20).await;
    on_b.wait_for(|client| keys_of(client).len() == 20).await;
    let stored = stored_until(&database, &board, |keys| keys.len() == 20).await;
    assert_eq!(stored.len(), 20);
    let (saver, other) = if a_saves { (&a, &b) } else { (&b, &a) };
    // The non-saver had saves due and deferred them.
    metric_until(other, "board_saves_deferred_total", |n| n >= 1.0).await;
    assert!(saver.metric(SAVES).await >= 1.0);
    assert_eq!(
        other.metric(SAVES).await,
        0.0,
        "only the lease holder saves"
    );

    // The saver dies: the other saves what follows (once it finds itself
    // alone, or the lease expired).
    let (doomed, survivor, on_doomed, mut on_survivor) = if a_saves {
        (a, b, on_a, on_b)
    } else {
        (b, a, on_b, on_a)
    };
    drop(on_doomed);
    doomed.kill_9();
    set_key(&mut on_survivor, "after".to_owned()).await;
    stored_until(&database, &board, |keys| keys.contains("after")).await;
    assert!(survivor.metric(SAVES).await >= 1.0);
}

/// Waits until the stored snapshot's map keys satisfy `done`.
async fn stored_until(
    database: &TestDatabase,
    board: &str,
    done: impl Fn(&std::collections::BTreeSet<String>) -> bool,
) -> std::collections::BTreeSet<String> {
    let deadline = tokio::time::Instant::now() + CLUSTER_WAIT;
    loop {
        let keys = database
            .stored_state(board)
            .map(|state| yjs_map_entries(&state).into_keys().collect())
            .unwrap_or_default();
        if done(&keys) {
            return keys;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stored snapshot never got there: {keys:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

backend_test!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    the_save_lease_of_a_killed_instance_moves_to_one_of_the_others_once_it_expires
);
async fn the_save_lease_of_a_killed_instance_moves_to_one_of_the_others_once_it_expires(
    redis: Redis,
    database: TestDatabase,
) {
    let redis = redis.url;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut servers = Vec::new();
    for _ in 0..3 {
        servers.push(instance(&dir, &database, &redis).await);
    }
    let (token, board) = servers[0].user_and_board().await;
    let mut clients = Vec::new();
    for server in &servers {
        clients.push(connect(&server.sync_url(&board, &token)).await);
    }
    for server in &servers {
        metric_until(server, SHARED, |n| n == 1.0).await;
    }
    let deadline = tokio::time::Instant::now() + CLUSTER_WAIT;
    let holder = loop {
        let mut held = Vec::new();
        for server in &servers {
            held.push(server.metric(LEASES).await);
        }
        if held.iter().sum::<f64>() == 1.0 {
            break held.iter().position(|&n| n == 1.0).expect("a holder");
        }
        assert!(tokio::time::Instant::now() < deadline, "no lease taken");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    set_key(&mut clients[holder], "before".to_owned()).await;
    stored_until(&database, &board, |keys| keys.contains("before")).await;

    // The holder dies without giving its lease back; the other two still
    // share the board, so only the lease's expiry lets one of them save.
    // (Killed first: a socket closing there would let the board leave its
    // memory, and the lease would be given back at once.)
    servers.remove(holder).kill_9();
    drop(clients.remove(holder));
    for server in &servers {
        assert_eq!(server.metric(SAVES).await, 0.0, "not the saver so far");
    }
    set_key(&mut clients[0], "after".to_owned()).await;
    set_key(&mut clients[1], "after-too".to_owned()).await;
    let deadline = tokio::time::Instant::now() + CLUSTER_WAIT * 2;
    loop {
        let keys = database
            .stored_state(&board)
            .map(|state| yjs_map_entries(&state).into_keys().collect::<Vec<_>>())
            .unwrap_or_default();
        if keys.iter().any(|k| k == "after") && keys.iter().any(|k| k == "after-too") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no survivor saved: {keys:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut saves = Vec::new();
    for server in &servers {
        assert_eq!(server.metric(SHARED).await, 1.0, "still shared");
        saves.push(server.metric(SAVES).await);
    }
    assert_eq!(
        saves.iter().filter(|&&n| n > 0.0).count(),
        1,
        "one survivor took the lease and saves: {saves:?}"
    );
    drop(clients);
}

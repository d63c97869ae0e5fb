//! `kill -9` of one instance of two: what it accepted is in its journal, so a
//! new instance serves it, and the surviving instance's save merges and
//! removes the rows the dead one left.

use std::time::Duration;

use canvas_server::Config;

use super::{clustered, without_saves, Redis};
use crate::{
    harness::{backend_test, yjs_map_entries, yjs_update, Backend},
    server_process::{keys_of, set_key, Server, JWT_SECRET},
    sync_client::connect,
};

backend_test!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    a_killed_instance_loses_nothing_and_the_survivor_compacts_its_journal
);
async fn a_killed_instance_loses_nothing_and_the_survivor_compacts_its_journal(
    redis: Redis,
    backend: Backend,
) {
    // The binary's channel prefix is the default one.
    let survivor_config = Config {
        jwt_secret: Some(JWT_SECRET.to_owned()),
        ..without_saves(clustered(&redis.url, &Config::default().cluster_prefix))
    };
    let survivor = backend.spawn_with(survivor_config).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = survivor.database.url();
    let doomed = Server::start(dir.path(), &database_url, &[("REDIS_URL", &redis.url)]);
    doomed.wait_until_ready().await;

    let (ada, board) = survivor.user_with_board("ada").await;
    let mut on_doomed = connect(&doomed.sync_url(&board, &ada.token)).await;
    let mut on_survivor = survivor.connect(&board, &ada).await;
    for n in 0..100 {
        set_key(&mut on_doomed, format!("doomed-{n}")).await;
    }
    assert_eq!(
        doomed
            .post_update(&board, &ada.token, yjs_update("rest", "r"))
            .await,
        204
    );
    // Relayed to the other instance, which journals none of it (the
    // instance that received it does).
    on_survivor
        .wait_for(|client| keys_of(client).len() == 101)
        .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    doomed.kill_9();
    drop(on_doomed);

    // Nothing was saved: a new instance finds it all in the dead one's journal.
    let fresh = Server::start(dir.path(), &database_url, &[]);
    let served = fresh.keys(&board, &ada.token).await;
    assert_eq!(served.len(), 101, "served: {served:?}");

    // The survivor's save merges what the others stored and wrote, and
    // leaves no row behind.
    survivor
        .post_update(&board, &ada, yjs_update("survivor", "s"))
        .await
        .assert_status(204);
    drop(on_survivor);
    let mut survivor = survivor;
    survivor.shutdown().await;
    fresh.kill_9();
    assert_eq!(
        survivor
            .database
            .count("SELECT COUNT(*) AS n FROM board_journal WHERE NOT kept_aside"),
        0
    );
    let stored = survivor.database.stored_state(&board).expect("saved");
    assert_eq!(yjs_map_entries(&stored).len(), 102);
}

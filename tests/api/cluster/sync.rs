//! Edits and awareness between clients on different instances.

use std::time::Duration;

use serde_json::json;
use yrs::{Array, Map, Text, Transact, WriteTxn};

use super::{
    a_board_on_both, map_has, two_instances, two_instances_one_cuttable, wait_until_ready,
    without_saves, Redis,
};
use canvas_server::protocol::message;

use crate::{
    harness::{backend_test, yjs_update, Backend},
    sync_client::{content_of, WAIT},
};

backend_test!(clients_on_different_instances_converge_and_see_each_others_awareness);
async fn clients_on_different_instances_converge_and_see_each_others_awareness(
    redis: Redis,
    backend: Backend,
) {
    let (a, b) = two_instances(backend, &redis, |c| c).await;
    let (ada, board, mut on_a, mut on_b) = a_board_on_both(&a, &b).await;

    on_a.edit(|txn| {
        txn.get_or_insert_map("map").insert(txn, "shape", "circle");
        txn.get_or_insert_text("text").insert(txn, 0, "hello");
    })
    .await;
    on_b.edit(|txn| {
        txn.get_or_insert_map("map").insert(txn, "color", "red");
        txn.get_or_insert_array("array").push_back(txn, "one");
    })
    .await;
    on_b.wait_for(|c| content_of(&c.state())["text"] == "hello")
        .await;
    on_b.edit(|txn| {
        txn.get_or_insert_text("text").insert(txn, 5, " world");
    })
    .await;
    on_a.wait_for(|c| content_of(&c.state())["text"] == "hello world" && map_has(c, "color"))
        .await;
    on_b.wait_for(|c| map_has(c, "shape")).await;
    let expected = json!({
        "map": { "shape": "circle", "color": "red" },
        "text": "hello world",
        "array": ["one"],
    });
    assert_eq!(content_of(&on_a.state()), expected);
    assert_eq!(content_of(&on_b.state()), expected);

    // Awareness crosses too, is kept for late joiners on the other instance,
    // and its removal follows a closing socket.
    let a_id = on_a.client_id();
    on_a.set_awareness(1, r#"{"cursor":{"x":1}}"#).await;
    on_b.wait_for(|c| c.awareness.get(&a_id).is_some_and(|s| s.contains("cursor")))
        .await;
    let mut late_on_b = b.connect(&board, &ada).await;
    late_on_b
        .wait_for(|c| c.awareness.get(&a_id).is_some_and(|s| s.contains("cursor")))
        .await;
    on_a.close().await;
    on_b.wait_for(|c| c.awareness.get(&a_id).is_some_and(|s| s == "null"))
        .await;
    late_on_b
        .wait_for(|c| c.awareness.get(&a_id).is_some_and(|s| s == "null"))
        .await;
}

backend_test!(a_late_joiner_on_the_second_instance_gets_edits_made_only_through_the_first);
async fn a_late_joiner_on_the_second_instance_gets_edits_made_only_through_the_first(
    redis: Redis,
    backend: Backend,
) {
    let (a, b) = two_instances(backend, &redis, without_saves).await;
    let (ada, board) = a.user_with_board("ada").await;
    let mut first = a.connect(&board, &ada).await;
    for i in 0..20 {
        first
            .edit(|txn| {
                txn.get_or_insert_array("array").push_back(txn, i);
            })
            .await;
    }
    a.post_update(&board, &ada, yjs_update("from_rest", "yes"))
        .await
        .assert_status(204);
    first.set_awareness(1, r#"{"name":"ada"}"#).await;
    assert_eq!(
        a.count("SELECT COUNT(*) AS n FROM board_states"),
        0,
        "nothing saved yet: the state must come through Redis"
    );

    // The board is not open on b: it loads the (empty) stored state, and the
    // first instance answers its summary with the rest, and its cursors.
    let mut second = b.connect(&board, &ada).await;
    let first_id = first.client_id();
    second
        .wait_for(|c| {
            c.awareness
                .get(&first_id)
                .is_some_and(|s| s.contains("ada"))
        })
        .await;
    second
        .wait_for(|c| content_of(&c.state())["array"].as_array().map(Vec::len) == Some(20))
        .await;
    let m = second.doc.get_or_insert_map("m");
    second
        .wait_for(|c| m.get(&c.doc.transact(), "from_rest").is_some())
        .await;
    assert_eq!(content_of(&second.state()), content_of(&first.state()));
}

backend_test!(lost_messages_are_recovered_by_anti_entropy_once_redis_is_back);
async fn lost_messages_are_recovered_by_anti_entropy_once_redis_is_back(
    redis: Redis,
    backend: Backend,
) {
    let (a, b, proxy) = two_instances_one_cuttable(backend, &redis, without_saves).await;

    let (_, _, mut on_a, mut on_b) = a_board_on_both(&a, &b).await;
    on_a.edit(|txn| {
        txn.get_or_insert_text("text").insert(txn, 0, "hello world");
    })
    .await;
    on_b.wait_for(|c| content_of(&c.state())["text"] == "hello world")
        .await;

    // Redis is gone for b: its edits and a's are published into the void.
    proxy.cut();
    wait_until_ready(&b, 503).await;
    on_a.edit(|txn| {
        txn.get_or_insert_map("map").insert(txn, "during_a", 1);
    })
    .await;
    // Only a deletion on b: it does not move b's state vector, so only the
    // delete-set digest tells a that it lacks something.
    on_b.edit(|txn| {
        txn.get_or_insert_text("text").remove_range(txn, 5, 6);
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        content_of(&on_a.state())["text"],
        "hello world",
        "nothing passes while cut"
    );

    proxy.restore();
    wait_until_ready(&b, 200).await;
    on_a.wait_for(|c| content_of(&c.state())["text"] == "hello")
        .await;
    on_b.wait_for(|c| map_has(c, "during_a")).await;
    // And edits flow live again.
    on_b.edit(|txn| {
        txn.get_or_insert_map("map").insert(txn, "after_b", 2);
    })
    .await;
    on_a.wait_for(|c| map_has(c, "after_b")).await;
    assert_eq!(content_of(&on_a.state()), content_of(&on_b.state()));
    let metrics = a.get("/metrics", None).await.text();
    assert!(
        metrics.contains("cluster_reconnects_total"),
        "reconnects are counted"
    );
    assert!(
        metrics.contains("cluster_messages_dropped_total"),
        "dropped messages are counted"
    );
}

backend_test!(saves_while_redis_is_down_merge_both_instances_edits_instead_of_overwriting);
async fn saves_while_redis_is_down_merge_both_instances_edits_instead_of_overwriting(
    redis: Redis,
    backend: Backend,
) {
    // Saves on (50 ms debounce): both instances write the board while cut off.
    let (a, b, proxy) = two_instances_one_cuttable(backend, &redis, |c| c).await;

    let (_, board, mut on_a, mut on_b) = a_board_on_both(&a, &b).await;

    proxy.cut();
    wait_until_ready(&b, 503).await;
    on_a.edit(|txn| {
        txn.get_or_insert_map("map").insert(txn, "from_a", 1);
    })
    .await;
    on_b.edit(|txn| {
        txn.get_or_insert_map("map").insert(txn, "from_b", 2);
    })
    .await;

    // Each instance saves a document holding only its own edit; whichever
    // saves second finds the other's snapshot stored and merges it.
    let deadline = tokio::time::Instant::now() + WAIT;
    let stored = loop {
        let stored = b
            .database
            .stored_state(&board)
            .map(|state| content_of(&state));
        if let Some(content) = &stored {
            if content["map"].get("from_a").is_some() && content["map"].get("from_b").is_some() {
                break content.clone();
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stored state never held both edits: {stored:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(stored["map"]["from_a"], 1);
    assert_eq!(stored["map"]["from_b"], 2);
    assert!(
        map_has(&on_a, "from_a") && map_has(&on_b, "from_b"),
        "each side still has its own edit"
    );

    // Back online, the live copies agree as well.
    proxy.restore();
    on_a.wait_for(|c| map_has(c, "from_b")).await;
    on_b.wait_for(|c| map_has(c, "from_a")).await;
    assert_eq!(content_of(&on_a.state()), content_of(&on_b.state()));
}

backend_test!(twenty_clients_split_across_two_instances_converge_on_identical_state);
async fn twenty_clients_split_across_two_instances_converge_on_identical_state(
    redis: Redis,
    backend: Backend,
) {
    let (a, b) = two_instances(backend, &redis, |c| c).await;
    let (ada, board) = a.user_with_board("ada").await;
    let mut clients = Vec::new();
    for i in 0..20 {
        let app = if i % 2 == 0 { &a } else { &b };
        clients.push(app.connect(&board, &ada).await);
    }
    const ROUNDS: usize = 3;
    for round in 0..ROUNDS {
        // Everyone edits at once: a map key, text at the front, an array item.
        futures_util::future::join_all(clients.iter_mut().enumerate().map(|(i, client)| {
            client.edit(move |txn| {
                txn.get_or_insert_map("map")
                    .insert(txn, format!("r{round}c{i}"), i as i64);
                txn.get_or_insert_text("text")
                    .insert(txn, 0, &format!("<{round}.{i}>"));
                txn.get_or_insert_array("array")
                    .push_back(txn, format!("{round}.{i}"));
            })
        }))
        .await;
        let keys = 20 * (round + 1);
        for client in &mut clients {
            client
                .wait_for(|c| {
                    let content = content_of(&c.state());
                    content["map"].as_object().map(|m| m.len()) == Some(keys)
                        && content["array"].as_array().map(Vec::len) == Some(keys)
                })
                .await;
        }
        let first = content_of(&clients[0].state());
        for (i, client) in clients.iter().enumerate() {
            assert_eq!(
                content_of(&client.state()),
                first,
                "client {i}, round {round}"
            );
        }
    }
    // Both servers hold the same document as the clients.
    let expected = content_of(&clients[0].state());
    for app in [&a, &b] {
        let state = app.board_state(&board, &ada).await;
        state.assert_status(200);
        assert_eq!(content_of(&state.bytes), expected);
    }
}

backend_test!(converged_instances_exchange_only_their_periodic_summaries);
async fn converged_instances_exchange_only_their_periodic_summaries(
    redis: Redis,
    backend: Backend,
) {
    let (a, b) = two_instances(backend, &redis, |c| c).await;
    let (_, board, mut on_a, mut on_b) = a_board_on_both(&a, &b).await;
    on_a.edit(|txn| {
        txn.get_or_insert_text("text").insert(txn, 0, "hello world");
    })
    .await;
    on_b.wait_for(|c| content_of(&c.state())["text"] == "hello world")
        .await;
    on_b.edit(|txn| {
        txn.get_or_insert_text("text").remove_range(txn, 0, 6);
    })
    .await;
    on_a.wait_for(|c| content_of(&c.state())["text"] == "world")
        .await;

    // A summary that crossed the last edit may still be answered: let one
    // period pass, then listen on the board's channel for five periods.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let client = redis::Client::open(redis.url.as_str()).expect("client");
    let mut pubsub = client.get_async_pubsub().await.expect("pubsub");
    let prefix = a.config().cluster_prefix.clone();
    pubsub
        .subscribe(format!("{prefix}:board:{board}"))
        .await
        .expect("subscribe");
    let mut kinds = Vec::new();
    let mut messages = pubsub.on_message();
    let listen = tokio::time::sleep(Duration::from_secs(1));
    tokio::pin!(listen);
    loop {
        tokio::select! {
            () = &mut listen => break,
            Some(message) = futures_util::StreamExt::next(&mut messages) => {
                let payload = message.get_payload_bytes();
                // Envelope: version, 16-byte sender, kind, then for summaries the flags.
                kinds.push((payload.get(17).copied(), payload.get(18).copied()));
            }
        }
    }
    // Kind 3 is a summary; flags 0 (no reply asked, no hello).
    assert!(
        kinds.iter().all(|&kind| kind == (Some(3), Some(0))),
        "only periodic summaries once converged: {kinds:?}"
    );
    assert!(
        (4..=14).contains(&kinds.len()),
        "two instances, one summary each per 200 ms: {}",
        kinds.len()
    );
}

backend_test!(a_socket_on_another_instance_can_neither_overwrite_nor_remove_a_clients_awareness);
async fn a_socket_on_another_instance_can_neither_overwrite_nor_remove_a_clients_awareness(
    redis: Redis,
    backend: Backend,
) {
    let (a, b) = two_instances(backend, &redis, |c| c).await;
    let (ada, board, mut on_a, mut on_b) = a_board_on_both(&a, &b).await;
    let mut watcher_on_a = a.connect(&board, &ada).await;
    let a_id = on_a.client_id();
    on_a.set_awareness(1, r#"{"name":"ada"}"#).await;
    on_b.wait_for(|c| c.awareness.get(&a_id).is_some_and(|s| s.contains("ada")))
        .await;

    // Newer clocks for a client owned on the other instance, then the
    // spoofer's own state, which arrives everywhere after anything before it.
    let mut spoofer = b.connect(&board, &ada).await;
    let spoofs = [(a_id, 9, r#"{"name":"mallory"}"#), (a_id, 10, "null")];
    for spoof in spoofs {
        let payload = message::encode_awareness_payload([spoof].into_iter());
        spoofer.send_raw(message::encode_awareness(&payload)).await;
    }
    let spoofer_id = spoofer.client_id();
    spoofer.set_awareness(1, r#"{"name":"spoofer"}"#).await;
    for watcher in [&mut on_b, &mut watcher_on_a] {
        watcher
            .wait_for(|c| c.awareness.contains_key(&spoofer_id))
            .await;
        assert_eq!(watcher.awareness[&a_id], r#"{"name":"ada"}"#);
    }

    // The owner's removal, relayed from its instance, still applies.
    on_a.close().await;
    on_b.wait_for(|c| c.awareness.get(&a_id).is_some_and(|s| s == "null"))
        .await;
}

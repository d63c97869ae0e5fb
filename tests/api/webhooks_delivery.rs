//! Webhook delivery: retries that keep the event's id, giving up, several
//! receivers, two instances sharing the outbox, claims and their expiry, and
//! a receiver that never answers, which must not slow REST or sync.

use std::{collections::HashMap, time::Duration};

use serde_json::json;
use tokio::net::TcpListener;

use crate::{
    harness::{backend_test, test_config, yjs_update, Backend, TestDatabase},
    server_process::set_key,
    webhook_receiver::{webhook_config, webhook_settings, Answer, Receiver},
    webhooks::{assert_contract_shape, wait_for_empty_outbox, WAIT},
};

backend_test!(a_receiver_answering_500_three_times_then_200_gets_the_event_with_one_id);
async fn a_receiver_answering_500_three_times_then_200_gets_the_event_with_one_id(
    backend: Backend,
) {
    let receiver = Receiver::scripted(vec![Answer::Status(500); 3]).await;
    let app = backend.spawn_with(webhook_config(&receiver.url)).await;
    let (_, board) = app.user_with_board("retried").await;
    let received = receiver
        .wait_for("four attempts", WAIT, |received| received.len() >= 4)
        .await;
    for attempt in &received[..4] {
        assert_contract_shape(attempt, "board.created", &board);
        assert_eq!(attempt.id, received[0].id, "every retry has the event's id");
        assert_eq!(attempt.body, received[0].body, "and the same body");
    }
    // The fourth was answered 200: the delivery is done and removed.
    wait_for_empty_outbox(&app).await;
    assert_eq!(receiver.received().len(), 4, "nothing sent after the 200");
    let metrics = app.get("/metrics", None).await.text();
    assert!(
        metrics.contains("webhook_delivery_failures_total{reason=\"status\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("webhook_deliveries_total"), "{metrics}");
    assert!(
        metrics.contains("webhook_delivery_latency_seconds_bucket"),
        "{metrics}"
    );
}

backend_test!(a_receiver_answering_too_late_once_receives_the_same_webhook_id_twice);
async fn a_receiver_answering_too_late_once_receives_the_same_webhook_id_twice(backend: Backend) {
    let receiver = Receiver::scripted(vec![Answer::Late(Duration::from_secs(2))]).await;
    let mut config = webhook_config(&receiver.url);
    if let Some(webhooks) = &mut config.webhooks {
        webhooks.attempt_timeout = Duration::from_millis(300);
    }
    let app = backend.spawn_with(config).await;
    let (_, board) = app.user_with_board("late").await;
    let received = receiver
        .wait_for("a retry after the timeout", WAIT, |received| {
            received.len() >= 2
        })
        .await;
    assert_eq!(
        received[0].id, received[1].id,
        "duplicates share the webhook-id"
    );
    assert_eq!(received[0].body, received[1].body);
    for attempt in &received[..2] {
        assert_contract_shape(attempt, "board.created", &board);
    }
    wait_for_empty_outbox(&app).await;
}

backend_test!(a_delivery_failing_past_its_last_retry_is_given_up_and_removed);
async fn a_delivery_failing_past_its_last_retry_is_given_up_and_removed(backend: Backend) {
    let receiver = Receiver::start().await;
    receiver.answer_otherwise(Some(Answer::Status(503)));
    let mut settings = webhook_settings(&[&receiver.url]);
    settings.retry_delays = vec![Duration::from_millis(20); 2];
    let config = canvas_server::Config {
        webhooks: Some(settings),
        ..test_config()
    };
    let app = backend.spawn_with(config).await;
    let owner = app.register("unlucky").await;
    app.create_board(&owner, "Plan").await;
    wait_for_empty_outbox(&app).await;
    // The first attempt and one after each delay, all refused.
    assert_eq!(receiver.received().len(), 3);
    let metrics = app.get("/metrics", None).await.text();
    assert!(
        metrics.contains("webhook_deliveries_given_up_total"),
        "{metrics}"
    );
}

backend_test!(each_receiver_gets_every_event_and_a_failing_one_does_not_hold_up_the_other);
async fn each_receiver_gets_every_event_and_a_failing_one_does_not_hold_up_the_other(
    backend: Backend,
) {
    let healthy = Receiver::start().await;
    let failing = Receiver::start().await;
    failing.answer_otherwise(Some(Answer::Status(500)));
    let config = canvas_server::Config {
        webhooks: Some(webhook_settings(&[&healthy.url, &failing.url])),
        ..test_config()
    };
    let app = backend.spawn_with(config).await;
    let (_, board) = app.user_with_board("two").await;
    let delivered = healthy.event("board.created").await;
    assert_contract_shape(&delivered, "board.created", &board);
    let retried = failing
        .wait_for("retries", WAIT, |received| received.len() >= 2)
        .await;
    assert_eq!(
        retried[0].id, delivered.id,
        "one event, the same id for both"
    );
    // The healthy receiver's delivery is done; the failing one's waits.
    app.wait_for_count(
        &format!(
            "SELECT COUNT(*) AS n FROM webhook_deliveries WHERE url = '{}'",
            healthy.url
        ),
        0,
    )
    .await;
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM webhook_events"), 1);
}

backend_test!(two_instances_sharing_the_database_send_each_delivery_once);
async fn two_instances_sharing_the_database_send_each_delivery_once(backend: Backend) {
    let receiver = Receiver::start().await;
    let first = backend.spawn_with(webhook_config(&receiver.url)).await;
    let second = first.spawn_sibling(webhook_config(&receiver.url)).await;
    let (owner, board) = first.user_with_board("shared").await;
    for n in 0..30 {
        let app = if n % 2 == 0 { &first } else { &second };
        app.patch(
            &format!("/api/v1/boards/{board}"),
            Some(&owner.token),
            json!({ "name": format!("Name {n}") }),
        )
        .await
        .assert_status(200);
    }
    // board.created and 30 renames.
    receiver
        .wait_for("31 events", WAIT, |received| {
            received
                .iter()
                .map(|r| r.id.clone())
                .collect::<std::collections::HashSet<_>>()
                .len()
                == 31
        })
        .await;
    wait_for_empty_outbox(&first).await;
    let mut sent: HashMap<String, usize> = HashMap::new();
    for request in receiver.received() {
        request.assert_signed();
        *sent.entry(request.id).or_default() += 1;
    }
    assert!(
        sent.values().all(|&n| n == 1),
        "a delivery was sent twice: {sent:?}"
    );
}

/// A receiver that accepts connections and never answers.
async fn black_hole() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    url
}

backend_test!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    a_receiver_that_never_answers_does_not_slow_rest_or_sync
);
async fn a_receiver_that_never_answers_does_not_slow_rest_or_sync(backend: Backend) {
    let url = black_hole().await;
    // The contract's 10 s: every attempt of this test hangs until it ends.
    let app = backend.spawn_with(webhook_config(&url)).await;
    let (owner, board) = app.user_with_board("busy").await;
    // Far more events than deliveries may be in flight.
    for n in 0..100 {
        app.patch(
            &format!("/api/v1/boards/{board}"),
            Some(&owner.token),
            json!({ "name": format!("Name {n}") }),
        )
        .await
        .assert_status(200);
    }
    // REST and sync work as usual meanwhile.
    let mut writer = app.connect(&board, &owner).await;
    let mut reader = app.connect(&board, &owner).await;
    for n in 0..20 {
        set_key(&mut writer, format!("key-{n}")).await;
        app.get(&format!("/api/v1/boards/{board}"), Some(&owner.token))
            .await
            .assert_status(200);
        app.get("/api/v1/boards", Some(&owner.token))
            .await
            .assert_status(200);
    }
    reader
        .wait_for(|client| crate::server_process::keys_of(client).len() == 20)
        .await;
    app.post_update(&board, &owner, yjs_update("rest", "v"))
        .await
        .assert_status(204);
    app.get("/readyz", None).await.assert_status(200);
    // All of that happened while no delivery could complete.
    assert!(
        app.count("SELECT COUNT(*) AS n FROM webhook_deliveries") >= 101,
        "the deliveries are all still pending"
    );
}

backend_test!(a_claimed_delivery_is_claimed_again_only_once_its_claim_has_expired);
async fn a_claimed_delivery_is_claimed_again_only_once_its_claim_has_expired(
    database: TestDatabase,
) {
    use canvas_server::db::{outbox::Outbox, DeliveryResult};
    // No worker: this test is the only claimer.
    let db = database.open().await.with_outbox(Outbox::new(
        vec!["http://127.0.0.1:9/hook".to_owned()],
        Duration::from_secs(10),
    ));
    let user = db
        .create_user("claims@example.com".into(), "Claims".into(), "x".into())
        .await
        .expect("user");
    db.create_board(user.id, "Plan".into())
        .await
        .expect("board");
    let claim_for = Duration::from_millis(300);
    let claimed = db.claim_deliveries(10, claim_for).await.expect("claim");
    assert_eq!(claimed.len(), 1, "board.created, to the one receiver");
    assert!(claimed[0].body.contains("board.created"));
    assert_eq!(claimed[0].attempts, 0);
    // Held: another claimer (another instance) gets nothing...
    assert!(db
        .claim_deliveries(10, claim_for)
        .await
        .expect("claim")
        .is_empty());
    // ...until the claim expires, as when its instance crashed.
    let deadline = tokio::time::Instant::now() + WAIT;
    let again = loop {
        let again = db.claim_deliveries(10, claim_for).await.expect("claim");
        if !again.is_empty() {
            break again;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the claim never expired"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(again[0].key, claimed[0].key);
    // A failed attempt is rescheduled with its count, and its claim released.
    db.finish_deliveries(vec![(
        again[0].key.clone(),
        DeliveryResult::Retry {
            error: "answered HTTP 503".into(),
            retry_in: Duration::ZERO,
        },
    )])
    .await
    .expect("recorded");
    let retried = db.claim_deliveries(10, claim_for).await.expect("claim");
    assert_eq!(retried.len(), 1);
    assert_eq!(retried[0].attempts, 1);
    db.finish_deliveries(vec![(retried[0].key.clone(), DeliveryResult::Delivered)])
        .await
        .expect("recorded");
    assert_eq!(
        database.count("SELECT COUNT(*) AS n FROM webhook_deliveries"),
        0
    );
    assert_eq!(
        database.count("SELECT COUNT(*) AS n FROM webhook_events"),
        0
    );
    db.close();
}

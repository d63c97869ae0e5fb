//! Hostile input on the sync socket and the REST update route: payloads known
//! to make yrs allocate hundreds of megabytes, random bytes, and malformed
//! awareness must each close only their own socket, while a client on another
//! board keeps getting answers and the process's memory stays bounded.

use std::time::Duration;

use yrs::{Map, WriteTxn};

use crate::{
    harness::TestApp,
    hostile_input::{hostile_frames, Noise, HAZARD},
    sync_client::{connect, content_of, round_trip, Ended},
};

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmHWM:"))
                .and_then(|line| line.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_frames_close_only_their_socket_and_other_boards_keep_answering() {
    let app = TestApp::spawn().await;
    let ada = app.register("ada").await;
    let target = app.create_board(&ada, "Target").await;
    let calm = app.create_board(&ada, "Calm").await;
    let mut writer = app.connect(&calm, &ada).await;
    let mut watcher = app.connect(&calm, &ada).await;
    let peak_before = peak_rss_kib();

    let url = app.sync_url(&target, &ada.token);
    let attack = tokio::spawn(async move {
        let mut closes = Vec::new();
        for frame in hostile_frames(100) {
            let mut attacker = connect(&url).await;
            attacker.send_raw(frame).await;
            closes.push(attacker.ended().await);
        }
        closes
    });

    // Meanwhile, round trips on the calm board: an edit must reach the watcher.
    let mut worst = Duration::ZERO;
    let mut round_trips = 0;
    while !attack.is_finished() {
        let elapsed = round_trip(&mut writer, &mut watcher, &format!("k{round_trips}")).await;
        worst = worst.max(elapsed);
        round_trips += 1;
    }
    let closes = attack.await.expect("attack task");
    let peak_growth_mib = peak_rss_kib().saturating_sub(peak_before) / 1024;
    eprintln!(
        "hostile: 100 frames, {round_trips} round trips on another board meanwhile, \
         worst round trip {worst:?}, peak RSS growth {peak_growth_mib} MiB"
    );

    assert!(
        closes.iter().all(|end| *end == Ended::Closed(1007)),
        "every hostile frame closes its socket with 1007: {closes:?}"
    );
    assert!(round_trips > 0, "the calm board answered during the attack");
    // One unguarded decode of the hazard alone peaks at ~500 MiB.
    assert!(
        peak_growth_mib < 200,
        "peak memory grew by {peak_growth_mib} MiB"
    );
    // The attacked board still serves.
    let mut a = app.connect(&target, &ada).await;
    let mut b = app.connect(&target, &ada).await;
    a.edit(|txn| {
        txn.get_or_insert_map("map").insert(txn, "alive", true);
    })
    .await;
    b.wait_for(|c| content_of(&c.state())["map"]["alive"] == true)
        .await;
}

#[tokio::test]
async fn hostile_rest_update_bodies_are_refused_with_400() {
    let app = TestApp::spawn().await;
    let (ada, board) = app.user_with_board("ada").await;
    let path = format!("/api/v1/boards/{board}/updates");
    let mut noise = Noise(7);
    let mut bodies = vec![HAZARD.to_vec(), vec![], vec![0xff; 3]];
    bodies.extend((0..20).map(|i| noise.bytes(1 + i * 3)));
    for body in bodies {
        let response = app.post_bytes(&path, Some(&ada.token), body.clone()).await;
        if response.status.as_u16() != 204 {
            response.assert_error(400, "bad_request");
        }
    }
    // Nothing garbage was stored, and the board still takes real edits.
    let state = app.board_state(&board, &ada).await;
    state.assert_status(200);
    content_of(&state.bytes);
    assert!(matches!(
        app.post_bytes(&path, Some(&ada.token), vec![0, 0])
            .await
            .status
            .as_u16(),
        204
    ));
}

#[tokio::test]
async fn a_socket_nesting_types_past_the_limit_is_closed_with_1007_and_the_board_keeps_serving() {
    let app = TestApp::spawn().await;
    let (ada, board) = app.user_with_board("ada").await;
    let mut attacker = app.connect(&board, &ada).await;
    // Deleting this chain would make yrs recurse 20,000 levels and overflow
    // the stack; the server refuses to take it in at all.
    attacker
        .edit(|txn| {
            let mut map = txn.get_or_insert_map("deep");
            for _ in 0..20_000 {
                map = map.insert(txn, "inner", yrs::MapPrelim::default());
            }
        })
        .await;
    assert_eq!(attacker.ended().await, Ended::Closed(1007));
    let mut a = app.connect(&board, &ada).await;
    let mut b = app.connect(&board, &ada).await;
    round_trip(&mut a, &mut b, "alive").await;
    let state = app.board_state(&board, &ada).await;
    state.assert_status(200);
    use yrs::{updates::decoder::Decode, ReadTxn, Transact};
    let doc = yrs::Doc::new();
    doc.transact_mut()
        .apply_update(yrs::Update::decode_v1(&state.bytes).expect("decodes"))
        .expect("applies");
    assert!(
        doc.transact().get_map("deep").is_none(),
        "nothing of the refused update was kept"
    );
}

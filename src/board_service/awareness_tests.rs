use super::*;
use crate::protocol::guard::parse_awareness_update;

fn entry(client_id: u64, clock: u64, state_json: &str) -> AwarenessEntry<'_> {
    AwarenessEntry {
        client_id,
        clock,
        state_json,
    }
}

fn entries_of(payload: &[u8]) -> Vec<AwarenessEntry<'_>> {
    parse_awareness_update(payload).expect("parses")
}

fn present(table: &AwarenessTable, now: Instant) -> Vec<(u64, u64, String)> {
    let Some(snapshot) = table.snapshot(now) else {
        return Vec::new();
    };
    let mut states: Vec<_> = entries_of(&snapshot)
        .into_iter()
        .map(|e| (e.client_id, e.clock, e.state_json.to_owned()))
        .collect();
    states.sort();
    states
}

const ADA: Uuid = Uuid::from_u128(1);
const BOB: Uuid = Uuid::from_u128(2);

#[test]
fn newer_clocks_win_and_older_ones_are_ignored() {
    let (mut table, now) = (AwarenessTable::default(), Instant::now());
    let sent = [entry(10, 2, r#"{"x":2}"#)];
    assert_eq!(table.apply(1, ADA, &sent, now), Ok(Accepted::All));
    let stale = [entry(10, 1, r#"{"x":1}"#)];
    assert_eq!(table.apply(1, ADA, &stale, now), Ok(Accepted::Nothing));
    assert_eq!(present(&table, now), vec![(10, 2, r#"{"x":2}"#.into())]);
}

#[test]
fn a_closing_peer_yields_a_removal_with_a_higher_clock() {
    let (mut table, now) = (AwarenessTable::default(), Instant::now());
    table.apply(1, ADA, &[entry(10, 5, "{}")], now).expect("1");
    table.apply(2, BOB, &[entry(20, 1, "{}")], now).expect("2");
    let removal = table.remove_peer(1, now).expect("peer 1 had a state");
    assert_eq!(entries_of(&removal), vec![entry(10, 6, "null")]);
    assert_eq!(table.len(), 1);
    assert!(table.remove_peer(1, now).is_none());
}

#[test]
fn one_socket_cannot_speak_for_unbounded_clients() {
    let (mut table, now) = (AwarenessTable::default(), Instant::now());
    let many: Vec<_> = (0..=MAX_CLIENTS_PER_PEER as u64)
        .map(|id| entry(id, 1, "{}"))
        .collect();
    assert_eq!(
        table.apply(1, ADA, &many, now),
        Err(AwarenessError::TooManyClients)
    );
    assert!(table.is_empty());
}

#[test]
fn a_second_socket_can_neither_overwrite_nor_remove_the_first_ones_state() {
    let (mut table, now) = (AwarenessTable::default(), Instant::now());
    table
        .apply(1, ADA, &[entry(10, 1, r#"{"name":"ada"}"#)], now)
        .expect("owner");
    let spoof = [entry(10, 9, r#"{"name":"mallory"}"#)];
    assert_eq!(table.apply(2, BOB, &spoof, now), Ok(Accepted::Nothing));
    let erase = [entry(10, 10, "null")];
    assert_eq!(table.apply(2, BOB, &erase, now), Ok(Accepted::Nothing));
    assert_eq!(
        present(&table, now),
        vec![(10, 1, r#"{"name":"ada"}"#.into())]
    );
    // The owner goes on as before, and its leaving removes it.
    let moved = [entry(10, 2, r#"{"name":"ada","x":1}"#)];
    assert_eq!(table.apply(1, ADA, &moved, now), Ok(Accepted::All));
    assert_eq!(table.remove_peer(2, now), None);
    assert!(table.remove_peer(1, now).is_some());
    assert!(table.is_empty());
}

#[test]
fn foreign_entries_are_dropped_from_what_is_passed_on() {
    let (mut table, now) = (AwarenessTable::default(), Instant::now());
    table.apply(1, ADA, &[entry(10, 1, "{}")], now).expect("1");
    let mixed = [entry(20, 1, r#"{"own":1}"#), entry(10, 5, "null")];
    let Ok(Accepted::Some(passed_on)) = table.apply(2, BOB, &mixed, now) else {
        panic!("only the socket's own entry is accepted");
    };
    assert_eq!(entries_of(&passed_on), vec![entry(20, 1, r#"{"own":1}"#)]);
}

#[test]
fn removals_of_ids_nobody_announced_are_neither_stored_nor_tolerated() {
    let (mut table, now) = (AwarenessTable::default(), Instant::now());
    let flood: Vec<_> = (1_000..1_000 + u64::from(MAX_FOREIGN_ENTRIES))
        .map(|id| entry(id, 1, "null"))
        .collect();
    assert_eq!(table.apply(1, BOB, &flood, now), Ok(Accepted::Nothing));
    assert!(table.clients.is_empty() && table.tombstones.is_empty());
    assert_eq!(
        table.apply(1, BOB, &[entry(5, 1, "null")], now),
        Err(AwarenessError::ForeignClients)
    );
}

#[test]
fn a_socket_that_keeps_changing_another_users_state_is_refused() {
    let (mut table, now) = (AwarenessTable::default(), Instant::now());
    table.apply(1, ADA, &[entry(10, 1, "{}")], now).expect("1");
    for clock in 2..2 + u64::from(MAX_FOREIGN_ENTRIES) {
        let spoof = [entry(10, clock, r#"{"fake":1}"#)];
        assert_eq!(table.apply(2, BOB, &spoof, now), Ok(Accepted::Nothing));
    }
    let spoof = [entry(10, 1_000, r#"{"fake":1}"#)];
    assert_eq!(
        table.apply(2, BOB, &spoof, now),
        Err(AwarenessError::ForeignClients)
    );
    // A new window starts the count afresh.
    let later = now + TOMBSTONE_LIFETIME;
    assert_eq!(table.apply(2, BOB, &spoof, later), Ok(Accepted::Nothing));
}

#[test]
fn echoes_of_states_the_server_sent_never_count_against_a_socket() {
    let (mut table, now) = (AwarenessTable::default(), Instant::now());
    table.apply(1, ADA, &[entry(10, 3, "{}")], now).expect("1");
    let removal = table.remove_peer(1, now).expect("had a state");
    table.apply(3, ADA, &[entry(30, 1, "{}")], now).expect("3");
    // A stock client sends back what it received: states at their clock,
    // removals at theirs, and timed-out states as removals at equal clocks.
    let echoes = [entry(10, 3, "{}"), entries_of(&removal)[0].clone()];
    let timeout = [entry(30, 1, "null")];
    for _ in 0..10 * MAX_FOREIGN_ENTRIES {
        assert_eq!(table.apply(2, BOB, &echoes, now), Ok(Accepted::Nothing));
        assert_eq!(table.apply(2, BOB, &timeout, now), Ok(Accepted::Nothing));
    }
    assert_eq!(present(&table, now), vec![(30, 1, "{}".into())]);
}

#[test]
fn another_tab_of_the_same_user_echoing_its_states_is_not_refused() {
    let (mut table, now) = (AwarenessTable::default(), Instant::now());
    table.apply(1, ADA, &[entry(10, 1, "{}")], now).expect("1");
    for clock in 2..10 * u64::from(MAX_FOREIGN_ENTRIES) {
        let echo = [entry(10, clock, "{}")];
        assert_eq!(table.apply(2, ADA, &echo, now), Ok(Accepted::Nothing));
    }
    assert_eq!(present(&table, now), vec![(10, 1, "{}".into())]);
}

#[test]
fn a_departed_sockets_ids_ignore_stale_copies_and_go_to_the_next_newer_announcement() {
    let (mut table, now) = (AwarenessTable::default(), Instant::now());
    table.apply(1, ADA, &[entry(10, 4, "{}")], now).expect("1");
    table.remove_peer(1, now).expect("had a state");
    // A copy of the old state still in flight from another socket.
    let late_copy = [entry(10, 4, "{}")];
    assert_eq!(table.apply(2, BOB, &late_copy, now), Ok(Accepted::Nothing));
    // The client, reconnected, announces itself with a newer clock.
    let back = [entry(10, 6, r#"{"back":true}"#)];
    assert_eq!(table.apply(3, ADA, &back, now), Ok(Accepted::All));
    let spoof = [entry(10, 7, "{}")];
    assert_eq!(table.apply(2, BOB, &spoof, now), Ok(Accepted::Nothing));
    assert_eq!(
        present(&table, now),
        vec![(10, 6, r#"{"back":true}"#.into())]
    );
}

#[test]
fn tombstones_are_forgotten_after_their_lifetime() {
    let (mut table, start) = (AwarenessTable::default(), Instant::now());
    table
        .apply(1, ADA, &[entry(10, 5, "{}")], start)
        .expect("1");
    table
        .apply(1, ADA, &[entry(10, 6, "null")], start)
        .expect("own removal");
    let almost = start + TOMBSTONE_LIFETIME - Duration::from_millis(1);
    let stale = [entry(10, 5, "{}")];
    assert_eq!(table.apply(1, ADA, &stale, almost), Ok(Accepted::Nothing));
    assert_eq!(table.clients.len(), 1);
    let expired = start + TOMBSTONE_LIFETIME;
    let other = [entry(11, 1, "{}")];
    table.apply(1, ADA, &other, expired).expect("another id");
    assert!(!table.clients.contains_key(&10), "the tombstone is gone");
    assert_eq!(table.peers[&1].ids, vec![11], "its room is free again");
    assert!(table.tombstones.is_empty());
}

#[test]
fn a_socket_keeps_the_ids_it_removed_until_they_expire() {
    let (mut table, now) = (AwarenessTable::default(), Instant::now());
    table.apply(1, ADA, &[entry(10, 1, "{}")], now).expect("1");
    table
        .apply(1, ADA, &[entry(10, 2, "null")], now)
        .expect("1");
    let claim = [entry(10, 3, "{}")];
    assert_eq!(table.apply(2, BOB, &claim, now), Ok(Accepted::Nothing));
    assert_eq!(table.apply(1, ADA, &claim, now), Ok(Accepted::All));
}

#[test]
fn a_full_board_makes_room_from_its_oldest_tombstone_and_else_drops_newcomers() {
    let (mut table, now) = (AwarenessTable::default(), Instant::now());
    let per_peer = MAX_CLIENTS_PER_PEER as u64;
    let peers = MAX_CLIENTS_PER_BOARD as u64 / per_peer;
    for peer in 0..peers {
        let ids: Vec<_> = (0..per_peer)
            .map(|i| entry(peer * per_peer + i, 1, "{}"))
            .collect();
        let user = Uuid::from_u128(u128::from(peer) + 100);
        assert_eq!(table.apply(peer + 1, user, &ids, now), Ok(Accepted::All));
    }
    assert_eq!(table.len(), MAX_CLIENTS_PER_BOARD);
    let newcomer = [entry(1 << 40, 1, "{}")];
    assert_eq!(table.apply(999, BOB, &newcomer, now), Ok(Accepted::Nothing));
    // One state removed: its tombstone gives way to the newcomer.
    table
        .apply(1, Uuid::from_u128(100), &[entry(0, 2, "null")], now)
        .expect("removal");
    assert_eq!(table.apply(999, BOB, &newcomer, now), Ok(Accepted::All));
    assert_eq!(table.clients.len(), MAX_CLIENTS_PER_BOARD);
    assert!(!table.peers[&1].ids.contains(&0));
}

#[test]
fn the_tombstone_queue_stays_bounded_while_one_id_comes_and_goes() {
    let (mut table, now) = (AwarenessTable::default(), Instant::now());
    for clock in 1..20_000u64 {
        let state = if clock % 2 == 0 { "null" } else { "{}" };
        table
            .apply(1, ADA, &[entry(10, clock, state)], now)
            .expect("own id");
    }
    assert!(table.tombstones.len() <= 2 * MAX_CLIENTS_PER_BOARD + 1);
}

#[test]
fn another_instance_sets_and_removes_its_states_but_not_ours() {
    let (mut table, now) = (AwarenessTable::default(), Instant::now());
    table
        .apply(1, ADA, &[entry(10, 1, "{}")], now)
        .expect("local");
    let remote = [entry(20, 1, r#"{"far":1}"#), entry(10, 9, "null")];
    let Accepted::Some(passed_on) = table.apply_remote(&remote, now) else {
        panic!("only the remote state is accepted");
    };
    assert_eq!(entries_of(&passed_on), vec![entry(20, 1, r#"{"far":1}"#)]);
    // A local socket cannot change it; its own instance can remove it.
    let spoof = [entry(20, 2, "null")];
    assert_eq!(table.apply(2, BOB, &spoof, now), Ok(Accepted::Nothing));
    assert_eq!(
        table.apply_remote(&[entry(20, 2, "null")], now),
        Accepted::All
    );
    assert_eq!(present(&table, now), vec![(10, 1, "{}".into())]);
    // Removals of ids nobody announced are not stored.
    assert_eq!(
        table.apply_remote(&[entry(77, 1, "null")], now),
        Accepted::Nothing
    );
    assert!(!table.clients.contains_key(&77));
    // The removed id goes to whoever announces it next, here or there.
    assert_eq!(
        table.apply(3, BOB, &[entry(20, 3, "{}")], now),
        Ok(Accepted::All)
    );
}

#[test]
fn states_from_another_instance_that_stop_renewing_leave_the_snapshot() {
    let (mut table, now) = (AwarenessTable::default(), Instant::now());
    table.apply_remote(&[entry(20, 1, "{}")], now);
    table
        .apply(1, ADA, &[entry(10, 1, "{}")], now)
        .expect("local");
    assert_eq!(present(&table, now).len(), 2);
    let later = now + TOMBSTONE_LIFETIME;
    assert_eq!(present(&table, later), vec![(10, 1, "{}".into())]);
}

#[test]
fn a_state_another_instance_stopped_renewing_is_claimed_by_the_client_that_comes_back_here() {
    let (mut table, start) = (AwarenessTable::default(), Instant::now());
    table.apply_remote(&[entry(20, 4, r#"{"far":1}"#)], start);
    // Still renewed by its instance: a socket here cannot take it.
    let back = [entry(20, 5, r#"{"here":1}"#)];
    assert_eq!(table.apply(1, ADA, &back, start), Ok(Accepted::Nothing));
    // Its instance died without removing it: after the lifetime the same
    // client, reconnected here with a newer clock, owns it again.
    let later = start + TOMBSTONE_LIFETIME;
    assert_eq!(table.apply(1, ADA, &back, later), Ok(Accepted::All));
    assert_eq!(
        present(&table, later),
        vec![(20, 5, r#"{"here":1}"#.into())]
    );
    let spoof = [entry(20, 6, "null")];
    assert_eq!(table.apply(2, BOB, &spoof, later), Ok(Accepted::Nothing));
}

#[test]
fn a_full_board_makes_room_from_states_other_instances_abandoned() {
    let (mut table, start) = (AwarenessTable::default(), Instant::now());
    let remote: Vec<_> = (0..MAX_CLIENTS_PER_BOARD as u64)
        .map(|id| entry(1000 + id, 1, "{}"))
        .collect();
    table.apply_remote(&remote, start);
    assert_eq!(
        table.apply(1, ADA, &[entry(1, 1, "{}")], start),
        Ok(Accepted::Nothing),
        "full, and every state is renewed"
    );
    let later = start + TOMBSTONE_LIFETIME;
    assert_eq!(
        table.apply(1, ADA, &[entry(1, 1, "{}")], later),
        Ok(Accepted::All)
    );
    assert_eq!(table.clients.len(), MAX_CLIENTS_PER_BOARD);
}

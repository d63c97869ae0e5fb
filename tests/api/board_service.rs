//! The board service without sockets: a single load under racing opens,
//! retried saves that never mark a board clean early, unloading, shutdown flush.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use bytes::Bytes;
use canvas_server::{
    board_service::{
        journal::Compaction,
        save_hook::SaveHookFuture,
        session::{apply_update, Session},
        store::{StoreError, StoreFuture},
        BoardService, BoardStore, CloseReason, QueueLimits, SaveHook, ServiceSettings,
    },
    db::{Role, SaveOutcome, StoredState},
};
use uuid::Uuid;
use yrs::{Map, ReadTxn, StateVector, Transact, WriteTxn};

/// An in-memory store that counts calls and can be told to fail saves. Saves
/// compare and swap the version, like the database.
#[derive(Default)]
struct FakeStore {
    saved: Mutex<HashMap<Uuid, StoredState>>,
    loads: AtomicUsize,
    save_attempts: AtomicUsize,
    failures_left: AtomicUsize,
    /// The authors each successful save was given.
    saved_authors: Mutex<Vec<Vec<Uuid>>>,
}

impl BoardStore for FakeStore {
    fn load(&self, board_id: Uuid) -> StoreFuture<'_, Option<StoredState>> {
        Box::pin(async move {
            self.loads.fetch_add(1, Ordering::SeqCst);
            // Slow enough that racing opens overlap.
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok(self.saved.lock().expect("lock").get(&board_id).cloned())
        })
    }

    fn save(
        &self,
        board_id: Uuid,
        state: Vec<u8>,
        expected_version: i64,
        _compaction: Compaction,
        authors: Vec<Uuid>,
    ) -> StoreFuture<'_, SaveOutcome> {
        Box::pin(async move {
            self.save_attempts.fetch_add(1, Ordering::SeqCst);
            let failing = self
                .failures_left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if failing {
                return Err(StoreError::Unavailable("disk on fire".into()));
            }
            let mut saved = self.saved.lock().expect("lock");
            let stored_version = saved.get(&board_id).map_or(0, |stored| stored.version);
            if stored_version != expected_version {
                let stored = saved.get(&board_id).cloned().unwrap_or(StoredState {
                    state: Vec::new(),
                    version: 0,
                });
                return Ok(SaveOutcome::Conflict(stored));
            }
            let version = stored_version + 1;
            saved.insert(board_id, StoredState { state, version });
            self.saved_authors.lock().expect("lock").push(authors);
            Ok(SaveOutcome::Saved { version })
        })
    }
}

fn service(store: Arc<FakeStore>, debounce_ms: u64) -> BoardService {
    BoardService::new(
        store,
        ServiceSettings {
            save_debounce: Duration::from_millis(debounce_ms),
            save_max_debounce: Duration::from_millis(debounce_ms * 4),
            queue: QueueLimits {
                frames: 16,
                bytes: 1 << 20,
            },
        },
    )
}

fn an_update(key: &str) -> Bytes {
    let doc = yrs::Doc::new();
    {
        let mut txn = doc.transact_mut();
        txn.get_or_insert_map("map").insert(&mut txn, key, true);
    }
    let update = doc
        .transact()
        .encode_state_as_update_v1(&StateVector::default());
    Bytes::from(update)
}

/// A shutdown deadline no test should reach.
fn soon() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(30)
}

async fn eventually(what: &str, check: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_first_opens_load_the_board_once() {
    let store = Arc::new(FakeStore::default());
    let service = service(Arc::clone(&store), 50);
    let board = Uuid::new_v4();
    let opens = (0..32).map(|_| {
        let service = service.clone();
        tokio::spawn(async move { service.open(board).await.expect("opens") })
    });
    let leases = futures_util::future::join_all(opens).await;
    let first = Arc::clone(leases[0].as_ref().expect("task").board());
    for lease in &leases {
        assert!(Arc::ptr_eq(lease.as_ref().expect("task").board(), &first));
    }
    assert_eq!(store.loads.load(Ordering::SeqCst), 1);
    assert_eq!(service.loaded_count(), 1);
}

#[tokio::test]
async fn a_failed_save_is_retried_and_the_board_stays_loaded_until_saved() {
    let store = Arc::new(FakeStore::default());
    store.failures_left.store(3, Ordering::SeqCst);
    let service = service(Arc::clone(&store), 20);
    let board_id = Uuid::new_v4();
    let lease = service.open(board_id).await.expect("opens");
    apply_update(Arc::clone(lease.board()), an_update("kept"))
        .await
        .expect("applies");
    drop(lease);
    eventually("the fourth attempt succeeds", || {
        store.saved.lock().expect("lock").contains_key(&board_id)
    })
    .await;
    assert!(store.save_attempts.load(Ordering::SeqCst) >= 4);
    // Saved and unused: it leaves memory, and a reopen loads what was saved.
    eventually("the board unloads", || service.loaded_count() == 0).await;
    let lease = service.open(board_id).await.expect("reopens");
    let state = service.current_state(board_id).await.expect("state");
    assert_eq!(crate::sync_client::content_of(&state)["map"]["kept"], true);
    drop(lease);
}

#[tokio::test]
async fn a_board_is_never_unloaded_while_its_saves_fail() {
    let store = Arc::new(FakeStore::default());
    store.failures_left.store(usize::MAX, Ordering::SeqCst);
    let service = service(Arc::clone(&store), 10);
    let board_id = Uuid::new_v4();
    let lease = service.open(board_id).await.expect("opens");
    apply_update(Arc::clone(lease.board()), an_update("dirty"))
        .await
        .expect("applies");
    drop(lease);
    eventually("several attempts", || {
        store.save_attempts.load(Ordering::SeqCst) >= 3
    })
    .await;
    assert_eq!(service.loaded_count(), 1, "dirty board kept in memory");
    // Once the store recovers, the change lands.
    store.failures_left.store(0, Ordering::SeqCst);
    eventually("saved after recovery", || {
        store.saved.lock().expect("lock").contains_key(&board_id)
    })
    .await;
}

#[tokio::test]
async fn saves_are_debounced_to_one_write_per_burst() {
    let store = Arc::new(FakeStore::default());
    let service = service(Arc::clone(&store), 200);
    let board_id = Uuid::new_v4();
    let lease = service.open(board_id).await.expect("opens");
    for i in 0..50 {
        apply_update(Arc::clone(lease.board()), an_update(&format!("k{i}")))
            .await
            .expect("applies");
    }
    eventually("one save", || {
        store.save_attempts.load(Ordering::SeqCst) >= 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(store.save_attempts.load(Ordering::SeqCst), 1);
    drop(lease);
}

#[tokio::test]
async fn shutdown_saves_every_dirty_board_before_returning() {
    let store = Arc::new(FakeStore::default());
    let service = service(Arc::clone(&store), 60_000);
    let mut leases = Vec::new();
    let ids: Vec<Uuid> = (0..5).map(|_| Uuid::new_v4()).collect();
    for id in &ids {
        let lease = service.open(*id).await.expect("opens");
        apply_update(Arc::clone(lease.board()), an_update("x"))
            .await
            .expect("applies");
        leases.push(lease);
    }
    drop(leases);
    assert!(store.saved.lock().expect("lock").is_empty());
    let report = service.shutdown(soon()).await;
    assert_eq!(report.saved, 5);
    assert!(report.unsaved.is_empty());
    let stored = store.saved.lock().expect("lock");
    assert!(ids.iter().all(|id| stored.contains_key(id)));
}

#[tokio::test]
async fn two_instances_saving_one_board_merge_instead_of_overwriting() {
    // Two services on one store, with nothing relaying edits between them (as
    // two instances while Redis is down).
    let store = Arc::new(FakeStore::default());
    let first = service(Arc::clone(&store), 10);
    let second = service(Arc::clone(&store), 10);
    let board_id = Uuid::new_v4();
    let on_first = first.open(board_id).await.expect("opens");
    let on_second = second.open(board_id).await.expect("opens");
    apply_update(Arc::clone(on_first.board()), an_update("from_first"))
        .await
        .expect("applies");
    eventually("the first instance saved", || {
        first.dirty_count() == 0 && store.saved.lock().expect("lock").contains_key(&board_id)
    })
    .await;
    // The second instance never saw that edit; its save must not erase it.
    apply_update(Arc::clone(on_second.board()), an_update("from_second"))
        .await
        .expect("applies");
    eventually("the second instance saved", || second.dirty_count() == 0).await;

    let stored = store
        .saved
        .lock()
        .expect("lock")
        .get(&board_id)
        .cloned()
        .expect("stored");
    assert_eq!(stored.version, 2, "one write each");
    let content = crate::sync_client::content_of(&stored.state);
    assert_eq!(content["map"]["from_first"], true, "stored: {content}");
    assert_eq!(content["map"]["from_second"], true, "stored: {content}");
    // The instance that merged now serves both edits live as well.
    let live = second.current_state(board_id).await.expect("state");
    assert_eq!(
        crate::sync_client::content_of(&live)["map"]["from_first"],
        true
    );
    drop((on_first, on_second));
}

#[tokio::test]
async fn every_access_change_moves_the_access_epoch_and_nothing_else_does() {
    // A socket skips its after-join membership check when the epoch did not
    // move, so each way access can be lost or changed must move it.
    let service = service(Arc::new(FakeStore::default()), 50);
    let (board, user) = (Uuid::new_v4(), Uuid::new_v4());
    let start = service.access_epoch();
    let lease = service.open(board).await.expect("opens");
    apply_update(Arc::clone(lease.board()), an_update("k"))
        .await
        .expect("applies");
    assert_eq!(service.access_epoch(), start, "opening and editing");

    let changes: [&dyn Fn(&BoardService); 4] = [
        &|s| s.member_removed(board, user),
        &|s| s.role_changed(board, user, canvas_server::db::Role::Viewer),
        &|s| s.user_removed_everywhere(user),
        &|s| s.boards_deleted(&[board]),
    ];
    let mut last = start;
    for change in changes {
        change(&service);
        let now = service.access_epoch();
        assert!(now > last, "an access change moves the epoch");
        last = now;
    }
}

#[tokio::test]
async fn a_save_failing_at_shutdown_is_retried_until_it_succeeds() {
    let store = Arc::new(FakeStore::default());
    let service = service(Arc::clone(&store), 60_000);
    let board_id = Uuid::new_v4();
    let lease = service.open(board_id).await.expect("opens");
    apply_update(Arc::clone(lease.board()), an_update("kept"))
        .await
        .expect("applies");
    drop(lease);
    // More failures than a fixed number of attempts would allow.
    store.failures_left.store(6, Ordering::SeqCst);
    let report = service.shutdown(soon()).await;
    assert_eq!(report.saved, 1);
    assert!(report.unsaved.is_empty(), "{report:?}");
    assert_eq!(store.save_attempts.load(Ordering::SeqCst), 7);
    assert!(store.saved.lock().expect("lock").contains_key(&board_id));
}

#[tokio::test]
async fn boards_still_unsaved_at_the_shutdown_deadline_are_reported() {
    let store = Arc::new(FakeStore::default());
    let service = service(Arc::clone(&store), 60_000);
    let board_id = Uuid::new_v4();
    let lease = service.open(board_id).await.expect("opens");
    apply_update(Arc::clone(lease.board()), an_update("lost"))
        .await
        .expect("applies");
    drop(lease);
    store.failures_left.store(usize::MAX, Ordering::SeqCst);
    let deadline = tokio::time::Instant::now() + Duration::from_millis(800);
    let report = service.shutdown(deadline).await;
    assert_eq!(report.unsaved, vec![board_id]);
    assert_eq!(report.saved, 0);
    assert!(
        store.save_attempts.load(Ordering::SeqCst) > 1,
        "retried until the deadline"
    );
}

#[tokio::test]
async fn a_socket_upgraded_as_shutdown_begins_never_joins_its_board() {
    let service = service(Arc::new(FakeStore::default()), 50);
    let board_id = Uuid::new_v4();
    // The upgrade took its lease before shutdown began ...
    let lease = service.open(board_id).await.expect("opens");
    let board = Arc::clone(lease.board());
    service.begin_shutdown();
    // ... and its socket starts after the sockets were closed.
    let session = Session::start(&service, lease, Uuid::new_v4(), Role::Editor).await;
    assert_eq!(board.peer_count(), 0, "it did not join");
    assert_eq!(session.peer().close_reason(), Some(CloseReason::GoingAway));
    drop(session);
    assert!(
        service.open(board_id).await.is_err(),
        "no new lease during shutdown"
    );
    let report = service.shutdown(soon()).await;
    assert!(report.unsaved.is_empty());
}

#[tokio::test]
async fn closed_sockets_are_waited_for_until_they_leave_their_boards() {
    let service = service(Arc::new(FakeStore::default()), 50);
    let lease = service.open(Uuid::new_v4()).await.expect("opens");
    let session = Session::start(&service, lease, Uuid::new_v4(), Role::Editor).await;
    service.begin_shutdown();
    assert_eq!(session.peer().close_reason(), Some(CloseReason::GoingAway));
    let waiting = tokio::spawn({
        let service = service.clone();
        async move { service.sockets_left(soon()).await }
    });
    // One turn of this single-threaded runtime: the wait has begun.
    tokio::task::yield_now().await;
    assert!(!waiting.is_finished(), "the socket is still on its board");
    drop(session);
    tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("done once the socket left")
        .expect("task");
}

/// Records what the save hook is told: (board, authors) per save.
#[derive(Debug, Default)]
struct SavesSeen(Mutex<Vec<(Uuid, Vec<Uuid>)>>);

impl SaveHook for SavesSeen {
    fn saved<'a>(&'a self, board_id: Uuid, authors: &'a [Uuid]) -> SaveHookFuture<'a> {
        self.0
            .lock()
            .expect("lock")
            .push((board_id, authors.to_vec()));
        Box::pin(async {})
    }
}

#[tokio::test]
async fn a_save_carries_the_authors_of_its_updates_and_a_failed_one_keeps_them() {
    let store = Arc::new(FakeStore::default());
    store.failures_left.store(2, Ordering::SeqCst);
    let service = service(Arc::clone(&store), 20);
    let seen = Arc::new(SavesSeen::default());
    service.set_save_hook(Arc::clone(&seen) as Arc<dyn SaveHook>);
    let board_id = Uuid::new_v4();
    let (ada, bob) = (Uuid::new_v4(), Uuid::new_v4());
    service
        .apply_authored_update(board_id, an_update("from-ada"), Some(ada))
        .await
        .expect("applies");
    eventually("saved after two failures", || {
        !store.saved_authors.lock().expect("lock").is_empty()
    })
    .await;
    assert!(store.save_attempts.load(Ordering::SeqCst) >= 3);
    service
        .apply_authored_update(board_id, an_update("from-bob"), Some(bob))
        .await
        .expect("applies");
    eventually("saved again", || {
        store.saved_authors.lock().expect("lock").len() == 2
    })
    .await;
    assert_eq!(
        *store.saved_authors.lock().expect("lock"),
        vec![vec![ada], vec![bob]]
    );
    assert_eq!(
        *seen.0.lock().expect("lock"),
        vec![(board_id, vec![ada]), (board_id, vec![bob])]
    );
}

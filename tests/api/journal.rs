//! The journal under the board service, without sockets: a save racing
//! appends deletes only rows its snapshot holds, and when the journal cannot
//! commit, REST updates are refused while the queue stays bounded.

use std::{
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use bytes::Bytes;
use canvas_server::{
    board_service::{
        journal::{
            Compaction, JournalError, JournalFuture, JournalRow, JournalStore, NewJournalRow,
        },
        session::ExternalUpdateError,
        store::StoreFuture,
        BoardService, BoardStore, JournalLimits, JournalWriter, QueueLimits, ServiceSettings,
    },
    db::{Db, SaveOutcome, StoredState},
};
use uuid::Uuid;
use yrs::{updates::decoder::Decode, Map, Transact, Update};

use crate::harness::{yjs_update, Backend, TestDatabase};

fn settings(debounce_ms: u64) -> ServiceSettings {
    ServiceSettings {
        save_debounce: Duration::from_millis(debounce_ms),
        save_max_debounce: Duration::from_millis(debounce_ms * 4),
        queue: QueueLimits {
            frames: 16,
            bytes: 1 << 20,
        },
    }
}

/// `database` with one user and one board; returns it opened and the board id.
async fn database_with_a_board(database: &TestDatabase) -> (Db, Uuid) {
    let db = database.open().await;
    let user = db
        .create_user("ada@example.com".into(), "ada".into(), "x".into())
        .await
        .expect("user");
    let board = db
        .create_board(user.id, "Plan".into())
        .await
        .expect("board");
    (db, board.id)
}

/// The keys of map `m` in a snapshot plus journal rows, as a load would see them.
fn keys_after_load(snapshot: Option<&[u8]>, rows: &[JournalRow]) -> Vec<String> {
    let doc = yrs::Doc::new();
    let map = doc.get_or_insert_map("m");
    let mut updates: Vec<Vec<u8>> = snapshot.map(<[u8]>::to_vec).into_iter().collect();
    for row in rows {
        // Each update of a row is preceded by its (one-byte, here) length.
        let mut rest = &row.updates[..];
        while let Some((&len, tail)) = rest.split_first() {
            assert!(len < 0x80, "short updates only");
            updates.push(tail[..usize::from(len)].to_vec());
            rest = &tail[usize::from(len)..];
        }
    }
    for update in updates {
        doc.transact_mut()
            .apply_update(Update::decode_v1(&update).expect("decodes"))
            .expect("applies");
    }
    let txn = doc.transact();
    let mut keys: Vec<String> = map.keys(&txn).map(str::to_owned).collect();
    keys.sort();
    keys
}

/// Saves to the database, but the first save lets a REST update be applied
/// and committed to the journal after the snapshot was encoded and before
/// the save's transaction: the race a busy board runs all the time.
struct RacingStore {
    db: Db,
    service: OnceLock<BoardService>,
    raced: Mutex<bool>,
    /// What a load would have found right after the raced save.
    after_race: Mutex<Option<Vec<String>>>,
}

impl BoardStore for RacingStore {
    fn load(&self, board_id: Uuid) -> StoreFuture<'_, Option<StoredState>> {
        self.db.load(board_id)
    }

    fn save(
        &self,
        board_id: Uuid,
        state: Vec<u8>,
        expected_version: i64,
        compaction: Compaction,
        authors: Vec<Uuid>,
    ) -> StoreFuture<'_, SaveOutcome> {
        Box::pin(async move {
            let race = !std::mem::replace(&mut *self.raced.lock().expect("lock"), true);
            if race {
                let service = self.service.get().expect("service set");
                service
                    .apply_external_update(board_id, Bytes::from(yjs_update("racing", "r")))
                    .await
                    .expect("the racing update is committed");
            }
            let outcome = self
                .db
                .save(board_id, state, expected_version, compaction, authors)
                .await?;
            if race {
                let snapshot = self.db.load_board_state(board_id).await?;
                let rows = self.db.read_journal(board_id, None).await?;
                *self.after_race.lock().expect("lock") = Some(keys_after_load(
                    snapshot.as_ref().map(|s| s.state.as_slice()),
                    &rows,
                ));
            }
            Ok(outcome)
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_save_racing_appends_deletes_only_rows_its_snapshot_holds() {
    let database = Backend::Sqlite.database();
    let (db, board) = database_with_a_board(&database).await;
    let store = Arc::new(RacingStore {
        db: db.clone(),
        service: OnceLock::new(),
        raced: Mutex::new(false),
        after_race: Mutex::new(None),
    });
    let journal = JournalWriter::start(
        Arc::new(db.clone()),
        JournalLimits {
            max_queued_bytes: 1 << 20,
        },
    );
    let service = BoardService::with_journal(
        Arc::clone(&store) as Arc<dyn BoardStore>,
        settings(20),
        None,
        Some(journal),
    );
    store.service.set(service.clone()).expect("set once");
    service
        .apply_external_update(board, Bytes::from(yjs_update("first", "f")))
        .await
        .expect("committed");

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let seen = loop {
        if let Some(keys) = store.after_race.lock().expect("lock").clone() {
            break keys;
        }
        assert!(tokio::time::Instant::now() < deadline, "no save happened");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    // The snapshot holds "first" (its row is gone); "racing" came after the
    // encoding, so its row had to survive the save.
    assert_eq!(seen, ["first", "racing"]);
    service
        .shutdown(tokio::time::Instant::now() + Duration::from_secs(10))
        .await;
    let rows = db.read_journal(board, None).await.expect("rows");
    let stored = db.load_board_state(board).await.expect("state");
    assert!(
        rows.is_empty(),
        "the next save compacted the racing row too"
    );
    assert_eq!(
        keys_after_load(stored.as_ref().map(|s| s.state.as_slice()), &rows),
        ["first", "racing"]
    );
}

/// A journal whose database does not answer: commits fail, or never end.
struct BrokenJournal {
    hangs: bool,
}

impl JournalStore for BrokenJournal {
    fn append(
        &self,
        _instance: Uuid,
        _rows: Vec<NewJournalRow>,
    ) -> JournalFuture<'_, Vec<(Uuid, i64)>> {
        let hangs = self.hangs;
        Box::pin(async move {
            if hangs {
                std::future::pending::<()>().await;
            }
            Err(JournalError::Unavailable("database is down".into()))
        })
    }

    fn read(&self, _board_id: Uuid, _except: Option<Uuid>) -> JournalFuture<'_, Vec<JournalRow>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    fn has_rows(&self, _board_id: Uuid) -> JournalFuture<'_, bool> {
        Box::pin(async { Ok(false) })
    }
}

#[tokio::test]
async fn a_rest_update_the_journal_cannot_commit_is_refused_yet_applied_and_saved() {
    let database = Backend::Sqlite.database();
    let (db, board) = database_with_a_board(&database).await;
    let journal = JournalWriter::start(
        Arc::new(BrokenJournal { hangs: false }),
        JournalLimits {
            max_queued_bytes: 1 << 20,
        },
    );
    let service =
        BoardService::with_journal(Arc::new(db.clone()), settings(20), None, Some(journal));
    let refused = service
        .apply_external_update(board, Bytes::from(yjs_update("k", "v")))
        .await;
    assert!(
        matches!(
            refused,
            Err(ExternalUpdateError::NotDurable(JournalError::Unavailable(
                _
            )))
        ),
        "{refused:?}"
    );
    // Applied all the same (sockets got it), and the save path stores it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while db.load_board_state(board).await.expect("reads").is_none() {
        assert!(tokio::time::Instant::now() < deadline, "never saved");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stored = db
        .load_board_state(board)
        .await
        .expect("reads")
        .expect("saved");
    assert_eq!(keys_after_load(Some(&stored.state), &[]), ["k"]);
}

#[tokio::test]
async fn the_journal_queue_stops_growing_while_the_database_hangs() {
    let journal = JournalWriter::start(
        Arc::new(BrokenJournal { hangs: true }),
        JournalLimits {
            max_queued_bytes: 16 * 1024,
        },
    );
    let cursor = Arc::default();
    let board = Uuid::new_v4();
    let update = Bytes::from(vec![0u8; 100]);
    let mut accepted = 0;
    let refused = loop {
        match journal.append(board, &cursor, update.clone()) {
            Ok(()) => accepted += 1,
            Err(err) => break err,
        }
        assert!(accepted < 10_000, "the queue grows without bound");
        // Let the writer take its (hanging) first batch.
        tokio::task::yield_now().await;
    };
    assert!(matches!(refused, JournalError::Full), "{refused:?}");
    // A REST caller is told at once, not left waiting.
    let durable = tokio::time::timeout(
        Duration::from_secs(5),
        journal.append_durably(board, &cursor, update),
    )
    .await
    .expect("answered at once");
    assert!(matches!(durable, Err(JournalError::Full)), "{durable:?}");
}

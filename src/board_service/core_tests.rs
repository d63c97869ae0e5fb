//! The board core on its own: an in-memory store, and peers whose frames are
//! read back from their queues. No socket, no database.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;
use uuid::Uuid;
use yrs::{updates::decoder::Decode, Map, ReadTxn, StateVector, Transact, Update, WriteTxn};

use super::{
    journal::Compaction,
    session::Session,
    store::{SaveOutcome, StoreError, StoreFuture, StoredState},
    Batch, BoardService, BoardStore, Peer, QueueLimits, ServiceSettings, WriterStep,
};
use crate::{protocol::message, role::Role};

/// Snapshots in a map, saved with the database's compare-and-swap on the
/// version.
#[derive(Default)]
struct MemoryStore {
    saved: Mutex<HashMap<Uuid, StoredState>>,
}

impl MemoryStore {
    fn stored(&self, board_id: Uuid) -> Option<StoredState> {
        let saved = self.saved.lock().unwrap_or_else(|err| err.into_inner());
        saved.get(&board_id).cloned()
    }
}

impl BoardStore for MemoryStore {
    fn load(&self, board_id: Uuid) -> StoreFuture<'_, Option<StoredState>> {
        Box::pin(async move { Ok(self.stored(board_id)) })
    }

    fn save(
        &self,
        board_id: Uuid,
        state: Vec<u8>,
        expected_version: i64,
        _compaction: Compaction,
        _authors: Vec<Uuid>,
    ) -> StoreFuture<'_, SaveOutcome> {
        Box::pin(async move {
            let mut saved = self
                .saved
                .lock()
                .map_err(|_| StoreError::Other("poisoned".into()))?;
            let stored = saved.get(&board_id).cloned();
            let version = stored.as_ref().map_or(0, |stored| stored.version);
            if version != expected_version {
                return Ok(SaveOutcome::Conflict(stored.unwrap_or(StoredState {
                    state: Vec::new(),
                    version: 0,
                })));
            }
            let version = version + 1;
            saved.insert(board_id, StoredState { state, version });
            Ok(SaveOutcome::Saved { version })
        })
    }
}

fn service(store: Arc<MemoryStore>) -> BoardService {
    BoardService::new(
        store,
        ServiceSettings {
            save_debounce: Duration::from_secs(60),
            save_max_debounce: Duration::from_secs(60),
            queue: QueueLimits {
                frames: 64,
                bytes: 1 << 20,
            },
        },
    )
}

/// An update setting `key` in the map `map`.
fn an_update(key: &str) -> Vec<u8> {
    let doc = yrs::Doc::new();
    {
        let mut txn = doc.transact_mut();
        txn.get_or_insert_map("map").insert(&mut txn, key, true);
    }
    let txn = doc.transact();
    txn.encode_state_as_update_v1(&StateVector::default())
}

/// Everything queued to `peer`, written as the writer would write it (the
/// service's default format queues payloads as they are).
fn take_written(peer: &Peer) -> Vec<u8> {
    let mut batch = Batch::default();
    let mut written = Vec::new();
    while let WriterStep::Write(_) = peer.take_frames(&mut batch) {
        written.extend(batch.queue.segments().flatten());
        peer.written(&mut batch);
    }
    written
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

#[tokio::test]
async fn an_edit_reaches_the_other_peer_and_is_saved_to_the_store() {
    let store = Arc::new(MemoryStore::default());
    let service = service(Arc::clone(&store));
    let board_id = Uuid::new_v4();
    let lease = service.open(board_id).await.expect("an empty board opens");
    let mut editor = Session::start(&service, lease, Uuid::new_v4(), Role::Editor).await;
    let lease = service.open(board_id).await.expect("opens again");
    let viewer = Session::start(&service, lease, Uuid::new_v4(), Role::Viewer).await;
    take_written(viewer.peer());

    let update = an_update("drawn");
    let frame = Bytes::from(message::encode_update(&update));
    assert_eq!(editor.handle_frame(frame.clone()).await, Ok(()));
    editor.flush();
    let seen = take_written(viewer.peer());
    assert!(contains(&seen, &frame), "the viewer was sent the edit");
    assert!(
        !contains(&take_written(editor.peer()), &frame),
        "the editor is not sent its own edit"
    );

    drop((editor, viewer));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let report = service.shutdown(deadline).await;
    assert_eq!(report.saved, 1);
    assert!(report.unsaved.is_empty());
    let stored = store.stored(board_id).expect("saved");
    assert_eq!(stored.version, 1);
    let doc = yrs::Doc::new();
    {
        let mut txn = doc.transact_mut();
        let update = Update::decode_v1(&stored.state).expect("a Yjs update");
        txn.apply_update(update).expect("applies");
    }
    let txn = doc.transact();
    let map = txn.get_map("map").expect("the map was saved");
    assert_eq!(map.get(&txn, "drawn"), Some(true.into()));
}

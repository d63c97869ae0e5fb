//! The save worker: one task per loaded board that writes the compacted
//! document after `SAVE_DEBOUNCE_MS` of quiet, or at the latest
//! `SAVE_MAX_DEBOUNCE_MS` after the first unsaved change; retries failed saves
//! with backoff, never marks a board clean unless its save succeeded, unloads the
//! board once it is saved and unused, and at shutdown saves at once, retrying
//! until the shutdown deadline, and stays until its board is saved and unused.
//!
//! A save never overwrites a snapshot it has not merged: it names the stored
//! version it last merged, and when another instance saved in between, it merges
//! that snapshot into the live document (relaying what was new to this
//! instance's sockets) and saves again.
//!
//! A save also compacts the journal, in the snapshot's transaction: it deletes
//! exactly the rows whose content the snapshot holds (see [`save`]).

use std::{collections::HashSet, sync::Arc, time::Duration};

use tokio::time::{sleep_until, Instant};

use bytes::Bytes;

use uuid::Uuid;

use super::{
    board::Status,
    journal::Compaction,
    store::{SaveOutcome, StoreError, StoredState},
    BoardService, CloseReason, LiveBoard,
};
use crate::protocol::message;

/// First retry delay after a failed save; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Longest pause between attempts of a failing save at shutdown: the deadline
/// is seconds away, and every attempt before it is a chance to save.
const FINAL_MAX_BACKOFF: Duration = Duration::from_millis(500);
/// Merges of another instance's snapshot within one save before it counts as
/// failed (and is retried with backoff): only reached when another instance
/// saves the same board continuously.
const MAX_MERGES: u32 = 8;

/// What the worker does next.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// Nothing to do: sleep until woken.
    Wait,
    /// Save when this instant comes (or earlier if woken and re-planned).
    SaveAt(Instant),
    /// Saved and unused: leave the registry.
    Unload,
    /// The board is gone or the process is ending.
    Stop,
}

/// Everything the plan depends on, so the decision is a pure function.
#[derive(Debug, Clone, Copy)]
struct Facts {
    status: Status,
    dirty: bool,
    leases: usize,
    last_change: Instant,
    unsaved_since: Option<Instant>,
    final_flush: bool,
    retry_at: Option<Instant>,
    /// Save without waiting for the debounce (a journal just replayed).
    save_now: bool,
}

fn plan(facts: Facts, debounce: Duration, max_debounce: Duration) -> Step {
    if facts.status != Status::Open {
        return Step::Stop;
    }
    if !facts.dirty {
        return if facts.final_flush {
            // A socket or request still holding the board may yet change it
            // (no new lease is given at shutdown): stay until the last is gone.
            if facts.leases == 0 {
                Step::Stop
            } else {
                Step::Wait
            }
        } else if facts.leases == 0 {
            Step::Unload
        } else {
            Step::Wait
        };
    }
    let due = if facts.final_flush || facts.save_now {
        Instant::now()
    } else {
        let quiet = facts.last_change + debounce;
        let cap = facts.unsaved_since.unwrap_or(facts.last_change) + max_debounce;
        quiet.min(cap)
    };
    Step::SaveAt(facts.retry_at.map_or(due, |retry| due.max(retry)))
}

/// Runs until the board is unloaded, deleted, or flushed at shutdown.
pub(super) async fn run(service: BoardService, board: Arc<LiveBoard>) {
    let settings = service.settings().clone();
    let mut failures: u32 = 0;
    let mut retry_at: Option<Instant> = None;
    let mut flushing = false;
    loop {
        let final_flush = service
            .inner
            .final_flush
            .load(std::sync::atomic::Ordering::SeqCst);
        if final_flush && !flushing {
            // A failing board waiting out a long backoff tries again at once.
            flushing = true;
            failures = 0;
            retry_at = None;
        }
        let facts = {
            let state = board.state();
            Facts {
                status: state.status,
                dirty: state.is_dirty(),
                leases: state.leases,
                last_change: state.last_change,
                unsaved_since: state.unsaved_since,
                final_flush,
                retry_at,
                save_now: state.save_now,
            }
        };
        match plan(facts, settings.save_debounce, settings.save_max_debounce) {
            Step::Stop => return,
            Step::Wait => board.wake.notified().await,
            Step::Unload => {
                if service.try_unload(&board) {
                    return;
                }
                // A lease or a change arrived in between: wait for the next event.
                board.wake.notified().await;
            }
            Step::SaveAt(due) => {
                if due > Instant::now() {
                    // Changes since may have moved the deadline: plan again then.
                    tokio::select! {
                        () = sleep_until(due) => {}
                        () = board.wake.notified() => {}
                    }
                    continue;
                }
                // Another instance serving this board saves it; what this one
                // accepted reaches that save through the relay and the
                // journal. A board about to leave memory, or the process,
                // is saved here anyway (the save merges, never overwrites).
                if !final_flush && facts.leases > 0 && !service.may_save(board.id) {
                    crate::metrics::board_save_deferred();
                    retry_at = Some(Instant::now() + settings.save_debounce);
                    continue;
                }
                match save(&service, &board).await {
                    Ok(authors) => {
                        failures = 0;
                        retry_at = None;
                        if let Some(hook) = service.save_hook() {
                            hook.saved(board.id, &authors).await;
                        }
                    }
                    Err(SaveError::Gone) => return,
                    Err(SaveError::Failed(err)) => {
                        failures += 1;
                        let max_backoff = if final_flush {
                            FINAL_MAX_BACKOFF
                        } else {
                            MAX_BACKOFF
                        };
                        let backoff = FIRST_BACKOFF
                            .saturating_mul(1 << failures.min(16).saturating_sub(1))
                            .min(max_backoff);
                        let next = Instant::now() + backoff;
                        let deadline = service.final_deadline().filter(|_| final_flush);
                        if deadline.is_some_and(|deadline| next >= deadline) {
                            tracing::error!(board.id = %board.id, %err, attempts = failures,
                                "save at shutdown still failing at the deadline; unsaved changes of this board are lost");
                            return;
                        }
                        tracing::warn!(board.id = %board.id, %err, attempt = failures,
                            retry_in_ms = backoff.as_millis() as u64, "board save failed; will retry");
                        retry_at = Some(next);
                    }
                }
            }
        }
    }
}

enum SaveError {
    /// The board was deleted: nothing to save, ever.
    Gone,
    Failed(String),
}

/// Saves the board and returns the authors it covered. The authors of its
/// unsaved updates are taken with the snapshot; a failed save puts them back
/// for the next attempt, a successful one writes them in its transaction.
async fn save(service: &BoardService, board: &Arc<LiveBoard>) -> Result<Vec<Uuid>, SaveError> {
    let mut authors = Vec::new();
    match save_taking_authors(service, board, &mut authors).await {
        Ok(()) => Ok(authors),
        Err(err) => {
            if matches!(err, SaveError::Failed(_)) {
                board.state().authors.extend(authors);
            }
            Err(err)
        }
    }
}

async fn save_taking_authors(
    service: &BoardService,
    board: &Arc<LiveBoard>,
    authors: &mut Vec<Uuid>,
) -> Result<(), SaveError> {
    let started = Instant::now();
    for _ in 0..=MAX_MERGES {
        merge_journal_of_others(service, board).await?;
        let snapshot_of = Arc::clone(board);
        let instance = service.journal().map(super::JournalWriter::instance);
        // The change counter and the journal are read before the document is
        // encoded: a change that lands in between is in the snapshot but still
        // counts as unsaved, so it is saved again rather than lost; and a row
        // committed in between has an id above `own_up_to`, so it survives
        // this save (no update is both unsaved and deleted). Every own row up
        // to `own_up_to` is in the snapshot: an update is applied to the
        // document before it is queued for the journal.
        let (seq, expected_version, compaction, taken, bytes) =
            tokio::task::spawn_blocking(move || {
                let (seq, version, compaction, taken) = {
                    let mut state = snapshot_of.state();
                    let taken: Vec<Uuid> = state.authors.drain().collect();
                    let compaction = instance.map(|instance| Compaction {
                        instance,
                        own_up_to: snapshot_of.journal_cursor.committed(),
                        merged: state.journal_merged.clone(),
                        kept_aside: state.journal_kept_aside.clone(),
                    });
                    (state.change_seq, state.stored_version, compaction, taken)
                };
                (seq, version, compaction, taken, snapshot_of.snapshot())
            })
            .await
            .map_err(|err| SaveError::Failed(format!("encoding failed: {err}")))?;
        authors.extend(taken);
        let compaction = compaction.unwrap_or_default();
        let covered = compaction.clone();
        let size = bytes.len();
        let result = service
            .inner
            .store
            .save(
                board.id,
                bytes,
                expected_version,
                compaction,
                authors.clone(),
            )
            .await;
        // A conflict wrote nothing: it counts as a merge, not as a save.
        if !matches!(result, Ok(SaveOutcome::Conflict(_))) {
            crate::metrics::board_save(result.is_ok(), size, started.elapsed());
        }
        match result {
            Ok(SaveOutcome::Saved { version }) => {
                let mut state = board.state();
                state.saved_seq = state.saved_seq.max(seq);
                state.stored_version = version;
                state.unsaved_since = state.is_dirty().then_some(started);
                state.save_now = false;
                // Rows merged or kept aside after the snapshot was taken wait
                // for the next save.
                let merged: HashSet<i64> = covered.merged.iter().copied().collect();
                state.journal_merged.retain(|id| !merged.contains(id));
                let kept: HashSet<i64> = covered.kept_aside.iter().copied().collect();
                state.journal_kept_aside.retain(|id| !kept.contains(id));
                drop(state);
                tracing::debug!(board.id = %board.id, bytes = size, version,
                    elapsed_ms = started.elapsed().as_millis() as u64, "board saved");
                return Ok(());
            }
            Ok(SaveOutcome::Conflict(stored)) => {
                crate::metrics::board_save_merge();
                tracing::debug!(board.id = %board.id, expected_version,
                    stored_version = stored.version, "another instance saved this board; merging");
                merge_stored(board, stored).await?;
            }
            Err(StoreError::NotFound) => {
                board.state().status = Status::Deleted;
                board.close_peers(None, CloseReason::BoardDeleted);
                return Err(SaveError::Gone);
            }
            Err(err) => return Err(SaveError::Failed(err.to_string())),
        }
    }
    Err(SaveError::Failed(format!(
        "the stored snapshot changed {MAX_MERGES} times while merging"
    )))
}

/// Merges the journal rows other processes wrote for this board (and that are
/// not merged yet) into the live document, relays what they added, and notes
/// their ids for deletion by this save. A board served by one instance finds
/// none: its own rows are in its document already.
async fn merge_journal_of_others(
    service: &BoardService,
    board: &Arc<LiveBoard>,
) -> Result<(), SaveError> {
    let Some(journal) = service.journal() else {
        return Ok(());
    };
    let rows = journal
        .store()
        .read(board.id, Some(journal.instance()))
        .await
        .map_err(|err| SaveError::Failed(format!("reading the journal failed: {err}")))?;
    if rows.is_empty() {
        return Ok(());
    }
    let rows: Vec<_> = {
        let state = board.state();
        let known: HashSet<i64> = state
            .journal_merged
            .iter()
            .chain(&state.journal_kept_aside)
            .copied()
            .collect();
        rows.into_iter()
            .filter(|row| !known.contains(&row.id))
            .collect()
    };
    if rows.is_empty() {
        return Ok(());
    }
    let merging = Arc::clone(board);
    let replayed = tokio::task::spawn_blocking(move || merging.replay_into_live(&rows))
        .await
        .map_err(|err| SaveError::Failed(format!("merging the journal failed: {err}")))?;
    crate::metrics::journal_replayed(replayed.applied.len(), replayed.kept_aside.len());
    if let Some(added) = replayed.added {
        let frame = Bytes::from(message::encode_update(&added));
        board.publish(std::slice::from_ref(&frame), None, true);
    }
    let mut state = board.state();
    state.journal_merged.extend(replayed.applied);
    state.journal_kept_aside.extend(replayed.kept_aside);
    Ok(())
}

/// Merges a snapshot another instance stored into the live document, relays
/// what it added to this instance's sockets, and records its version as merged.
async fn merge_stored(board: &Arc<LiveBoard>, stored: StoredState) -> Result<(), SaveError> {
    // An empty state means the expected snapshot is gone: nothing to merge.
    if !stored.state.is_empty() {
        let merging = Arc::clone(board);
        let state = stored.state;
        let added = tokio::task::spawn_blocking(move || merging.merge_update(&state))
            .await
            .map_err(|err| SaveError::Failed(format!("merging failed: {err}")))?
            .map_err(|err| SaveError::Failed(format!("stored snapshot does not merge: {err}")))?;
        if let Some(added) = added {
            let frame = Bytes::from(message::encode_update(&added));
            board.publish(std::slice::from_ref(&frame), None, true);
        }
    }
    board.state().stored_version = stored.version;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBOUNCE: Duration = Duration::from_millis(2_000);
    const MAX: Duration = Duration::from_millis(10_000);

    fn facts(now: Instant) -> Facts {
        Facts {
            status: Status::Open,
            dirty: true,
            leases: 1,
            last_change: now,
            unsaved_since: Some(now),
            final_flush: false,
            retry_at: None,
            save_now: false,
        }
    }

    #[test]
    fn a_quiet_board_saves_after_the_debounce() {
        let now = Instant::now();
        assert_eq!(
            plan(facts(now), DEBOUNCE, MAX),
            Step::SaveAt(now + DEBOUNCE)
        );
    }

    #[test]
    fn a_busy_board_saves_at_the_cap() {
        let now = Instant::now();
        let busy = Facts {
            last_change: now + Duration::from_millis(9_500),
            ..facts(now)
        };
        assert_eq!(plan(busy, DEBOUNCE, MAX), Step::SaveAt(now + MAX));
    }

    #[test]
    fn a_board_that_replayed_its_journal_saves_at_once() {
        let now = Instant::now();
        let replayed = Facts {
            save_now: true,
            ..facts(now)
        };
        match plan(replayed, DEBOUNCE, MAX) {
            Step::SaveAt(due) => assert!(due <= Instant::now()),
            other => panic!("expected an immediate save, got {other:?}"),
        }
    }

    #[test]
    fn a_failed_save_waits_for_its_backoff() {
        let now = Instant::now();
        let retry = now + Duration::from_secs(5);
        let failed = Facts {
            retry_at: Some(retry),
            ..facts(now)
        };
        assert_eq!(plan(failed, DEBOUNCE, MAX), Step::SaveAt(retry));
    }

    #[test]
    fn clean_boards_unload_only_when_unused() {
        let now = Instant::now();
        let clean = Facts {
            dirty: false,
            ..facts(now)
        };
        assert_eq!(plan(clean, DEBOUNCE, MAX), Step::Wait);
        assert_eq!(
            plan(Facts { leases: 0, ..clean }, DEBOUNCE, MAX),
            Step::Unload
        );
    }

    #[test]
    fn shutdown_saves_dirty_boards_at_once_and_never_unsaved_boards_stop_early() {
        let now = Instant::now();
        let flushing = Facts {
            final_flush: true,
            leases: 0,
            ..facts(now)
        };
        match plan(flushing, DEBOUNCE, MAX) {
            Step::SaveAt(due) => assert!(due <= Instant::now()),
            other => panic!("expected an immediate save, got {other:?}"),
        }
        assert_eq!(
            plan(
                Facts {
                    dirty: false,
                    ..flushing
                },
                DEBOUNCE,
                MAX
            ),
            Step::Stop
        );
        assert_eq!(
            plan(
                Facts {
                    status: Status::Deleted,
                    ..flushing
                },
                DEBOUNCE,
                MAX
            ),
            Step::Stop
        );
    }

    #[test]
    fn at_shutdown_a_saved_board_still_in_use_waits_for_its_last_lease() {
        let now = Instant::now();
        let in_use = Facts {
            final_flush: true,
            dirty: false,
            leases: 1,
            ..facts(now)
        };
        assert_eq!(plan(in_use, DEBOUNCE, MAX), Step::Wait);
        assert_eq!(
            plan(
                Facts {
                    leases: 0,
                    ..in_use
                },
                DEBOUNCE,
                MAX
            ),
            Step::Stop
        );
    }
}

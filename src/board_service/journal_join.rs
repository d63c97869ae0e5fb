//! Joins a journal's updates into one v1 update in linear time, without
//! decoding them, when they line up: every client's structs in each update
//! start at the clock where that client's structs in the updates before
//! ended. Rows in commit order usually do (each client sends its edits in
//! order). Decoding the joined update gives the same structs, block for
//! block, as decoding each update; its delete set is the union of theirs. So
//! the document it makes is the one applying the updates one by one makes,
//! for the cost of copying their bytes and one decode, where yrs's
//! `Update::merge_updates` re-sorts its inputs at every struct and 10,000
//! small decodes each allocate an update of their own.
//!
//! Updates that do not line up (a gap, an overlap, one update twice) are not
//! joined: the caller merges those with yrs.

use std::collections::{hash_map::Entry, HashMap};

use crate::protocol::{guard::UpdateSections, lib0::write_var_u64};

/// One client's structs across the updates joined so far.
struct Run<'a> {
    clock: u32,
    end: u32,
    structs: u32,
    pieces: Vec<&'a [u8]>,
}

/// The v1 update holding every struct and delete range of `updates` (given
/// in commit order, each checked by the guard), or `None` when some client's
/// structs do not continue where its previous ones ended.
pub(super) fn join_updates(updates: &[UpdateSections<'_>]) -> Option<Vec<u8>> {
    let mut runs: HashMap<u64, Run<'_>> = HashMap::new();
    let mut deletes: HashMap<u64, Vec<(u32, u32)>> = HashMap::new();
    let mut bytes = 0usize;
    for update in updates {
        for section in update.clients.iter().filter(|s| s.structs > 0) {
            bytes += section.bytes.len();
            match runs.entry(section.client) {
                Entry::Occupied(mut run) => {
                    let run = run.get_mut();
                    if section.clock != run.end {
                        return None;
                    }
                    run.end = section.end;
                    run.structs = run.structs.checked_add(section.structs)?;
                    run.pieces.push(section.bytes);
                }
                Entry::Vacant(slot) => {
                    slot.insert(Run {
                        clock: section.clock,
                        end: section.end,
                        structs: section.structs,
                        pieces: vec![section.bytes],
                    });
                }
            }
        }
        for &(client, clock, len) in &update.deletes {
            if len > 0 {
                deletes.entry(client).or_default().push((clock, len));
            }
        }
    }
    // Clients in descending order, as yrs writes them (the order does not
    // change what the update holds; a fixed one keeps the output stable).
    let mut clients: Vec<(u64, Run<'_>)> = runs.into_iter().collect();
    clients.sort_unstable_by_key(|(client, _)| std::cmp::Reverse(*client));
    let mut out = Vec::with_capacity(bytes + 16 * (clients.len() + 1));
    write_var_u64(&mut out, clients.len() as u64);
    for (client, run) in &clients {
        write_var_u64(&mut out, u64::from(run.structs));
        write_var_u64(&mut out, *client);
        write_var_u64(&mut out, u64::from(run.clock));
        for piece in &run.pieces {
            out.extend_from_slice(piece);
        }
    }
    // The delete set: per client, its ranges sorted and coalesced.
    let mut deleted: Vec<(u64, Vec<(u32, u32)>)> = deletes
        .into_iter()
        .map(|(client, ranges)| (client, coalesce(ranges)))
        .collect();
    deleted.sort_unstable_by_key(|(client, _)| *client);
    write_var_u64(&mut out, deleted.len() as u64);
    for (client, ranges) in &deleted {
        write_var_u64(&mut out, *client);
        write_var_u64(&mut out, ranges.len() as u64);
        for &(clock, len) in ranges {
            write_var_u64(&mut out, u64::from(clock));
            write_var_u64(&mut out, u64::from(len));
        }
    }
    Some(out)
}

/// `ranges` (clock, length) sorted, overlapping and adjacent ones made one.
/// Every end fits in u32 (the guard checked each range).
fn coalesce(mut ranges: Vec<(u32, u32)>) -> Vec<(u32, u32)> {
    ranges.sort_unstable();
    let mut out: Vec<(u32, u32)> = Vec::with_capacity(ranges.len());
    for (clock, len) in ranges {
        let end = clock.saturating_add(len);
        match out.last_mut() {
            Some((last, last_len)) if clock <= last.saturating_add(*last_len) => {
                *last_len = end.max(last.saturating_add(*last_len)) - *last;
            }
            _ => out.push((clock, len)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_sorted_and_overlapping_or_adjacent_ones_joined() {
        assert_eq!(
            coalesce(vec![(10, 2), (0, 3), (3, 1), (11, 5), (20, 1)]),
            [(0, 4), (10, 6), (20, 1)]
        );
        assert_eq!(coalesce(vec![(5, 10), (6, 1)]), [(5, 10)]);
    }
}

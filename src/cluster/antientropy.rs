//! Anti-entropy: how two instances whose copies of a board drifted apart (a
//! lost message, a Redis restart, a board opened late) find out and catch up.
//!
//! Each instance publishes a [`Summary`] of a board now and then. A receiver
//! compares it with its own copy ([`answer`]): what the sender lacks goes back
//! as an update; if the sender has something the receiver lacks, the receiver
//! also sends its own summary (marked as a reply, which is never answered with
//! a summary again, so exchanges stop after one round). Copies that agree send
//! nothing.
//!
//! Deletions do not move a Yjs state vector, so a summary also carries a digest
//! of the delete set: when digests differ, each side sends its deletions.

use bytes::Bytes;
use yrs::{updates::encoder::Encode, Doc, IdSet, ReadTxn, StateVector, Transact};

use super::envelope::Summary;

/// A board's summary: its state vector and the digest of its delete set.
pub fn summarize(doc: &Doc) -> Summary {
    let snapshot = doc.transact().snapshot();
    Summary {
        state_vector: Bytes::from(snapshot.state_map.encode_v1()),
        deletes: digest(&snapshot.delete_set),
    }
}

/// What to send after reading another instance's summary.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Answer {
    /// What the other copy lacks, as one v1 update.
    pub update: Option<Vec<u8>>,
    /// Our own summary, so the other instance sends what we lack.
    pub summary: Option<Summary>,
}

/// Compares our `doc` with another copy's summary. `ask_back` is false when
/// the summary was itself a reply (then we never reply with ours).
pub fn answer(doc: &Doc, remote: &StateVector, remote_deletes: u64, ask_back: bool) -> Answer {
    let txn = doc.transact();
    let snapshot = txn.snapshot();
    let local = &snapshot.state_map;
    let deletes = digest(&snapshot.delete_set);
    let deletes_differ = deletes != remote_deletes;
    let we_have_more = local
        .iter()
        .any(|(client, &clock)| clock > remote.get(client));
    let they_have_more = remote
        .iter()
        .any(|(client, &clock)| clock > local.get(client));
    Answer {
        // The diff carries every deletion we know of, whatever the vector says.
        update: (we_have_more || deletes_differ).then(|| txn.encode_diff_v1(remote)),
        summary: (ask_back && (they_have_more || deletes_differ)).then(|| Summary {
            state_vector: Bytes::from(local.encode_v1()),
            deletes,
        }),
    }
}

/// FNV-1a over the delete set's clients and ranges, which yrs keeps sorted
/// and merged: equal sets give equal digests on every instance and version.
fn digest(deletes: &IdSet) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash = OFFSET;
    let mut feed = |bytes: &[u8]| {
        for &byte in bytes {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(PRIME);
        }
    };
    for (client, ranges) in deletes.iter() {
        feed(&client.get().to_le_bytes());
        for range in ranges.iter() {
            feed(&range.start.to_le_bytes());
            feed(&range.end.to_le_bytes());
        }
    }
    hash
}

#[cfg(test)]
mod tests {
    use yrs::{updates::decoder::Decode, GetString, Map, Text, Update};

    use super::*;

    fn apply(doc: &Doc, update: &[u8]) {
        let update = Update::decode_v1(update).expect("decodes");
        doc.transact_mut().apply_update(update).expect("applies");
    }

    fn full(doc: &Doc) -> Vec<u8> {
        doc.transact()
            .encode_state_as_update_v1(&StateVector::default())
    }

    fn vector(summary: &Summary) -> StateVector {
        StateVector::decode_v1(&summary.state_vector).expect("state vector")
    }

    /// Whether two copies summarize the same (encoded vectors may list their
    /// clients in any order).
    fn same(a: &Doc, b: &Doc) -> bool {
        let (a, b) = (summarize(a), summarize(b));
        vector(&a) == vector(&b) && a.deletes == b.deletes
    }

    /// Runs one exchange as instances do: `a` announces, `b` answers, `a`
    /// answers a reply summary without asking back.
    fn exchange(a: &Doc, b: &Doc) {
        let announced = summarize(a);
        let from_b = answer(b, &vector(&announced), announced.deletes, true);
        if let Some(update) = &from_b.update {
            apply(a, update);
        }
        if let Some(reply) = &from_b.summary {
            let from_a = answer(a, &vector(reply), reply.deletes, false);
            assert!(from_a.summary.is_none(), "a reply is never asked back");
            if let Some(update) = &from_a.update {
                apply(b, update);
            }
        }
    }

    #[test]
    fn copies_that_agree_send_nothing() {
        let a = Doc::new();
        a.get_or_insert_map("m")
            .insert(&mut a.transact_mut(), "k", 1);
        let b = Doc::new();
        apply(&b, &full(&a));
        let summary = summarize(&a);
        assert_eq!(
            answer(&b, &vector(&summary), summary.deletes, true),
            Answer::default()
        );
    }

    #[test]
    fn one_exchange_brings_both_sides_everything() {
        let a = Doc::new();
        let b = Doc::new();
        a.get_or_insert_map("m")
            .insert(&mut a.transact_mut(), "from_a", 1);
        b.get_or_insert_map("m")
            .insert(&mut b.transact_mut(), "from_b", 2);
        exchange(&a, &b);
        for doc in [&a, &b] {
            let map = doc.get_or_insert_map("m");
            let txn = doc.transact();
            assert!(map.get(&txn, "from_a").is_some() && map.get(&txn, "from_b").is_some());
        }
        assert!(same(&a, &b));
    }

    #[test]
    fn a_lost_deletion_is_found_although_state_vectors_agree() {
        let a = Doc::new();
        let text = a.get_or_insert_text("t");
        text.insert(&mut a.transact_mut(), 0, "hello world");
        let b = Doc::new();
        apply(&b, &full(&a));
        // Only a sees this deletion: no new struct, the vectors stay equal.
        text.remove_range(&mut a.transact_mut(), 5, 6);
        assert_eq!(vector(&summarize(&a)), vector(&summarize(&b)));
        assert_ne!(summarize(&a).deletes, summarize(&b).deletes);
        exchange(&b, &a);
        let b_text = b.get_or_insert_text("t");
        assert_eq!(b_text.get_string(&b.transact()), "hello");
        assert!(same(&a, &b));
        // And then they are quiet.
        let summary = summarize(&a);
        assert_eq!(
            answer(&b, &vector(&summary), summary.deletes, true),
            Answer::default()
        );
    }
}

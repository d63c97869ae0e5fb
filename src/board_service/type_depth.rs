//! Refuses an update that would nest shared types deeper than
//! [`MAX_TYPE_DEPTH`], before yrs integrates it.
//!
//! yrs follows nested types recursively: deleting (or overwriting) a map that
//! holds a chain of 20,000 nested maps overflows the stack, which aborts the
//! process. The chain itself costs a client a few bytes a level, so the depth
//! must be bounded where it grows: at each new shared type. A type's depth is
//! fixed when it is created (its parent never changes), so checking every new
//! type against its parent's depth bounds the whole document.
//!
//! Yjs encodes an item's parent only when it has no neighbour; otherwise the
//! item belongs where its origin (else right origin) does. Parents are
//! resolved from the update's own items where they are there, else from the
//! document: yrs keeps parent links private, but a [`StickyIndex`] on an item
//! resolves to the shared type that holds it. That costs a walk over the
//! item's left siblings, so each item is resolved at most once per update,
//! and an update may ask the document about at most [`MAX_DOCUMENT_LOOKUPS`]
//! distinct items.

use std::collections::HashMap;

use yrs::{block::ClientID, Assoc, BranchID, IndexScope, ReadTxn, StateVector, StickyIndex, ID};

use super::content_json::MAX_TYPE_DEPTH;
use crate::protocol::guard::{self, GuardLimits, ItemId, ItemLink, ItemRecord, UpdateShape};

/// Items of the document one update may have resolved to their parents.
/// Pasting shapes anchors them at one place, and new map entries name their
/// parent outright; only an update scattering new shared types beside many
/// existing items gets near this.
pub const MAX_DOCUMENT_LOOKUPS: usize = 1024;

/// Why an update was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NestingError {
    /// A new shared type would sit deeper than [`MAX_TYPE_DEPTH`].
    #[error("the update nests shared types more than {MAX_TYPE_DEPTH} levels deep")]
    TooDeep,
    /// A new shared type belongs under content neither the update nor the
    /// document has, so its depth cannot be known; yrs would hold it back
    /// until that content arrives. A client always has what it builds on
    /// from this server, or sends it along.
    #[error("the update nests a shared type under content the board does not have")]
    MissingParent,
    /// More than [`MAX_DOCUMENT_LOOKUPS`] items had to be looked up.
    #[error("the update anchors new shared types at too many places")]
    TooScattered,
    /// The update's items name each other in a cycle, or it did not pass the
    /// payload guard (callers check that first).
    #[error("the update's items do not form a tree")]
    Malformed,
}

/// Checks `update` (v1, accepted by the payload guard, which found `shape`)
/// against the document `txn` reads, before it is applied. Free when it holds
/// no shared types; otherwise one more walk of its bytes.
pub fn check_update<T: ReadTxn>(
    txn: &T,
    update: &[u8],
    shape: &UpdateShape,
) -> Result<(), NestingError> {
    if shape.type_items == 0 {
        return Ok(());
    }
    let records = guard::item_records_v1(update, &GuardLimits::default())
        .map_err(|_| NestingError::Malformed)?;
    Depths::new(txn, &records).check_all()
}

/// Where a resolution stands: the parent type of some item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Parent {
    /// A root type (depth 1).
    Root,
    /// The type held by this item.
    Type(ItemId),
    /// Content yrs has collected (a deleted type's children): whatever lands
    /// there is collected too and never nests.
    Collected,
}

struct Depths<'u, 't, T> {
    txn: &'t T,
    records: &'u [ItemRecord<'u>],
    /// Per client, indexes into `records` in clock order.
    by_client: HashMap<u64, Vec<usize>>,
    /// Parents found so far, per record (path compression).
    parents: Vec<Option<Parent>>,
    /// Depths of types found so far (the update's and the document's).
    depths: HashMap<ItemId, usize>,
    /// Parents of document items found so far.
    document_parents: HashMap<ItemId, Parent>,
    /// What the document holds, to tell collected items from missing ones.
    state: StateVector,
}

impl<'u, 't, T: ReadTxn> Depths<'u, 't, T> {
    fn new(txn: &'t T, records: &'u [ItemRecord<'u>]) -> Self {
        let mut by_client: HashMap<u64, Vec<usize>> = HashMap::new();
        for (index, record) in records.iter().enumerate() {
            by_client.entry(record.client).or_default().push(index);
        }
        // The encoding lists a client's items in clock order already.
        Self {
            txn,
            records,
            by_client,
            parents: vec![None; records.len()],
            depths: HashMap::new(),
            document_parents: HashMap::new(),
            state: txn.state_vector(),
        }
    }

    fn check_all(mut self) -> Result<(), NestingError> {
        for index in 0..self.records.len() {
            let record = self.records[index];
            if record.is_type {
                self.type_depth((record.client, record.clock))?;
            }
        }
        Ok(())
    }

    /// The record covering `id`, if the update holds it.
    fn record_of(&self, (client, clock): ItemId) -> Option<usize> {
        let indexes = self.by_client.get(&client)?;
        let after = indexes.partition_point(|&i| self.records[i].clock <= clock);
        let index = *indexes.get(after.checked_sub(1)?)?;
        let record = &self.records[index];
        (clock - record.clock < record.len).then_some(index)
    }

    /// The depth of the type held by item `id`: its parent's depth plus one.
    /// Walks up iteratively, stopping as soon as the chain is too deep.
    fn type_depth(&mut self, id: ItemId) -> Result<usize, NestingError> {
        let mut chain = Vec::new();
        let mut current = id;
        let base = loop {
            if let Some(&depth) = self.depths.get(&current) {
                break depth;
            }
            chain.push(current);
            if chain.len() >= MAX_TYPE_DEPTH {
                return Err(NestingError::TooDeep);
            }
            match self.parent_of(current)? {
                Parent::Root => break 1,
                Parent::Collected => break 0,
                Parent::Type(parent) => current = parent,
            }
        };
        // `chain` runs from `id` up; the last one sits just under `base`.
        for (above, &type_id) in chain.iter().rev().enumerate() {
            let depth = if base == 0 { 0 } else { base + above + 1 };
            self.depths.insert(type_id, depth);
        }
        let depth = self.depths.get(&id).copied().unwrap_or(base);
        if depth > MAX_TYPE_DEPTH {
            return Err(NestingError::TooDeep);
        }
        Ok(depth)
    }

    /// The type that holds item `id`, following neighbours within the update
    /// (remembering what every visited item resolved to) and asking the
    /// document about items the update does not hold.
    fn parent_of(&mut self, id: ItemId) -> Result<Parent, NestingError> {
        let mut visited = Vec::new();
        let mut current = id;
        let parent = loop {
            let Some(index) = self.record_of(current) else {
                break self.document_parent(current)?;
            };
            if let Some(parent) = self.parents[index] {
                break parent;
            }
            if visited.len() > self.records.len() {
                return Err(NestingError::Malformed);
            }
            visited.push(index);
            match self.records[index].link {
                ItemLink::Root(_) => break Parent::Root,
                ItemLink::Parent(parent) => break Parent::Type(parent),
                ItemLink::After(neighbour) | ItemLink::Before(neighbour) => current = neighbour,
            }
        };
        for index in visited {
            self.parents[index] = Some(parent);
        }
        Ok(parent)
    }

    /// The type that holds the document's item `id`.
    fn document_parent(&mut self, id: ItemId) -> Result<Parent, NestingError> {
        if let Some(&parent) = self.document_parents.get(&id) {
            return Ok(parent);
        }
        if self.document_parents.len() >= MAX_DOCUMENT_LOOKUPS {
            return Err(NestingError::TooScattered);
        }
        let (client, clock) = id;
        let item = ID::new(ClientID::new(client), clock);
        if self.state.get(&item.client) <= clock {
            return Err(NestingError::MissingParent);
        }
        let offset =
            StickyIndex::new(IndexScope::Relative(item), Assoc::After).get_offset(self.txn);
        let parent = match offset.map(|offset| offset.branch.id()) {
            Some(BranchID::Root(_)) => Parent::Root,
            Some(BranchID::Nested(holder)) => Parent::Type((holder.client.get(), holder.clock)),
            // Held, but not in a live type: garbage-collected content.
            None => Parent::Collected,
        };
        self.document_parents.insert(id, parent);
        Ok(parent)
    }
}

#[cfg(test)]
mod tests {
    use yrs::{updates::decoder::Decode, Doc, Map, MapPrelim, MapRef, Transact, Update, WriteTxn};

    use super::*;

    /// A document whose root map holds `levels` maps, each inside the last,
    /// and the update that built it.
    fn nested_maps(doc: &Doc, levels: usize) -> Vec<u8> {
        let mut txn = doc.transact_mut();
        let root = txn.get_or_insert_map("root");
        let mut current: MapRef = root;
        for _ in 0..levels {
            current = current.insert(&mut txn, "child", MapPrelim::default());
        }
        txn.encode_update_v1()
    }

    fn check_on(doc: &Doc, update: &[u8]) -> Result<(), NestingError> {
        let shape = guard::check_update_v1(update, &GuardLimits::default())
            .map_err(|_| NestingError::Malformed)?;
        check_update(&doc.transact(), update, &shape)
    }

    #[test]
    fn types_up_to_the_limit_pass_and_one_more_is_refused() {
        // A root is depth 1, so MAX_TYPE_DEPTH - 1 maps fit under it.
        let at_limit = nested_maps(&Doc::new(), MAX_TYPE_DEPTH - 1);
        assert_eq!(check_on(&Doc::new(), &at_limit), Ok(()));
        let past = nested_maps(&Doc::new(), MAX_TYPE_DEPTH);
        assert_eq!(check_on(&Doc::new(), &past), Err(NestingError::TooDeep));
    }

    #[test]
    fn a_chain_of_twenty_thousand_maps_is_refused_without_recursing() {
        let update = nested_maps(&Doc::new(), 20_000);
        assert_eq!(check_on(&Doc::new(), &update), Err(NestingError::TooDeep));
    }

    #[test]
    fn depth_already_in_the_document_counts() {
        let server = Doc::new();
        let client = Doc::new();
        let first = nested_maps(&client, MAX_TYPE_DEPTH - 2);
        server
            .transact_mut()
            .apply_update(Update::decode_v1(&first).expect("decodes"))
            .expect("applies");
        // One more level fits; the level after that does not.
        let before = client.transact().state_vector();
        let deepest = deepest_map(&client);
        {
            let mut txn = client.transact_mut();
            deepest.insert(&mut txn, "child", MapPrelim::default());
        }
        let one_more = client.transact().encode_state_as_update_v1(&before);
        assert_eq!(check_on(&server, &one_more), Ok(()));
        server
            .transact_mut()
            .apply_update(Update::decode_v1(&one_more).expect("decodes"))
            .expect("applies");
        let before = client.transact().state_vector();
        let deepest = deepest_map(&client);
        {
            let mut txn = client.transact_mut();
            deepest.insert(&mut txn, "child", MapPrelim::default());
        }
        let too_deep = client.transact().encode_state_as_update_v1(&before);
        assert_eq!(check_on(&server, &too_deep), Err(NestingError::TooDeep));
    }

    #[test]
    fn types_placed_beside_existing_items_take_their_parents_depth() {
        let server = Doc::new();
        let client = Doc::new();
        // A list at depth 3 (root map → map → array) with one item in it.
        let setup = {
            let mut txn = client.transact_mut();
            let root = txn.get_or_insert_map("root");
            let inner = root.insert(&mut txn, "inner", MapPrelim::default());
            let list = inner.insert(&mut txn, "list", yrs::ArrayPrelim::default());
            yrs::Array::push_back(&list, &mut txn, 1);
            drop(txn);
            client
                .transact()
                .encode_state_as_update_v1(&StateVector::default())
        };
        server
            .transact_mut()
            .apply_update(Update::decode_v1(&setup).expect("decodes"))
            .expect("applies");
        let before = client.transact().state_vector();
        {
            let mut txn = client.transact_mut();
            let root = txn.get_or_insert_map("root");
            let Some(yrs::Out::YMap(inner)) = root.get(&txn, "inner") else {
                panic!("inner map");
            };
            let Some(yrs::Out::YArray(list)) = inner.get(&txn, "list") else {
                panic!("list");
            };
            // After the existing item: its parent comes from the document.
            yrs::Array::push_back(&list, &mut txn, MapPrelim::default());
        }
        let update = client.transact().encode_state_as_update_v1(&before);
        let records =
            guard::item_records_v1(&update, &GuardLimits::default()).expect("passes the guard");
        assert!(records
            .iter()
            .any(|record| record.is_type && matches!(record.link, ItemLink::After(_))));
        let txn = server.transact();
        let mut depths = Depths::new(&txn, &records);
        let new_type = records
            .iter()
            .find(|record| record.is_type)
            .expect("a type");
        assert_eq!(depths.type_depth((new_type.client, new_type.clock)), Ok(4));
    }

    #[test]
    fn a_type_under_content_the_board_lacks_is_refused() {
        let client = Doc::new();
        nested_maps(&client, 1);
        let before = client.transact().state_vector();
        let deepest = deepest_map(&client);
        {
            let mut txn = client.transact_mut();
            deepest.insert(&mut txn, "child", MapPrelim::default());
        }
        let second = client.transact().encode_state_as_update_v1(&before);
        assert_eq!(
            check_on(&Doc::new(), &second),
            Err(NestingError::MissingParent)
        );
    }

    #[test]
    fn updates_without_types_are_not_looked_into() {
        let doc = Doc::new();
        let update = {
            let mut txn = doc.transact_mut();
            txn.get_or_insert_map("root").insert(&mut txn, "k", "v");
            txn.encode_update_v1()
        };
        assert_eq!(check_on(&Doc::new(), &update), Ok(()));
    }

    fn deepest_map(doc: &Doc) -> MapRef {
        let txn = doc.transact();
        let mut current = txn.get_map("root").expect("root");
        while let Some(yrs::Out::YMap(child)) = current.get(&txn, "child") {
            current = child;
        }
        current
    }
}

//! Restoring a version: the ordinary Yjs operations that make a document's
//! content equal to a version's. Pure (no I/O): the live board applies the
//! update this computes like any client's, so every open client converges
//! without reloading and keeps working.
//!
//! The operations run in one transaction on a copy of the live document, for
//! every root in either document, by the kind the version's content shows
//! (see [`super::content_json`]; a root empty or absent in the version is
//! cleared by the kind the live content shows):
//!
//! - map: keys whose values differ are set (nested maps on both sides are
//!   recursed into rather than replaced), keys absent from the version deleted;
//! - array and XML: when the content differs, it is all deleted and the
//!   version's elements inserted (nested types deep-copied);
//! - text: when the content or its formatting differs, it is all deleted and
//!   the version's delta inserted with its formatting attributes.

use yrs::{
    branch::BranchPtr,
    types::{text::YChange, AsPrelim, Delta},
    Array, ArrayRef, Map, MapRef, Out, ReadTxn, Text, TextRef, Transact, TransactionMut, WriteTxn,
};

use super::content_json::{
    branch_of, check_depth, doc_from_update, infer_kind, is_empty_root, render_as, render_out,
    ContentError, RootKind,
};

/// The update that turns the document `live` (a v1 update of its whole state)
/// into the content of `version` (the same), or `None` when they already
/// agree. Blocking (linear in both documents).
pub fn restore_update(live: &[u8], version: &[u8]) -> Result<Option<Vec<u8>>, ContentError> {
    // A copy of the live document with a client id of its own: what it
    // writes is new to every replica.
    let live = doc_from_update(live)?;
    let version = doc_from_update(version)?;
    // Comparing and copying follow nested types recursively.
    check_depth(&live.transact())?;
    let wanted = version.transact();
    check_depth(&wanted)?;
    let mut names: Vec<String> = wanted
        .root_refs()
        .map(|(name, _)| name.to_owned())
        .collect();
    {
        let txn = live.transact();
        names.extend(txn.root_refs().map(|(name, _)| name.to_owned()));
    }
    names.sort_unstable();
    names.dedup();
    let mut txn = live.transact_mut();
    for name in &names {
        let target = root_branch(&wanted, name).filter(|target| !is_empty_root(*target, &wanted));
        let current = root_branch(&txn, name).or_else(|| {
            // A root whose every item was collected: made anew, typed as the
            // version's content shows.
            let target = target?;
            let branch = match infer_kind(target, &wanted) {
                RootKind::Map => branch_ptr(&txn.get_or_insert_map(name.as_str())),
                RootKind::Array => branch_ptr(&txn.get_or_insert_array(name.as_str())),
                RootKind::Text => branch_ptr(&txn.get_or_insert_text(name.as_str())),
                RootKind::Xml => branch_ptr(&txn.get_or_insert_xml_fragment(name.as_str())),
            };
            Some(branch)
        });
        if let Some(current) = current {
            restore_root(&mut txn, current, target, &wanted);
        }
    }
    let update = txn.encode_update_v1();
    let changed = !txn.delete_set().is_empty() || txn.before_state() != txn.after_state();
    Ok(changed.then_some(update))
}

fn branch_ptr(shared: &impl AsRef<yrs::branch::Branch>) -> BranchPtr {
    BranchPtr::from(shared.as_ref())
}

fn root_branch<T: ReadTxn>(txn: &T, name: &str) -> Option<BranchPtr> {
    txn.root_refs()
        .find(|(root, _)| *root == name)
        .and_then(|(_, out)| branch_of(&out))
}

/// Makes the live root `current` hold what `target` holds (`None`: nothing).
fn restore_root<T: ReadTxn>(
    txn: &mut TransactionMut,
    current: BranchPtr,
    target: Option<BranchPtr>,
    wanted: &T,
) {
    let live_kind = infer_kind(current, txn);
    let Some(target) = target else {
        clear(txn, current, live_kind);
        return;
    };
    let kind = infer_kind(target, wanted);
    match kind {
        RootKind::Map => {
            if current.content_len > 0 {
                clear(txn, current, live_kind);
            }
            restore_map(txn, &MapRef::from(current), &MapRef::from(target), wanted);
        }
        RootKind::Text => restore_text(txn, current, live_kind, target, wanted),
        RootKind::Array | RootKind::Xml => {
            let same = live_kind == kind
                && render_as(current, kind, txn) == render_as(target, kind, wanted);
            if same {
                return;
            }
            clear(txn, current, live_kind);
            clear_map(txn, &MapRef::from(current));
            let array = ArrayRef::from(current);
            let items: Vec<Out> = ArrayRef::from(target).iter(wanted).collect();
            for (index, item) in items.iter().enumerate() {
                let index = u32::try_from(index).unwrap_or(u32::MAX);
                array.insert(txn, index, item.as_prelim(wanted));
            }
        }
    }
}

/// Deletes a root's content, by the kind it holds.
fn clear(txn: &mut TransactionMut, branch: BranchPtr, kind: RootKind) {
    match kind {
        RootKind::Map => clear_map(txn, &MapRef::from(branch)),
        RootKind::Text => {
            let text = TextRef::from(branch);
            let len = text.len(txn);
            if len > 0 {
                text.remove_range(txn, 0, len);
            }
        }
        RootKind::Array | RootKind::Xml => {
            let array = ArrayRef::from(branch);
            let len = array.len(txn);
            if len > 0 {
                array.remove_range(txn, 0, len);
            }
        }
    }
}

fn clear_map(txn: &mut TransactionMut, map: &MapRef) {
    let keys: Vec<String> = map.keys(txn).map(str::to_owned).collect();
    for key in keys {
        map.remove(txn, &key);
    }
}

fn restore_map<T: ReadTxn>(
    txn: &mut TransactionMut,
    current: &MapRef,
    target: &MapRef,
    wanted: &T,
) {
    let stale: Vec<String> = current
        .keys(txn)
        .filter(|key| target.get(wanted, key).is_none())
        .map(str::to_owned)
        .collect();
    for key in stale {
        current.remove(txn, &key);
    }
    let entries: Vec<(String, Out)> = target
        .iter(wanted)
        .map(|(key, value)| (key.to_owned(), value))
        .collect();
    for (key, value) in entries {
        match (current.get(txn, &key), &value) {
            (Some(Out::YMap(live)), Out::YMap(version)) => restore_map(txn, &live, version, wanted),
            (Some(Out::Any(live)), Out::Any(version)) if live == *version => {}
            (Some(live), version)
                if same_type(&live, version)
                    && render_out(&live, txn) == render_out(version, wanted) => {}
            _ => {
                current.insert(txn, key, value.as_prelim(wanted));
            }
        }
    }
}

/// Whether two values are of one kind (a text and an array may render alike).
fn same_type(a: &Out, b: &Out) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

fn restore_text<T: ReadTxn>(
    txn: &mut TransactionMut,
    current: BranchPtr,
    live_kind: RootKind,
    target: BranchPtr,
    wanted: &T,
) {
    let version_delta = TextRef::from(target).diff(wanted, YChange::identity);
    if live_kind == RootKind::Text {
        let live_delta = TextRef::from(current).diff(txn, YChange::identity);
        let same = live_delta.len() == version_delta.len()
            && live_delta
                .iter()
                .zip(&version_delta)
                .all(|(live, version)| {
                    live.attributes == version.attributes
                        && same_type(&live.insert, &version.insert)
                        && render_out(&live.insert, txn) == render_out(&version.insert, wanted)
                });
        if same {
            return;
        }
    }
    clear(txn, current, live_kind);
    let delta: Vec<Delta<yrs::In>> = version_delta
        .into_iter()
        .map(|chunk| Delta::Inserted(chunk.insert.as_prelim(wanted), chunk.attributes))
        .collect();
    TextRef::from(current).apply_delta(txn, delta);
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};
    use yrs::{
        types::Attrs, updates::decoder::Decode, Any, ArrayPrelim, Doc, GetString, MapPrelim,
        StateVector, Update, Xml, XmlElementPrelim, XmlFragment, XmlTextPrelim,
    };

    use super::*;
    use crate::board_service::content_json::{render_update, KindOverrides};

    fn encoded(doc: &Doc) -> Vec<u8> {
        doc.transact()
            .encode_state_as_update_v1(&StateVector::default())
    }

    fn json_of(update: &[u8]) -> Value {
        render_update(update, &KindOverrides::new()).expect("renders")
    }

    /// Restores `version` onto `live` (a replica of the same history) and
    /// checks the result renders as the version does.
    fn restore_and_check(live: &Doc, version: &[u8]) -> Doc {
        let update = restore_update(&encoded(live), version).expect("restores");
        if let Some(update) = update {
            live.transact_mut()
                .apply_update(Update::decode_v1(&update).expect("decodes"))
                .expect("applies");
        }
        assert_eq!(json_of(&encoded(live)), json_of(version));
        live.clone()
    }

    fn bold() -> Attrs {
        [("bold".into(), Any::Bool(true))].into_iter().collect()
    }

    #[test]
    fn maps_arrays_text_and_xml_come_back() {
        let doc = Doc::new();
        {
            let mut txn = doc.transact_mut();
            let shapes = txn.get_or_insert_map("shapes");
            shapes.insert(&mut txn, "a", 1);
            let nested = shapes.insert(&mut txn, "n", MapPrelim::default());
            nested.insert(&mut txn, "x", 1);
            let list = txn.get_or_insert_array("list");
            let item = list.push_back(&mut txn, MapPrelim::default());
            item.insert(&mut txn, "id", "one");
            list.push_back(&mut txn, ArrayPrelim::from([1, 2]));
            let text = txn.get_or_insert_text("title");
            text.insert(&mut txn, 0, "hello world");
            text.format(&mut txn, 0, 5, bold());
            let xml = txn.get_or_insert_xml_fragment("pm");
            let p = xml.push_back(&mut txn, XmlElementPrelim::empty("p"));
            p.insert_attribute(&mut txn, "class", "lead");
            p.push_back(&mut txn, XmlTextPrelim::new("para"));
        }
        let version = encoded(&doc);
        let nested_before = doc
            .transact()
            .get_map("shapes")
            .and_then(|m| m.get(&doc.transact(), "n"));
        {
            let mut txn = doc.transact_mut();
            let shapes = txn.get_or_insert_map("shapes");
            shapes.insert(&mut txn, "a", 2);
            shapes.insert(&mut txn, "b", "new");
            if let Some(Out::YMap(nested)) = shapes.get(&txn, "n") {
                nested.insert(&mut txn, "x", 5);
                nested.insert(&mut txn, "y", 6);
            }
            let list = txn.get_or_insert_array("list");
            list.remove(&mut txn, 0);
            list.push_back(&mut txn, "tail");
            let text = txn.get_or_insert_text("title");
            text.insert(&mut txn, 11, "!!!");
            text.format(
                &mut txn,
                0,
                5,
                [("bold".into(), Any::Null)].into_iter().collect(),
            );
            let xml = txn.get_or_insert_xml_fragment("pm");
            xml.push_back(&mut txn, XmlElementPrelim::empty("h1"));
            let extra = txn.get_or_insert_map("extra");
            extra.insert(&mut txn, "k", "v");
        }
        assert_ne!(json_of(&encoded(&doc)), json_of(&version));
        let restored = restore_and_check(&doc, &version);
        // The nested map was edited in place, not replaced.
        let nested_after = restored
            .transact()
            .get_map("shapes")
            .and_then(|m| m.get(&restored.transact(), "n"));
        assert_eq!(nested_before, nested_after);
        // Formatting came back.
        let text = restored.transact().get_text("title").expect("text");
        let delta = text.diff(&restored.transact(), YChange::identity);
        assert_eq!(delta[0].attributes.as_deref(), Some(&bold()));
        assert_eq!(text.get_string(&restored.transact()), "hello world");
        assert_eq!(
            json_of(&encoded(&restored))["roots"]["pm"],
            json!("<p class=\"lead\">para</p>")
        );
    }

    #[test]
    fn an_unchanged_document_needs_no_update() {
        let doc = Doc::new();
        {
            let mut txn = doc.transact_mut();
            let map = txn.get_or_insert_map("m");
            map.insert(&mut txn, "k", "v");
            let text = txn.get_or_insert_text("t");
            text.insert(&mut txn, 0, "x");
        }
        let state = encoded(&doc);
        assert_eq!(restore_update(&state, &state).expect("restores"), None);
    }

    #[test]
    fn restoring_the_state_before_undoes_a_restore() {
        let doc = Doc::new();
        {
            let mut txn = doc.transact_mut();
            let map = txn.get_or_insert_map("m");
            map.insert(&mut txn, "k", "old");
        }
        let old = encoded(&doc);
        {
            let mut txn = doc.transact_mut();
            let map = txn.get_or_insert_map("m");
            map.insert(&mut txn, "k", "new");
            let list = txn.get_or_insert_array("l");
            list.push_back(&mut txn, 1);
        }
        let before = encoded(&doc);
        restore_and_check(&doc, &old);
        restore_and_check(&doc, &before);
    }

    #[test]
    fn concurrent_edits_after_the_restore_survive() {
        let server = Doc::new();
        {
            let mut txn = server.transact_mut();
            let text = txn.get_or_insert_text("t");
            text.insert(&mut txn, 0, "version");
        }
        let version = encoded(&server);
        {
            let mut txn = server.transact_mut();
            let text = txn.get_or_insert_text("t");
            text.insert(&mut txn, 7, " edited");
        }
        let update = restore_update(&encoded(&server), &version)
            .expect("restores")
            .expect("changes");
        // A client that typed meanwhile, unaware of the restore.
        let client = Doc::new();
        client
            .transact_mut()
            .apply_update(Update::decode_v1(&encoded(&server)).expect("decodes"))
            .expect("applies");
        {
            let mut txn = client.transact_mut();
            let text = txn.get_or_insert_text("t");
            text.insert(&mut txn, 0, ">");
        }
        for doc in [&server, &client] {
            doc.transact_mut()
                .apply_update(Update::decode_v1(&update).expect("decodes"))
                .expect("applies");
        }
        let client_state = encoded(&client);
        server
            .transact_mut()
            .apply_update(Update::decode_v1(&client_state).expect("decodes"))
            .expect("applies");
        let server_state = encoded(&server);
        client
            .transact_mut()
            .apply_update(Update::decode_v1(&server_state).expect("decodes"))
            .expect("applies");
        assert_eq!(json_of(&encoded(&server)), json_of(&encoded(&client)));
        let text = json_of(&encoded(&server))["roots"]["t"].clone();
        assert!(text.as_str().is_some_and(|t| t.contains("version")));
    }
}

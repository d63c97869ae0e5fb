//! A Yjs document as JSON: `{"roots": {NAME: JSON}}`. Pure (no I/O).
//!
//! An update names its root types but not their kinds (yrs decodes them as
//! untyped branches), so each root's kind is inferred from its content,
//! unless the caller names it:
//!
//! - sequence content whose first element is an XML element or XML text: `xml`
//!   (rendered as its XML string);
//! - sequence content holding characters: `text` (its plain string; formatting
//!   attributes and embeds are left out);
//! - any other sequence content: `array`;
//! - no sequence content: `map`.
//!
//! A root with no content at all (never written, or emptied: Yjs cannot
//! remove a root) is left out, unless named in the overrides.
//!
//! Values: a map is an object, an array an array, nested shared types the same
//! way recursively (a nested text is its plain string, nested XML its XML
//! string), binary content a base64 string (standard alphabet, padded),
//! numbers JSON numbers (integral values as integers; NaN and infinities,
//! which JSON cannot hold, as `null`), `undefined` as `null`, and a
//! subdocument as its guid string.
//!
//! Rendering follows nested shared types recursively, and their depth is the
//! client's choice (each update may nest one more map in the last), so a
//! document nesting them deeper than [`MAX_TYPE_DEPTH`] is refused before any
//! recursion ([`ContentError::TooDeep`]): followed, it would overflow the
//! thread's stack and abort the process. Whiteboards nest a few levels.

use std::{collections::BTreeMap, fmt};

use base64::Engine;
use serde_json::{Map, Number, Value};
use yrs::{
    branch::BranchPtr,
    types::text::{Diff, YChange},
    updates::decoder::Decode,
    Any, Array, ArrayRef, Doc, GetString, Map as _, MapRef, Out, ReadTxn, Text, TextRef, Transact,
    Update, XmlFragmentRef,
};

/// The kind of a root type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootKind {
    /// `Y.Map`.
    Map,
    /// `Y.Array`.
    Array,
    /// `Y.Text`.
    Text,
    /// `Y.XmlFragment`.
    Xml,
}

impl RootKind {
    /// Parses `map`, `array`, `text` or `xml`.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "map" => Some(Self::Map),
            "array" => Some(Self::Array),
            "text" => Some(Self::Text),
            "xml" => Some(Self::Xml),
            _ => None,
        }
    }

    /// The spelling [`Self::parse`] reads.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Map => "map",
            Self::Array => "array",
            Self::Text => "text",
            Self::Xml => "xml",
        }
    }
}

/// Roots whose kind the caller names (the rest are inferred).
pub type KindOverrides = BTreeMap<String, RootKind>;

/// Why a `types` list was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadTypes(String);

/// Parses `name:kind,name:kind` (kinds `map`, `array`, `text`, `xml`; a root
/// name may itself hold `:`, the kind is what follows the last one).
pub fn parse_types(list: &str) -> Result<KindOverrides, BadTypes> {
    let mut kinds = KindOverrides::new();
    for entry in list.split(',').filter(|entry| !entry.is_empty()) {
        let (name, kind) = entry.rsplit_once(':').ok_or_else(|| {
            BadTypes(format!(
                "types entry {entry:?} is not NAME:KIND (KIND one of map, array, text, xml)"
            ))
        })?;
        let kind = RootKind::parse(kind).ok_or_else(|| {
            BadTypes(format!(
                "types entry {entry:?}: unknown kind {kind:?} (expected map, array, text or xml)"
            ))
        })?;
        if name.is_empty() {
            return Err(BadTypes(format!("types entry {entry:?} has no root name")));
        }
        kinds.insert(name.to_owned(), kind);
    }
    Ok(kinds)
}

/// Deepest nesting of shared types rendered as JSON or restored (a root is
/// depth 1, a map in it 2, …).
pub const MAX_TYPE_DEPTH: usize = 64;

/// Why a document could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContentError {
    /// The bytes are not a Yjs v1 update.
    #[error("the stored state does not decode: {0}")]
    Decode(String),
    /// Shared types nest deeper than [`MAX_TYPE_DEPTH`].
    #[error(
        "the document nests shared types more than {MAX_TYPE_DEPTH} levels deep; \
         read it whole as a Yjs update instead"
    )]
    TooDeep,
}

/// Refuses a document whose shared types nest deeper than
/// [`MAX_TYPE_DEPTH`]. Iterative (an explicit stack), linear in the
/// document, so the check itself is safe at any depth.
pub(super) fn check_depth<T: ReadTxn>(txn: &T) -> Result<(), ContentError> {
    let mut pending: Vec<(BranchPtr, usize)> = txn
        .root_refs()
        .filter_map(|(_, root)| branch_of(&root))
        .map(|branch| (branch, 1))
        .collect();
    while let Some((branch, depth)) = pending.pop() {
        let (map, array) = (MapRef::from(branch), ArrayRef::from(branch));
        let values = map.iter(txn).map(|(_, value)| value).chain(array.iter(txn));
        for value in values {
            if let Some(inner) = branch_of(&value) {
                if depth >= MAX_TYPE_DEPTH {
                    return Err(ContentError::TooDeep);
                }
                pending.push((inner, depth + 1));
            }
        }
    }
    Ok(())
}

impl fmt::Display for RootKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Decodes a v1 update (a board's state) into a fresh document.
pub fn doc_from_update(update: &[u8]) -> Result<Doc, ContentError> {
    let doc = Doc::new();
    let decoded = Update::decode_v1(update).map_err(|err| ContentError::Decode(err.to_string()))?;
    doc.transact_mut()
        .apply_update(decoded)
        .map_err(|err| ContentError::Decode(err.to_string()))?;
    Ok(doc)
}

/// `{"roots": {...}}` of a v1 update. Blocking (linear in the document).
pub fn render_update(update: &[u8], overrides: &KindOverrides) -> Result<Value, ContentError> {
    let doc = doc_from_update(update)?;
    render_doc(&doc, overrides)
}

/// `{"roots": {...}}` of a document.
pub fn render_doc(doc: &Doc, overrides: &KindOverrides) -> Result<Value, ContentError> {
    let txn = doc.transact();
    check_depth(&txn)?;
    let mut roots = Map::new();
    for (name, root) in txn.root_refs() {
        let Some(branch) = branch_of(&root) else {
            continue;
        };
        let value = match overrides.get(name) {
            Some(kind) => render_as(branch, *kind, &txn),
            // A root with no live content is left out: Yjs cannot remove a
            // root, so one emptied is the same as one never written.
            None if is_empty_root(branch, &txn) => continue,
            None => render_root(branch, &txn).1,
        };
        roots.insert(name.to_owned(), value);
    }
    let mut out = Map::new();
    out.insert("roots".to_owned(), Value::Object(roots));
    Ok(Value::Object(out))
}

/// The branch behind a shared type.
pub(super) fn branch_of(out: &Out) -> Option<BranchPtr> {
    out.try_branch().map(BranchPtr::from)
}

/// Whether a root holds nothing (no entries, no sequence content).
pub(super) fn is_empty_root<T: ReadTxn>(branch: BranchPtr, txn: &T) -> bool {
    branch.content_len == 0 && MapRef::from(branch).len(txn) == 0
}

/// A root's inferred kind and its JSON (one pass over its content).
pub(super) fn render_root<T: ReadTxn>(branch: BranchPtr, txn: &T) -> (RootKind, Value) {
    if branch.content_len == 0 {
        return (RootKind::Map, render_map(&MapRef::from(branch), txn));
    }
    let array = ArrayRef::from(branch);
    if array.iter(txn).next().is_some_and(|first| is_xml(&first)) {
        return (RootKind::Xml, render_as(branch, RootKind::Xml, txn));
    }
    let delta = TextRef::from(branch).diff(txn, YChange::identity);
    if delta.iter().any(is_string_chunk) {
        return (RootKind::Text, Value::String(plain_text(&delta)));
    }
    (RootKind::Array, render_array(&array, txn))
}

/// A root's inferred kind.
pub(super) fn infer_kind<T: ReadTxn>(branch: BranchPtr, txn: &T) -> RootKind {
    if branch.content_len == 0 {
        return RootKind::Map;
    }
    if ArrayRef::from(branch)
        .iter(txn)
        .next()
        .is_some_and(|first| is_xml(&first))
    {
        return RootKind::Xml;
    }
    if TextRef::from(branch)
        .diff(txn, YChange::identity)
        .iter()
        .any(is_string_chunk)
    {
        RootKind::Text
    } else {
        RootKind::Array
    }
}

fn is_xml(out: &Out) -> bool {
    matches!(
        out,
        Out::YXmlElement(_) | Out::YXmlText(_) | Out::YXmlFragment(_)
    )
}

fn is_string_chunk(chunk: &Diff<YChange>) -> bool {
    matches!(&chunk.insert, Out::Any(Any::String(_)))
}

fn plain_text(delta: &[Diff<YChange>]) -> String {
    let mut text = String::new();
    for chunk in delta {
        if let Out::Any(Any::String(s)) = &chunk.insert {
            text.push_str(s);
        }
    }
    text
}

/// A branch rendered as `kind`, whatever its content.
pub(super) fn render_as<T: ReadTxn>(branch: BranchPtr, kind: RootKind, txn: &T) -> Value {
    match kind {
        RootKind::Map => render_map(&MapRef::from(branch), txn),
        RootKind::Array => render_array(&ArrayRef::from(branch), txn),
        RootKind::Text => Value::String(TextRef::from(branch).get_string(txn)),
        RootKind::Xml => Value::String(XmlFragmentRef::from(branch).get_string(txn)),
    }
}

fn render_map<T: ReadTxn>(map: &MapRef, txn: &T) -> Value {
    Value::Object(
        map.iter(txn)
            .map(|(key, value)| (key.to_owned(), render_out(&value, txn)))
            .collect(),
    )
}

fn render_array<T: ReadTxn>(array: &ArrayRef, txn: &T) -> Value {
    Value::Array(
        array
            .iter(txn)
            .map(|value| render_out(&value, txn))
            .collect(),
    )
}

/// Any value held by a shared type, as JSON.
pub fn render_out<T: ReadTxn>(out: &Out, txn: &T) -> Value {
    match out {
        Out::Any(any) => render_any(any),
        Out::YText(text) => Value::String(text.get_string(txn)),
        Out::YArray(array) => render_array(array, txn),
        Out::YMap(map) => render_map(map, txn),
        Out::YXmlElement(xml) => Value::String(xml.get_string(txn)),
        Out::YXmlFragment(xml) => Value::String(xml.get_string(txn)),
        Out::YXmlText(xml) => Value::String(xml.get_string(txn)),
        Out::YDoc(doc) => Value::String(doc.guid().to_string()),
        Out::UndefinedRef(branch) => render_root(*branch, txn).1,
        #[allow(unreachable_patterns)]
        _ => Value::Null,
    }
}

/// A plain value as JSON.
pub fn render_any(any: &Any) -> Value {
    match any {
        Any::Null | Any::Undefined => Value::Null,
        Any::Bool(value) => Value::Bool(*value),
        Any::Number(yrs::Number::Int(value)) => Value::Number(Number::from(*value)),
        Any::Number(yrs::Number::Float(value)) => number(*value),
        Any::String(value) => Value::String(value.to_string()),
        Any::Buffer(bytes) => {
            Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
        }
        Any::Array(items) => Value::Array(items.iter().map(render_any).collect()),
        Any::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|(key, value)| (key.clone(), render_any(value)))
                .collect(),
        ),
    }
}

/// Largest integer an f64 holds exactly (2^53).
const EXACT_INTEGER: f64 = 9_007_199_254_740_992.0;

fn number(value: f64) -> Value {
    if value.is_finite() && value.fract() == 0.0 && value.abs() <= EXACT_INTEGER {
        // Integral: as an integer, as JavaScript's JSON.stringify writes it.
        #[allow(clippy::cast_possible_truncation)]
        return Value::Number(Number::from(value as i64));
    }
    Number::from_f64(value).map_or(Value::Null, Value::Number)
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use yrs::{
        types::Attrs, ArrayPrelim, MapPrelim, StateVector, TextPrelim, WriteTxn, XmlElementPrelim,
        XmlFragment, XmlTextPrelim,
    };

    use super::*;

    fn encoded(doc: &Doc) -> Vec<u8> {
        doc.transact()
            .encode_state_as_update_v1(&StateVector::default())
    }

    fn render(doc: &Doc) -> Value {
        render_update(&encoded(doc), &KindOverrides::new()).expect("renders")
    }

    /// A root holding arrays nested `depth` deep (the root is 1).
    fn nested_arrays(depth: usize) -> Doc {
        let doc = Doc::new();
        {
            let mut txn = doc.transact_mut();
            let mut array = txn.get_or_insert_array("deep");
            for _ in 1..depth {
                array = array.push_back(&mut txn, ArrayPrelim::default());
            }
            array.push_back(&mut txn, 1);
        }
        doc
    }

    #[test]
    fn nesting_past_the_limit_is_refused_without_recursing_and_at_the_limit_renders() {
        let at_limit = nested_arrays(MAX_TYPE_DEPTH);
        assert!(render_doc(&at_limit, &KindOverrides::new()).is_ok());
        let past = nested_arrays(MAX_TYPE_DEPTH + 1);
        assert_eq!(
            render_doc(&past, &KindOverrides::new()),
            Err(ContentError::TooDeep)
        );
        // Far deeper than a thread's stack could follow: still refused.
        let deep = nested_arrays(50_000);
        assert_eq!(
            render_update(&encoded(&deep), &KindOverrides::new()),
            Err(ContentError::TooDeep)
        );
    }

    #[test]
    fn maps_arrays_and_nested_maps_in_arrays() {
        let doc = Doc::new();
        {
            let mut txn = doc.transact_mut();
            let shapes = txn.get_or_insert_map("shapes");
            shapes.insert(&mut txn, "count", 2);
            shapes.insert(&mut txn, "ratio", 0.5);
            shapes.insert(&mut txn, "name", "board");
            shapes.insert(&mut txn, "nothing", Any::Null);
            shapes.insert(&mut txn, "nan", f64::NAN);
            let list = txn.get_or_insert_array("list");
            list.push_back(&mut txn, 1);
            list.push_back(&mut txn, "two");
            let nested = list.push_back(&mut txn, MapPrelim::default());
            nested.insert(&mut txn, "x", 10);
            nested.insert(&mut txn, "inner", ArrayPrelim::from([true, false]));
        }
        assert_eq!(
            render(&doc),
            json!({"roots": {
                "shapes": {"count": 2, "ratio": 0.5, "name": "board", "nothing": null, "nan": null},
                "list": [1, "two", {"x": 10, "inner": [true, false]}],
            }})
        );
    }

    #[test]
    fn text_is_its_plain_string_without_formatting() {
        let doc = Doc::new();
        {
            let mut txn = doc.transact_mut();
            let text = txn.get_or_insert_text("title");
            text.insert(&mut txn, 0, "hello world");
            let bold: Attrs = [("bold".into(), Any::Bool(true))].into_iter().collect();
            text.format(&mut txn, 0, 5, bold);
        }
        assert_eq!(render(&doc), json!({"roots": {"title": "hello world"}}));
    }

    #[test]
    fn xml_fragments_are_their_xml_string() {
        let doc = Doc::new();
        {
            let mut txn = doc.transact_mut();
            let xml = txn.get_or_insert_xml_fragment("prosemirror");
            let p = xml.push_back(&mut txn, XmlElementPrelim::empty("paragraph"));
            p.push_back(&mut txn, XmlTextPrelim::new("hi"));
        }
        assert_eq!(
            render(&doc),
            json!({"roots": {"prosemirror": "<paragraph>hi</paragraph>"}})
        );
    }

    #[test]
    fn binary_is_base64_and_nested_text_is_a_string() {
        let doc = Doc::new();
        {
            let mut txn = doc.transact_mut();
            let map = txn.get_or_insert_map("m");
            map.insert(&mut txn, "bytes", Any::Buffer(vec![0u8, 1, 2, 255].into()));
            map.insert(&mut txn, "note", TextPrelim::new("nested"));
        }
        assert_eq!(
            render(&doc),
            json!({"roots": {"m": {"bytes": "AAEC/w==", "note": "nested"}}})
        );
    }

    #[test]
    fn overrides_name_the_kind() {
        let doc = Doc::new();
        {
            let mut txn = doc.transact_mut();
            let text = txn.get_or_insert_text("t");
            text.insert(&mut txn, 0, "ab");
        }
        let kinds = parse_types("t:xml").expect("parses");
        let rendered = render_update(&encoded(&doc), &kinds).expect("renders");
        assert_eq!(rendered, json!({"roots": {"t": "ab"}}));
        let kinds = parse_types("t:map").expect("parses");
        let rendered = render_update(&encoded(&doc), &kinds).expect("renders");
        assert_eq!(rendered, json!({"roots": {"t": {}}}));
    }

    #[test]
    fn bad_types_are_refused_with_a_reason() {
        assert!(parse_types("shapes")
            .expect_err("refused")
            .0
            .contains("NAME:KIND"));
        assert!(parse_types("shapes:list")
            .expect_err("refused")
            .0
            .contains("unknown kind"));
        assert!(parse_types(":map")
            .expect_err("refused")
            .0
            .contains("no root name"));
        let kinds = parse_types("a:map,b:c:text").expect("parses");
        assert_eq!(kinds.get("b:c"), Some(&RootKind::Text));
    }

    #[test]
    fn an_empty_document_has_no_roots() {
        assert_eq!(
            render_update(&[0, 0], &KindOverrides::new()).expect("renders"),
            json!({"roots": {}})
        );
        assert!(render_update(&[1, 2, 3], &KindOverrides::new()).is_err());
    }
}

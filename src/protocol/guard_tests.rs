use super::*;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use yrs::sync::awareness::AwarenessUpdate;
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::{
    Any, Array, ArrayPrelim, Doc, In, Map, MapPrelim, Number, Options, ReadTxn, StateVector, Text,
    TextPrelim, Transact, Update, Xml, XmlElementPrelim, XmlFragment, XmlTextPrelim,
};

fn check(bytes: &[u8]) -> Result<UpdateShape> {
    check_update_v1(bytes, &GuardLimits::default())
}

/// Runs the guard and, only on acceptance, yrs: whatever the guard accepts yrs must decode.
fn accepted_and_decoded(bytes: &[u8]) -> bool {
    let accepted = check(bytes).is_ok();
    if accepted {
        let decoded = Update::decode_v1(bytes);
        assert!(
            decoded.is_ok(),
            "accepted but yrs fails: {bytes:02x?} {decoded:?}"
        );
    }
    accepted
}

/// A lib0 writer for hand-built payloads.
#[derive(Default, Clone)]
struct W(Vec<u8>);

impl W {
    fn u(mut self, mut v: u64) -> Self {
        while v > 0x7f {
            self.0.push(v as u8 | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
        self
    }
    fn s(self, s: &str) -> Self {
        self.u(s.len() as u64).raw(s.as_bytes())
    }
    fn raw(mut self, b: &[u8]) -> Self {
        self.0.extend_from_slice(b);
        self
    }
    /// Header of an update holding one item: 1 client, 1 struct, client 1, clock 0, then an
    /// item `info` without origins whose parent is the root type "r".
    fn item(info: u8) -> Self {
        W::default().raw(&[1, 1, 1, 0, info, 1]).s("r")
    }
    fn done(self) -> Vec<u8> {
        self.raw(&[0]).0
    }
}

fn arr(items: Vec<Any>) -> Any {
    Any::Array(Arc::from(items))
}

fn obj<const N: usize>(entries: [(&str, Any); N]) -> Any {
    Any::Map(Arc::new(entries.map(|(k, v)| (k.to_owned(), v)).into()))
}

fn all_any() -> Any {
    let n = |v| Any::Number(Number::Int(v));
    let inner = obj([
        ("null", Any::Null),
        ("undefined", Any::Undefined),
        ("bools", arr(vec![Any::Bool(true), Any::Bool(false)])),
        ("ints", arr(vec![n(0), n(-42), n(i32::MAX.into())])),
        ("wide", arr(vec![n(1 << 40), n(i64::MAX - 1), n(i64::MIN)])),
        ("floats", arr(vec![Any::from(1.5), Any::from(1.1)])),
        ("string", Any::from("héllo 🌍")),
        ("buffer", Any::Buffer(Arc::from(&[0u8, 255, 7][..]))),
        ("empty", obj([])),
    ]);
    obj([("inner", inner)])
}

/// Edits every content kind from several clients; returns the full state and every
/// incremental update observed on the way.
fn rich_doc() -> (Vec<u8>, Vec<Vec<u8>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let doc = Doc::with_client_id(1);
    let sink = log.clone();
    doc.observe_update_v1("log", move |_, e| {
        sink.lock().expect("log").push(e.update.clone())
    })
    .expect("observe");
    let (map, text) = (doc.get_or_insert_map("m"), doc.get_or_insert_text("t"));
    let (array, xml) = (
        doc.get_or_insert_array("a"),
        doc.get_or_insert_xml_fragment("x"),
    );
    let bold = HashMap::from([(Arc::from("bold"), Any::Bool(true))]);
    {
        let mut txn = doc.transact_mut();
        map.insert(&mut txn, "any", all_any());
        let nested = MapPrelim::from([
            ("list", In::from(ArrayPrelim::from([1, 2]))),
            ("text", In::from(TextPrelim::new("inner"))),
        ]);
        map.insert(&mut txn, "nested", nested);
        map.insert(&mut txn, "sub", Doc::new());
        let opts = Options {
            auto_load: true,
            collection_id: Some("c".into()),
            ..Default::default()
        };
        map.insert(&mut txn, "sub2", Doc::with_options(opts));
        map.insert(&mut txn, "gone", "soon");
    }
    {
        let mut txn = doc.transact_mut();
        text.insert(&mut txn, 0, "Hello world");
        text.insert_with_attributes(&mut txn, 5, " bold", bold.clone());
        text.format(
            &mut txn,
            0,
            3,
            HashMap::from([(Arc::from("color"), Any::from("#f00"))]),
        );
        text.insert_embed(&mut txn, 2, obj([("img", Any::from("a.png"))]));
        array.insert_range(&mut txn, 0, [1, 2, 3, 4]);
        array.push_back(&mut txn, ArrayPrelim::from(["x"]));
        let p = xml.insert(&mut txn, 0, XmlElementPrelim::empty("p"));
        p.insert_attribute(&mut txn, "class", "c");
        let t = p.insert(&mut txn, 0, XmlTextPrelim::new("xml text"));
        t.format(&mut txn, 0, 3, bold);
        xml.insert(&mut txn, 1, XmlTextPrelim::new("tail"));
    }
    for (i, client) in [2u64, 300, 70_000, (1 << 32) + 5, (1 << 53) - 1]
        .into_iter()
        .enumerate()
    {
        let peer = Doc::with_client_id(client);
        let sink = log.clone();
        peer.observe_update_v1("log", move |_, e| {
            sink.lock().expect("log").push(e.update.clone())
        })
        .expect("observe");
        let state = doc
            .transact()
            .encode_state_as_update_v1(&StateVector::default());
        let sv = peer.transact().state_vector();
        peer.transact_mut()
            .apply_update(Update::decode_v1(&state).expect("state"))
            .expect("apply");
        let (t, a, m) = (
            peer.get_or_insert_text("t"),
            peer.get_or_insert_array("a"),
            peer.get_or_insert_map("m"),
        );
        {
            let mut txn = peer.transact_mut();
            t.insert(&mut txn, 1, "peer ✓ text");
            t.remove_range(&mut txn, 0, 2);
            a.remove_range(&mut txn, 0, 1);
            m.insert(&mut txn, "k", i as i64);
            m.remove(&mut txn, "gone");
        }
        let diff = peer
            .transact()
            .encode_diff_v1(&doc.transact().state_vector());
        log.lock()
            .expect("log")
            .push(peer.transact().encode_diff_v1(&sv));
        doc.transact_mut()
            .apply_update(Update::decode_v1(&diff).expect("diff"))
            .expect("apply");
    }
    text.insert(&mut doc.transact_mut(), 0, "end");
    let full = doc
        .transact()
        .encode_state_as_update_v1(&StateVector::default());
    let mut updates = log.lock().expect("log").clone();
    // Client 1's first and last updates, merged over the gap between them: a Skip block.
    let ends =
        [updates.first(), updates.last()].map(|u| Update::decode_v1(u.expect("u")).expect("u"));
    let merged = Update::merge_updates(ends).encode_v1();
    let structs = |u: &[u8]| check(u).expect("accepted").structs;
    let parts = structs(&updates[0]) + structs(&updates[updates.len() - 1]);
    assert_eq!(structs(&merged), parts + 1, "one Skip between the two");
    updates.push(merged);
    (full, updates)
}

#[test]
fn accepts_real_updates_with_plausible_shapes() {
    let (full, updates) = rich_doc();
    assert!(updates.len() > 10);
    for bytes in updates.iter().chain([&full]) {
        let shape = check(bytes).expect("real update accepted");
        let update = Update::decode_v1(bytes).expect("yrs decodes it");
        let ranges: usize = update.delete_set().iter().map(|(_, r)| r.len()).sum();
        assert_eq!(shape.delete_ranges, ranges);
        assert_eq!(shape.is_empty, update.is_empty());
        assert!(shape.structs * 2 <= bytes.len());
    }
    let shape = check(&full).expect("full state");
    let clients = Update::decode_v1(&full).expect("full").state_vector().len();
    assert_eq!(clients, 6);
    assert!(
        shape.structs >= 20 && shape.delete_ranges >= 6 && !shape.is_empty,
        "{shape:?}"
    );
    let empty = Doc::new()
        .transact()
        .encode_state_as_update_v1(&StateVector::default());
    assert_eq!(empty, [0, 0]);
    assert_eq!(
        check(&empty),
        Ok(UpdateShape {
            structs: 0,
            delete_ranges: 0,
            is_empty: true,
            type_items: 0,
        })
    );
}

#[test]
fn rejects_hazard_truncations_and_trailing_bytes() {
    let hazard = [0x86, 0x9a, 0xe2, 0xb6, 0x11];
    assert_eq!(
        check(&hazard),
        Err(GuardError::CountExceedsInput { what: "client" })
    );
    let (full, updates) = rich_doc();
    for bytes in updates.iter().chain([&full]) {
        for len in 0..bytes.len() {
            assert!(
                check(&bytes[..len]).is_err(),
                "prefix {len} of {bytes:02x?}"
            );
        }
        let extra = [bytes.as_slice(), &[0]].concat();
        assert_eq!(check(&extra), Err(GuardError::TrailingBytes(1)));
    }
}

#[test]
fn rejects_counts_beyond_input() {
    let cases: [(Vec<u8>, &str); 6] = [
        (vec![200, 1, 0], "client"),
        (vec![1, 100, 1, 0, 0, 1], "struct"),
        (
            W::item(8).u(1).raw(&[117]).u(1_000_000).done(),
            "Any array element",
        ),
        (
            W::item(8).u(1).raw(&[118]).u(3).s("k").raw(&[126]).done(),
            "Any map entry",
        ),
        (W::item(4).u(50).raw(b"short").done(), "string"),
        (
            W::default().raw(&[0, 1, 1]).u(9).raw(&[0, 1]).0,
            "delete range",
        ),
    ];
    for (bytes, what) in cases {
        assert_eq!(
            check(&bytes),
            Err(GuardError::CountExceedsInput { what }),
            "{bytes:02x?}"
        );
        assert!(Update::decode_v1(&bytes).is_err());
    }
}

#[test]
fn varints_must_be_minimal_and_in_range() {
    let gc = |client: &[u8]| W::default().raw(&[1, 1]).raw(client).raw(&[0, 0, 5]).done();
    let js_max = W::default().u((1 << 53) - 1).0;
    assert!(accepted_and_decoded(&gc(&js_max)));
    // yrs' ClientID holds 53 bits; u64::MAX is a well-formed varint but not a client.
    let u64_max = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
    for client in [&u64_max[..], &W::default().u(1 << 53).0] {
        assert_eq!(check(&gc(client)), Err(GuardError::ClientIdOutOfRange));
    }
    let over = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2];
    for bad in [&[0x80, 0x00][..], &[0xff; 10], &over] {
        assert_eq!(check(&gc(bad)), Err(GuardError::InvalidVarInt));
        assert_eq!(check(&[bad, &[0]].concat()), Err(GuardError::InvalidVarInt));
    }
    let any_int = |v: &[u8]| W::item(8).u(1).raw(&[125]).raw(v).done();
    let max_i64 = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
    for ok in [&[0x40][..], &[0x7f], &[0xff, 0x01], &max_i64] {
        assert!(accepted_and_decoded(&any_int(ok)), "{ok:02x?}");
    }
    let too_wide = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
    for bad in [&[0xc0, 0x00][..], &too_wide, &[0xff; 11]] {
        assert_eq!(check(&any_int(bad)), Err(GuardError::InvalidVarInt));
    }
}

#[test]
fn clocks_must_fit_u32() {
    let group = |clock: u64, gc_len: u64| {
        W::default()
            .raw(&[1, 1, 1])
            .u(clock)
            .raw(&[0])
            .u(gc_len)
            .done()
    };
    assert!(accepted_and_decoded(&group(u64::from(u32::MAX) - 5, 5)));
    assert_eq!(check(&group(1 << 32, 1)), Err(GuardError::ClockOutOfRange));
    assert_eq!(
        check(&group(u64::from(u32::MAX) - 1, 5)),
        Err(GuardError::ClockOutOfRange)
    );
    assert_eq!(check(&group(0, 0)), Err(GuardError::EmptyBlock));
    let range = |clock: u64| W::default().raw(&[0, 1, 1, 1]).u(clock).u(1).0;
    assert!(accepted_and_decoded(&range(u64::from(u32::MAX) - 1)));
    assert_eq!(
        check(&range(u64::from(u32::MAX))),
        Err(GuardError::ClockOutOfRange)
    );
    let origin = W::default()
        .raw(&[1, 1, 1, 0, 0x81, 1])
        .u(1 << 32)
        .raw(&[1, 1])
        .done();
    assert_eq!(check(&origin), Err(GuardError::ClockOutOfRange));
}

#[test]
fn nesting_is_bounded() {
    let nested = |depth: usize| {
        let w = (0..depth).fold(W::item(8).u(1), |w, _| w.raw(&[117]).u(1));
        w.raw(&[126]).done()
    };
    assert!(accepted_and_decoded(&nested(32)));
    assert_eq!(check(&nested(33)), Err(GuardError::DepthExceeded));
    assert_eq!(check(&nested(100_000)), Err(GuardError::DepthExceeded));
    let shallow = GuardLimits {
        max_any_depth: 2,
        ..Default::default()
    };
    assert_eq!(
        check_update_v1(&nested(3), &shallow),
        Err(GuardError::DepthExceeded)
    );
    let embed = |depth: usize| {
        W::item(5)
            .s(&format!("{}1{}", "[".repeat(depth), "]".repeat(depth)))
            .done()
    };
    assert!(accepted_and_decoded(&embed(32)));
    assert_eq!(check(&embed(33)), Err(GuardError::DepthExceeded));
    let deep_opts = (0..40).fold(W::item(9).s("guid"), |w, _| w.raw(&[118]).u(1).s("k"));
    assert_eq!(
        check(&deep_opts.raw(&[126]).done()),
        Err(GuardError::DepthExceeded)
    );
}

#[test]
fn rejects_bad_strings_refs_and_json() {
    let (_, updates) = rich_doc();
    let mut text = updates
        .iter()
        .find(|u| u.windows(5).any(|w| w == b"world"))
        .expect("text")
        .clone();
    let at = text.windows(5).position(|w| w == b"world").expect("world");
    text[at] = 0xff;
    assert_eq!(check(&text), Err(GuardError::InvalidUtf8));
    assert!(Update::decode_v1(&text).is_err());
    for (info, content_ref) in [(0x0b, 11), (0x14, 20), (0x80, 0), (0x8a, 10), (0x1f, 31)] {
        assert_eq!(
            check(&W::item(info).done()),
            Err(GuardError::UnknownContentRef(content_ref))
        );
    }
    assert_eq!(
        check(&W::item(7).raw(&[7]).done()),
        Err(GuardError::UnknownTypeRef(7))
    );
    assert_eq!(
        check(&W::item(8).u(1).raw(&[115]).done()),
        Err(GuardError::UnknownAnyTag(115))
    );
    for json in [
        "{",
        "[1,]",
        "10000000000000000000",
        "1e400",
        "\"\\ud800\"",
        "1 2",
    ] {
        let bytes = W::item(5).s(json).done();
        assert_eq!(check(&bytes), Err(GuardError::InvalidJson), "{json}");
        assert!(Update::decode_v1(&bytes).is_err(), "{json}");
    }
}

#[test]
fn mirrors_yrs_quirks() {
    // ContentJSON: yrs reads count + 1 strings.
    let json =
        |n: u64, strings: &[&str]| strings.iter().fold(W::item(2).u(n), |w, s| w.s(s)).done();
    assert!(accepted_and_decoded(&json(1, &["1", "2"])));
    assert!(check(&json(1, &["1"])).is_err() && Update::decode_v1(&json(1, &["1"])).is_err());
    // yrs reads no name after the XmlHook type ref.
    assert!(accepted_and_decoded(&W::item(7).raw(&[5]).done()));
    assert!(accepted_and_decoded(&W::item(7).raw(&[3]).s("div").done()));
    // Zero-length items are accepted by yrs (and dropped), so they are accepted here.
    let zero = W::item(4).s("").done();
    assert!(accepted_and_decoded(&zero));
    assert_eq!(check(&zero).map(|s| s.structs), Ok(1));
    assert!(accepted_and_decoded(&W::default().raw(&[1, 0, 5, 0, 0]).0));
    // A client listed twice makes yrs integrate blocks out of clock order and abort; the bytes
    // reproduce that abort (a panic during unwinding in `BlockStore`) when applied.
    let twice = "02 01 01 00 04 01 01 72 01 61 02 01 00 00 02 25 01 01 72 03 73 75 62 04 6e 75 6c 6c 01 01 01 00 02";
    let twice: Vec<u8> = twice
        .split(' ')
        .map(|h| u8::from_str_radix(h, 16).expect("hex"))
        .collect();
    assert_eq!(check(&twice), Err(GuardError::DuplicateClient));
    // Skip (info 10) and GC (info 0) blocks advance the clock by their length.
    assert!(accepted_and_decoded(
        &W::default().raw(&[1, 2, 1, 0, 10, 3, 0, 1]).done()
    ));
    assert_eq!(
        check(&W::default().raw(&[1, 1, 1, 0, 10, 0]).done()),
        Err(GuardError::EmptyBlock)
    );
}

#[test]
fn limits_are_enforced() {
    let gcs = W::default().raw(&[1, 3, 1, 0, 0, 1, 0, 1, 0, 1]).done();
    let lim = |f: fn(&mut GuardLimits)| {
        let mut l = GuardLimits::default();
        f(&mut l);
        l
    };
    let over = |l: GuardLimits, bytes: &[u8]| check_update_v1(bytes, &l);
    assert_eq!(
        over(lim(|l| l.max_structs = 2), &gcs),
        Err(GuardError::LimitExceeded { what: "struct" })
    );
    assert_eq!(
        over(lim(|l| l.max_clients = 0), &gcs),
        Err(GuardError::LimitExceeded { what: "client" })
    );
    assert_eq!(
        over(lim(|l| l.max_elements = 3), &gcs),
        Err(GuardError::LimitExceeded { what: "elements" })
    );
    let subdoc = W::item(9).s("guid").raw(&[126]).done();
    assert!(accepted_and_decoded(&subdoc));
    let no_subdocs = lim(|l| l.max_subdocs = 0);
    assert_eq!(
        over(no_subdocs, &subdoc),
        Err(GuardError::LimitExceeded {
            what: "subdocuments"
        })
    );
    let ranges = W::default().raw(&[0, 1, 1, 2, 0, 1, 5, 1]).0;
    assert_eq!(
        over(lim(|l| l.max_delete_ranges = 1), &ranges),
        Err(GuardError::LimitExceeded {
            what: "delete range"
        })
    );
}

/// xorshift64*: deterministic and dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// Mostly small bytes, so random input often gets past the first counts.
    fn byte(&mut self) -> u8 {
        let b = self.next() as u8;
        if self.next() & 3 != 0 {
            b & 0x0f
        } else {
            b
        }
    }
}

/// A random `Any` of every tag, nested up to `depth`.
fn gen_any(rng: &mut Rng, w: W, depth: usize) -> W {
    let tag = 116 + rng.below(if depth == 0 { 12 } else { 10 }) as u8;
    let tag = if depth == 0 && matches!(tag, 117 | 118) {
        126
    } else {
        tag
    };
    let w = w.raw(&[tag]);
    match tag {
        116 => w.s("buf"),
        117 | 118 => {
            let n = rng.below(3);
            (0..n).fold(w.u(n as u64), |w, _| {
                let w = if tag == 118 { w.s("key") } else { w };
                gen_any(rng, w, depth - 1)
            })
        }
        119 => w.s("ß"),
        122 | 123 => w.raw(&[0x40; 8]),
        124 => w.raw(&[0x3f; 4]),
        125 => w.u(rng.below(1 << 14) as u64),
        _ => w,
    }
}

/// A random update following the v1 grammar: every struct kind, content ref and type ref.
fn gen_update(rng: &mut Rng) -> Vec<u8> {
    let groups = 1 + rng.below(2);
    let mut w = W::default().u(groups as u64);
    for _ in 0..groups {
        let n = 1 + rng.below(3);
        w = w.u(n as u64).u(rng.below(4) as u64).u(rng.below(4) as u64);
        for _ in 0..n {
            let content = rng.below(11) as u8;
            if content == 0 || content == 10 {
                w = w.raw(&[content]).u(1 + rng.below(3) as u64);
                continue;
            }
            let info = content | [0, 0x80, 0x40, 0xc0, 0x20][rng.below(5)];
            w = w.raw(&[info]);
            for flag in [0x80, 0x40] {
                if info & flag != 0 {
                    w = w.u(rng.below(4) as u64).u(rng.below(4) as u64);
                }
            }
            if info & 0xc0 == 0 {
                w = if rng.below(2) == 0 {
                    w.u(1).s("r")
                } else {
                    w.u(0).u(1).u(0)
                };
                w = if info & 0x20 != 0 { w.s("sub") } else { w };
            }
            let json = ["null", "{\"a\":[1,2.5]}", "\"x\"", "true"][rng.below(4)];
            w = match content {
                1 => w.u(rng.below(3) as u64),
                2 => {
                    let k = rng.below(3);
                    (0..=k).fold(w.u(k as u64), |w, _| w.s(json))
                }
                3 => w.u(2).raw(&[1, 2]),
                4 => w.s(["", "a", "🌍x"][rng.below(3)]),
                5 => w.s(json),
                6 => w.s("bold").s(json),
                7 => match [0, 1, 2, 3, 4, 5, 6, 9, 15][rng.below(9)] {
                    3 => w.raw(&[3]).s("p"),
                    r => w.raw(&[r]),
                },
                8 => {
                    let k = rng.below(3);
                    (0..k).fold(w.u(k as u64), |w, _| gen_any(rng, w, 3))
                }
                _ => gen_any(rng, w.s("guid"), 2),
            };
        }
    }
    let ds_clients = rng.below(3);
    w = w.u(ds_clients as u64);
    for _ in 0..ds_clients {
        let ranges = rng.below(4);
        w = w.u(rng.below(4) as u64).u(ranges as u64);
        for _ in 0..ranges {
            w = w.u(rng.below(6) as u64).u(rng.below(3) as u64);
        }
    }
    w.0
}

fn mutate(rng: &mut Rng, bytes: &mut Vec<u8>) {
    let at = rng.below(bytes.len().max(1));
    match rng.below(4) {
        0 if !bytes.is_empty() => bytes[at] = rng.byte(),
        1 if !bytes.is_empty() => bytes[at] ^= 1 << rng.below(8),
        2 => bytes.insert(at, rng.byte()),
        _ => bytes.truncate(at),
    }
}

#[test]
fn fuzz_random_generated_and_mutated_inputs() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut random, mut generated, mut mutated) = (0, 0, 0);
    for _ in 0..200_000 {
        let len = 1 + rng.below(60);
        let bytes: Vec<u8> = (0..len).map(|_| rng.byte()).collect();
        random += usize::from(accepted_and_decoded(&bytes));
    }
    for _ in 0..50_000 {
        let mut bytes = gen_update(&mut rng);
        if rng.below(2) == 0 {
            mutate(&mut rng, &mut bytes);
        }
        generated += usize::from(accepted_and_decoded(&bytes));
    }
    let (full, mut corpus) = rich_doc();
    corpus.push(full);
    for i in 0..30_000 {
        let mut bytes = corpus[i % corpus.len()].clone();
        for _ in 0..=rng.below(3) {
            mutate(&mut rng, &mut bytes);
        }
        mutated += usize::from(accepted_and_decoded(&bytes));
    }
    assert!(
        random > 0 && generated > 10_000 && mutated > 1_000,
        "{random} {generated} {mutated}"
    );
}

#[test]
fn state_vectors() {
    let (full, _) = rich_doc();
    let doc = Doc::new();
    doc.transact_mut()
        .apply_update(Update::decode_v1(&full).expect("full"))
        .expect("apply");
    let sv = doc.transact().state_vector();
    assert_eq!(check_state_vector(&sv.encode_v1()), Ok(sv.len()));
    assert_eq!(check_state_vector(&[0]), Ok(0));
    assert_eq!(
        check_state_vector(&[5, 1, 1]),
        Err(GuardError::CountExceedsInput {
            what: "state vector entry"
        })
    );
    assert_eq!(
        check_state_vector(&W::default().u(1).u(1).u(1 << 32).0),
        Err(GuardError::ClockOutOfRange)
    );
    assert_eq!(
        check_state_vector(&[1, 1, 0x80, 0]),
        Err(GuardError::InvalidVarInt)
    );
    assert_eq!(
        check_state_vector(&[0, 0]),
        Err(GuardError::TrailingBytes(1))
    );
}

#[test]
fn awareness_updates() {
    let state = r##"{"user":{"name":"Ann","color":"#30bced"},"cursor":null}"##;
    let bytes = W::default()
        .u(2)
        .u(7)
        .u(3)
        .s(state)
        .u((1 << 32) + 1)
        .u(9)
        .s("null")
        .0;
    let entries = parse_awareness_update(&bytes).expect("valid");
    assert_eq!(
        entries.len(),
        AwarenessUpdate::decode_v1(&bytes)
            .expect("yrs")
            .clients
            .len()
    );
    assert_eq!(
        entries[0],
        AwarenessEntry {
            client_id: 7,
            clock: 3,
            state_json: state
        }
    );
    assert!(!entries[0].is_removal() && entries[1].is_removal());
    assert!(AwarenessEntry {
        client_id: 1,
        clock: 0,
        state_json: " null "
    }
    .is_removal());
    let one = |json: &str| W::default().u(1).u(1).u(1).s(json).0;
    assert_eq!(
        parse_awareness_update(&one("{")),
        Err(GuardError::InvalidJson)
    );
    assert_eq!(
        parse_awareness_update(&one(&"[".repeat(40))),
        Err(GuardError::DepthExceeded)
    );
    let bad_utf8 = W::default().raw(&[1, 1, 1, 2, 0xff, 0xfe]).0;
    assert_eq!(
        parse_awareness_update(&bad_utf8),
        Err(GuardError::InvalidUtf8)
    );
    let short = W::default().u(5).u(1).u(1).s("null").0;
    assert_eq!(
        parse_awareness_update(&short),
        Err(GuardError::CountExceedsInput {
            what: "awareness entry"
        })
    );
    assert_eq!(
        parse_awareness_update(&[one("1"), vec![0]].concat()),
        Err(GuardError::TrailingBytes(1))
    );
    assert_eq!(
        parse_awareness_update(&W::default().u(1).u(1).u(1 << 32).s("1").0),
        Err(GuardError::ClockOutOfRange)
    );
    assert_eq!(parse_awareness_update(&[0]), Ok(vec![]));
    assert_eq!(
        parse_awareness_update(&W::default().u(1).u(1 << 53).u(0).s("1").0),
        Err(GuardError::ClientIdOutOfRange)
    );
}

#[test]
fn an_awareness_update_naming_more_clients_than_a_board_keeps_is_refused() {
    let entries = |n: usize| {
        (1..=n as u64)
            .fold(W::default().u(n as u64), |w, id| w.u(id).u(1).s("null"))
            .0
    };
    assert_eq!(
        parse_awareness_update(&entries(MAX_AWARENESS_ENTRIES)).map(|e| e.len()),
        Ok(MAX_AWARENESS_ENTRIES)
    );
    assert_eq!(
        parse_awareness_update(&entries(MAX_AWARENESS_ENTRIES + 1)),
        Err(GuardError::LimitExceeded {
            what: AWARENESS_ENTRIES
        })
    );
    // A state longer than the cap is refused before its JSON is parsed.
    let state = |len: usize| format!("{{\"a\":\"{}\"}}", "x".repeat(len - 8));
    assert_eq!(
        parse_awareness_update(
            &W::default()
                .u(1)
                .u(1)
                .u(1)
                .s(&state(MAX_AWARENESS_STATE_BYTES))
                .0
        )
        .map(|e| e.len()),
        Ok(1)
    );
    assert_eq!(
        parse_awareness_update(
            &W::default()
                .u(1)
                .u(1)
                .u(1)
                .s(&state(MAX_AWARENESS_STATE_BYTES + 1))
                .0
        ),
        Err(GuardError::LimitExceeded {
            what: AWARENESS_STATE
        })
    );
    // A count the input cannot hold is still refused as such, before the cap.
    assert_eq!(
        parse_awareness_update(&W::default().u(5000).u(1).u(1).s("null").0),
        Err(GuardError::CountExceedsInput {
            what: "awareness entry"
        })
    );
}

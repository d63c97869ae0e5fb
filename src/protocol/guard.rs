//! Structural validation of untrusted Yjs payloads before they reach yrs.
//!
//! yrs' v1 decoder trusts the counts and lengths it reads and reserves memory for them up front
//! (the 5-byte update `86 9a e2 b6 11` costs it ~0.5 s and ~500 MB before it fails), and it
//! decodes nested `Any` values recursively. This module walks the lib0 v1 encoding of updates,
//! state vectors and awareness updates first: every count and length is checked against the
//! bytes actually present, nesting and element counts are capped, and no allocation is sized
//! by a count read from the input. Only accepted payloads are handed to yrs.
//!
//! The walk mirrors yrs 0.28.1 (`Update::decode`/`decode_block`, `ItemContent::decode`,
//! `TypeRef::decode`, `Options::decode`, `Any::decode`, `IdSet::decode`), quirks included, so
//! yrs reads accepted input along the same boundaries. It is stricter where yrs is lax: varints
//! must be minimal and fit their field (yrs wraps u32 fields), clocks and clock + length must
//! fit u32, client IDs must fit 53 bits, a client may head only one struct group, and trailing
//! bytes are refused.

/// Bounds on the work one payload may cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardLimits {
    /// Deepest nesting of `Any` arrays/maps and of JSON arrays/objects (outermost = 1).
    /// yrs decodes `Any` recursively, so keep this small.
    pub max_any_depth: usize,
    /// Struct records (items, GC and skip blocks) in one update.
    pub max_structs: usize,
    /// Delete-set ranges in one update.
    pub max_delete_ranges: usize,
    /// Client entries, in the struct section and in the delete set each.
    pub max_clients: usize,
    /// Decoded elements overall: structs, ranges, clients, `Any` values and JSON strings.
    pub max_elements: usize,
    /// Subdocument items; yrs builds a whole document store (~750 bytes) for each.
    pub max_subdocs: usize,
}

impl Default for GuardLimits {
    fn default() -> Self {
        Self {
            max_any_depth: 32,
            max_structs: 1_000_000,
            max_delete_ranges: 1_000_000,
            max_clients: 100_000,
            max_elements: 4_000_000,
            max_subdocs: 1_000,
        }
    }
}

/// Why a payload was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    #[error("payload is truncated")]
    Truncated,
    /// Longer than 10 bytes, wider than its field, or not minimally encoded.
    #[error("malformed variable-length integer")]
    InvalidVarInt,
    /// A count or length announces more data than the remaining bytes could hold.
    #[error("{what} count exceeds the remaining input")]
    CountExceedsInput { what: &'static str },
    /// A client ID of 2^53 or more: yrs' `ClientID` keeps 53 bits (debug builds assert it,
    /// release builds fold higher bits, aliasing distinct clients).
    #[error("client ID out of range")]
    ClientIdOutOfRange,
    /// A clock, a clock span, or their sum does not fit in u32.
    #[error("clock out of range")]
    ClockOutOfRange,
    /// A client listed twice in the struct section.
    #[error("client listed twice")]
    DuplicateClient,
    /// A GC or skip block of length 0, which yrs refuses.
    #[error("block of length 0")]
    EmptyBlock,
    #[error("value nesting exceeds the depth limit")]
    DepthExceeded,
    /// The low 5 bits of an item's info byte.
    #[error("unknown item content ref {0}")]
    UnknownContentRef(u8),
    #[error("unknown shared type ref {0}")]
    UnknownTypeRef(u8),
    #[error("unknown Any tag {0}")]
    UnknownAnyTag(u8),
    #[error("invalid UTF-8 in string")]
    InvalidUtf8,
    #[error("invalid JSON")]
    InvalidJson,
    /// Bytes left after the last field (yrs would ignore them; no encoder writes them).
    #[error("{0} trailing bytes after the payload")]
    TrailingBytes(usize),
    /// A [`GuardLimits`] cap was reached.
    #[error("too many {what}")]
    LimitExceeded { what: &'static str },
}

type Result<T> = std::result::Result<T, GuardError>;

/// What [`check_update_v1`] found in an accepted update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UpdateShape {
    /// Struct records across all clients, zero-length items included.
    pub structs: usize,
    /// Ranges in the delete set.
    pub delete_ranges: usize,
    /// No structs and no delete ranges (e.g. the 2-byte update `[0, 0]`).
    pub is_empty: bool,
    /// Items whose content is a shared type (a map, array, text or XML node
    /// nested somewhere), the only items that make a document deeper.
    pub type_items: usize,
}

/// Walks a Yjs v1 update (as produced by `encode_state_as_update_v1` / `observe_update_v1`),
/// allocating only for what it has read (one word per client), never from a count. Accepts
/// only input that yrs 0.28.1 decodes along the same boundaries and that ends with the delete
/// set.
pub fn check_update_v1(bytes: &[u8], limits: &GuardLimits) -> Result<UpdateShape> {
    walk_update_v1(bytes, limits, None, None)
}

/// An item's ID as the encoding names it: (client, clock).
pub type ItemId = (u64, u32);

/// Where an item says it belongs, as the update encodes it. Yjs writes the
/// parent only for an item with no neighbours; an item with one belongs
/// wherever its left (else right) neighbour does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemLink<'a> {
    /// Directly in the root type of this name.
    Root(&'a str),
    /// Directly in the shared type held by the item with this ID.
    Parent(ItemId),
    /// Beside this item (its origin): in the same parent.
    After(ItemId),
    /// Before this item (its right origin, given no origin): in the same parent.
    Before(ItemId),
}

/// One item of a v1 update: its IDs, where it belongs, and whether it holds
/// a shared type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemRecord<'a> {
    pub client: u64,
    /// Its first clock; it covers `clock..clock + len`.
    pub clock: u32,
    pub len: u32,
    pub link: ItemLink<'a>,
    pub is_type: bool,
}

/// [`check_update_v1`], also listing every item with a non-zero length (GC
/// and skip blocks are left out), in the order written: what a check of the
/// shared types' nesting needs before yrs integrates them. One record per
/// item, so callers first ask [`UpdateShape::type_items`] whether they need it.
pub fn item_records_v1<'a>(bytes: &'a [u8], limits: &GuardLimits) -> Result<Vec<ItemRecord<'a>>> {
    let mut records = Vec::new();
    walk_update_v1(bytes, limits, None, Some(&mut records))?;
    Ok(records)
}

/// One client's structs in a v1 update that [`update_sections_v1`] accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientSection<'a> {
    /// The client id.
    pub client: u64,
    /// The clock of its first struct.
    pub clock: u32,
    /// The clock after its last struct.
    pub end: u32,
    /// How many structs.
    pub structs: u32,
    /// The structs' encoding, as the update holds it.
    pub bytes: &'a [u8],
}

/// Where the parts of a v1 update lie: each client's structs, and the
/// delete set's ranges as (client, clock, length).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateSections<'a> {
    /// Per client, in the order written.
    pub clients: Vec<ClientSection<'a>>,
    /// Every delete range, in the order written.
    pub deletes: Vec<(u64, u32, u32)>,
}

/// [`check_update_v1`], also saying where each client's structs and each
/// delete range lie (to join updates without decoding them).
pub fn update_sections_v1<'a>(bytes: &'a [u8], limits: &GuardLimits) -> Result<UpdateSections<'a>> {
    let mut sections = UpdateSections::default();
    walk_update_v1(bytes, limits, Some(&mut sections), None)?;
    Ok(sections)
}

fn walk_update_v1<'a>(
    bytes: &'a [u8],
    limits: &GuardLimits,
    mut sections: Option<&mut UpdateSections<'a>>,
    records: Option<&mut Vec<ItemRecord<'a>>>,
) -> Result<UpdateShape> {
    let mut w = Walk {
        cur: Cursor { rest: bytes },
        limits,
        elements: 0,
        subdocs: 0,
        type_items: 0,
        records,
    };
    let (mut structs, mut delete_ranges, mut clients) = (0, 0, Vec::new());
    // Update::decode: client count; per client: struct count, client, start clock, structs.
    for _ in 0..w.counted("client", 3, &mut 0, limits.max_clients)? {
        let n = w.counted("struct", 2, &mut structs, limits.max_structs)?;
        let client = w.cur.client()?;
        clients.push(client);
        let start = w.cur.clock()?;
        let before = w.cur.rest;
        let mut clock = start;
        for _ in 0..n {
            clock = clock
                .checked_add(w.block(client, clock)?)
                .ok_or(GuardError::ClockOutOfRange)?;
        }
        if let Some(sections) = sections.as_deref_mut() {
            sections.clients.push(ClientSection {
                client,
                clock: start,
                end: clock,
                structs: u32::try_from(n).map_err(|_| GuardError::InvalidVarInt)?,
                bytes: &before[..before.len() - w.cur.rest.len()],
            });
        }
    }
    // yrs appends a repeated client's blocks to the same list, out of clock order, and
    // integrating that panics (or aborts: a panic while unwinding). Encoders write each once.
    clients.sort_unstable();
    if clients.windows(2).any(|pair| pair[0] == pair[1]) {
        return Err(GuardError::DuplicateClient);
    }
    // IdSet::decode: client count; per client: client, range count, (clock, len) ranges.
    for _ in 0..w.counted("delete set client", 2, &mut 0, limits.max_clients)? {
        let client = w.cur.client()?;
        let n = w.counted(
            "delete range",
            2,
            &mut delete_ranges,
            limits.max_delete_ranges,
        )?;
        for _ in 0..n {
            let clock = w.cur.clock()?;
            let len = w.cur.clock()?;
            clock.checked_add(len).ok_or(GuardError::ClockOutOfRange)?;
            if let Some(sections) = sections.as_deref_mut() {
                sections.deletes.push((client, clock, len));
            }
        }
    }
    // yrs ignores what follows the delete set; no Yjs encoder writes anything there.
    w.cur.finish()?;
    let is_empty = structs == 0 && delete_ranges == 0;
    Ok(UpdateShape {
        structs,
        delete_ranges,
        is_empty,
        type_items: w.type_items,
    })
}

/// A y-protocols state vector (sync step 1 payload): varUint count, then (client varUint,
/// clock varUint) pairs. Returns the number of entries.
pub fn check_state_vector(bytes: &[u8]) -> Result<usize> {
    let mut cur = Cursor { rest: bytes };
    let n = cur.count("state vector entry", 2)?;
    for _ in 0..n {
        cur.client()?;
        cur.clock()?;
    }
    cur.finish()?;
    Ok(n)
}

/// What [`GuardError::LimitExceeded`] names when an awareness update carries more than
/// [`MAX_AWARENESS_ENTRIES`] entries.
pub const AWARENESS_ENTRIES: &str = "awareness entries";

/// What [`GuardError::LimitExceeded`] names when an awareness state is longer than
/// [`MAX_AWARENESS_STATE_BYTES`].
pub const AWARENESS_STATE: &str = "awareness state bytes";

/// Longest state (JSON text) one awareness entry may carry. A cursor, a name, a colour and a
/// selection of a few hundred shape ids fit many times over; the board keeps every present
/// state, so without a bound one socket's 32 ids could hold 32 × `MAX_MESSAGE_BYTES`.
pub const MAX_AWARENESS_STATE_BYTES: usize = 32 * 1024;

/// One client's entry in an awareness update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwarenessEntry<'a> {
    pub client_id: u64,
    /// Always fits in u32, the width yrs' awareness uses.
    pub clock: u64,
    /// The client's state as JSON text; `null` means the client left.
    pub state_json: &'a str,
}

impl AwarenessEntry<'_> {
    /// Whether this entry removes the client's state.
    pub fn is_removal(&self) -> bool {
        self.state_json.trim() == "null"
    }
}

/// Most entries one awareness update may carry. A client speaks for itself (one entry), but the
/// stock `y-websocket` client sends back every state it receives, a whole board's at once when
/// it joins, so this is also the most client ids a board keeps.
pub const MAX_AWARENESS_ENTRIES: usize = 1024;

/// A y-protocols awareness update payload: varUint count, then per entry varUint clientID,
/// varUint clock, varString JSON state (`null` = removal). At most [`MAX_AWARENESS_ENTRIES`]
/// entries, counted before anything is allocated; every state must parse as JSON with nesting
/// within the default [`GuardLimits::max_any_depth`].
pub fn parse_awareness_update(bytes: &[u8]) -> Result<Vec<AwarenessEntry<'_>>> {
    let mut cur = Cursor { rest: bytes };
    let n = cur.count("awareness entry", 3)?;
    cap(n, MAX_AWARENESS_ENTRIES, AWARENESS_ENTRIES)?;
    let max_depth = GuardLimits::default().max_any_depth;
    let mut entries = Vec::with_capacity(n);
    for _ in 0..n {
        let client_id = cur.client()?;
        let clock = u64::from(cur.clock()?);
        let state_json = cur.string("awareness state")?;
        cap(state_json.len(), MAX_AWARENESS_STATE_BYTES, AWARENESS_STATE)?;
        check_json(state_json, max_depth, false)?;
        entries.push(AwarenessEntry {
            client_id,
            clock,
            state_json,
        });
    }
    cur.finish()?;
    Ok(entries)
}

/// A lib0 reader over the unread rest of the input. Every read is bounds-checked.
struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn u8(&mut self) -> Result<u8> {
        let (&b, rest) = self.rest.split_first().ok_or(GuardError::Truncated)?;
        self.rest = rest;
        Ok(b)
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8]> {
        if len > self.rest.len() {
            return Err(GuardError::Truncated);
        }
        let (head, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(head)
    }

    fn finish(&self) -> Result<()> {
        let n = self.rest.len();
        (n == 0).then_some(()).ok_or(GuardError::TrailingBytes(n))
    }

    /// lib0 varUint (`signed == false`: 7 bits per byte, low group first) or varInt (the first
    /// byte carries a sign bit 0x40 and 6 bits), returning the magnitude. The value must fit in
    /// 64 bits (63 signed: yrs' `read_var::<i64>` shifts past that) and be minimally encoded,
    /// as lib0 and yrs always write it.
    fn var(&mut self, signed: bool) -> Result<u64> {
        let (limit, mut shift, mut value) = (if signed { 63 } else { 64 }, 0u32, 0u64);
        for i in 0.. {
            let b = self.u8()?;
            let width = if signed && i == 0 { 6 } else { 7 };
            let bits = u64::from(b) & ((1 << width) - 1);
            if shift + width > limit && bits >> (limit - shift) != 0 {
                break;
            }
            value |= bits << shift;
            if b & 0x80 == 0 {
                // A final 0 byte after the first adds nothing: an overlong encoding.
                return (i == 0 || b != 0)
                    .then_some(value)
                    .ok_or(GuardError::InvalidVarInt);
            }
            shift += width;
            if shift >= limit {
                break;
            }
        }
        Err(GuardError::InvalidVarInt)
    }

    /// A clock or a clock span (yrs keeps both in u32).
    fn clock(&mut self) -> Result<u32> {
        u32::try_from(self.var(false)?).map_err(|_| GuardError::ClockOutOfRange)
    }

    /// A count of elements taking at least `min_bytes` each, checked against the input left.
    /// Counts above u32::MAX are refused too: yrs reads most of them as u32.
    fn count(&mut self, what: &'static str, min_bytes: usize) -> Result<usize> {
        let n = self.var(false)?;
        match usize::try_from(n).ok().filter(|_| n <= u32::MAX.into()) {
            Some(n)
                if n.checked_mul(min_bytes)
                    .is_some_and(|need| need <= self.rest.len()) =>
            {
                Ok(n)
            }
            _ => Err(GuardError::CountExceedsInput { what }),
        }
    }

    /// lib0 varUint8Array: u32 byte length, then the bytes.
    fn buf(&mut self, what: &'static str) -> Result<&'a [u8]> {
        let len = self.count(what, 1)?;
        self.take(len)
    }

    /// lib0 varString: u32 byte length, then UTF-8.
    fn string(&mut self, what: &'static str) -> Result<&'a str> {
        std::str::from_utf8(self.buf(what)?).map_err(|_| GuardError::InvalidUtf8)
    }

    /// A client ID (53 bits, see [`GuardError::ClientIdOutOfRange`]).
    fn client(&mut self) -> Result<u64> {
        let id = self.var(false)?;
        (id < 1 << 53)
            .then_some(id)
            .ok_or(GuardError::ClientIdOutOfRange)
    }

    /// An ID: client, clock.
    fn id(&mut self) -> Result<ItemId> {
        Ok((self.client()?, self.clock()?))
    }
}

struct Walk<'a, 'l> {
    cur: Cursor<'a>,
    limits: &'l GuardLimits,
    elements: usize,
    subdocs: usize,
    type_items: usize,
    records: Option<&'l mut Vec<ItemRecord<'a>>>,
}

impl<'a> Walk<'a, '_> {
    /// Reads a u32 count of elements of at least `min_bytes` each, adds it to `total` and to
    /// the element budget, and checks both against their caps.
    fn counted(
        &mut self,
        what: &'static str,
        min: usize,
        total: &mut usize,
        max: usize,
    ) -> Result<usize> {
        let n = self.cur.count(what, min)?;
        *total = total.saturating_add(n);
        cap(*total, max, what)?;
        self.tick(n)?;
        Ok(n)
    }

    fn tick(&mut self, n: usize) -> Result<()> {
        self.elements = self.elements.saturating_add(n);
        cap(self.elements, self.limits.max_elements, "elements")
    }

    /// One struct (`Update::decode_block`) at `client`'s `clock`; returns how far it advances
    /// the client's clock.
    fn block(&mut self, client: u64, clock: u32) -> Result<u32> {
        let info = self.cur.u8()?;
        match info {
            // BLOCK_GC_REF_NUMBER / BLOCK_SKIP_REF_NUMBER: only as the whole info byte.
            0 | 10 => match self.cur.clock()? {
                0 => Err(GuardError::EmptyBlock),
                len => Ok(len),
            },
            _ => {
                // yrs masks the ref with 0b1111; Yjs with 0b11111. Refusing bit 4 keeps both
                // readers in agreement (no encoder sets it).
                let content_ref = info & 0x1f;
                if !(1..=9).contains(&content_ref) {
                    return Err(GuardError::UnknownContentRef(content_ref));
                }
                let origin = (info & 0x80 != 0).then(|| self.cur.id()).transpose()?;
                let right_origin = (info & 0x40 != 0).then(|| self.cur.id()).transpose()?;
                let link = match (origin, right_origin) {
                    (Some(id), _) => ItemLink::After(id),
                    (None, Some(id)) => ItemLink::Before(id),
                    (None, None) => {
                        // Parent info: a varUint yrs reads as u32; only 1 means a root type name.
                        let parent_info = self.cur.var(false)?;
                        if parent_info > u32::MAX.into() {
                            return Err(GuardError::InvalidVarInt);
                        }
                        let link = if parent_info == 1 {
                            ItemLink::Root(self.cur.string("parent name")?)
                        } else {
                            ItemLink::Parent(self.cur.id()?)
                        };
                        if info & 0x20 != 0 {
                            self.cur.string("parent sub")?;
                        }
                        link
                    }
                };
                let len = self.content(content_ref)?;
                let is_type = content_ref == 7;
                self.type_items += usize::from(is_type);
                if let Some(records) = self.records.as_deref_mut().filter(|_| len > 0) {
                    records.push(ItemRecord {
                        client,
                        clock,
                        len,
                        link,
                        is_type,
                    });
                }
                Ok(len)
            }
        }
    }

    /// `ItemContent::decode`; returns the item length (`len_utf16`). Zero-length items are
    /// dropped by yrs (`Item::new` returns `None`) and do not advance the clock.
    fn content(&mut self, content_ref: u8) -> Result<u32> {
        let depth = self.limits.max_any_depth;
        match content_ref {
            1 => self.cur.clock(), // Deleted(len)
            2 => {
                // JSON: yrs reads the count as i32, then loops `while remaining >= 0`, reading
                // count + 1 strings (Yjs writes count). Mirrored so the boundaries agree.
                let n = self.cur.count("JSON string", 1)?;
                if i32::try_from(n).is_err() {
                    return Err(GuardError::CountExceedsInput {
                        what: "JSON string",
                    });
                }
                self.tick(n + 1)?;
                for _ in 0..=n {
                    self.cur.string("JSON string")?;
                }
                u32::try_from(n + 1).map_err(|_| GuardError::ClockOutOfRange)
            }
            3 => self.cur.buf("binary").map(|_| 1),
            4 => {
                let s = self.cur.string("string")?;
                let units: usize = s.chars().map(char::len_utf16).sum();
                u32::try_from(units).map_err(|_| GuardError::ClockOutOfRange)
            }
            5 => check_json(self.cur.string("embed")?, depth, true).map(|()| 1),
            6 => {
                self.cur.string("format key")?;
                check_json(self.cur.string("format value")?, depth, true).map(|()| 1)
            }
            7 => {
                // TypeRef::decode reads one byte; only XmlElement (3) carries a name. yrs,
                // unlike Yjs, reads no name for XmlHook (5). WeakLink (7) is refused: yrs
                // decodes it only with its `weak` feature, which this crate does not enable.
                match self.cur.u8()? {
                    3 => self.cur.string("XML element name").map(|_| 1),
                    0 | 1 | 2 | 4 | 5 | 6 | 9 | 15 => Ok(1),
                    other => Err(GuardError::UnknownTypeRef(other)),
                }
            }
            8 => {
                let n = self.cur.count("Any value", 1)?;
                for _ in 0..n {
                    self.any()?;
                }
                u32::try_from(n).map_err(|_| GuardError::ClockOutOfRange)
            }
            9 => {
                self.subdocs = self.subdocs.saturating_add(1);
                cap(self.subdocs, self.limits.max_subdocs, "subdocuments")?;
                self.cur.string("subdocument guid")?; // Options::decode: guid, then Any
                self.any().map(|()| 1)
            }
            other => Err(GuardError::UnknownContentRef(other)),
        }
    }

    /// One lib0 `Any` value (`Any::decode`), walked iteratively: each open array/map is a
    /// (elements left, is map) frame, so nesting costs no stack and at most `max_any_depth`
    /// frames.
    fn any(&mut self) -> Result<()> {
        let mut open: Vec<(usize, bool)> = Vec::new();
        loop {
            if matches!(open.last(), Some(&(_, true))) {
                self.cur.string("Any map key")?;
            }
            self.tick(1)?;
            let tag = self.cur.u8()?;
            let container = match tag {
                120 | 121 | 126 | 127 => None,
                125 => self.cur.var(true).map(|_| None)?,
                124 => self.cur.take(4).map(|_| None)?,
                122 | 123 => self.cur.take(8).map(|_| None)?,
                119 => self.cur.string("Any string").map(|_| None)?,
                116 => self.cur.buf("Any buffer").map(|_| None)?,
                117 => Some((self.cur.count("Any array element", 1)?, false)),
                118 => Some((self.cur.count("Any map entry", 2)?, true)),
                other => return Err(GuardError::UnknownAnyTag(other)),
            };
            if let Some((len, is_map)) = container {
                if open.len() >= self.limits.max_any_depth {
                    return Err(GuardError::DepthExceeded);
                }
                if len > 0 {
                    open.push((len, is_map));
                    continue;
                }
            }
            // A value is complete: count it off its parent, closing parents that are done.
            loop {
                match open.last_mut() {
                    None => return Ok(()),
                    Some((left, _)) if *left > 1 => {
                        *left -= 1;
                        break;
                    }
                    Some(_) => {
                        open.pop();
                    }
                }
            }
        }
    }
}

fn cap(value: usize, max: usize, what: &'static str) -> Result<()> {
    (value <= max)
        .then_some(())
        .ok_or(GuardError::LimitExceeded { what })
}

/// Checks JSON text: nesting within `max_depth` (a linear scan, so serde never recurses past
/// it), then a full parse. `read_json` in yrs parses into `Any`, which refuses more than plain
/// JSON (integers above `i64::MAX`), so update content is checked with that same parser.
fn check_json(text: &str, max_depth: usize, yrs_any: bool) -> Result<()> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in text.as_bytes() {
        if in_string {
            (escaped, in_string) = (!escaped && b == b'\\', escaped || b != b'"');
        } else if b == b'"' {
            in_string = true;
        } else if b == b'[' || b == b'{' {
            depth += 1;
            if depth > max_depth {
                return Err(GuardError::DepthExceeded);
            }
        } else if b == b']' || b == b'}' {
            depth = depth.saturating_sub(1);
        }
    }
    let parsed = if yrs_any {
        yrs::Any::from_json(text).map(drop).is_ok()
    } else {
        serde_json::from_str::<serde_json::Value>(text).is_ok()
    };
    parsed.then_some(()).ok_or(GuardError::InvalidJson)
}

#[cfg(test)]
#[path = "guard_tests.rs"]
mod tests;

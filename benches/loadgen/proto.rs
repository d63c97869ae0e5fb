//! The y-protocols wire format as a client speaks it: lib0 variable-length
//! integers and strings, the sync and auth messages, and the Hocuspocus
//! variant, which prefixes every message with the document name.
//!
//! y-websocket messages (`y-protocols`):
//! - sync: `varUint 0, varUint sub, varUint8Array payload`, sub 0 = step 1
//!   (state vector), 1 = step 2 (update), 2 = update;
//! - awareness: `varUint 1, varUint8Array payload`;
//! - auth: `varUint 2, varUint sub, …` (y-websocket: sub 0 = permission denied);
//! - query awareness: `varUint 3`.
//!
//! Hocuspocus (`@hocuspocus/provider` and `@hocuspocus/server`) puts
//! `varString documentName` before each of those, in both directions. Its
//! provider opens every document with an auth message, `varString doc, varUint 2
//! (MessageType.Auth), varUint 0 (AuthMessageType.Token), varString token` (the
//! token is `""` when none is configured), and sends its sync step 1 right after
//! it without waiting: the server queues a document's messages until that auth
//! message has been handled. The server answers auth with `varUint 2, varUint 2
//! (Authenticated), varString scope` or `varUint 2, varUint 1 (PermissionDenied),
//! varString reason`, and also sends types this client ignores (5 stateless, 7
//! close, 8 sync status).

/// Appends a lib0 varUint.
pub fn write_var_u64(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Appends a lib0 varUint8Array (length, bytes); a varString is the same with UTF-8.
pub fn write_var_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    write_var_u64(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// A read position in a message.
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    pub fn var_u64(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = self.buf.split_first()?;
            self.buf = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Some(value);
            }
        }
        None
    }

    pub fn var_bytes(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.var_u64()?).ok()?;
        if len > self.buf.len() {
            return None;
        }
        let (bytes, rest) = self.buf.split_at(len);
        self.buf = rest;
        Some(bytes)
    }

    pub fn byte(&mut self) -> Option<u8> {
        let (&byte, rest) = self.buf.split_first()?;
        self.buf = rest;
        Some(byte)
    }

    pub fn skip(&mut self, n: usize) -> Option<()> {
        self.buf = self.buf.get(n..)?;
        Some(())
    }

    pub fn rest(&self) -> &'a [u8] {
        self.buf
    }
}

const SYNC: u64 = 0;
const AUTH: u64 = 2;

/// A message from the server, as far as this client cares.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming<'a> {
    /// Sync step 1 with the server's state vector.
    Step1(&'a [u8]),
    /// Sync step 2 with what we lack.
    Step2(&'a [u8]),
    /// A live update.
    Update(&'a [u8]),
    /// Auth permission denied, with its reason.
    Denied(String),
    /// Anything else (awareness, Hocuspocus acknowledgements, …).
    Other,
}

/// How messages are framed on a socket.
#[derive(Debug, Clone)]
pub struct Framing {
    /// Hocuspocus: the encoded `varString documentName` prefix of every message.
    prefix: Option<Vec<u8>>,
}

impl Framing {
    /// Plain y-websocket framing.
    pub fn plain() -> Self {
        Self { prefix: None }
    }

    /// Hocuspocus framing for `document`.
    pub fn hocuspocus(document: &str) -> Self {
        let mut prefix = Vec::new();
        write_var_bytes(&mut prefix, document.as_bytes());
        Self {
            prefix: Some(prefix),
        }
    }

    pub fn is_hocuspocus(&self) -> bool {
        self.prefix.is_some()
    }

    fn start(&self, capacity: usize) -> Vec<u8> {
        let prefix = self.prefix.as_deref().unwrap_or_default();
        let mut out = Vec::with_capacity(prefix.len() + 4 + capacity);
        out.extend_from_slice(prefix);
        out
    }

    fn sync(&self, sub: u64, payload: &[u8]) -> Vec<u8> {
        let mut out = self.start(payload.len() + 8);
        write_var_u64(&mut out, SYNC);
        write_var_u64(&mut out, sub);
        write_var_bytes(&mut out, payload);
        out
    }

    /// Sync step 1 carrying an encoded state vector.
    pub fn step1(&self, state_vector: &[u8]) -> Vec<u8> {
        self.sync(0, state_vector)
    }

    /// Sync step 2 carrying a v1 update.
    pub fn step2(&self, update: &[u8]) -> Vec<u8> {
        self.sync(1, update)
    }

    /// A live update carrying a v1 update.
    pub fn update(&self, update: &[u8]) -> Vec<u8> {
        self.sync(2, update)
    }

    /// The Hocuspocus auth (token) message; `None` for plain framing.
    pub fn auth(&self, token: &str) -> Option<Vec<u8>> {
        self.prefix.as_ref()?;
        let mut out = self.start(token.len() + 8);
        write_var_u64(&mut out, AUTH);
        write_var_u64(&mut out, 0);
        write_var_bytes(&mut out, token.as_bytes());
        Some(out)
    }

    /// Parses a server message; `None` when it does not decode or belongs to
    /// another document.
    pub fn parse<'a>(&self, frame: &'a [u8]) -> Option<Incoming<'a>> {
        let mut reader = Reader::new(frame);
        if let Some(prefix) = &self.prefix {
            let ours = frame.starts_with(prefix);
            reader.var_bytes()?;
            if !ours {
                return Some(Incoming::Other);
            }
        }
        match reader.var_u64()? {
            SYNC => {
                let sub = reader.var_u64()?;
                let payload = reader.var_bytes()?;
                Some(match sub {
                    0 => Incoming::Step1(payload),
                    1 => Incoming::Step2(payload),
                    2 => Incoming::Update(payload),
                    _ => Incoming::Other,
                })
            }
            AUTH => {
                let sub = reader.var_u64()?;
                // y-websocket denies with 0; Hocuspocus with 1 (0 is its token
                // request, 2 its "authenticated").
                let denied = if self.is_hocuspocus() { 1 } else { 0 };
                if sub != denied {
                    return Some(Incoming::Other);
                }
                let reason = reader.var_bytes().unwrap_or(reader.rest());
                Some(Incoming::Denied(
                    String::from_utf8_lossy(reason).into_owned(),
                ))
            }
            _ => Some(Incoming::Other),
        }
    }
}

/// An encoded empty update (no structs, no deletions).
pub const EMPTY_UPDATE: &[u8] = &[0, 0];

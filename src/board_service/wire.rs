//! Payloads waiting for one socket, prepared for the wire as they are queued,
//! and the narrow interface through which the transport says how.
//!
//! A broadcast reaches every socket on a board, so what a recipient costs is
//! what queueing costs. The transport's prefix (a WebSocket frame header) is
//! written by its [`WireFormat`], and small payloads are copied right behind
//! it, straight into the bytes the writer will send: no reference count is
//! taken and dropped on the payload shared by both cores, no queue entry is
//! pushed and popped, and the write needs no second buffer. Large payloads (a
//! board's whole state) are not copied: the queue keeps a reference and where
//! it goes. A broadcast prepares its payloads once and appends the result to
//! each recipient's queue.

use bytes::Bytes;

/// How the transport prepares a payload for its socket: the bytes written
/// before each payload (a WebSocket binary frame's header). Implemented by the
/// transport; the board core only calls it.
pub trait WireFormat: Send + Sync + std::fmt::Debug + 'static {
    /// The most bytes [`WireFormat::write_prefix`] writes.
    fn max_prefix_len(&self) -> usize;
    /// Appends what precedes a payload of `payload_len` bytes to `out`.
    fn write_prefix(&self, out: &mut Vec<u8>, payload_len: usize);
}

/// Payloads written as they are, with nothing before them: for sockets whose
/// transport frames nothing (and tests that read queued payloads back).
#[derive(Debug, Clone, Copy, Default)]
pub struct Unframed;

impl WireFormat for Unframed {
    fn max_prefix_len(&self) -> usize {
        0
    }

    fn write_prefix(&self, _out: &mut Vec<u8>, _payload_len: usize) {}
}

/// Payloads up to this size are copied into the queue; larger ones are kept
/// by reference and written from their own bytes (copying megabytes per
/// recipient would cost more than a second write call).
pub const COPY_LIMIT: usize = 16 * 1024;

/// A queue whose buffer grew past this is given its memory back once written,
/// so a burst does not stay with an idle socket; below it, a busy socket
/// reuses its buffer without allocating.
const KEEP_CAPACITY: usize = 4 * 1024;

/// Payloads in the order they were queued, each behind its prefix.
#[derive(Debug, Default)]
pub struct WireQueue {
    /// Prefixes and small payloads, ready to write.
    framed: Vec<u8>,
    /// Large payloads, each with the offset in `framed` it is written at
    /// (right after its prefix); offsets never decrease.
    large: Vec<(usize, Bytes)>,
    frames: usize,
    payload_bytes: usize,
}

impl WireQueue {
    /// Queues `payload` behind the prefix `format` gives it.
    pub fn push(&mut self, format: &dyn WireFormat, payload: &Bytes) {
        self.framed
            .reserve(format.max_prefix_len() + payload.len().min(COPY_LIMIT + 1));
        format.write_prefix(&mut self.framed, payload.len());
        if payload.len() <= COPY_LIMIT {
            self.framed.extend_from_slice(payload);
        } else {
            self.large.push((self.framed.len(), payload.clone()));
        }
        self.frames += 1;
        self.payload_bytes += payload.len();
    }

    /// Queues every payload of `other` after these. A broadcast prepares its
    /// payloads once and appends the result to each recipient's queue: one
    /// copy per recipient, whatever the number of payloads.
    pub fn append(&mut self, other: &WireQueue) {
        let base = self.framed.len();
        self.framed.extend_from_slice(&other.framed);
        self.large.extend(
            other
                .large
                .iter()
                .map(|(at, payload)| (base + at, payload.clone())),
        );
        self.frames += other.frames;
        self.payload_bytes += other.payload_bytes;
    }

    /// Payloads queued.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// Payload bytes queued (prefixes not counted).
    pub fn payload_bytes(&self) -> usize {
        self.payload_bytes
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.frames == 0
    }

    /// The bytes to write, in order: runs of prepared bytes with the large
    /// payloads between them.
    pub fn segments(&self) -> impl Iterator<Item = &[u8]> {
        let framed = &self.framed[..];
        let starts = std::iter::once(0).chain(self.large.iter().map(|(at, _)| *at));
        let ends = self
            .large
            .iter()
            .map(|(at, payload)| (*at, Some(&payload[..])))
            .chain(std::iter::once((framed.len(), None)));
        starts
            .zip(ends)
            .flat_map(move |(start, (end, payload))| [Some(&framed[start..end]), payload])
            .flatten()
            .filter(|segment| !segment.is_empty())
    }

    /// Empties the queue, keeping its buffer unless a burst made it large.
    pub fn clear(&mut self) {
        self.framed.clear();
        if self.framed.capacity() > KEEP_CAPACITY {
            self.framed = Vec::new();
        }
        self.large.clear();
        if self.large.capacity() > 4 {
            self.large = Vec::new();
        }
        self.frames = 0;
        self.payload_bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A marker byte and the length as four bytes: easy to spot in the output.
    #[derive(Debug)]
    struct Tagged;

    impl WireFormat for Tagged {
        fn max_prefix_len(&self) -> usize {
            5
        }

        fn write_prefix(&self, out: &mut Vec<u8>, payload_len: usize) {
            out.push(0xAA);
            out.extend_from_slice(&(payload_len as u32).to_be_bytes());
        }
    }

    fn prefix(payload_len: usize) -> Vec<u8> {
        let mut out = Vec::new();
        Tagged.write_prefix(&mut out, payload_len);
        out
    }

    fn written(queue: &WireQueue) -> Vec<u8> {
        queue.segments().flatten().copied().collect()
    }

    #[test]
    fn small_payloads_are_prefixed_in_order_and_large_ones_kept_in_place() {
        let big = Bytes::from(vec![5; COPY_LIMIT + 1]);
        let mut queue = WireQueue::default();
        queue.push(&Tagged, &Bytes::from_static(b"ab"));
        queue.push(&Tagged, &big);
        queue.push(&Tagged, &big);
        queue.push(&Tagged, &Bytes::from_static(b"c"));
        assert_eq!(queue.frames(), 4);
        assert_eq!(queue.payload_bytes(), 2 + 2 * big.len() + 1);

        let mut expected = prefix(2);
        expected.extend_from_slice(b"ab");
        for _ in 0..2 {
            expected.extend_from_slice(&prefix(big.len()));
            expected.extend_from_slice(&big);
        }
        expected.extend_from_slice(&prefix(1));
        expected.push(b'c');
        assert_eq!(written(&queue), expected);
        assert_eq!(
            queue.segments().count(),
            5,
            "prefix run, payload, prefix, payload, tail"
        );
        assert!(
            queue
                .segments()
                .any(|segment| segment.as_ptr() == big.as_ptr()),
            "large payloads are written from their own bytes"
        );
    }

    #[test]
    fn an_appended_queue_reads_as_if_its_payloads_were_pushed() {
        let big = Bytes::from(vec![7; COPY_LIMIT + 5]);
        let payloads = [
            Bytes::from_static(b"one"),
            big.clone(),
            Bytes::from_static(b"two"),
        ];
        let mut pushed = WireQueue::default();
        pushed.push(&Tagged, &Bytes::from_static(b"zero"));
        let mut appended = WireQueue::default();
        appended.push(&Tagged, &Bytes::from_static(b"zero"));
        let mut prepared = WireQueue::default();
        for payload in &payloads {
            pushed.push(&Tagged, payload);
            prepared.push(&Tagged, payload);
        }
        appended.append(&prepared);
        assert_eq!(written(&appended), written(&pushed));
        assert_eq!(appended.frames(), 4);
        assert_eq!(appended.payload_bytes(), pushed.payload_bytes());
        assert_eq!(appended.large[0].0, pushed.large[0].0, "offsets are moved");
    }

    #[test]
    fn unframed_payloads_are_written_as_they_are() {
        let mut queue = WireQueue::default();
        queue.push(&Unframed, &Bytes::from_static(b"ab"));
        queue.push(&Unframed, &Bytes::from_static(b"c"));
        assert_eq!(written(&queue), b"abc");
    }

    #[test]
    fn a_cleared_queue_is_empty_and_gives_back_a_grown_buffer() {
        let mut queue = WireQueue::default();
        queue.push(&Tagged, &Bytes::from_static(b"x"));
        queue.clear();
        assert!(queue.is_empty());
        assert_eq!(queue.segments().count(), 0);
        assert!(queue.framed.capacity() > 0, "a small buffer is kept");

        for _ in 0..10 {
            queue.push(&Tagged, &Bytes::from(vec![1; 1000]));
        }
        queue.clear();
        assert_eq!(queue.framed.capacity(), 0, "a burst's buffer is freed");
        assert_eq!(queue.payload_bytes(), 0);
    }
}

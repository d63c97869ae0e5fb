//! Binary frames waiting for one socket, framed as they are queued.
//!
//! A broadcast reaches every socket on a board, so what a recipient costs is
//! what queueing costs. Small payloads are copied, header first, straight into
//! the bytes the writer will send: no reference count is taken and dropped on
//! the payload shared by both cores, no queue entry is pushed and popped, and
//! the write needs no second buffer. Large payloads (a board's whole state)
//! are not copied: the outbox keeps a reference and where it goes.

use bytes::Bytes;

use super::frame::{write_header, OpCode, MAX_HEADER_LEN};

/// Payloads up to this size are copied into the outbox; larger ones are kept
/// by reference and written from their own bytes (copying megabytes per
/// recipient would cost more than a second write call).
pub const COPY_LIMIT: usize = 16 * 1024;

/// An outbox whose buffer grew past this is given its memory back once
/// written, so a burst does not stay with an idle socket; below it, a busy
/// socket reuses its buffer without allocating.
const KEEP_CAPACITY: usize = 4 * 1024;

/// Frames in the order they were queued.
#[derive(Debug, Default)]
pub struct Outbox {
    /// Headers and small payloads, ready to write.
    framed: Vec<u8>,
    /// Large payloads, each with the offset in `framed` it is written at
    /// (right after its header); offsets never decrease.
    large: Vec<(usize, Bytes)>,
    frames: usize,
    payload_bytes: usize,
}

impl Outbox {
    /// Queues `payload` as one binary frame.
    pub fn push(&mut self, payload: &Bytes) {
        self.framed
            .reserve(MAX_HEADER_LEN + payload.len().min(COPY_LIMIT + 1));
        write_header(&mut self.framed, OpCode::Binary, payload.len());
        if payload.len() <= COPY_LIMIT {
            self.framed.extend_from_slice(payload);
        } else {
            self.large.push((self.framed.len(), payload.clone()));
        }
        self.frames += 1;
        self.payload_bytes += payload.len();
    }

    /// Queues every frame of `other` after these. A broadcast frames its
    /// payloads once and appends the result to each recipient's outbox: one
    /// copy per recipient, whatever the number of frames.
    pub fn append(&mut self, other: &Outbox) {
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

    /// Frames queued.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// Payload bytes queued (headers not counted).
    pub fn payload_bytes(&self) -> usize {
        self.payload_bytes
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.frames == 0
    }

    /// The bytes to write, in order: runs of framed bytes with the large
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

    /// Empties the outbox, keeping its buffer unless a burst made it large.
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

    fn written(outbox: &Outbox) -> Vec<u8> {
        outbox.segments().flatten().copied().collect()
    }

    #[test]
    fn small_payloads_are_framed_in_order_and_large_ones_kept_in_place() {
        let big = Bytes::from(vec![5; COPY_LIMIT + 1]);
        let mut outbox = Outbox::default();
        outbox.push(&Bytes::from_static(b"ab"));
        outbox.push(&big);
        outbox.push(&big);
        outbox.push(&Bytes::from_static(b"c"));
        assert_eq!(outbox.frames(), 4);
        assert_eq!(outbox.payload_bytes(), 2 + 2 * big.len() + 1);

        let mut big_header = vec![0x82, 126];
        big_header.extend_from_slice(&((COPY_LIMIT + 1) as u16).to_be_bytes());
        let mut expected = vec![0x82, 2, b'a', b'b'];
        expected.extend_from_slice(&big_header);
        expected.extend_from_slice(&big);
        expected.extend_from_slice(&big_header);
        expected.extend_from_slice(&big);
        expected.extend_from_slice(&[0x82, 1, b'c']);
        assert_eq!(written(&outbox), expected);
        assert_eq!(
            outbox.segments().count(),
            5,
            "header run, payload, header, payload, tail"
        );
        assert!(
            outbox
                .segments()
                .any(|segment| segment.as_ptr() == big.as_ptr()),
            "large payloads are written from their own bytes"
        );
    }

    #[test]
    fn an_appended_outbox_reads_as_if_its_frames_were_pushed() {
        let big = Bytes::from(vec![7; COPY_LIMIT + 5]);
        let payloads = [
            Bytes::from_static(b"one"),
            big.clone(),
            Bytes::from_static(b"two"),
        ];
        let mut pushed = Outbox::default();
        pushed.push(&Bytes::from_static(b"zero"));
        let mut appended = Outbox::default();
        appended.push(&Bytes::from_static(b"zero"));
        let mut prepared = Outbox::default();
        for payload in &payloads {
            pushed.push(payload);
            prepared.push(payload);
        }
        appended.append(&prepared);
        assert_eq!(written(&appended), written(&pushed));
        assert_eq!(appended.frames(), 4);
        assert_eq!(appended.payload_bytes(), pushed.payload_bytes());
        assert_eq!(appended.large[0].0, pushed.large[0].0, "offsets are moved");
    }

    #[test]
    fn a_cleared_outbox_is_empty_and_gives_back_a_grown_buffer() {
        let mut outbox = Outbox::default();
        outbox.push(&Bytes::from_static(b"x"));
        outbox.clear();
        assert!(outbox.is_empty());
        assert_eq!(outbox.segments().count(), 0);
        assert!(outbox.framed.capacity() > 0, "a small buffer is kept");

        for _ in 0..10 {
            outbox.push(&Bytes::from(vec![1; 1000]));
        }
        outbox.clear();
        assert_eq!(outbox.framed.capacity(), 0, "a burst's buffer is freed");
        assert_eq!(outbox.payload_bytes(), 0);
    }
}

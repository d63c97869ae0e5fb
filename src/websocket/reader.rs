//! Reads whole messages from a client: frames parsed, unmasked and joined,
//! with the size limit applied before any payload is buffered.

use std::io;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::{
    connection::ReadArrived,
    frame::{is_sendable_close_code, unmask, FrameHeader, OpCode, ProtocolError, MAX_HEADER_LEN},
};

/// What an idle socket's buffer grows to on its first read. Smaller than a
/// typical update burst, since every idle socket holds it while it waits.
const FIRST_READ_BYTES: usize = 512;
/// The most one read asks for: enough to take a busy socket's backlog at once.
const MAX_READ_BYTES: usize = 64 * 1024;
/// A buffer emptied after a large message is given back rather than kept by a
/// socket that may now stay idle for hours.
const KEEP_IDLE_BYTES: usize = 4 * 1024;
/// The most frames one message may be split into. Clients send whole messages
/// or a few large pieces; without a bound, an endless run of empty fragments
/// would keep a socket busy and never reach the size limit.
pub const MAX_FRAGMENTS: usize = 4096;

/// One message from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A binary message, unmasked and joined from its fragments.
    Binary(Bytes),
    /// A text message (its content is not kept: the sync protocol has none).
    Text,
    /// A ping: answer with a pong carrying this payload.
    Ping(Bytes),
    /// A pong.
    Pong,
    /// The client closes, with this code (1000 when it gave none).
    Close(u16),
}

/// Why reading stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The connection failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The client broke RFC 6455: close with 1002.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// A message (or its first frame's declared length) over the limit: close with 1009.
    #[error("message larger than {0} bytes")]
    TooLarge(usize),
    /// A message split into more than [`MAX_FRAGMENTS`] frames: close with 1008.
    #[error("message split into more than {MAX_FRAGMENTS} frames")]
    TooFragmented,
    /// A close frame whose reason is not UTF-8 (RFC 6455 §5.5.1, §8.1): close with 1007.
    #[error("close reason is not UTF-8")]
    CloseReasonNotUtf8,
}

/// Reads messages from one client connection.
#[derive(Debug)]
pub struct MessageReader<R> {
    io: R,
    buf: BytesMut,
    /// The size of the next read; doubles while reads fill it.
    read_size: usize,
    /// A fragmented message being joined.
    partial: Option<Partial>,
    max_message: usize,
}

/// The fragments of a message received so far.
#[derive(Debug)]
struct Partial {
    /// The first fragment's opcode: text or binary.
    opcode: OpCode,
    /// The payloads joined.
    joined: BytesMut,
    /// How many frames they came in.
    frames: usize,
}

impl<R: AsyncRead + Unpin> MessageReader<R> {
    /// Reads from `io`, refusing messages over `max_message` bytes.
    pub fn new(io: R, max_message: usize) -> Self {
        Self {
            io,
            buf: BytesMut::new(),
            read_size: FIRST_READ_BYTES,
            partial: None,
            max_message,
        }
    }

    /// The next message; `Ok(None)` when the client closed the connection
    /// without a close frame. Cancel-safe: bytes read stay buffered.
    pub async fn next_message(&mut self) -> Result<Option<Incoming>, ReadError> {
        loop {
            match self.take_buffered()? {
                Buffered::Message(message) => return Ok(Some(message)),
                Buffered::Missing(wanted) => {
                    if !self.fill(wanted).await? {
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// The next whole message among the bytes buffered, or how many more
    /// bytes it needs at least.
    fn take_buffered(&mut self) -> Result<Buffered, ReadError> {
        loop {
            let Some(header) = FrameHeader::parse(&self.buf)? else {
                return Ok(Buffered::Missing(1));
            };
            let limit = self.max_message;
            // Control frames may come between a message's fragments (RFC 6455
            // §5.4) and are no part of it: only its continuations spend its budget.
            let joined = match &self.partial {
                Some(part) if header.opcode == OpCode::Continuation => part.joined.len(),
                _ => 0,
            };
            if header.payload_len > (limit.saturating_sub(joined)) as u64 {
                return Err(ReadError::TooLarge(limit));
            }
            // In range: at most `max_message`, which is a usize.
            let payload_len = header.payload_len as usize;
            let frame_len = header.header_len + payload_len;
            if self.buf.len() < frame_len {
                return Ok(Buffered::Missing(frame_len - self.buf.len()));
            }
            let mut frame = self.buf.split_to(frame_len);
            let mut payload = frame.split_off(header.header_len);
            unmask(&mut payload, header.mask);
            self.release_if_idle();
            if let Some(message) = self.assemble(header, payload)? {
                return Ok(Buffered::Message(message));
            }
        }
    }

    /// The stream read from.
    #[cfg(test)]
    pub fn get_ref(&self) -> &R {
        &self.io
    }

    /// Whether a whole frame is already buffered, so the next
    /// [`Self::next_message`] starts without waiting for the network.
    pub fn has_buffered_frame(&self) -> bool {
        match FrameHeader::parse(&self.buf) {
            Ok(Some(header)) => (self.buf.len() - header.header_len) as u64 >= header.payload_len,
            // A broken frame is "ready" too: reading it reports the error.
            Err(_) => true,
            Ok(None) => false,
        }
    }

    /// Turns a frame into a message, or keeps it as part of one.
    fn assemble(
        &mut self,
        header: FrameHeader,
        payload: BytesMut,
    ) -> Result<Option<Incoming>, ReadError> {
        match header.opcode {
            OpCode::Ping => Ok(Some(Incoming::Ping(payload.freeze()))),
            OpCode::Pong => Ok(Some(Incoming::Pong)),
            OpCode::Close => Ok(Some(Incoming::Close(close_code(&payload)?))),
            OpCode::Text | OpCode::Binary => {
                if self.partial.is_some() {
                    return Err(ProtocolError::UnexpectedContinuation.into());
                }
                if header.fin {
                    return Ok(Some(message(header.opcode, payload)));
                }
                self.partial = Some(Partial {
                    opcode: header.opcode,
                    joined: payload,
                    frames: 1,
                });
                Ok(None)
            }
            OpCode::Continuation => {
                let Some(mut partial) = self.partial.take() else {
                    return Err(ProtocolError::UnexpectedContinuation.into());
                };
                partial.frames += 1;
                if partial.frames > MAX_FRAGMENTS {
                    return Err(ReadError::TooFragmented);
                }
                partial.joined.extend_from_slice(&payload);
                if header.fin {
                    return Ok(Some(message(partial.opcode, partial.joined)));
                }
                self.partial = Some(partial);
                Ok(None)
            }
        }
    }

    /// Reads at least once, wanting `wanted` more bytes; `false` at end of stream.
    async fn fill(&mut self, wanted: usize) -> io::Result<bool> {
        // The buffer grows with what arrives (at most doubling per read), not
        // to a frame's declared length at once: a client that declares a large
        // frame and sends it slowly holds only what it has sent.
        let ask = wanted
            .min(self.buf.len().max(MAX_READ_BYTES))
            .max(self.read_size);
        self.buf.reserve(ask);
        let spare = self.buf.capacity() - self.buf.len();
        let read = self.io.read_buf(&mut self.buf).await?;
        if read == spare && self.read_size < MAX_READ_BYTES {
            self.read_size *= 2;
        }
        Ok(read > 0)
    }

    /// An emptied buffer that grew for a large message is freed, and reads
    /// start small again.
    fn release_if_idle(&mut self) {
        if self.buf.is_empty() && self.buf.capacity() > KEEP_IDLE_BYTES {
            self.buf = BytesMut::new();
            self.read_size = FIRST_READ_BYTES;
        }
    }
}

impl<R: ReadArrived> MessageReader<R> {
    /// Stops waiting for the network: the messages still to be had are those
    /// among the bytes that have already arrived (buffered here, or in the
    /// kernel), up to one message's worth of bytes read beyond the buffer.
    /// What a client sent before the server decided to close it is then
    /// handled, and no client can make that take longer.
    pub fn arrived(&mut self) -> ArrivedMessages<'_, R> {
        // Room for one whole message of the largest size, header included.
        let budget = self.max_message.saturating_add(MAX_CLIENT_HEADER_LEN);
        ArrivedMessages {
            reader: self,
            budget,
        }
    }
}

/// The most a client frame's header takes: a server's, plus the mask.
const MAX_CLIENT_HEADER_LEN: usize = MAX_HEADER_LEN + 4;

/// The messages among the bytes that have already arrived (see
/// [`MessageReader::arrived`]).
#[derive(Debug)]
pub struct ArrivedMessages<'a, R> {
    reader: &'a mut MessageReader<R>,
    /// Bytes that may still be read from the stream.
    budget: usize,
}

impl<R: ReadArrived> ArrivedMessages<'_, R> {
    /// The next message, never waiting for bytes: `Ok(None)` once no whole
    /// message is left among those that arrived, the read budget is spent,
    /// or the stream ended.
    pub fn next_message(&mut self) -> Result<Option<Incoming>, ReadError> {
        loop {
            match self.reader.take_buffered()? {
                Buffered::Message(message) => return Ok(Some(message)),
                Buffered::Missing(wanted) => {
                    if !self.fill(wanted)? {
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// Reads what has arrived, wanting `wanted` more bytes, within the
    /// budget; `false` when nothing was read.
    fn fill(&mut self, wanted: usize) -> io::Result<bool> {
        let reader = &mut *self.reader;
        // As `MessageReader::fill`: the buffer grows with what arrives.
        let ask = wanted
            .min(reader.buf.len().max(MAX_READ_BYTES))
            .max(reader.read_size)
            .min(self.budget);
        if ask == 0 {
            return Ok(false);
        }
        let start = reader.buf.len();
        reader.buf.resize(start + ask, 0);
        let read = loop {
            match reader.io.read_arrived(&mut reader.buf[start..]) {
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        let read = match read {
            Ok(read) => read,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => 0,
            Err(err) => {
                reader.buf.truncate(start);
                return Err(err);
            }
        };
        reader.buf.truncate(start + read);
        self.budget -= read;
        Ok(read > 0)
    }
}

/// What the buffered bytes hold next.
enum Buffered {
    /// A whole message.
    Message(Incoming),
    /// Not yet a whole message: at least this many more bytes are needed.
    Missing(usize),
}

fn message(opcode: OpCode, payload: BytesMut) -> Incoming {
    if opcode == OpCode::Text {
        Incoming::Text
    } else {
        Incoming::Binary(payload.freeze())
    }
}

/// The code of a close frame: none means 1000; a one-byte payload or a code
/// no endpoint may send is a protocol error, a reason that is not UTF-8 is
/// invalid data (RFC 6455 §5.5.1, §7.4.1).
fn close_code(payload: &[u8]) -> Result<u16, ReadError> {
    match payload {
        [] => Ok(1000),
        [high, low, reason @ ..] => {
            let code = u16::from_be_bytes([*high, *low]);
            if !is_sendable_close_code(code) {
                return Err(ProtocolError::InvalidClose.into());
            }
            if std::str::from_utf8(reason).is_err() {
                return Err(ReadError::CloseReasonNotUtf8);
            }
            Ok(code)
        }
        [_] => Err(ProtocolError::InvalidClose.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MASK: [u8; 4] = [0x37, 0xFA, 0x21, 0x3D];

    fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![first];
        match payload.len() {
            len @ 0..=125 => out.push(0x80 | len as u8),
            len @ 126..=0xFFFF => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            }
            len => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&MASK);
        let mut masked = payload.to_vec();
        unmask(&mut masked, MASK);
        out.extend_from_slice(&masked);
        out
    }

    async fn read_all(bytes: Vec<u8>, max: usize) -> Vec<Result<Incoming, String>> {
        let mut reader = MessageReader::new(&bytes[..], max);
        let mut out = Vec::new();
        loop {
            match reader.next_message().await {
                Ok(Some(message)) => out.push(Ok(message)),
                Ok(None) => return out,
                Err(err) => {
                    out.push(Err(err.to_string()));
                    return out;
                }
            }
        }
    }

    #[tokio::test]
    async fn reads_messages_of_every_length_encoding_back_to_back() {
        let sizes = [0, 1, 125, 126, 65_535, 65_536, 200_000];
        let mut stream = Vec::new();
        for size in sizes {
            stream.extend(frame(0x82, &vec![size as u8; size]));
        }
        let messages = read_all(stream, 1 << 20).await;
        assert_eq!(messages.len(), sizes.len());
        for (message, size) in messages.into_iter().zip(sizes) {
            assert_eq!(
                message,
                Ok(Incoming::Binary(Bytes::from(vec![size as u8; size])))
            );
        }
    }

    #[tokio::test]
    async fn joins_fragments_with_control_frames_between_them() {
        let mut stream = frame(0x02, b"hel");
        stream.extend(frame(0x89, b"ping"));
        stream.extend(frame(0x00, b"lo "));
        stream.extend(frame(0x8A, b""));
        stream.extend(frame(0x80, b"world"));
        stream.extend(frame(0x81, b"text"));
        stream.extend(frame(0x88, &[0x03, 0xE9, b'b', b'y', b'e']));
        assert_eq!(
            read_all(stream, 1024).await,
            [
                Ok(Incoming::Ping(Bytes::from_static(b"ping"))),
                Ok(Incoming::Pong),
                Ok(Incoming::Binary(Bytes::from_static(b"hello world"))),
                Ok(Incoming::Text),
                Ok(Incoming::Close(1001)),
            ]
        );
    }

    #[tokio::test]
    async fn refuses_messages_over_the_limit_before_buffering_them() {
        let mut declared = vec![0x82, 0x80 | 127];
        declared.extend_from_slice(&(1u64 << 40).to_be_bytes());
        declared.extend_from_slice(&MASK);
        let refused = read_all(declared, 1024).await;
        assert!(
            matches!(&refused[..], [Err(err)] if err.contains("1024")),
            "{refused:?}"
        );

        let mut fragmented = frame(0x02, &[0; 600]);
        fragmented.extend(frame(0x80, &[0; 600]));
        let refused = read_all(fragmented, 1024).await;
        assert!(
            matches!(&refused[..], [Err(err)] if err.contains("1024")),
            "{refused:?}"
        );

        let exact = read_all(frame(0x82, &[7; 1024]), 1024).await;
        assert_eq!(exact, [Ok(Incoming::Binary(Bytes::from(vec![7; 1024])))]);
    }

    #[tokio::test]
    async fn control_frames_between_fragments_do_not_count_against_the_limit() {
        let mut stream = frame(0x02, &[1; 1000]);
        stream.extend(frame(0x89, &[2; 125]));
        stream.extend(frame(0x8A, &[3; 125]));
        stream.extend(frame(0x80, &[4; 24]));
        let mut expected = vec![1; 1000];
        expected.extend_from_slice(&[4; 24]);
        assert_eq!(
            read_all(stream, 1024).await,
            [
                Ok(Incoming::Ping(Bytes::from(vec![2; 125]))),
                Ok(Incoming::Pong),
                Ok(Incoming::Binary(Bytes::from(expected))),
            ]
        );
    }

    #[tokio::test]
    async fn refuses_a_message_in_too_many_fragments() {
        let mut stream = frame(0x02, b"a");
        for _ in 1..MAX_FRAGMENTS - 1 {
            stream.extend(frame(0x00, b""));
        }
        let mut exact = stream.clone();
        exact.extend(frame(0x80, b"z"));
        assert_eq!(
            read_all(exact, 1024).await,
            [Ok(Incoming::Binary(Bytes::from_static(b"az")))]
        );
        stream.extend(frame(0x00, b""));
        stream.extend(frame(0x80, b"z"));
        let refused = read_all(stream, 1024).await;
        assert!(
            matches!(refused.last(), Some(Err(err)) if err.contains("frames")),
            "{refused:?}"
        );
    }

    #[tokio::test]
    async fn a_declared_length_is_not_reserved_before_its_bytes_arrive() {
        let mut stream = vec![0x82, 0x80 | 127];
        stream.extend_from_slice(&(1u64 << 20).to_be_bytes());
        stream.extend_from_slice(&MASK);
        stream.extend_from_slice(&[0; 100]);
        let mut reader = MessageReader::new(&stream[..], 16 << 20);
        assert!(matches!(reader.next_message().await, Ok(None)), "cut short");
        assert!(
            reader.buf.capacity() <= 2 * MAX_READ_BYTES,
            "{} bytes reserved for 114 received",
            reader.buf.capacity()
        );
    }

    #[tokio::test]
    async fn refuses_broken_sequences_and_close_payloads() {
        let cases: [(Vec<u8>, &str); 8] = [
            (frame(0x80, b"x"), "continuation"),
            (
                [frame(0x02, b"a"), frame(0x82, b"b")].concat(),
                "continuation",
            ),
            (frame(0x88, &[3]), "close"),
            (frame(0x88, &1005u16.to_be_bytes()), "close"),
            (frame(0x88, &[0x03, 0xE8, b'o', 0xFF]), "UTF-8"),
            (frame(0x88, &[0x03, 0xE8, 0xCE]), "UTF-8"),
            (
                [frame(0x02, b"a"), frame(0x89, b"p"), frame(0x81, b"b")].concat(),
                "continuation",
            ),
            (vec![0x82, 0x01, b'x'], "not masked"),
        ];
        for (stream, expected) in cases {
            let result = read_all(stream, 1024).await;
            assert!(
                matches!(result.last(), Some(Err(err)) if err.contains(expected)),
                "{expected}: {result:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_buffered_frame_is_known_before_it_is_read() {
        let mut stream = frame(0x82, b"one");
        stream.extend(frame(0x82, b"two"));
        let half = frame(0x82, b"three");
        stream.extend_from_slice(&half[..half.len() - 1]);
        let mut reader = MessageReader::new(&stream[..], 1024);
        assert!(!reader.has_buffered_frame(), "nothing read yet");
        assert!(matches!(reader.next_message().await, Ok(Some(_))));
        assert!(reader.has_buffered_frame(), "`two` came with `one`");
        assert!(matches!(reader.next_message().await, Ok(Some(_))));
        assert!(!reader.has_buffered_frame(), "`three` is not whole");
    }

    #[tokio::test]
    async fn a_close_reason_in_utf8_is_accepted() {
        let close = [&[0x0F, 0xA0][..], "au revoir, à bientôt".as_bytes()].concat();
        assert_eq!(
            read_all(frame(0x88, &close), 64).await,
            [Ok(Incoming::Close(4000))]
        );
    }

    #[tokio::test]
    async fn an_empty_close_means_1000_and_a_cut_stream_ends_quietly() {
        assert_eq!(
            read_all(frame(0x88, b""), 64).await,
            [Ok(Incoming::Close(1000))]
        );
        let mut cut = frame(0x82, b"complete");
        let next = frame(0x82, b"never finished");
        cut.extend_from_slice(&next[..next.len() - 3]);
        assert_eq!(
            read_all(cut, 64).await,
            [Ok(Incoming::Binary(Bytes::from_static(b"complete")))]
        );
    }

    #[tokio::test]
    async fn a_reader_fed_one_byte_at_a_time_sees_the_same_messages() {
        let mut stream = frame(0x82, &[9; 300]);
        stream.extend(frame(0x02, b"ab"));
        stream.extend(frame(0x80, b"cd"));
        let (mut client, server) = tokio::io::duplex(1);
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            for byte in stream {
                if client.write_all(&[byte]).await.is_err() {
                    return;
                }
            }
        });
        let mut reader = MessageReader::new(server, 1024);
        let first = reader.next_message().await.ok().flatten();
        let second = reader.next_message().await.ok().flatten();
        assert_eq!(first, Some(Incoming::Binary(Bytes::from(vec![9; 300]))));
        assert_eq!(second, Some(Incoming::Binary(Bytes::from_static(b"abcd"))));
        assert!(writer.await.is_ok());
        assert!(matches!(reader.next_message().await, Ok(None)));
    }

    impl ReadArrived for &[u8] {}
    impl ReadArrived for tokio::io::DuplexStream {}

    fn arrived_now<R: ReadArrived>(reader: &mut MessageReader<R>) -> Vec<Incoming> {
        let mut arrived = reader.arrived();
        let mut out = Vec::new();
        while let Ok(Some(message)) = arrived.next_message() {
            out.push(message);
        }
        out
    }

    #[tokio::test]
    async fn arrived_messages_are_the_whole_ones_there_and_a_partial_one_waits() {
        use tokio::io::AsyncWriteExt;
        let (mut client, server) = tokio::io::duplex(4096);
        let third = frame(0x82, b"three");
        let mut sent = frame(0x82, b"one");
        sent.extend(frame(0x82, b"two"));
        sent.extend_from_slice(&third[..4]);
        client.write_all(&sent).await.expect("written");
        let mut reader = MessageReader::new(server, 1024);
        // The client's side stays open: nothing here waits for it.
        assert_eq!(
            arrived_now(&mut reader),
            [
                Incoming::Binary(Bytes::from_static(b"one")),
                Incoming::Binary(Bytes::from_static(b"two")),
            ]
        );
        client.write_all(&third[4..]).await.expect("written");
        assert_eq!(
            reader.next_message().await.ok().flatten(),
            Some(Incoming::Binary(Bytes::from_static(b"three"))),
            "the part already read was kept"
        );
    }

    #[tokio::test]
    async fn arrived_messages_are_what_is_buffered_and_one_message_more() {
        let mut stream = Vec::new();
        for n in 0..10 {
            stream.extend(frame(0x82, &[n; 20]));
        }
        // Nothing buffered: the bytes of one 24-byte message (with its
        // header) are read, which hold one of these 20-byte ones.
        let mut reader = MessageReader::new(&stream[..], 24);
        assert_eq!(
            arrived_now(&mut reader),
            [Incoming::Binary(Bytes::from(vec![0; 20]))]
        );
        // Everything buffered (by the first read, which takes all 260
        // bytes): all of it.
        let mut reader = MessageReader::new(&stream[..], 24);
        assert!(matches!(reader.next_message().await, Ok(Some(_))));
        assert_eq!(arrived_now(&mut reader).len(), 9);
    }
}

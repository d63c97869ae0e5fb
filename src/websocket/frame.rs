//! RFC 6455 frame headers: parsing what a client sends, encoding what the
//! server sends. Pure functions over byte slices, so every rule is unit-tested
//! without a socket.

/// A frame's opcode (RFC 6455 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpCode {
    /// Continues a fragmented text or binary message.
    Continuation,
    /// A UTF-8 text message (or its first fragment).
    Text,
    /// A binary message (or its first fragment).
    Binary,
    /// The closing handshake.
    Close,
    /// A ping, answered with a pong carrying the same payload.
    Ping,
    /// A pong.
    Pong,
}

impl OpCode {
    fn from_bits(bits: u8) -> Option<Self> {
        Some(match bits {
            0x0 => Self::Continuation,
            0x1 => Self::Text,
            0x2 => Self::Binary,
            0x8 => Self::Close,
            0x9 => Self::Ping,
            0xA => Self::Pong,
            _ => return None,
        })
    }

    fn bits(self) -> u8 {
        match self {
            Self::Continuation => 0x0,
            Self::Text => 0x1,
            Self::Binary => 0x2,
            Self::Close => 0x8,
            Self::Ping => 0x9,
            Self::Pong => 0xA,
        }
    }

    /// Close, ping and pong: at most 125 bytes, never fragmented.
    pub fn is_control(self) -> bool {
        matches!(self, Self::Close | Self::Ping | Self::Pong)
    }
}

/// The header of a frame a client sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// The last frame of its message.
    pub fin: bool,
    /// What the frame carries.
    pub opcode: OpCode,
    /// The payload's length in bytes.
    pub payload_len: u64,
    /// The key the payload is masked with.
    pub mask: [u8; 4],
    /// How many bytes the header itself took.
    pub header_len: usize,
}

/// A frame no client may send: the socket is closed with 1002.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// RSV bits are set, but no extension was negotiated.
    #[error("reserved bits set without an extension")]
    ReservedBits,
    /// An opcode RFC 6455 does not define.
    #[error("unknown opcode {0:#x}")]
    UnknownOpCode(u8),
    /// Client frames must be masked (RFC 6455 §5.1).
    #[error("client frame not masked")]
    Unmasked,
    /// A 64-bit length with its most significant bit set.
    #[error("frame length out of range")]
    LengthOutOfRange,
    /// A length in a longer encoding than it needs (RFC 6455 §5.2: "the
    /// minimal number of bytes MUST be used").
    #[error("frame length not minimally encoded")]
    NonMinimalLength,
    /// A control frame that is fragmented or longer than 125 bytes.
    #[error("invalid control frame")]
    InvalidControlFrame,
    /// A continuation with no message to continue, or a new message before
    /// the previous one ended.
    #[error("unexpected continuation")]
    UnexpectedContinuation,
    /// A close frame whose payload is one byte, or whose code may not be sent.
    #[error("invalid close frame")]
    InvalidClose,
}

impl FrameHeader {
    /// Parses a client frame's header from the start of `buf`: `Ok(None)` when
    /// more bytes are needed.
    pub fn parse(buf: &[u8]) -> Result<Option<Self>, ProtocolError> {
        let [first, second, ..] = *buf else {
            return Ok(None);
        };
        if first & 0x70 != 0 {
            return Err(ProtocolError::ReservedBits);
        }
        let opcode =
            OpCode::from_bits(first & 0x0F).ok_or(ProtocolError::UnknownOpCode(first & 0x0F))?;
        let fin = first & 0x80 != 0;
        if second & 0x80 == 0 {
            return Err(ProtocolError::Unmasked);
        }
        let (payload_len, len_bytes) = match second & 0x7F {
            126 => match buf.get(2..4) {
                Some(bytes) => (u64::from(u16::from_be_bytes([bytes[0], bytes[1]])), 2),
                None => return Ok(None),
            },
            127 => match buf
                .get(2..10)
                .and_then(|bytes| <[u8; 8]>::try_from(bytes).ok())
            {
                Some(bytes) => (u64::from_be_bytes(bytes), 8),
                None => return Ok(None),
            },
            len => (u64::from(len), 0),
        };
        if payload_len >> 63 != 0 {
            return Err(ProtocolError::LengthOutOfRange);
        }
        // A 16-bit length below 126, or a 64-bit one that fits in 16 bits.
        let shortest = match len_bytes {
            2 => 126,
            8 => 0x1_0000,
            _ => 0,
        };
        if payload_len < shortest {
            return Err(ProtocolError::NonMinimalLength);
        }
        if opcode.is_control() && (!fin || payload_len > 125) {
            return Err(ProtocolError::InvalidControlFrame);
        }
        let mask_at = 2 + len_bytes;
        let Some(mask) = buf
            .get(mask_at..mask_at + 4)
            .and_then(|bytes| <[u8; 4]>::try_from(bytes).ok())
        else {
            return Ok(None);
        };
        Ok(Some(Self {
            fin,
            opcode,
            payload_len,
            mask,
            header_len: mask_at + 4,
        }))
    }
}

/// Unmasks a client payload in place.
pub fn unmask(payload: &mut [u8], mask: [u8; 4]) {
    // Eight bytes at a time (the compiler turns this into vector code): the
    // largest messages are megabytes.
    let wide = u64::from_ne_bytes([
        mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3],
    ]);
    let mut chunks = payload.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(word) ^ wide).to_ne_bytes());
    }
    // Whole chunks of eight keep the mask's phase, so the tail starts at key 0.
    for (byte, key) in chunks.into_remainder().iter_mut().zip(mask.iter().cycle()) {
        *byte ^= key;
    }
}

/// The longest header the server writes: 2 bytes and a 64-bit length.
pub const MAX_HEADER_LEN: usize = 10;

/// Appends the header of an unmasked, final server frame of `payload_len` bytes.
pub fn write_header(out: &mut Vec<u8>, opcode: OpCode, payload_len: usize) {
    out.push(0x80 | opcode.bits());
    match payload_len {
        0..=125 => out.push(payload_len as u8),
        126..=0xFFFF => {
            out.push(126);
            out.extend_from_slice(&(payload_len as u16).to_be_bytes());
        }
        _ => {
            out.push(127);
            out.extend_from_slice(&(payload_len as u64).to_be_bytes());
        }
    }
}

/// Appends the header of a binary server frame of `payload_len` bytes.
pub fn write_binary_header(out: &mut Vec<u8>, payload_len: usize) {
    write_header(out, OpCode::Binary, payload_len);
}

/// A close code a peer may put in a close frame (RFC 6455 §7.4; 1004–1006 and
/// 1015 are reserved for reporting, never sent).
pub fn is_sendable_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(first: u8, len: &[u8]) -> Vec<u8> {
        let mut frame = vec![first];
        frame.extend_from_slice(len);
        frame[1] |= 0x80;
        frame.extend_from_slice(&[1, 2, 3, 4]);
        frame
    }

    #[test]
    fn parses_each_length_encoding_and_waits_for_missing_bytes() {
        let short = masked(0x82, &[5]);
        let header = FrameHeader::parse(&short).ok().flatten();
        assert_eq!(
            header,
            Some(FrameHeader {
                fin: true,
                opcode: OpCode::Binary,
                payload_len: 5,
                mask: [1, 2, 3, 4],
                header_len: 6,
            })
        );
        let medium = masked(0x02, &[126, 0x01, 0x00]);
        let header = FrameHeader::parse(&medium).ok().flatten();
        assert_eq!(
            header.map(|h| (h.fin, h.payload_len, h.header_len)),
            Some((false, 256, 8))
        );
        let long = masked(0x82, &[127, 0, 0, 0, 0, 0, 1, 0, 0]);
        let header = FrameHeader::parse(&long).ok().flatten();
        assert_eq!(
            header.map(|h| (h.payload_len, h.header_len)),
            Some((65_536, 14))
        );
        for frame in [&short, &medium, &long] {
            for cut in 0..frame.len() {
                assert_eq!(
                    FrameHeader::parse(&frame[..cut]),
                    Ok(None),
                    "{frame:?} cut at {cut}"
                );
            }
        }
    }

    #[test]
    fn refuses_what_no_client_may_send() {
        let cases = [
            (vec![0x82, 0x05], ProtocolError::Unmasked),
            (masked(0xC2, &[0]), ProtocolError::ReservedBits),
            (masked(0x83, &[0]), ProtocolError::UnknownOpCode(3)),
            (masked(0x0B, &[0]), ProtocolError::UnknownOpCode(0xB)),
            (masked(0x09, &[0]), ProtocolError::InvalidControlFrame),
            (
                masked(0x89, &[126, 0, 126]),
                ProtocolError::InvalidControlFrame,
            ),
            (
                masked(0x82, &[127, 0x80, 0, 0, 0, 0, 0, 0, 0]),
                ProtocolError::LengthOutOfRange,
            ),
            (
                masked(0x82, &[126, 0, 125]),
                ProtocolError::NonMinimalLength,
            ),
            (masked(0x82, &[126, 0, 0]), ProtocolError::NonMinimalLength),
            (
                masked(0x82, &[127, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF]),
                ProtocolError::NonMinimalLength,
            ),
            (
                masked(0x82, &[127, 0, 0, 0, 0, 0, 0, 0, 5]),
                ProtocolError::NonMinimalLength,
            ),
        ];
        for (frame, expected) in cases {
            assert_eq!(FrameHeader::parse(&frame), Err(expected), "{frame:?}");
        }
    }

    #[test]
    fn unmasking_twice_restores_the_payload_at_every_length() {
        let mask = [0xA1, 0x02, 0xF3, 0x44];
        for len in 0..40 {
            let original: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut payload = original.clone();
            unmask(&mut payload, mask);
            let expected: Vec<u8> = original
                .iter()
                .enumerate()
                .map(|(i, byte)| byte ^ mask[i % 4])
                .collect();
            assert_eq!(payload, expected, "length {len}");
            unmask(&mut payload, mask);
            assert_eq!(payload, original);
        }
    }

    #[test]
    fn server_headers_use_the_shortest_length_encoding() {
        let header = |len| {
            let mut out = Vec::new();
            write_header(&mut out, OpCode::Binary, len);
            out
        };
        assert_eq!(header(0), [0x82, 0]);
        assert_eq!(header(125), [0x82, 125]);
        assert_eq!(header(126), [0x82, 126, 0, 126]);
        assert_eq!(header(65_535), [0x82, 126, 0xFF, 0xFF]);
        assert_eq!(header(65_536), [0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]);
        assert!(header(1 << 40).len() <= MAX_HEADER_LEN);
    }

    #[test]
    fn only_sendable_close_codes_are_accepted() {
        for code in [1000, 1001, 1003, 1007, 1011, 1013, 3000, 4403, 4999] {
            assert!(is_sendable_close_code(code), "{code}");
        }
        for code in [0, 999, 1004, 1005, 1006, 1015, 2000, 2999, 5000] {
            assert!(!is_sendable_close_code(code), "{code}");
        }
    }
}

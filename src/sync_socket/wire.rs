//! The board core's frames as WebSocket binary frames: the [`WireFormat`] the
//! sync transport gives the board service, so a broadcast's frames are framed
//! once, as they are queued, and written as they are.

use crate::{
    board_service::WireFormat,
    websocket::{write_binary_header, MAX_HEADER_LEN},
};

/// Each frame as one unmasked, final binary WebSocket frame (RFC 6455).
#[derive(Debug, Clone, Copy)]
pub struct BinaryFrames;

impl WireFormat for BinaryFrames {
    fn max_prefix_len(&self) -> usize {
        MAX_HEADER_LEN
    }

    fn write_prefix(&self, out: &mut Vec<u8>, payload_len: usize) {
        write_binary_header(out, payload_len);
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::board_service::{wire::COPY_LIMIT, WireQueue};

    #[test]
    fn queued_frames_read_as_binary_frames_with_large_payloads_in_place() {
        let big = Bytes::from(vec![5; COPY_LIMIT + 1]);
        let mut queue = WireQueue::default();
        queue.push(&BinaryFrames, &Bytes::from_static(b"ab"));
        queue.push(&BinaryFrames, &big);
        queue.push(&BinaryFrames, &big);
        queue.push(&BinaryFrames, &Bytes::from_static(b"c"));

        let mut big_header = vec![0x82, 126];
        big_header.extend_from_slice(&((COPY_LIMIT + 1) as u16).to_be_bytes());
        let mut expected = vec![0x82, 2, b'a', b'b'];
        expected.extend_from_slice(&big_header);
        expected.extend_from_slice(&big);
        expected.extend_from_slice(&big_header);
        expected.extend_from_slice(&big);
        expected.extend_from_slice(&[0x82, 1, b'c']);
        let written: Vec<u8> = queue.segments().flatten().copied().collect();
        assert_eq!(written, expected);
        assert!(
            queue
                .segments()
                .any(|segment| segment.as_ptr() == big.as_ptr()),
            "large payloads are written from their own bytes"
        );
    }
}

//! Writes server frames: everything queued for a socket (binary frames,
//! prepared as they were queued) goes out in as few write calls as its
//! segments allow (one when its large payloads were copied in), behind the
//! pong if one is due.

use std::io;

use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::frame::{write_header, OpCode};

/// The writing half of a server WebSocket.
#[derive(Debug)]
pub struct FrameWriter<W> {
    io: W,
}

impl<W: AsyncWrite + Unpin> FrameWriter<W> {
    /// Writes to `io`.
    pub fn new(io: W) -> Self {
        Self { io }
    }

    /// Writes `pong` (if any) and then `segments`, bytes of whole frames in
    /// order, then flushes. The iterator is borrowed: an `async fn` keeps its
    /// arguments twice, and this future is part of every idle socket's writer.
    pub async fn write_queued<'a>(
        &mut self,
        pong: Option<&[u8]>,
        segments: &mut impl Iterator<Item = &'a [u8]>,
    ) -> io::Result<()> {
        if let Some(pong) = pong {
            // A client's ping is rare: its answer gets a write of its own.
            let mut out = Vec::with_capacity(2 + pong.len());
            write_header(&mut out, OpCode::Pong, pong.len());
            out.extend_from_slice(pong);
            self.io.write_all(&out).await?;
        }
        for segment in segments {
            self.io.write_all(segment).await?;
        }
        self.io.flush().await
    }

    /// Writes an empty ping.
    pub async fn ping(&mut self) -> io::Result<()> {
        let mut out = Vec::with_capacity(2);
        write_header(&mut out, OpCode::Ping, 0);
        self.io.write_all(&out).await?;
        self.io.flush().await
    }

    /// Writes a close frame with `code` and `reason` (cut to the 123 bytes a
    /// control frame leaves for it), then ends the write direction.
    pub async fn close(&mut self, code: u16, reason: &str) -> io::Result<()> {
        let mut reason_len = reason.len().min(123);
        while !reason.is_char_boundary(reason_len) {
            reason_len -= 1;
        }
        let mut out = Vec::with_capacity(4 + reason_len);
        write_header(&mut out, OpCode::Close, 2 + reason_len);
        out.extend_from_slice(&code.to_be_bytes());
        out.extend_from_slice(&reason.as_bytes()[..reason_len]);
        self.io.write_all(&out).await?;
        self.shutdown().await
    }

    /// Ends the write direction without a close frame.
    pub async fn shutdown(&mut self) -> io::Result<()> {
        self.io.shutdown().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::websocket::write_binary_header;

    async fn written(run: impl AsyncFnOnce(&mut FrameWriter<&mut Vec<u8>>)) -> Vec<u8> {
        let mut out = Vec::new();
        let mut writer = FrameWriter::new(&mut out);
        run(&mut writer).await;
        out
    }

    #[tokio::test]
    async fn queued_segments_are_written_in_order_with_the_pong_first() {
        let big = vec![5; 16 * 1024 + 1];
        let mut framed = Vec::new();
        write_binary_header(&mut framed, 2);
        framed.extend_from_slice(b"ab");
        write_binary_header(&mut framed, big.len());
        let mut tail = Vec::new();
        write_binary_header(&mut tail, 1);
        tail.push(b'c');
        let segments = [&framed[..], &big[..], &tail[..]];
        let out = written(async |writer| {
            let mut segments = segments.into_iter();
            let written = writer.write_queued(Some(b"hi"), &mut segments);
            assert!(written.await.is_ok());
        })
        .await;
        let mut expected = vec![0x8A, 2, b'h', b'i', 0x82, 2, b'a', b'b', 0x82, 126];
        expected.extend_from_slice(&((16 * 1024 + 1) as u16).to_be_bytes());
        expected.extend_from_slice(&big);
        expected.extend_from_slice(&[0x82, 1, b'c']);
        assert_eq!(out, expected);
    }

    #[tokio::test]
    async fn close_frames_carry_the_code_and_a_reason_cut_at_a_character() {
        let out = written(async |writer| {
            assert!(writer.close(4403, "removed").await.is_ok());
        })
        .await;
        assert_eq!(out, [&[0x88, 9, 0x11, 0x33][..], b"removed"].concat());

        let long = "é".repeat(100);
        let out = written(async |writer| {
            assert!(writer.close(1000, &long).await.is_ok());
        })
        .await;
        assert_eq!(
            usize::from(out[1]),
            2 + 122,
            "122 bytes is 61 whole characters"
        );
        assert!(std::str::from_utf8(&out[4..]).is_ok());
    }

    #[tokio::test]
    async fn a_ping_is_two_bytes() {
        let out = written(async |writer| {
            assert!(writer.ping().await.is_ok());
        })
        .await;
        assert_eq!(out, [0x89, 0]);
    }
}

//! The byte streams under a WebSocket: the TCP connection itself when it could
//! be taken out of the HTTP server (and moved to its board's thread), or the
//! server's upgraded connection as it is; and reading from them only what has
//! already arrived ([`ReadArrived`]).

use std::{
    io::{self, Cursor, Read},
    pin::Pin,
    task::{Context, Poll, Waker},
};

use bytes::Bytes;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use socket2::SockRef;
use tokio::{
    io::{AsyncRead, AsyncWrite, Chain, ReadBuf, ReadHalf, WriteHalf},
    net::tcp::{OwnedReadHalf, OwnedWriteHalf},
};

/// The reading half.
#[derive(Debug)]
pub enum SocketRead {
    /// A TCP connection, after any bytes the HTTP server had read past the
    /// upgrade request.
    Tcp(Chain<Cursor<Bytes>, OwnedReadHalf>),
    /// The HTTP server's upgraded connection.
    Upgraded(ReadHalf<TokioIo<Upgraded>>),
}

/// The writing half.
#[derive(Debug)]
pub enum SocketWrite {
    /// A TCP connection.
    Tcp(OwnedWriteHalf),
    /// The HTTP server's upgraded connection.
    Upgraded(WriteHalf<TokioIo<Upgraded>>),
}

impl AsyncRead for SocketRead {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(io) => Pin::new(io).poll_read(cx, buf),
            Self::Upgraded(io) => Pin::new(io).poll_read(cx, buf),
        }
    }
}

/// A stream that can hand over the bytes that have already arrived without
/// waiting for more (a socket told to close still takes what its client sent
/// before that).
pub trait ReadArrived: AsyncRead + Unpin {
    /// Reads into `buf` (not empty) bytes that have already arrived: `Ok(0)`
    /// at the end of the stream, an error of kind `WouldBlock` when none has.
    /// By default the stream is polled once, which sees what its runtime
    /// already knows of.
    fn read_arrived(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        poll_once(self, buf)
    }
}

impl ReadArrived for SocketRead {
    fn read_arrived(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Tcp(io) => {
                let (read_by_http, tcp) = io.get_mut();
                let read = read_by_http.read(buf)?;
                if read > 0 {
                    return Ok(read);
                }
                // Straight from the kernel (the socket is non-blocking): the
                // runtime learns that bytes arrived only on its I/O driver's
                // next turn, which may not have come since they did.
                (&*SockRef::from(tcp.as_ref())).read(buf)
            }
            Self::Upgraded(_) => poll_once(self, buf),
        }
    }
}

/// Polls `io` for bytes once, without registering to be woken.
fn poll_once<R: AsyncRead + Unpin + ?Sized>(io: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut buf = ReadBuf::new(buf);
    let mut cx = Context::from_waker(Waker::noop());
    match Pin::new(io).poll_read(&mut cx, &mut buf) {
        Poll::Ready(Ok(())) => Ok(buf.filled().len()),
        Poll::Ready(Err(err)) => Err(err),
        Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
    }
}

impl AsyncWrite for SocketWrite {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(io) => Pin::new(io).poll_write(cx, buf),
            Self::Upgraded(io) => Pin::new(io).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(io) => Pin::new(io).poll_flush(cx),
            Self::Upgraded(io) => Pin::new(io).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(io) => Pin::new(io).poll_shutdown(cx),
            Self::Upgraded(io) => Pin::new(io).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use tokio::{io::AsyncReadExt, net::TcpListener};

    use super::*;

    /// Reads what has arrived until `expected` bytes have, spinning without
    /// ever letting the runtime turn (bounded by a deadline).
    fn read_arrived_without_yielding(socket: &mut SocketRead, expected: usize) -> Vec<u8> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut out = Vec::new();
        while out.len() < expected {
            assert!(
                std::time::Instant::now() < deadline,
                "only {out:?} arrived in time"
            );
            let mut buf = [0; 16];
            match socket.read_arrived(&mut buf) {
                Ok(read) => out.extend_from_slice(&buf[..read]),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
                Err(err) => panic!("read failed: {err}"),
            }
        }
        out
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_tcp_socket_hands_over_bytes_its_runtime_has_not_yet_seen_arrive() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut client = std::net::TcpStream::connect(addr).expect("connect");
        let (stream, _) = listener.accept().await.expect("accept");
        let (read, _write) = stream.into_split();
        let read_by_http = Cursor::new(Bytes::from_static(b"ab"));
        let mut socket = SocketRead::Tcp(AsyncReadExt::chain(read_by_http, read));
        assert_eq!(read_arrived_without_yielding(&mut socket, 2), b"ab");
        // Nothing more: the runtime now believes so too, until its I/O
        // driver turns, which it does not until this test awaits again.
        let mut buf = [0; 16];
        let nothing = socket.read_arrived(&mut buf).map_err(|err| err.kind());
        assert_eq!(nothing, Err(io::ErrorKind::WouldBlock));
        client.write_all(b"cd").expect("written");
        assert_eq!(read_arrived_without_yielding(&mut socket, 2), b"cd");
        let nothing = socket.read_arrived(&mut buf).map_err(|err| err.kind());
        assert_eq!(nothing, Err(io::ErrorKind::WouldBlock));
    }
}

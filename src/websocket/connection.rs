//! The byte streams under a WebSocket: the TCP connection itself when it could
//! be taken out of the HTTP server (and moved to its board's thread), or the
//! server's upgraded connection as it is.

use std::{
    io::{self, Cursor},
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
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

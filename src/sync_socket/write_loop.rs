//! The writing side of a sync socket, on its own task: drains the socket's
//! queue in as few writes as it can (gathering frames on a busy board), pings
//! on schedule, and sends the close frame the board decided on.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use tokio::io::AsyncWrite;

use super::{
    close::{close_code, close_text},
    CLOSE_TIMEOUT,
};
use crate::{
    board_service::{Batch, Closing, Peer, WriterStep},
    metrics,
    websocket::FrameWriter,
};

/// Writes what `peer` queues until the socket closes.
pub(super) async fn write_loop<W: AsyncWrite + Unpin>(
    mut writer: FrameWriter<W>,
    peer: Arc<Peer>,
    ping_interval: Duration,
) {
    let mut ping =
        tokio::time::interval_at(tokio::time::Instant::now() + ping_interval, ping_interval);
    let mut batch = Batch::default();
    // Whether the last write carried several frames: the socket is on a busy
    // board, where waiting a moment for more frames saves writes.
    let mut busy = false;
    loop {
        match peer.take_frames(&mut batch) {
            WriterStep::Write(pong) => {
                busy = batch.queue.frames() > 1;
                if write_batch(&mut writer, &peer, pong, &mut batch)
                    .await
                    .is_err()
                {
                    return;
                }
            }
            WriterStep::Close(frame) => {
                // Boxed: needed once, and larger than the rest of this loop.
                let closing = Box::pin(send_close(&mut writer, frame));
                closing.await;
                return;
            }
            WriterStep::Wait => {
                tokio::select! {
                    biased;
                    () = peer.writer_wakeup() => {
                        // A quiet socket (a handshake, a lone edit) writes
                        // at once; on a busy board, more frames are coming.
                        if busy {
                            gather_frames(&peer).await;
                        }
                    }
                    _ = ping.tick() => {
                        if writer.ping().await.is_err() {
                            return;
                        }
                    }
                }
            }
        }
    }
}

/// The most times a busy socket's writer lets other tasks run before it writes.
const GATHER_YIELDS: usize = 16;

/// Lets the tasks that are ready now (other sockets' readers broadcasting)
/// queue their frames before this socket writes, so one write carries more of
/// them: each write costs the server a few microseconds of loopback TCP
/// whatever it carries. Yields again only while the last yield brought more
/// frames, and at most [`GATHER_YIELDS`] times.
async fn gather_frames(peer: &Peer) {
    let mut queued = peer.queued_frames();
    for _ in 0..GATHER_YIELDS {
        tokio::task::yield_now().await;
        let now = peer.queued_frames();
        if now == queued {
            return;
        }
        queued = now;
    }
}

/// Writes the pong and every frame of `batch` in one write (many frames per
/// system call when the board is busy).
async fn write_batch<W: AsyncWrite + Unpin>(
    writer: &mut FrameWriter<W>,
    peer: &Peer,
    pong: Option<Bytes>,
    batch: &mut Batch,
) -> std::io::Result<()> {
    let result = {
        let mut segments = batch.queue.segments();
        writer.write_queued(pong.as_deref(), &mut segments).await
    };
    if result.is_ok() {
        batch.tally.flush(metrics::Direction::Out);
    }
    peer.written(batch);
    result
}

async fn send_close<W: AsyncWrite + Unpin>(writer: &mut FrameWriter<W>, closing: Option<Closing>) {
    let closing = async {
        match closing {
            Some(Closing::Server(reason)) => {
                writer.close(close_code(reason), close_text(reason)).await
            }
            Some(Closing::EchoClient(code)) => writer.close(code, "").await,
            None => writer.shutdown().await,
        }
    };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, closing).await;
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use uuid::Uuid;

    use super::*;
    use crate::{
        board_service::{QueueLimits, Unframed},
        role::Role,
    };

    fn peer() -> Arc<Peer> {
        let limits = QueueLimits {
            frames: 1024,
            bytes: 1 << 20,
        };
        Peer::new(Uuid::new_v4(), Role::Editor, limits, &Unframed)
    }

    /// Queues one frame to `peer` per turn of the scheduler, `turns` times.
    fn broadcaster(peer: &Arc<Peer>, turns: usize) -> tokio::task::JoinHandle<()> {
        let peer = Arc::clone(peer);
        tokio::spawn(async move {
            for _ in 0..turns {
                peer.send(Bytes::from_static(b"frame"));
                tokio::task::yield_now().await;
            }
        })
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_busy_writer_waits_while_frames_keep_coming_and_no_longer() {
        let peer = peer();
        let sender = broadcaster(&peer, 5);
        gather_frames(&peer).await;
        assert_eq!(peer.queued_frames(), 5, "every frame of the burst is in");
        assert!(sender.await.is_ok());

        // A burst longer than the bound is written in parts.
        let peer = self::peer();
        let sender = broadcaster(&peer, 3 * GATHER_YIELDS);
        gather_frames(&peer).await;
        let gathered = peer.queued_frames();
        assert!(
            (GATHER_YIELDS..=GATHER_YIELDS + 1).contains(&gathered),
            "the wait is bounded: {gathered} frames"
        );
        assert!(sender.await.is_ok());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_writer_with_nothing_coming_stops_after_one_turn() {
        let peer = peer();
        peer.send(Bytes::from_static(b"frame"));
        let quiet = tokio::spawn(async {
            for _ in 0..3 {
                tokio::task::yield_now().await;
            }
        });
        gather_frames(&peer).await;
        assert!(!quiet.is_finished(), "gathering took one turn, not three");
        assert_eq!(peer.queued_frames(), 1);
        assert!(quiet.await.is_ok());
    }
}

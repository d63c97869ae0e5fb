//! Threads that serve sync sockets, each board's sockets all on one of them.
//!
//! A broadcast on a busy board touches every socket of the board. With the
//! sockets spread over the runtime's workers, every delivery crossed threads:
//! the board's and the sockets' locks bounced between cores, writers were
//! woken on the other worker (a futex call each), and each worker wrote
//! smaller batches. On one thread, the readers of a busy board run before its
//! writers and each write carries what they queued. Different boards still
//! use every core: boards are spread over the threads by id.
//!
//! Each thread runs a single-threaded tokio runtime (its own I/O driver and
//! timers). HTTP, the upgrade handshake and everything else stay on the main
//! runtime; an upgraded connection moves to its board's thread (see
//! `websocket::WebSocketUpgrade::on_thread`).

use std::{io, thread::JoinHandle, time::Duration};

use tokio::{runtime::Handle, sync::oneshot};
use uuid::Uuid;

/// How long a stopping thread waits for its blocking work before it leaves it.
const STOP_TIMEOUT: Duration = Duration::from_secs(1);

/// The socket threads of one server.
#[derive(Debug)]
pub struct BoardThreads {
    threads: Vec<BoardThread>,
}

#[derive(Debug)]
struct BoardThread {
    handle: Handle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl BoardThreads {
    /// Starts `count` threads (at least one).
    pub fn start(count: usize) -> io::Result<Self> {
        let threads = (0..count.max(1))
            .map(BoardThread::start)
            .collect::<io::Result<_>>()?;
        Ok(Self { threads })
    }

    /// One thread per core the process may use.
    pub fn per_core() -> io::Result<Self> {
        Self::start(std::thread::available_parallelism().map_or(1, usize::from))
    }

    /// The runtime that serves the sockets of `board_id`.
    pub fn for_board(&self, board_id: Uuid) -> &Handle {
        // Ids are random (v4): their low bits spread boards evenly.
        let index = (board_id.as_u128() % self.threads.len() as u128) as usize;
        &self.threads[index].handle
    }

    /// How many threads there are.
    pub fn len(&self) -> usize {
        self.threads.len()
    }

    /// Never: there is always at least one thread.
    pub fn is_empty(&self) -> bool {
        self.threads.is_empty()
    }
}

impl BoardThread {
    fn start(index: usize) -> io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            // The runtime's own threads are its blocking pool's.
            .thread_name(format!("board-blocking-{index}"))
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("board-sockets-{index}"))
            .spawn(move || {
                // Runs the sockets' tasks until the server lets go of this thread.
                let _ = runtime.block_on(stopped);
                runtime.shutdown_timeout(STOP_TIMEOUT);
            })?;
        Ok(Self {
            handle,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for BoardThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Joined only from outside the thread itself (dropping the last
        // reference from one of its own tasks must not wait for itself).
        if let Some(thread) = self.thread.take() {
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The name of the thread that runs tasks spawned on `handle`.
    fn thread_of(handle: &Handle) -> Option<String> {
        handle.block_on(async {
            let (tx, rx) = oneshot::channel();
            tokio::spawn(async move {
                let _ = tx.send(std::thread::current().name().map(str::to_owned));
            });
            rx.await.ok().flatten()
        })
    }

    #[test]
    fn a_board_always_gets_the_same_thread_and_boards_use_them_all() {
        let threads = BoardThreads::start(2).expect("threads start");
        let mut used = [0usize; 2];
        for _ in 0..64 {
            let board = Uuid::new_v4();
            let on = thread_of(threads.for_board(board));
            assert_eq!(
                on,
                thread_of(threads.for_board(board)),
                "same board, same thread"
            );
            match on.as_deref() {
                Some("board-sockets-0") => used[0] += 1,
                Some("board-sockets-1") => used[1] += 1,
                other => panic!("a task ran on {other:?}"),
            }
        }
        assert!(used.iter().all(|&count| count > 0), "{used:?}");
    }
}

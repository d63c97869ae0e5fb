//! Room for thousands of sockets, made once at start-up, before the runtime
//! starts its threads.
//!
//! Two things stand between a fresh process and many sockets:
//!
//! - **The soft open-file limit** is often 1,024 while the hard limit is far
//!   higher. Every socket is a descriptor, so the soft limit is raised to the
//!   hard one (as the Go runtime does for its servers).
//! - **The kernel's descriptor table** starts small and doubles as it fills.
//!   In a process with more than one thread each doubling waits for an RCU
//!   grace period (`synchronize_rcu` in Linux's `expand_files`), 10–30 ms
//!   measured here, and the accepting thread waits in `accept4` meanwhile. A
//!   burst of connections (every client reconnecting after a restart) met
//!   such a stall at 512, 1,024, 2,048 and 4,096 descriptors, and each one
//!   held up every handshake in flight. Growing the table once while the
//!   process still has one thread costs no grace period, and a table never
//!   shrinks.
//!
//! The table lives in kernel memory (8 bytes a descriptor, 512 KiB for the
//! [`RESERVED_DESCRIPTORS`]), not in the process's resident set.

/// How many descriptors the table is grown to hold at start-up (or the open
/// file limit, when that is lower). Past this, growth stalls as before, once
/// per doubling.
pub const RESERVED_DESCRIPTORS: u64 = 65_536;

/// What [`prepare`] did, for the start-up log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescriptorRoom {
    /// The soft open-file limit the process started with.
    pub soft_limit_before: u64,
    /// The soft limit now (the hard limit, when raising it was allowed).
    pub soft_limit: u64,
    /// How many descriptors the table holds without growing, if it was grown.
    pub reserved: Option<u64>,
    /// Why something could not be done (the process works without it).
    pub problem: Option<String>,
}

/// Raises the soft open-file limit to the hard one and grows the descriptor
/// table. Call it before any thread is started: later it still works, but
/// the growth then waits for a grace period itself.
pub fn prepare() -> DescriptorRoom {
    imp::prepare()
}

#[cfg(unix)]
mod imp {
    use std::{fs::File, io};

    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

    use super::{DescriptorRoom, RESERVED_DESCRIPTORS};

    pub fn prepare() -> DescriptorRoom {
        let (soft_limit_before, soft_limit) = raise_soft_limit();
        let wanted = soft_limit.min(RESERVED_DESCRIPTORS);
        let (reserved, problem) = match grow_table(wanted) {
            Ok(()) => (Some(wanted), None),
            Err(err) => (
                None,
                Some(format!("cannot grow the descriptor table: {err}")),
            ),
        };
        DescriptorRoom {
            soft_limit_before,
            soft_limit,
            reserved,
            problem,
        }
    }

    /// Returns the soft limit before and after (`u64::MAX` for unlimited).
    fn raise_soft_limit() -> (u64, u64) {
        let limit = getrlimit(Resource::Nofile);
        let before = limit.current.unwrap_or(u64::MAX);
        if limit.current == limit.maximum {
            return (before, before);
        }
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        // Refused (an unlimited hard limit on some systems), the soft limit
        // stays as it was.
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => (before, limit.maximum.unwrap_or(u64::MAX)),
            Err(_) => (before, before),
        }
    }

    /// Makes the table hold `descriptors` by briefly opening the highest one.
    fn grow_table(descriptors: u64) -> io::Result<()> {
        let highest = i32::try_from(descriptors.saturating_sub(1)).unwrap_or(i32::MAX);
        let probe = File::open("/dev/null")?;
        // The lowest free number at or above `highest`: unlike dup2 this never
        // closes a descriptor in use. Dropped, and so closed, at once.
        drop(rustix::io::fcntl_dupfd_cloexec(&probe, highest)?);
        Ok(())
    }

    #[cfg(all(test, target_os = "linux"))]
    mod tests {
        use std::os::fd::AsRawFd;

        use super::*;

        /// How many descriptors this process's table holds now.
        fn table_size() -> u64 {
            let status = std::fs::read_to_string("/proc/self/status").expect("status");
            status
                .lines()
                .find_map(|line| line.strip_prefix("FDSize:"))
                .and_then(|size| size.trim().parse().ok())
                .expect("FDSize line")
        }

        #[test]
        fn the_table_is_grown_within_the_limit_and_the_probe_is_closed() {
            let room = prepare();
            assert!(room.problem.is_none(), "{room:?}");
            assert!(room.soft_limit >= room.soft_limit_before);
            let reserved = room.reserved.expect("table grown");
            assert_eq!(reserved, room.soft_limit.min(RESERVED_DESCRIPTORS));
            assert!(table_size() >= reserved, "FDSize {}", table_size());
            // The probe's duplicate was closed: asking for the lowest free
            // number at or above it gets that very number back.
            let highest = i32::try_from(reserved - 1).expect("fits");
            let probe = File::open("/dev/null").expect("open");
            let again = rustix::io::fcntl_dupfd_cloexec(&probe, highest).expect("dup");
            assert_eq!(again.as_raw_fd(), highest);
        }
    }
}

#[cfg(not(unix))]
mod imp {
    use super::DescriptorRoom;

    pub fn prepare() -> DescriptorRoom {
        DescriptorRoom {
            soft_limit_before: 0,
            soft_limit: 0,
            reserved: None,
            problem: Some("descriptor limits are only prepared on Unix".into()),
        }
    }
}

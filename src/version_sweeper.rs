//! Automatic versions: a periodic sweep over the boards saved since their last
//! version (`board_version_pending`, written by every save). A board whose
//! last save is `VERSION_IDLE_MS` old (edited, then quiet), or whose first
//! save since its last version is `VERSION_MAX_INTERVAL_MS` old (continuous
//! editing), gets a version of its stored snapshot with the authors those
//! saves noted (see `Db::create_auto_version`). A board unchanged since its
//! last version has no pending row, so it never gets one.
//!
//! Every instance sweeps; the version's transaction consumes the pending row
//! only if it is still as the sweep saw it, so one instance writes it.

use std::time::Duration;

use chrono::Utc;

use crate::db::{Db, DbError};

/// The most due boards one sweep takes on (the next sweep takes the rest).
const SWEEP_BATCH: i64 = 100;
/// The longest pause between sweeps, and the shortest.
const MAX_PERIOD: Duration = Duration::from_secs(5);
const MIN_PERIOD: Duration = Duration::from_millis(50);

/// When automatic versions are made.
#[derive(Debug, Clone, Copy)]
pub struct VersionPolicy {
    /// Quiet time after the last save.
    pub idle: Duration,
    /// Longest time from the first save since the last version.
    pub max_interval: Duration,
    /// Automatic versions kept per board.
    pub keep: u32,
}

impl VersionPolicy {
    /// How often to sweep: a quarter of the shorter delay, at most 5 s, at
    /// least 50 ms (so a version comes at most that late).
    pub fn period(&self) -> Duration {
        (self.idle.min(self.max_interval) / 4).clamp(MIN_PERIOD, MAX_PERIOD)
    }
}

/// Sweeps forever (the caller aborts the task at shutdown).
pub async fn run(db: Db, policy: VersionPolicy) {
    let mut ticker = tokio::time::interval(policy.period());
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Err(err) = sweep(&db, policy).await {
            crate::metrics::version_sweep_failed();
            tracing::warn!(%err, "sweep for automatic versions failed; will retry");
        }
    }
}

/// One sweep: writes the versions that are due. Returns how many it wrote.
pub async fn sweep(db: &Db, policy: VersionPolicy) -> Result<usize, DbError> {
    let now = Utc::now();
    let since = |delay: Duration| {
        now - chrono::TimeDelta::from_std(delay).unwrap_or(chrono::TimeDelta::MAX)
    };
    let due = db
        .due_versions(since(policy.idle), since(policy.max_interval), SWEEP_BATCH)
        .await?;
    let mut written = 0;
    for pending in due {
        match db.create_auto_version(pending, policy.keep).await {
            Ok(Some(version)) => {
                written += 1;
                crate::metrics::version_created("auto");
                tracing::debug!(board.id = %version.board_id, version.id = %version.id,
                    authors = version.authors.len(), "automatic version written");
            }
            // Saved again meanwhile, or written by another instance.
            Ok(None) | Err(DbError::NotFound) => {}
            Err(err) => return Err(err),
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(idle_ms: u64, max_ms: u64) -> VersionPolicy {
        VersionPolicy {
            idle: Duration::from_millis(idle_ms),
            max_interval: Duration::from_millis(max_ms),
            keep: 1,
        }
    }

    #[test]
    fn the_period_follows_the_shorter_delay_within_bounds() {
        assert_eq!(policy(300_000, 3_600_000).period(), MAX_PERIOD);
        assert_eq!(policy(200, 3_600_000).period(), MIN_PERIOD);
        assert_eq!(policy(4_000, 2_000).period(), Duration::from_millis(500));
        assert_eq!(policy(1, 1).period(), MIN_PERIOD);
    }
}

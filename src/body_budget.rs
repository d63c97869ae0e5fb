//! The memory that large request bodies may hold at once.
//!
//! `POST /boards/{id}/updates` buffers its whole body (up to
//! `MAX_MESSAGE_BYTES`) before applying it. A body larger than
//! [`LARGE_BODY_BYTES`] takes its size from one budget shared by all requests
//! ([`BUDGET_MESSAGES`] × `MAX_MESSAGE_BYTES`) as its bytes arrive, and gives it
//! back when its request ends. A body that does not fit is refused at once
//! (`503` with `Retry-After`) rather than queued: what large bodies hold stays
//! bounded however many clients send them, and a client that stops sending
//! gives its share back after `REQUEST_TIMEOUT_MS`.
//!
//! The share grows with what arrived, not with a declared `Content-Length`, so
//! a client cannot reserve memory it never sends; a declared length that does
//! not fit in what is left is refused before any of the body is read.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Bodies up to this size (the JSON body limit) need no share of the budget.
pub const LARGE_BODY_BYTES: usize = 64 * 1024;

/// How many bodies of `MAX_MESSAGE_BYTES` fit in the budget at once.
pub const BUDGET_MESSAGES: usize = 4;

/// The budget is counted in units of this many bytes (a semaphore counts its
/// permits in `u32` per acquisition).
const UNIT: usize = 1024;

/// The shared budget. Cheap to clone.
#[derive(Debug, Clone)]
pub struct BodyBudget {
    units: Arc<Semaphore>,
    total_units: usize,
}

/// A body did not fit in what is left of the budget.
#[derive(Debug, thiserror::Error)]
#[error("too many large request bodies are being received; retry shortly")]
pub struct BudgetExhausted;

impl BodyBudget {
    /// A budget of `bytes` (rounded up to whole KiB).
    pub fn new(bytes: usize) -> Self {
        let total_units = units_for(bytes).min(Semaphore::MAX_PERMITS);
        Self {
            units: Arc::new(Semaphore::new(total_units)),
            total_units,
        }
    }

    /// The budget for bodies of at most `max_message_bytes`.
    pub fn for_max_message(max_message_bytes: usize) -> Self {
        Self::new(max_message_bytes.saturating_mul(BUDGET_MESSAGES))
    }

    /// The bytes large bodies hold now (in whole KiB).
    pub fn buffered_bytes(&self) -> usize {
        (self.total_units - self.units.available_permits()) * UNIT
    }

    /// Whether a body of `bytes` would fit in what is left now (checked on a
    /// declared length, to refuse before reading; nothing is reserved).
    pub fn has_room_for(&self, bytes: usize) -> bool {
        bytes <= LARGE_BODY_BYTES || units_for(bytes) <= self.units.available_permits()
    }

    /// An empty share, for one body.
    pub fn share(&self) -> BodyShare {
        BodyShare {
            units: Arc::clone(&self.units),
            held: None,
        }
    }
}

/// One body's share of the budget, given back when dropped.
#[derive(Debug)]
pub struct BodyShare {
    units: Arc<Semaphore>,
    held: Option<OwnedSemaphorePermit>,
}

impl BodyShare {
    /// Makes the share cover a body of `bytes` so far (nothing while it is at
    /// most [`LARGE_BODY_BYTES`]).
    pub fn grow_to(&mut self, bytes: usize) -> Result<(), BudgetExhausted> {
        if bytes <= LARGE_BODY_BYTES {
            return Ok(());
        }
        let held = self
            .held
            .as_ref()
            .map_or(0, OwnedSemaphorePermit::num_permits);
        let needed = units_for(bytes);
        if needed <= held {
            return Ok(());
        }
        let more = u32::try_from(needed - held).map_err(|_| BudgetExhausted)?;
        let permit = Arc::clone(&self.units)
            .try_acquire_many_owned(more)
            .map_err(|_| BudgetExhausted)?;
        match &mut self.held {
            Some(held) => held.merge(permit),
            None => self.held = Some(permit),
        }
        Ok(())
    }
}

fn units_for(bytes: usize) -> usize {
    bytes.div_ceil(UNIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_bodies_take_nothing_and_large_ones_their_size() {
        let budget = BodyBudget::new(1024 * 1024);
        let mut small = budget.share();
        small.grow_to(LARGE_BODY_BYTES).expect("small body");
        assert_eq!(budget.buffered_bytes(), 0);
        let mut large = budget.share();
        large.grow_to(100 * 1024).expect("fits");
        large.grow_to(300 * 1024).expect("still fits");
        assert_eq!(budget.buffered_bytes(), 300 * 1024);
        drop(large);
        assert_eq!(
            budget.buffered_bytes(),
            0,
            "given back when the request ends"
        );
    }

    #[test]
    fn a_body_that_does_not_fit_is_refused_until_room_is_given_back() {
        let budget = BodyBudget::new(1024 * 1024);
        let mut first = budget.share();
        first.grow_to(800 * 1024).expect("fits");
        let mut second = budget.share();
        assert!(second.grow_to(300 * 1024).is_err());
        assert_eq!(
            budget.buffered_bytes(),
            800 * 1024,
            "a refusal holds nothing"
        );
        assert!(!budget.has_room_for(300 * 1024));
        assert!(
            budget.has_room_for(LARGE_BODY_BYTES),
            "small bodies always fit"
        );
        drop(first);
        assert!(budget.has_room_for(300 * 1024));
        second.grow_to(300 * 1024).expect("fits now");
    }
}

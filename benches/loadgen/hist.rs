//! A fixed-size log-linear latency histogram (nanoseconds, ~3% resolution):
//! each receiver records into its own, and they are merged at the end, so
//! recording is a couple of instructions and memory does not grow with the run.

use serde_json::{json, Value};

/// Sub-buckets per power of two.
const SUB: u64 = 32;
const SUB_BITS: u32 = 5;
const BUCKETS: usize = (2 * SUB as usize) + 59 * SUB as usize;

#[derive(Clone)]
pub struct Hist {
    counts: Box<[u64]>,
    total: u64,
    max: u64,
}

impl Default for Hist {
    fn default() -> Self {
        Self {
            counts: vec![0; BUCKETS].into_boxed_slice(),
            total: 0,
            max: 0,
        }
    }
}

fn index(value: u64) -> usize {
    if value < 2 * SUB {
        return value as usize;
    }
    let exp = 63 - value.leading_zeros();
    let shift = exp - SUB_BITS;
    let group = u64::from(exp - SUB_BITS);
    (2 * SUB + (group - 1) * SUB + ((value >> shift) - SUB)) as usize
}

/// The middle of bucket `idx`.
fn value_at(idx: usize) -> u64 {
    let idx = idx as u64;
    if idx < 2 * SUB {
        return idx;
    }
    let group = (idx - 2 * SUB) / SUB + 1;
    let mantissa = (idx - 2 * SUB) % SUB + SUB;
    let shift = group;
    (mantissa << shift) + (1u64 << shift) / 2
}

impl Hist {
    pub fn record(&mut self, nanos: u64) {
        self.counts[index(nanos)] += 1;
        self.total += 1;
        self.max = self.max.max(nanos);
    }

    pub fn merge(&mut self, other: &Hist) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts.iter()) {
            *mine += theirs;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    /// The value at quantile `q` (0..=1) in nanoseconds; 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (idx, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return value_at(idx).min(self.max);
            }
        }
        self.max
    }

    /// `{p50, p95, p99, max}` in milliseconds.
    pub fn summary_ms(&self) -> Value {
        let ms = |ns: u64| (ns as f64 / 1e3).round() / 1e3;
        json!({
            "p50": ms(self.quantile(0.50)),
            "p95": ms(self.quantile(0.95)),
            "p99": ms(self.quantile(0.99)),
            "max": ms(self.max),
        })
    }
}

/// Summary of a list of durations (for small sample sets).
pub fn summary_of(samples: &[std::time::Duration]) -> Value {
    let mut hist = Hist::default();
    for sample in samples {
        hist.record(sample.as_nanos() as u64);
    }
    hist.summary_ms()
}

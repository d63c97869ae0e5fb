//! Cost of decoding untrusted update bytes with yrs directly versus behind
//! `protocol::guard::check_update_v1`: wall time and peak resident memory per case, one JSON
//! line each. Peak memory is VmHWM from /proc/self/status after resetting it through
//! /proc/self/clear_refs, minus VmRSS before the call (Linux only; `null` elsewhere).

use canvas_server::protocol::guard::{check_update_v1, GuardLimits};
use serde_json::json;
use std::time::{Duration, Instant};
use yrs::updates::decoder::Decode;
use yrs::{Doc, Map, ReadTxn, StateVector, Text, Transact, Update};

/// The 5-byte update yrs spends ~0.5 s and ~500 MB on before failing.
const HAZARD: [u8; 5] = [0x86, 0x9a, 0xe2, 0xb6, 0x11];
const RANDOM_PAYLOADS: usize = 2_000;
/// Raw yrs stops taking new random payloads after this long, to bound the run.
const RAW_BUDGET: Duration = Duration::from_secs(40);
const SLOW: Duration = Duration::from_millis(100);

fn status_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs `f` once; returns its result, elapsed time and peak extra resident KB.
fn measure<R>(f: impl FnOnce() -> R) -> (R, Duration, Option<u64>) {
    // Writing 5 resets VmHWM to the current RSS (Linux >= 4.0).
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let before = status_kb("VmRSS:");
    let start = Instant::now();
    let out = f();
    let elapsed = start.elapsed();
    let peak = match (reset, before, status_kb("VmHWM:")) {
        (true, Some(before), Some(hwm)) => Some(hwm.saturating_sub(before)),
        _ => None,
    };
    (out, elapsed, peak)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Guard first; yrs only on what the guard accepts.
fn guarded(bytes: &[u8], limits: &GuardLimits) -> bool {
    check_update_v1(bytes, limits).is_ok() && Update::decode_v1(bytes).is_ok()
}

fn random_payloads() -> Vec<Vec<u8>> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..RANDOM_PAYLOADS)
        .map(|_| {
            let len = 1 + (next() % 60) as usize;
            (0..len).map(|_| next() as u8).collect()
        })
        .collect()
}

/// Runs `decode` on every payload (until `budget` runs out) and prints one summary line.
fn random_case(path: &str, payloads: &[Vec<u8>], budget: Duration, decode: impl Fn(&[u8]) -> bool) {
    let (mut run, mut ok, mut slow) = (0, 0, 0);
    let (mut worst, mut total, mut peak_max) = (Duration::ZERO, Duration::ZERO, 0);
    for bytes in payloads {
        if total > budget {
            break;
        }
        let (accepted, elapsed, peak) = measure(|| decode(bytes));
        run += 1;
        ok += usize::from(accepted);
        slow += usize::from(elapsed >= SLOW);
        worst = worst.max(elapsed);
        total += elapsed;
        peak_max = peak_max.max(peak.unwrap_or(0));
    }
    let line = json!({
        "case": "random_1_60_bytes", "path": path, "payloads": run, "decoded_ok": ok,
        "slow_ge_100ms": slow, "worst_ms": ms(worst), "total_ms": ms(total),
        "max_peak_extra_kb": peak_max,
    });
    println!("{line}");
}

fn main() {
    let limits = GuardLimits::default();

    // (a) raw yrs on the hazard, a few rounds.
    let mut rounds = Vec::new();
    for _ in 0..3 {
        let (result, elapsed, peak) = measure(|| Update::decode_v1(&HAZARD).is_ok());
        rounds.push((result, elapsed, peak));
    }
    let worst = rounds.iter().map(|r| r.1).max().unwrap_or_default();
    let mean = rounds.iter().map(|r| r.1).sum::<Duration>() / rounds.len().max(1) as u32;
    let peak = rounds.iter().filter_map(|r| r.2).max();
    let line = json!({
        "case": "hazard_86_9a_e2_b6_11", "path": "raw_yrs", "iterations": rounds.len(),
        "decoded_ok": rounds.iter().any(|r| r.0), "mean_ms": ms(mean), "worst_ms": ms(worst),
        "peak_extra_kb": peak,
    });
    println!("{line}");

    // (b) the guard on the hazard: many rounds, since each is far below timer resolution.
    let verdict = format!("{:?}", check_update_v1(&HAZARD, &limits));
    let iterations = 100_000u32;
    let (_, elapsed, peak) = measure(|| {
        (0..iterations)
            .filter(|_| guarded(&HAZARD, &limits))
            .count()
    });
    let line = json!({
        "case": "hazard_86_9a_e2_b6_11", "path": "guarded", "iterations": iterations,
        "guard_result": verdict, "mean_ns": elapsed.as_nanos() as f64 / f64::from(iterations),
        "peak_extra_kb": peak,
    });
    println!("{line}");

    let payloads = random_payloads();
    random_case("raw_yrs", &payloads, RAW_BUDGET, |b| {
        Update::decode_v1(b).is_ok()
    });
    let accepted = payloads
        .iter()
        .filter(|b| check_update_v1(b, &limits).is_ok())
        .count();
    random_case("guarded", &payloads, Duration::MAX, |b| guarded(b, &limits));
    println!(
        "{}",
        json!({"case": "random_1_60_bytes", "path": "guard_only", "accepted": accepted})
    );

    // Guard overhead on a real full-state update.
    let doc = Doc::with_client_id(7);
    let (map, text) = (
        doc.get_or_insert_map("shapes"),
        doc.get_or_insert_text("notes"),
    );
    for i in 0..5_000 {
        let mut txn = doc.transact_mut();
        map.insert(
            &mut txn,
            format!("shape-{}", i % 1_000),
            format!("{{\"x\":{i},\"y\":{}}}", i * 2),
        );
        text.insert(&mut txn, 0, "note ");
    }
    let update = doc
        .transact()
        .encode_state_as_update_v1(&StateVector::default());
    let (shape, guard_time, _) = measure(|| check_update_v1(&update, &limits));
    let (decoded, yrs_time, _) = measure(|| Update::decode_v1(&update).is_ok());
    let line = json!({
        "case": "real_full_state", "bytes": update.len(), "structs": shape.map(|s| s.structs).ok(),
        "guard_ms": ms(guard_time), "yrs_decode_ms": ms(yrs_time), "decoded_ok": decoded,
    });
    println!("{line}");
}

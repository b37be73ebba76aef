//! `tillit verify --batch FILE [--threads N]`: one input per line, one JSON
//! report per line in the same order, then
//! `{"summary": {"total", "valid", "invalid", "seconds", "per_second"}}`.
//!
//! Blank lines are skipped. Work is split into blocks so that memory stays
//! bounded; inside a block each std thread takes a contiguous slice, and the
//! slices are written back in order.

use std::io::{BufWriter, Write as _};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context as _;
use serde_json::json;
use tillit_credential::report::VerifyOptions;
use tillit_credential::trust::TrustStore;

use super::common;

/// Inputs per thread per block.
const PER_THREAD_BLOCK: usize = 2048;

pub fn run(
    file: &Path,
    threads: usize,
    trust: &TrustStore,
    opts: &VerifyOptions,
) -> anyhow::Result<ExitCode> {
    let text = common::read_text(file, "--batch")?;
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let threads = threads.max(1);
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let (mut valid, mut invalid) = (0u64, 0u64);

    let start = Instant::now();
    for block in lines.chunks(threads * PER_THREAD_BLOCK) {
        for (report, ok) in verify_block(block, threads, trust, opts)? {
            if ok {
                valid += 1;
            } else {
                invalid += 1;
            }
            out.write_all(report.as_bytes())?;
            out.write_all(b"\n")?;
        }
    }
    out.flush().context("cannot write the reports")?;
    let seconds = start.elapsed().as_secs_f64();

    let total = valid + invalid;
    let per_second = if seconds > 0.0 {
        total as f64 / seconds
    } else {
        0.0
    };
    let summary = json!({ "summary": {
        "total": total,
        "valid": valid,
        "invalid": invalid,
        "seconds": (seconds * 1e6).round() / 1e6,
        "per_second": per_second.round(),
    }});
    writeln!(out, "{summary}")?;
    out.flush()?;
    Ok(if invalid == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Verify `block` on up to `threads` threads; results in input order as (JSON report, valid).
fn verify_block(
    block: &[&str],
    threads: usize,
    trust: &TrustStore,
    opts: &VerifyOptions,
) -> anyhow::Result<Vec<(String, bool)>> {
    let one = |line: &&str| -> anyhow::Result<(String, bool)> {
        let report = tillit_credential::verify::verify(line, trust, opts);
        Ok((serde_json::to_string(&report)?, report.valid))
    };
    if threads == 1 || block.len() < 2 {
        return block.iter().map(one).collect();
    }
    let per_thread = block.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = block
            .chunks(per_thread)
            .map(|slice| {
                scope.spawn(move || slice.iter().map(one).collect::<anyhow::Result<Vec<_>>>())
            })
            .collect();
        let mut results = Vec::with_capacity(block.len());
        for handle in handles {
            let part = handle
                .join()
                .map_err(|_| anyhow::anyhow!("a verification thread stopped unexpectedly"))??;
            results.extend(part);
        }
        Ok(results)
    })
}

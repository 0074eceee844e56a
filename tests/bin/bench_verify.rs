//! `make bench`: the peak memory and time of `trailshare verify` over a tree
//! of 100,000 log files under signed, chained digests (made with a key of
//! our own: CloudTrail's is nobody else's). The release binary runs as a
//! child; its peak RSS comes from the kernel (wait4's ru_maxrss).
//! usage: bench-verify [TRAILSHARE_BINARY] [LOG_FILES]

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use trailshare::integrity::testkit::{list_public_keys_json, TestKey, Trail};

/// Log files per hourly digest: a busy account's hour.
const PER_HOUR: usize = 1000;

fn main() {
    let mut args = std::env::args().skip(1);
    let bin = args
        .next()
        .unwrap_or_else(|| "target/release/trailshare".into());
    let files: usize = args
        .next()
        .map_or(100_000, |n| n.parse().expect("a number of files"));
    let dir = tempfile::tempdir().expect("temp dir");
    let started = Instant::now();
    let key = TestKey::generate();
    let mut trail = Trail::new(dir.path(), &key);
    let hours = files.div_ceil(PER_HOUR);
    for hour in 0..hours {
        for _ in 0..PER_HOUR.min(files - hour * PER_HOUR) {
            trail.log_file(hour, 1).expect("write a log file");
        }
        trail.seal(hour).expect("seal an hour");
    }
    let keys = dir.path().join("keys.json");
    std::fs::write(&keys, list_public_keys_json(&[&key])).expect("write keys");
    println!(
        "bench-verify: {files} log files under {hours} digests written in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let (status, seconds, peak_kib) = measure(Path::new(&bin), dir.path(), &keys);
    println!(
        "  trailshare verify: exit {status}, {seconds:.2} s, peak RSS {:.1} MiB (goal: under 64 MiB)",
        peak_kib as f64 / 1024.0
    );
}

/// Runs `verify` on `dir`; its exit status, seconds and peak RSS (KiB).
/// The child is reaped by wait4 itself, which also reports its rusage.
#[allow(clippy::zombie_processes)]
fn measure(bin: &Path, dir: &Path, keys: &Path) -> (i32, f64, i64) {
    let started = Instant::now();
    let child = Command::new(bin)
        .arg("verify")
        .arg(dir)
        .arg("--public-keys")
        .arg(keys)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("run trailshare verify");
    let mut status = 0;
    // SAFETY: rusage is plain data, filled by the kernel for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    // SAFETY: waits for the child spawned above, once.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4 failed");
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    (code, started.elapsed().as_secs_f64(), usage.ru_maxrss)
}

//! The forwarder's metrics, counted per invocation and written at its end
//! as Embedded Metric Format lines (`trailshare::emf`): CloudWatch Logs
//! extracts them from the log group, so no `PutMetricData` call is ever
//! made, on the hot path or elsewhere.
//!
//! One line per share and mode that the invocation touched:
//!
//! ```json
//! {"event": "metrics", "Share": "bu-b", "Mode": "copy",
//!  "FilesDelivered": 9, "FilesSkipped": 1, "CopyBytes": 48213,
//!  "_aws": {"Timestamp": …, "CloudWatchMetrics": [{"Namespace": "trailshare/<stack>",
//!           "Dimensions": [["Share", "Mode"]], "Metrics": [{"Name": "FilesDelivered", "Unit": "Count"}, …]}]}}
//! ```
//!
//! - `Mode` is `tag`, `copy` or `notify` (a share's announcement to its
//!   queue or topic), or `damaged` for the files a damaged share claims
//!   (they fail: nothing is delivered for it until an admin's PUT);
//! - `FilesDelivered`: the target was reached now (tagged, copied,
//!   announced: for `notify`, the notifications sent); `FilesSkipped`:
//!   nothing was needed (already tagged or copied: a redelivered event, a
//!   backfill over delivered days) or possible (the source was deleted
//!   before we ran); `FilesFailed`: the target failed (the file is retried,
//!   then dead-lettered);
//! - `CopyBytes` (`copy`): the bytes of the files copied now, when the
//!   event, the listing or a HEAD told their size (CloudTrail's own SNS
//!   notification does not, and a server-side copy reads no HEAD);
//! - a share with backfill work gets a line with the `Share` dimension
//!   only: `BackfillItems` (work items carried out: fan-outs and day
//!   listings), `BackfillFiles` (files a day listing handed to delivery),
//!   `BackfillFailed` (items that failed and will be retried).
//!
//! A metric whose count is zero is left out of the line: CloudWatch bills a
//! custom metric only for the hours it receives a value, and graphs and
//! alarms read a missing value as nothing happened. Cardinality is bounded
//! by the share table: at most 4 metrics per share and delivery mode, 3 for
//! its announcements, 3 for its backfill, 1 when damaged.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::{json, Map, Value};
use trailshare::emf::{self, Metric, Unit};
use trailshare::ports::AwsError;
use trailshare::targets::{Asked, Notice, Target};
use trailshare::telemetry;

/// Metric names per share and mode (dimensions `Share`, `Mode`).
pub const FILES_DELIVERED: &str = "FilesDelivered";
pub const FILES_FAILED: &str = "FilesFailed";
pub const FILES_SKIPPED: &str = "FilesSkipped";
pub const COPY_BYTES: &str = "CopyBytes";
/// Metric names per share (dimension `Share`).
pub const BACKFILL_ITEMS: &str = "BackfillItems";
pub const BACKFILL_FILES: &str = "BackfillFiles";
pub const BACKFILL_FAILED: &str = "BackfillFailed";
/// Every metric the forwarder writes (the dashboard shows each).
pub const METRICS: [&str; 7] = [
    FILES_DELIVERED,
    FILES_FAILED,
    FILES_SKIPPED,
    COPY_BYTES,
    BACKFILL_ITEMS,
    BACKFILL_FILES,
    BACKFILL_FAILED,
];

/// The namespace without `METRICS_NAMESPACE` (the template sets
/// `trailshare/<stack name>`, so two stacks in one account stay apart).
pub const DEFAULT_NAMESPACE: &str = "trailshare";

/// The namespace `METRICS_NAMESPACE` names (unset or empty: the default),
/// or why it is not one CloudWatch accepts.
pub fn namespace(value: Option<&str>) -> Result<String, String> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(DEFAULT_NAMESPACE.to_string()),
        Some(namespace) if emf::is_namespace(namespace) => Ok(namespace.to_string()),
        Some(namespace) => Err(format!(
            "METRICS_NAMESPACE {namespace:?} must be a CloudWatch namespace: 1-255 letters, digits or . - _ / # : and spaces, not starting with AWS/"
        )),
    }
}

/// The `Mode` dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mode {
    Tag,
    Copy,
    Notify,
    Damaged,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Tag => "tag",
            Mode::Copy => "copy",
            Mode::Notify => "notify",
            Mode::Damaged => "damaged",
        }
    }

    fn of(target: &Target) -> Mode {
        match target {
            Target::Tag => Mode::Tag,
            Target::Copy(_) => Mode::Copy,
        }
    }
}

/// What became of one target or announcement, for one share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// Reached now; for a copy, its size when known.
    Delivered(Option<u64>),
    Skipped,
    Failed,
}

impl Counted {
    /// How a target's result counts: an action that found the work done
    /// ("already tagged", "already copied to …", as `delivery` words them)
    /// or a missing source is skipped; any other error failed.
    pub fn of(result: &Result<String, AwsError>, size: Option<u64>) -> Counted {
        match result {
            Ok(action) if action.starts_with("already ") => Counted::Skipped,
            Ok(_) => Counted::Delivered(size),
            Err(AwsError::NotFound { .. }) => Counted::Skipped,
            Err(_) => Counted::Failed,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Files {
    delivered: u64,
    skipped: u64,
    failed: u64,
    bytes: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Backfill {
    items: u64,
    files: u64,
    failed: u64,
}

/// One invocation's counts. Objects run concurrently, so it counts through
/// `&self`; nothing awaits while holding its lock.
#[derive(Debug, Default)]
pub struct Tally {
    files: Mutex<BTreeMap<(String, Mode), Files>>,
    backfill: Mutex<BTreeMap<String, Backfill>>,
}

impl Tally {
    /// Counts one file's result for `share` in `mode`.
    pub fn count(&self, share: &str, mode: Mode, counted: Counted) {
        let mut files = self.files.lock().expect("tally");
        let entry = files.entry((share.to_string(), mode)).or_default();
        match counted {
            Counted::Delivered(size) => {
                entry.delivered += 1;
                if mode == Mode::Copy {
                    entry.bytes += size.unwrap_or(0);
                }
            }
            Counted::Skipped => entry.skipped += 1,
            Counted::Failed => entry.failed += 1,
        }
    }

    /// Counts target `index`'s result for every share that asked for it.
    pub fn target(&self, asked: &[Asked], index: usize, target: &Target, counted: Counted) {
        for share in asked.iter().filter(|a| a.target == Some(index)) {
            self.count(&share.share, Mode::of(target), counted);
        }
    }

    /// Counts an announcement's result for every share whose queue or topic
    /// it is (`notices` as `targets_for` returned them).
    pub fn notice(&self, asked: &[Asked], notices: &[Notice], notice: &Notice, counted: Counted) {
        let Some(index) = notices.iter().position(|n| n == notice) else {
            return;
        };
        for share in asked.iter().filter(|a| a.notice == Some(index)) {
            self.count(&share.share, Mode::Notify, counted);
        }
    }

    /// One backfill work item carried out for `share`, handing `files` on.
    pub fn backfill_done(&self, share: &str, files: usize) {
        let mut backfill = self.backfill.lock().expect("tally");
        let entry = backfill.entry(share.to_string()).or_default();
        entry.items += 1;
        entry.files += files as u64;
    }

    /// One backfill work item for `share` that failed (it is retried).
    pub fn backfill_failed(&self, share: &str) {
        let mut backfill = self.backfill.lock().expect("tally");
        backfill.entry(share.to_string()).or_default().failed += 1;
    }

    /// The metric lines: one per share and mode, then one per share with
    /// backfill work, each with only its non-zero metrics.
    pub fn lines(&self, namespace: &str, timestamp_ms: i64) -> Vec<Value> {
        let mut lines = Vec::new();
        let files = self.files.lock().expect("tally").clone();
        for ((share, mode), counts) in &files {
            let metrics = non_zero(&[
                (FILES_DELIVERED, Unit::Count, counts.delivered),
                (FILES_FAILED, Unit::Count, counts.failed),
                (FILES_SKIPPED, Unit::Count, counts.skipped),
                (COPY_BYTES, Unit::Bytes, counts.bytes),
            ]);
            lines.push(line(
                namespace,
                timestamp_ms,
                &[("Share", share), ("Mode", mode.as_str())],
                &metrics,
            ));
        }
        let backfill = self.backfill.lock().expect("tally").clone();
        for (share, counts) in &backfill {
            let metrics = non_zero(&[
                (BACKFILL_ITEMS, Unit::Count, counts.items),
                (BACKFILL_FILES, Unit::Count, counts.files),
                (BACKFILL_FAILED, Unit::Count, counts.failed),
            ]);
            lines.push(line(namespace, timestamp_ms, &[("Share", share)], &metrics));
        }
        lines
    }

    /// Writes [`Tally::lines`], stamped now, as metric lines.
    pub fn emit(&self, namespace: &str) {
        let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
        for line in self.lines(namespace, now as i64) {
            telemetry::metrics(&line);
        }
    }
}

fn non_zero(metrics: &[(&'static str, Unit, u64)]) -> Vec<Metric> {
    metrics
        .iter()
        .filter(|(_, _, value)| *value > 0)
        .map(|&(name, unit, value)| Metric { name, unit, value })
        .collect()
}

/// One metric line; a line the specification would refuse (it cannot
/// happen with these names) is written without its metrics, saying why.
fn line(
    namespace: &str,
    timestamp_ms: i64,
    dimensions: &[(&str, &str)],
    metrics: &[Metric],
) -> Value {
    let mut fields = Map::new();
    fields.insert("event".into(), json!("metrics"));
    emf::document(namespace, timestamp_ms, fields, dimensions, metrics).unwrap_or_else(|error| {
        json!({"event": "metrics", "outcome": "failed", "error": error.to_string(),
               "dimensions": dimensions.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>()})
    })
}

#[cfg(test)]
mod tests;

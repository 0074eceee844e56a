//! The forwarder's log lines: one per target outcome, per object, per invocation.

use crate::Outcome;
use serde_json::{json, Value};
use trailshare::events::CreatedObject;
use trailshare::ports::AwsError;
use trailshare::telemetry;

pub(crate) fn skipped(reason: String) -> Outcome {
    Outcome::Skipped { reason }
}

pub(crate) fn count_failed(outcomes: &[Outcome]) -> usize {
    outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Failed { .. }))
        .count()
}

pub(crate) fn summary(outcomes: &[Outcome], messages: Option<(usize, usize)>) -> Value {
    let processed = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Processed { .. }))
        .count();
    let skipped = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Skipped { .. }))
        .count();
    let mut summary = json!({"event": "summary", "objects": outcomes.len(), "processed": processed,
                             "skipped": skipped, "failed": count_failed(outcomes)});
    if let Some((total, failed)) = messages {
        summary["messages"] = json!(total);
        summary["failed_messages"] = json!(failed);
    }
    summary
}

pub(crate) fn log_outcome(object: &CreatedObject, outcome: &Outcome) {
    let mut line = json!({"event": "object", "bucket": object.bucket, "key": object.key});
    let failed = matches!(outcome, Outcome::Failed { .. });
    match outcome {
        Outcome::Processed { account, actions } => {
            line["outcome"] = json!("processed");
            line["account"] = json!(account);
            line["actions"] = json!(actions);
        }
        Outcome::Skipped { reason } => {
            line["outcome"] = json!("skipped");
            line["reason"] = json!(reason);
        }
        Outcome::Failed { error } => {
            line["outcome"] = json!("failed");
            line["error"] = json!(error);
        }
    }
    if failed {
        telemetry::warn(&line);
    } else {
        telemetry::info(&line);
    }
}

/// One line per target outcome; `retryable` says whether a redelivery may
/// succeed by itself (throttles, 5xx) or needs a setting changed first.
/// Its level: `INFO` when done, `WARN` when the source is gone or a retry
/// may cure it, `ERROR` when it will not.
pub(crate) fn log_target(object: &CreatedObject, target: &str, result: &Result<String, AwsError>) {
    let line = target_line(object, target, result);
    match result {
        Ok(_) => telemetry::info(&line),
        Err(AwsError::NotFound { .. }) => telemetry::warn(&line),
        Err(error) => log_failure(&line, error.retryable()),
    }
}

pub(crate) fn target_line(
    object: &CreatedObject,
    target: &str,
    result: &Result<String, AwsError>,
) -> Value {
    let mut line =
        json!({"event": "target", "bucket": object.bucket, "key": object.key, "target": target});
    match result {
        Ok(action) => {
            line["outcome"] = json!("done");
            line["action"] = json!(action);
        }
        Err(AwsError::NotFound { call }) => {
            line["outcome"] = json!("source_gone");
            line["call"] = json!(call);
        }
        Err(error) => {
            line["outcome"] = json!("failed");
            line["retryable"] = json!(error.retryable());
            line["call"] = json!(error.call());
            line["error"] = json!(error.to_string());
        }
    }
    line
}

/// One JSON line of the forwarder's normal work (see `trailshare::telemetry`:
/// on stdout, which Lambda sends to CloudWatch Logs).
pub(crate) fn log(line: &Value) {
    telemetry::info(line);
}

/// A failure's line: `WARN` if a retry may cure it, else `ERROR`.
pub(crate) fn log_failure(line: &Value, retryable: bool) {
    if retryable {
        telemetry::warn(line);
    } else {
        telemetry::error(line);
    }
}

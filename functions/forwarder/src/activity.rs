//! Share activity (DESIGN.md "Activity"): each new log file of account A
//! is read once more, as a stream, and what concerns share roles is
//! written to `ACTIVITY_BUCKET`, one object per share, day and file. A
//! failed read or write fails the file like any other target, so it is
//! retried and dead-lettered (target `activity`), never lost.

use serde_json::json;
use trailshare::activity::{object_key, to_jsonl, ActivityLine, Extracted, Limits, ShareRoles};
use trailshare::config::Config;
use trailshare::events::CreatedObject;
use trailshare::key::{LogKey, LogKind};
use trailshare::ports::{AwsError, LogObjects, Notifier, RoleReader, WorkQueue};
use trailshare::telemetry;

use crate::shares::ShareTable;
use crate::Forwarder;

/// The target's name in log lines, errors and dead-letter attributes.
pub(crate) const TARGET: &str = "activity";
/// Denied assumptions logged one by one per file at most; beyond, one
/// line counts the rest (the alarm still sees the file's denials).
const MAX_DENIED_LINES: usize = 100;

/// Where activity goes and what it is about.
pub(crate) struct Activity {
    bucket: String,
    /// The stack's account (else account A), which owns the activity bucket.
    owner: Option<String>,
    roles: ShareRoles,
    limits: Limits,
}

impl Activity {
    /// From `ACTIVITY_BUCKET` and `OWNER_ACCOUNT` (main refuses to start
    /// when the bucket is set but account A cannot be known).
    pub(crate) fn of(config: &Config) -> Option<Activity> {
        let (bucket, roles) = config.activity().ok().flatten()?;
        Some(Activity {
            bucket,
            owner: config
                .stack_account()
                .or(config.activity_owner())
                .map(str::to_string),
            roles,
            limits: Limits::default(),
        })
    }

    /// Whether this file is read for activity: a log file (not a digest
    /// or Insights file) of account A. Any other costs no request at all.
    pub(crate) fn reads(&self, key: &LogKey) -> bool {
        key.kind == LogKind::Events && key.account == self.roles.account
    }
}

impl<S: RoleReader, O: LogObjects, Q: WorkQueue, N: Notifier> Forwarder<S, O, Q, N> {
    /// The activity target's result, when `activity` is due for `object`.
    pub(crate) async fn activity_of(
        &self,
        activity: Option<&Activity>,
        object: &CreatedObject,
        shares: &ShareTable,
    ) -> Option<Result<String, AwsError>> {
        let activity = activity?;
        // Only shares that exist get lines: a name anyone can put in a
        // denied AssumeRole must not take the room of real shares'.
        let known = shares.routes.iter().map(|r| r.name.clone());
        let known = known.chain(shares.damaged.iter().map(|d| d.name.clone()));
        let roles = ShareRoles {
            known: Some(known.collect()),
            ..activity.roles.clone()
        };
        Some(self.record_activity(activity, &roles, object).await)
    }

    /// Reads the file, logs its denied assumptions, writes its objects.
    /// `NotFound`: the file is gone (skipped like any other target's).
    pub(crate) async fn record_activity(
        &self,
        activity: &Activity,
        roles: &ShareRoles,
        object: &CreatedObject,
    ) -> Result<String, AwsError> {
        let found = self
            .objects
            .scan_activity(&object.bucket, &object.key, roles, activity.limits)
            .await?
            .ok_or(AwsError::NotFound {
                call: "s3:GetObject",
            })?;
        log_denied(object, &found);
        for ((share, day), lines) in &found.objects {
            let key = object_key(share, day, &object.key);
            self.objects
                .put_activity(
                    &activity.bucket,
                    &key,
                    to_jsonl(lines),
                    activity.owner.as_deref(),
                )
                .await?;
        }
        if found.dropped > 0 {
            telemetry::warn(&json!({"event": "activity_limit", "key": object.key,
                "kept": found.lines(), "dropped": found.dropped,
                "objects": found.objects.len()}));
        }
        Ok(format!(
            "activity: {} lines of {} records in {} objects",
            found.lines(),
            found.records,
            found.objects.len()
        ))
    }
}

/// Logs and gathers the activity target's result like any target's.
pub(crate) fn gather(
    object: &CreatedObject,
    gathered: &mut crate::Gathered,
    result: Option<Result<String, AwsError>>,
) {
    if let Some(result) = result {
        crate::log::log_target(object, TARGET, &result);
        gathered.add(TARGET, result);
    }
}

/// One `denied_assume` line per denied assumption of a share role, for
/// the template's metric filter and alarm, which sums their `count`: 1
/// each, and the rest of a file beyond [`MAX_DENIED_LINES`] in one line.
fn log_denied(object: &CreatedObject, found: &Extracted) {
    let denied = found.objects.iter().flat_map(|((share, _), lines)| {
        lines.iter().filter_map(move |line| match line {
            ActivityLine::Assume(a) if a.error_code.is_some() => Some((share, a)),
            _ => None,
        })
    });
    let mut count = 0;
    for (share, a) in denied {
        count += 1;
        if count <= MAX_DENIED_LINES {
            telemetry::warn(
                &json!({"event": "denied_assume", "share": share, "time": a.time,
                "account": a.account, "principal": a.principal, "arn": a.arn,
                "session_name": a.session_name, "source_ip": a.source_ip,
                "error_code": a.error_code, "key": object.key, "count": 1}),
            );
        }
    }
    if count > MAX_DENIED_LINES {
        telemetry::warn(&json!({"event": "denied_assume", "share": null,
            "count": count - MAX_DENIED_LINES, "key": object.key}));
    }
}

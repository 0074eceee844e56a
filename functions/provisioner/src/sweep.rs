//! The daily sweep of expired shares (EventBridge's `Scheduled Event`).

use serde_json::{json, Value};
use trailshare::ports::{AwsError, RolePaths, RoleStore, WorkQueue};

use crate::Found;
use crate::Provisioner;
use trailshare::record::share_name;
use trailshare::route::{read_description, Described};

impl<S: RoleStore, Q: WorkQueue, P: RolePaths> Provisioner<S, Q, P> {
    /// Deletes the roles of expired shares. IAM denies them already; this
    /// keeps the account's role quota and the share list clean.
    ///
    /// Costs one `ListRoles` per 1,000 roles (the routes in the
    /// descriptions say which shares have expired), then one `GetRole` per
    /// expired share and per share whose route is only in its tags: the
    /// record is read again just before the delete, so a share a PUT
    /// extended meanwhile stays. Stops after [`SWEEP_BUDGET`]; what is
    /// left (denied by IAM all the same) goes at the next run.
    pub async fn sweep(&self, caller: &str) -> std::result::Result<Value, AwsError> {
        let started = std::time::Instant::now();
        let path = &self.config.share_role_path;
        let listed_at = time::OffsetDateTime::now_utc();
        let candidates: Vec<String> = self
            .store
            .list_summaries(path)
            .await?
            .into_iter()
            .filter(|role| share_name(&role.role_name).is_some())
            // Unchecked here: sweep_one reads the sealed record again.
            .filter(|role| match read_description(role.description.as_deref()) {
                Described::Sealed { route, .. } | Described::Unsigned(route) => {
                    route.expired_at(listed_at)
                }
                Described::InTags => true,
            })
            .map(|role| role.role_name)
            .collect();
        let mut swept = Vec::new();
        let mut failure = None;
        let mut left = 0;
        for role_name in &candidates {
            if started.elapsed() > SWEEP_BUDGET {
                left += 1;
                continue;
            }
            match self.sweep_one(path, role_name, caller).await {
                Ok(Some(name)) => swept.push(name),
                Ok(None) => {}
                Err(error) => {
                    trailshare::telemetry::error(
                        &json!({"event": "aws_error", "call": error.call(), "role": role_name, "error": error.to_string()}),
                    );
                    failure.get_or_insert(error);
                }
            }
        }
        let outcome = json!({"event": "sweep", "swept": swept, "left": left});
        trailshare::telemetry::info(&outcome);
        match failure {
            Some(error) => Err(error),
            None => Ok(outcome),
        }
    }

    /// Deletes one role if its record (read now) is an expired share's.
    pub(crate) async fn sweep_one(
        &self,
        path: &str,
        role_name: &str,
        caller: &str,
    ) -> std::result::Result<Option<String>, AwsError> {
        let Some(role) = self.store.get(path, role_name).await? else {
            return Ok(None);
        };
        // Damaged or fenced roles are not known to be expired: left alone.
        let Found::Share(record, _) = self.classify(role) else {
            return Ok(None);
        };
        if !record.spec.expired_at(time::OffsetDateTime::now_utc()) {
            return Ok(None);
        }
        if !self.store.delete(role_name).await? {
            return Ok(None);
        }
        let name = record.spec.name.clone();
        self.audit(caller, "delete-expired", &name, Some(&record), None);
        Ok(Some(name))
    }
}

/// How long a sweep may run before leaving the rest to the next one (the
/// function's timeout is 29 s, set for API Gateway).
pub const SWEEP_BUDGET: std::time::Duration = std::time::Duration::from_secs(20);

/// EventBridge's `Scheduled Event`: who scheduled it (the rule's ARN, else
/// `aws.events`), for the audit lines. API Gateway events never carry a
/// top-level `source`, so no request can pass for one; and a forged one
/// (needs `lambda:InvokeFunction`) only deletes what has expired anyway.
pub(crate) fn scheduled_by(event: &Value) -> Option<String> {
    if event.get("source").and_then(Value::as_str) != Some("aws.events")
        || event.get("detail-type").and_then(Value::as_str) != Some("Scheduled Event")
    {
        return None;
    }
    Some(
        event["resources"][0]
            .as_str()
            .unwrap_or("aws.events")
            .to_string(),
    )
}

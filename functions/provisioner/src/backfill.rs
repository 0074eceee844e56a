//! Backfill runs: start one (`POST /shares/{name}/backfill`), show one
//! (`GET /shares/{name}/backfill/{id}`), cancel one (`DELETE …/{id}`).
//!
//! A run is one sealed object in `BACKFILL_BUCKET` (see
//! `trailshare::backfill::Run`): the request writes it, the forwarder adds
//! its counts, a cancel marks it. Reading one is one S3 read, whatever the
//! number of shares; starting one is one IAM read, one S3 write and
//! ⌈messages / 10⌉ sends.

use serde_json::{json, Value};
use trailshare::backfill::{self, new_run_id, runs, Run, RunError, RunState, Window, Work};
use trailshare::layout::format_day;
use trailshare::ports::{RolePaths, RoleStore, WorkQueue};
use trailshare::share::ShareSpec;

use crate::error::Result;
use crate::{now_rfc3339, ApiError, ApiResponse, Provisioner};

/// 12 random bytes from the operating system, for a run id.
fn random_id() -> Result<String> {
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes)
        .map_err(|e| ApiError::new(503, "no_randomness", format!("no random run id: {e}")))?;
    Ok(new_run_id(bytes))
}

impl<S: RoleStore, Q: WorkQueue, P: RolePaths> Provisioner<S, Q, P> {
    /// `POST /shares/{name}/backfill`: records the run, then queues its
    /// first step — one message per log account (or one that discovers
    /// them, for `["*"]`); the forwarder fans each out to days and folders.
    pub(crate) async fn backfill(
        &self,
        name: &str,
        body: &Value,
        caller: &str,
    ) -> Result<ApiResponse> {
        if self.config.forwarder_queue_url.is_none() {
            return Err(ApiError::new(
                503,
                "not_configured",
                "backfill needs the forwarder's queue: FORWARDER_QUEUE_URL is not set",
            ));
        }
        let now = time::OffsetDateTime::now_utc();
        let window = backfill::parse_window(body, now.date())?;
        let (current, _) = self.existing(name).await?;
        let spec = &current.spec;
        // The forwarder does nothing for an expired share: queuing its work
        // would answer 202 for deliveries that never happen.
        if spec.expired_at(now) {
            return Err(ApiError::new(
                409,
                "expired",
                format!(
                    "share {} expired at {}: nothing is delivered for it; extend expires_at (PUT) first",
                    spec.name,
                    spec.expires_at.as_deref().unwrap_or_default()
                ),
            )
            .on("expires_at"));
        }
        let id = random_id()?;
        // The log accounts covered, as the share names them (["*"]: all).
        let accounts = spec.log_scope();
        let work = Work::plan(&spec.name, Some(&id), &accounts, window);
        let bodies: Vec<String> = work.iter().map(Work::to_body).collect();
        let run = new_run(&id, spec, &accounts, window, caller, bodies.len() as u64);
        if let Some(store) = &self.runs {
            if !runs::create(store, &self.key, &run).await? {
                return Err(ApiError::new(
                    503,
                    "run_id_taken",
                    "a run with this id exists; try again",
                ));
            }
        }
        if let Err(error) = self.queue.send(&bodies).await {
            // Whatever was queued before the failure does nothing.
            self.cancel(&run, "the provisioner: queueing the run failed")
                .await;
            return Err(error.into());
        }
        let answer = json!({"backfill": {
            "id": id,
            "share": spec.name,
            "from": run.from,
            "until": run.until,
            "accounts": accounts,
            "queued": bodies.len(),
        }});
        (self.audit)(
            &json!({"event": "audit", "at": now_rfc3339(), "caller": caller, "action": "backfill",
                             "share": name, "before": Value::Null, "after": answer["backfill"]}),
        );
        Ok(ApiResponse::json(202, &answer))
    }

    /// Best effort: a run whose first step could not be queued is marked
    /// cancelled, so what was queued does nothing and no one waits for it.
    async fn cancel(&self, run: &Run, by: &str) {
        let Some(store) = &self.runs else { return };
        let at = now_rfc3339();
        let marked = runs::update(store, &self.key, (&run.share, &run.id), None, |run| {
            run.cancelled_at = Some(at.clone());
            run.cancelled_by = Some(by.to_string());
            true
        })
        .await;
        if let Err(error) = marked {
            eprintln!(
                "{}",
                json!({"event": "backfill_cancel_failed", "share": run.share, "run": run.id, "error": error.to_string()})
            );
        }
    }

    /// `GET /shares/{name}/backfill/{id}` and `DELETE …`: the run, or the
    /// run cancelled (its remaining items do nothing; a finished run stays
    /// as it is).
    pub(crate) async fn backfill_run(
        &self,
        name: &str,
        id: &str,
        cancel_by: Option<&str>,
    ) -> Result<ApiResponse> {
        if !backfill::is_run_id(id) {
            return Err(ApiError::new(
                400,
                "invalid_field",
                format!(
                    "id: a run id is {} lowercase hex digits",
                    backfill::RUN_ID_LEN
                ),
            )
            .on("id"));
        }
        let Some(store) = &self.runs else {
            return Err(ApiError::new(
                503,
                "not_configured",
                "backfill runs are not kept: BACKFILL_BUCKET is not set",
            ));
        };
        let result = match cancel_by {
            None => runs::read(store, &self.key, name, id)
                .await
                .map(|found| found.run),
            Some(caller) => {
                let at = now_rfc3339();
                runs::update(store, &self.key, (name, id), None, |run| {
                    if run.state() != RunState::Running {
                        return false;
                    }
                    run.cancelled_at = Some(at.clone());
                    run.cancelled_by = Some(caller.to_string());
                    true
                })
                .await
            }
        };
        let run = result.map_err(|error| run_error(error, name, id))?;
        if let Some(caller) = cancel_by {
            (self.audit)(
                &json!({"event": "audit", "at": now_rfc3339(), "caller": caller,
                "action": "backfill-cancel", "share": name, "before": Value::Null,
                "after": {"id": id, "state": run.state()}}),
            );
        }
        Ok(ApiResponse::json(200, &run.to_api()))
    }
}

/// A run as it starts: `queued` items on the queue, nothing done.
fn new_run(
    id: &str,
    spec: &ShareSpec,
    accounts: &[String],
    window: Window,
    caller: &str,
    queued: u64,
) -> Run {
    Run {
        id: id.to_string(),
        share: spec.name.clone(),
        from: format_day(window.from),
        until: format_day(window.until),
        accounts: accounts.to_vec(),
        created_at: now_rfc3339(),
        created_by: caller.to_string(),
        cancelled_at: None,
        cancelled_by: None,
        updated_at: None,
        items: backfill::ItemCounts {
            queued,
            ..Default::default()
        },
        files: Default::default(),
    }
}

/// A run that cannot be read or changed, as the API says it.
fn run_error(error: RunError, name: &str, id: &str) -> ApiError {
    match error {
        RunError::Missing => ApiError::new(
            404,
            "not_found",
            format!("share {name} has no backfill run {id}"),
        )
        .on("id"),
        RunError::Unbelievable(why) => {
            eprintln!(
                "{}",
                json!({"event": "backfill_run_unbelievable", "share": name, "run": id, "error": why.to_string()})
            );
            ApiError::new(
                409,
                "damaged",
                format!("backfill run {id} cannot be believed: {why}"),
            )
            .on("id")
        }
        RunError::Contended => ApiError::new(
            503,
            "busy",
            "the run changed under every attempt; try again",
        ),
        RunError::Aws(error) => error.into(),
    }
}

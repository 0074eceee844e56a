//! The provisioner: the share API (create, read, replace, revoke) behind API
//! Gateway. A share is one IAM role; IAM is the only store.
//!
//! Here: routing, who may change shares, reading a role as a share (its
//! seals), revoke, delete, backfill and rendering. Apart: `create`,
//! `replace` (replace, repair, heal, drift), `list` (pages), `sweep`
//! (expired shares), `error` (the API's errors) and `http` (events).

mod activity;
mod backfill;
mod create;
mod error;
mod found;
mod http;
mod list;
mod replace;
mod sweep;
#[cfg(test)]
mod tests;

use serde_json::{json, Value};
use trailshare::admin::AdminMatch;
use trailshare::admission::{admit, Refusal};
use trailshare::config::Config;
use trailshare::policy::{role_policy, READ_POLICY_NAME};
use trailshare::ports::{
    AwsError, NoQueue, NoRolePaths, RolePaths, RoleStore, StoredRole, WorkQueue,
};
use trailshare::record::{role_name, ShareRecord};
use trailshare::seal::ShareKey;
use trailshare::share::{validate_existing_name, validate_name, ShareSpec};

pub use crate::error::ApiError;
use crate::error::{aws_code, method_not_allowed, Result};
use crate::found::{readable, Found};
pub use crate::http::{ApiRequest, ApiResponse, Route, ROUTES};
use crate::replace::revocation_moment;
pub use crate::replace::PROPAGATION_MARGIN;
use crate::sweep::scheduled_by;
pub use crate::sweep::SWEEP_BUDGET;

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Where audit lines go: one JSON value per change.
pub type AuditSink = Box<dyn Fn(&Value) + Send + Sync>;

/// The share API over a role store. Built once per process.
pub struct Provisioner<S, Q = NoQueue, P = NoRolePaths> {
    store: S,
    config: Config,
    /// Seals every record and route this provisioner writes, and checks
    /// every one it reads (see `trailshare::seal`).
    key: ShareKey,
    audit: AuditSink,
    /// The forwarder's queue, where backfill work is sent.
    queue: Q,
    /// Where an administrator's role path is looked up (`iam:GetRole`).
    role_paths: P,
    /// Role name → path, as looked up: one `GetRole` per role and process.
    known_paths: std::sync::Mutex<std::collections::HashMap<String, String>>,
    /// Where backfill runs are kept (`BACKFILL_BUCKET`); `None`: not kept.
    runs: Option<trailshare::backfill::AnyRuns>,
    /// Where share activity is read (`ACTIVITY_BUCKET`); `None`: 503.
    activity: Option<trailshare::activity::read::AnyActivity>,
}

impl<S: RoleStore> Provisioner<S, NoQueue> {
    pub fn new(store: S, config: Config, key: ShareKey) -> Provisioner<S, NoQueue> {
        Provisioner {
            store,
            config,
            key,
            audit: Box::new(trailshare::telemetry::info),
            queue: NoQueue,
            role_paths: NoRolePaths,
            known_paths: Default::default(),
            runs: None,
            activity: None,
        }
    }
}

impl<S: RoleStore, Q, P> Provisioner<S, Q, P> {
    /// The same API with the forwarder's queue, for backfill.
    pub fn with_queue<Q2: WorkQueue>(self, queue: Q2) -> Provisioner<S, Q2, P> {
        Provisioner {
            store: self.store,
            config: self.config,
            key: self.key,
            audit: self.audit,
            queue,
            role_paths: self.role_paths,
            known_paths: self.known_paths,
            runs: self.runs,
            activity: self.activity,
        }
    }

    /// The same API looking administrators' role paths up in `role_paths`
    /// (without it, an `ADMIN_PRINCIPALS` role entry admits nobody: 503).
    pub fn with_role_paths<P2: RolePaths>(self, role_paths: P2) -> Provisioner<S, Q, P2> {
        Provisioner {
            store: self.store,
            config: self.config,
            key: self.key,
            audit: self.audit,
            queue: self.queue,
            role_paths,
            known_paths: Default::default(),
            runs: self.runs,
            activity: self.activity,
        }
    }

    /// The same API keeping backfill runs in `store` (`BACKFILL_BUCKET`).
    pub fn with_runs<R: trailshare::backfill::RunStore + 'static>(
        mut self,
        store: R,
    ) -> Provisioner<S, Q, P> {
        self.runs = Some(trailshare::backfill::AnyRuns::new(store));
        self
    }

    /// The same API reading share activity from `objects` (`ACTIVITY_BUCKET`).
    pub fn with_activity<A: trailshare::ports::ActivityObjects + 'static>(
        mut self,
        objects: A,
    ) -> Provisioner<S, Q, P> {
        self.activity = Some(trailshare::activity::read::AnyActivity::new(objects));
        self
    }
}

impl<S: RoleStore, Q: WorkQueue, P: RolePaths> Provisioner<S, Q, P> {
    /// Sends audit lines to `sink` instead of standard output.
    pub fn with_audit(mut self, sink: AuditSink) -> Provisioner<S, Q, P> {
        self.audit = sink;
        self
    }

    /// Handles one invocation: EventBridge's daily `Scheduled Event` sweeps
    /// expired shares (an error fails the invocation, so Lambda retries
    /// it); anything else is an API Gateway request.
    pub async fn handle_invocation(&self, event: Value) -> std::result::Result<Value, AwsError> {
        match scheduled_by(&event) {
            Some(schedule) => self.sweep(&schedule).await,
            None => Ok(self.handle_event(event).await),
        }
    }

    /// Handles one API Gateway event (HTTP API 2.0 or REST v1 proxy).
    pub async fn handle_event(&self, event: Value) -> Value {
        let response = match ApiRequest::from_event(event) {
            Ok(request) => self.handle(&request).await,
            Err(message) => ApiError::new(400, "invalid_event", message).response(),
        };
        response.to_value()
    }

    /// Handles one request; every outcome is a response, never a panic.
    pub async fn handle(&self, request: &ApiRequest) -> ApiResponse {
        // Boxed: the routes' futures nest too deep for the compiler's layout
        // computation otherwise.
        let response = Box::pin(self.route(request))
            .await
            .unwrap_or_else(ApiError::response);
        log_request(request, &response);
        response
    }

    async fn route(&self, request: &ApiRequest) -> Result<ApiResponse> {
        let route = request.route().ok_or_else(|| {
            ApiError::new(404, "no_route", format!("no route for {}", request.path))
        })?;
        let method = request.method.as_str();
        match (&route, method) {
            (Route::Collection, "GET" | "POST")
            | (Route::Item(_), "GET" | "PUT" | "DELETE")
            | (Route::RevokeSessions(_), "POST")
            | (Route::Backfill(_), "POST")
            | (Route::BackfillRun(..), "GET" | "DELETE")
            | (Route::Activity(_), "GET") => {}
            (Route::Collection, _) => return Err(method_not_allowed("GET, POST")),
            (Route::Item(_), _) => return Err(method_not_allowed("GET, PUT, DELETE")),
            (Route::RevokeSessions(_) | Route::Backfill(_), _) => {
                return Err(method_not_allowed("POST"))
            }
            (Route::BackfillRun(..), _) => return Err(method_not_allowed("GET, DELETE")),
            (Route::Activity(_), _) => return Err(method_not_allowed("GET")),
        }
        // Every change needs an administrator: calling the API must never
        // be a way around IAM. Reads are open to whoever the API lets in.
        if method != "GET" {
            self.check_admin(&request.caller).await?;
        }
        match (route, method) {
            (Route::Collection, "GET") => self.list(request).await,
            (Route::Collection, _) => {
                let spec = self.admit(&request.json_body()?, None)?;
                let share = self.create(spec, &request.caller).await?;
                Ok(ApiResponse::json(201, &share))
            }
            (Route::Item(name), "GET") => {
                validate_existing_name(&name)?;
                match self.find(&name).await? {
                    None => Err(ApiError::not_found(&name)),
                    Some(found) => Ok(ApiResponse::json(200, &self.render_checked(found).await?)),
                }
            }
            (Route::Item(name), "PUT") => {
                validate_name(&name)?;
                let spec = self.admit(&request.json_body()?, Some(&name))?;
                self.put(spec, &request.caller).await
            }
            (Route::Item(name), _) => {
                validate_existing_name(&name)?;
                self.delete(&name, &request.caller).await
            }
            (Route::RevokeSessions(name), _) => {
                validate_existing_name(&name)?;
                self.revoke_sessions(&name, &request.caller).await
            }
            (Route::Backfill(name), _) => {
                validate_existing_name(&name)?;
                self.backfill(&name, &request.json_body()?, &request.caller)
                    .await
            }
            (Route::BackfillRun(name, id), method) => {
                validate_existing_name(&name)?;
                let cancel_by = (method == "DELETE").then_some(request.caller.as_str());
                self.backfill_run(&name, &id, cancel_by).await
            }
            (Route::Activity(name), _) => {
                validate_existing_name(&name)?;
                self.activity(&name, &request.query).await
            }
        }
    }

    /// Admits `caller` as an administrator or refuses: 403 when
    /// `ADMIN_PRINCIPALS` does not name it; for a role session, its role's
    /// path (one `iam:GetRole`, cached per process) must be an entry's, and
    /// a failed lookup is a 503 naming the call, never an admission.
    async fn check_admin(&self, caller: &str) -> Result<()> {
        let forbidden = |why: &str| {
            ApiError::new(
                403,
                "forbidden",
                format!("{caller} may not change shares: {why}"),
            )
        };
        let (account, role_name, paths) = match self.config.admin_match(caller) {
            AdminMatch::Yes => return Ok(()),
            AdminMatch::No => return Err(forbidden("not in ADMIN_PRINCIPALS")),
            AdminMatch::IfRolePath {
                account,
                role_name,
                paths,
            } => (account, role_name, paths),
        };
        // GetRole looks in this account only (the boundary's).
        let own = self
            .config
            .permissions_boundary_arn
            .as_deref()
            .and_then(trailshare::ids::arn_account);
        if own.is_some_and(|own| own != account) {
            return Err(forbidden(
                "a role of another account cannot be checked for its path",
            ));
        }
        let cached = self
            .known_paths
            .lock()
            .expect("path cache")
            .get(&role_name)
            .cloned();
        let path = match cached {
            Some(path) => Some(path),
            None => {
                let found = self.role_paths.role_path(&role_name).await.map_err(|error| {
                    trailshare::telemetry::error(
                        &json!({"event": "aws_error", "call": error.call(), "role": role_name, "error": error.to_string()}),
                    );
                    ApiError::new(
                        503,
                        "admin_check_failed",
                        format!(
                            "{} failed ({}): the caller's role path could not be checked, so nothing was changed",
                            error.call(),
                            aws_code(&error)
                        ),
                    )
                })?;
                if let Some(path) = &found {
                    self.known_paths
                        .lock()
                        .expect("path cache")
                        .insert(role_name.clone(), path.clone());
                }
                found
            }
        };
        match path {
            Some(path) if paths.contains(&path) => Ok(()),
            _ => Err(forbidden(&format!(
                "role {role_name} is not at a path ADMIN_PRINCIPALS names"
            ))),
        }
    }

    /// A request's share, admitted by the domain's one rule as of now; a
    /// grantee outside `GRANTEE_ACCOUNTS` is a 403, anything else a 400.
    fn admit(&self, body: &Value, path_name: Option<&str>) -> Result<ShareSpec> {
        let now = time::OffsetDateTime::now_utc();
        admit(body, path_name, &self.config, now).map_err(|refusal| match refusal {
            Refusal::Invalid(invalid) => ApiError::from(invalid),
            Refusal::GranteeNotAllowed { account, allowed } => ApiError::new(
                403,
                "forbidden",
                format!(
                    "{account} is not in GRANTEE_ACCOUNTS: shares may be granted only to {}",
                    allowed.join(", ")
                ),
            )
            .on("grantee_account"),
            Refusal::OrganizationNotAllowed { allowed } => ApiError::new(
                403,
                "forbidden",
                format!(
                    "an organization share grants every member account, but GRANTEE_ACCOUNTS allows only {}",
                    allowed.join(", ")
                ),
            )
            .on("organization"),
        })
    }

    /// `POST /shares/{name}/revoke-sessions`: every session issued before
    /// now is denied from now on (IAM applies it within seconds).
    async fn revoke_sessions(&self, name: &str, caller: &str) -> Result<ApiResponse> {
        let (current, role) = self.existing(name).await?;
        let current = self.repaired(current, &role, caller).await?;
        let moment = revocation_moment();
        let policy = role_policy(&current.spec, &self.config, Some(&moment));
        self.store
            .put_policy(&role.role_name, READ_POLICY_NAME, &policy.to_string())
            .await?;
        let record = ShareRecord {
            updated_by: Some(caller.to_string()),
            updated_at: Some(now_rfc3339()),
            sessions_valid_after: Some(moment),
            ..current.clone()
        };
        self.write_record(&role, &record).await?;
        self.audit(
            caller,
            "revoke-sessions",
            name,
            Some(&current),
            Some(&record),
        );
        Ok(ApiResponse::json(200, &self.render(&record, &role.arn)))
    }

    /// Removes the role whatever state its record is in; only a role the
    /// fence forbids touching (boundary changed outside trailshare) stays.
    async fn delete(&self, name: &str, caller: &str) -> Result<ApiResponse> {
        let before = match self.find(name).await? {
            None => return Err(ApiError::not_found(name)),
            Some(Found::Damaged {
                not_managed: true,
                error,
                ..
            }) => return Err(ApiError::new(409, "not_managed", error).on("name")),
            Some(Found::Damaged { .. }) => None,
            Some(Found::Share(record, _)) => Some(*record),
        };
        match self.store.delete(&role_name(name)).await? {
            true => {
                self.audit(caller, "delete", name, before.as_ref(), None);
                Ok(ApiResponse::empty(204))
            }
            false => Err(ApiError::not_found(name)),
        }
    }

    /// Writes the record in one TagRole call (chunks and their count), then
    /// removes tags a longer old record left. Those are ignored when read, so
    /// a failure to remove them is logged, not returned.
    async fn write_record(&self, role: &StoredRole, record: &ShareRecord) -> Result<()> {
        let tags = record.to_sealed_tags(&self.key, role.identity())?;
        self.store.tag(&role.role_name, &tags).await?;
        let stale = ShareRecord::stale_tag_keys(role.tags.iter().map(|(k, _)| k.as_str()), &tags);
        if !stale.is_empty() {
            if let Err(error) = self.store.untag(&role.role_name, &stale).await {
                trailshare::telemetry::warn(
                    &json!({"event": "stale_tags_left", "role": role.role_name, "keys": stale, "error": error.to_string()}),
                );
            }
        }
        Ok(())
    }

    /// The role description: the share's route, sealed to the role, so the
    /// forwarder reads every share with one `ListRoles` call.
    fn description(&self, spec: &ShareSpec, role: &StoredRole) -> String {
        trailshare::route::describe(spec, &self.key, role.identity())
    }

    /// One JSON line per change: who, what, which share, before and after.
    fn audit(
        &self,
        caller: &str,
        action: &str,
        share: &str,
        before: Option<&ShareRecord>,
        after: Option<&ShareRecord>,
    ) {
        (self.audit)(
            &json!({"event": "audit", "at": now_rfc3339(), "caller": caller,
            "action": action, "share": share, "before": before, "after": after}),
        );
    }
}

fn rfc3339(moment: time::OffsetDateTime) -> String {
    moment
        .replace_nanosecond(0)
        .expect("0 is a valid nanosecond")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("RFC 3339 formats any UTC time")
}

fn now_rfc3339() -> String {
    rfc3339(time::OffsetDateTime::now_utc())
}

/// One structured log line per request.
fn log_request(request: &ApiRequest, response: &ApiResponse) {
    trailshare::telemetry::info(
        &json!({"event": "request", "method": request.method, "path": request.path,
               "status": response.status, "caller": request.caller}),
    );
}

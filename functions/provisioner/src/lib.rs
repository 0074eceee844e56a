//! The provisioner: the share API (create, read, replace, revoke) behind API
//! Gateway. A share is one IAM role; IAM is the only store.

#[cfg(test)]
mod edge_tests;
mod http;
#[cfg(test)]
mod tests;

use serde_json::{json, Value};
use trailshare::admin::AdminMatch;
use trailshare::config::Config;
use trailshare::policy::{
    check_limits, grantee_setup, hold_policy, role_policy, transition_policy, trust_policy,
    READ_POLICY_NAME,
};
use trailshare::record::{read_tags, role_name, share_name, RecordError, ShareRecord};
use trailshare::route::{in_tags, read_description, Described};
use trailshare::seal::{Distrust, ShareKey};
use trailshare::share::{
    check_deployment, check_not_expired, validate, validate_existing_name, validate_name, Invalid,
    ShareSpec,
};
use trailshare::store::{
    NoQueue, NoRolePaths, RoleDraft, RolePaths, RoleStore, StoreError, StoredRole, WorkQueue,
};

pub use crate::http::{ApiRequest, ApiResponse, Route, ROUTES};

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
}

/// A request failure, rendered as `{"error": {"code", "message", "field"}}`.
#[derive(Debug)]
pub struct ApiError {
    status: u16,
    code: &'static str,
    message: String,
    field: Option<String>,
}

impl ApiError {
    fn new(status: u16, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    fn on(mut self, field: &str) -> ApiError {
        self.field = Some(field.to_string());
        self
    }

    fn not_found(name: &str) -> ApiError {
        ApiError::new(404, "not_found", format!("no share named {name}")).on("name")
    }

    fn response(self) -> ApiResponse {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(field) = self.field {
            error["field"] = json!(field);
        }
        ApiResponse::json(self.status, &json!({ "error": error }))
    }
}

impl From<Invalid> for ApiError {
    fn from(invalid: Invalid) -> ApiError {
        ApiError {
            status: 400,
            code: invalid.code,
            message: invalid.to_string(),
            field: Some(invalid.field),
        }
    }
}

/// AWS's error code from a classified error's text (`Code: message`), never
/// its message: that may quote policies or ARNs and goes to the log only.
fn aws_code(error: &StoreError) -> String {
    let text = match error {
        StoreError::NotFound { .. } => return "NoSuchEntity".into(),
        StoreError::AlreadyExists { .. } => return "EntityAlreadyExists".into(),
        StoreError::Throttled { message, .. }
        | StoreError::Denied { message, .. }
        | StoreError::Failed { message, .. }
        | StoreError::Rejected { message, .. } => message,
    };
    let head = text
        .split_once(": ")
        .map_or(text.as_str(), |(code, _)| code);
    if !head.is_empty() && head.chars().all(|c| c.is_ascii_alphanumeric() || c == '.') {
        head.to_string()
    } else {
        "no error code (no answer from AWS)".into()
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        eprintln!(
            "{}",
            json!({"event": "aws_error", "call": error.call(), "error": error.to_string()})
        );
        let message = format!("{} failed: {}", error.call(), aws_code(&error));
        match error {
            StoreError::Throttled { .. } => ApiError::new(503, "aws_throttled", message),
            _ => ApiError::new(502, "aws_error", message),
        }
    }
}

impl From<RecordError> for ApiError {
    fn from(error: RecordError) -> ApiError {
        match error {
            RecordError::TooLarge => {
                ApiError::new(400, "too_large", error.to_string()).on("grantee_principals")
            }
            _ => ApiError::new(409, "damaged", error.to_string()),
        }
    }
}

type Result<T> = std::result::Result<T, ApiError>;

/// A role on the share path, as far as it can be read and believed.
enum Found {
    Share(Box<ShareRecord>, StoredRole),
    Damaged {
        role: StoredRole,
        not_managed: bool,
        /// `unreadable`, `unsigned`, `unauthenticated` or `not_managed`.
        reason: &'static str,
        error: String,
    },
}

fn damaged(role: StoredRole, reason: &'static str, error: impl Into<String>) -> Found {
    Found::Damaged {
        role,
        not_managed: false,
        reason,
        error: error.into(),
    }
}

impl<S: RoleStore> Provisioner<S, NoQueue> {
    pub fn new(store: S, config: Config, key: ShareKey) -> Provisioner<S, NoQueue> {
        Provisioner {
            store,
            config,
            key,
            audit: Box::new(|line| println!("{line}")),
            queue: NoQueue,
            role_paths: NoRolePaths,
            known_paths: Default::default(),
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
        }
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
    pub async fn handle_invocation(&self, event: Value) -> std::result::Result<Value, StoreError> {
        match scheduled_by(&event) {
            Some(schedule) => self.sweep(&schedule).await,
            None => Ok(self.handle_event(event).await),
        }
    }

    /// Deletes the roles of expired shares. IAM denies them already; this
    /// keeps the account's role quota and the share list clean.
    ///
    /// Costs one `ListRoles` per 1,000 roles (the routes in the
    /// descriptions say which shares have expired), then one `GetRole` per
    /// expired share and per share whose route is only in its tags: the
    /// record is read again just before the delete, so a share a PUT
    /// extended meanwhile stays. Stops after [`SWEEP_BUDGET`]; what is
    /// left (denied by IAM all the same) goes at the next run.
    pub async fn sweep(&self, caller: &str) -> std::result::Result<Value, StoreError> {
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
                    eprintln!(
                        "{}",
                        json!({"event": "aws_error", "call": error.call(), "role": role_name, "error": error.to_string()})
                    );
                    failure.get_or_insert(error);
                }
            }
        }
        let outcome = json!({"event": "sweep", "swept": swept, "left": left});
        println!("{outcome}");
        match failure {
            Some(error) => Err(error),
            None => Ok(outcome),
        }
    }

    /// Deletes one role if its record (read now) is an expired share's.
    async fn sweep_one(
        &self,
        path: &str,
        role_name: &str,
        caller: &str,
    ) -> std::result::Result<Option<String>, StoreError> {
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
            | (Route::Backfill(_), "POST") => {}
            (Route::Collection, _) => return Err(method_not_allowed("GET, POST")),
            (Route::Item(_), _) => return Err(method_not_allowed("GET, PUT, DELETE")),
            (Route::RevokeSessions(_) | Route::Backfill(_), _) => {
                return Err(method_not_allowed("POST"))
            }
        }
        // Every change needs an administrator: calling the API must never
        // be a way around IAM. Reads are open to whoever the API lets in.
        if method != "GET" {
            self.check_admin(&request.caller).await?;
        }
        match (route, method) {
            (Route::Collection, "GET") => self.list(request).await,
            (Route::Collection, _) => {
                let spec = validate(&request.json_body()?, None, &self.config.trail_bucket)?;
                self.admit(&spec)?;
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
                let spec = validate(
                    &request.json_body()?,
                    Some(&name),
                    &self.config.trail_bucket,
                )?;
                self.admit(&spec)?;
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
                    eprintln!(
                        "{}",
                        json!({"event": "aws_error", "call": error.call(), "role": role_name, "error": error.to_string()})
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

    /// What a valid share must also satisfy here: the grantee allow-list,
    /// the stack's copy lists, and IAM's size limits (before any call).
    fn admit(&self, spec: &ShareSpec) -> Result<()> {
        if !self.config.grantee_allowed(&spec.grantee_account) {
            return Err(ApiError::new(
                403,
                "forbidden",
                format!(
                    "{} is not in GRANTEE_ACCOUNTS: shares may be granted only to {}",
                    spec.grantee_account,
                    self.config.grantee_accounts.join(", ")
                ),
            )
            .on("grantee_account"));
        }
        check_deployment(spec, &self.config)?;
        check_not_expired(spec, time::OffsetDateTime::now_utc())?;
        // The largest the policy gets: with a session deny and an expiry
        // (mid-replace, a share that drops its expiry keeps the old one).
        let widest = ShareSpec {
            expires_at: Some("2000-01-01T00:00:00Z".into()),
            ..spec.clone()
        };
        let inline = role_policy(&widest, &self.config, Some("2000-01-01T00:00:00Z"));
        check_limits(spec, &trust_policy(spec), &inline)?;
        Ok(())
    }

    /// `GET /shares?limit=N&next=T`: one page, sorted by name. Costs one
    /// `ListRoles` per 1,000 roles (names only) and one `GetRole` per share
    /// on the page, never a call per share beyond it.
    async fn list(&self, request: &ApiRequest) -> Result<ApiResponse> {
        let limit = match request.query_param("limit") {
            None => DEFAULT_PAGE,
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_PAGE).contains(n))
                .ok_or_else(|| {
                    ApiError::new(
                        400,
                        "invalid_field",
                        format!("limit: must be a whole number from 1 to {MAX_PAGE}"),
                    )
                    .on("limit")
                })?,
        };
        let after = match request.query_param("next") {
            None => None,
            Some(token) => Some(page_token_name(token).ok_or_else(|| {
                ApiError::new(400, "invalid_field", "next: not a token this API gave").on("next")
            })?),
        };
        let path = &self.config.share_role_path;
        let mut names: Vec<(String, String)> = self
            .store
            .list_summaries(path)
            .await?
            .into_iter()
            // The path holds only trailshare's roles; others are not shares.
            .filter_map(|role| {
                share_name(&role.role_name).map(|name| (name.to_string(), role.role_name.clone()))
            })
            .collect();
        names.sort();
        let rest: Vec<&(String, String)> = names
            .iter()
            .filter(|(name, _)| after.as_ref().is_none_or(|after| name > after))
            .collect();
        let mut shares = Vec::new();
        for (_, role_name) in rest.iter().take(limit) {
            // A role deleted since the listing is simply not on the page.
            if let Some(role) = self.store.get(path, role_name).await? {
                shares.push(self.render_found(&self.classify(role)));
            }
        }
        let mut page = json!({ "shares": shares });
        if rest.len() > limit {
            page["next"] = json!(page_token(&rest[limit - 1].0));
        }
        Ok(ApiResponse::json(200, &page))
    }

    /// Reads a role as a share, or says why it cannot be one: its record
    /// must carry this stack's seal for this very role, and still be a
    /// share this stack admits (validator and allow-lists).
    fn classify(&self, role: StoredRole) -> Found {
        if let Some(boundary) = &self.config.permissions_boundary_arn {
            if role.permissions_boundary.as_ref() != Some(boundary) {
                return Found::Damaged {
                    role,
                    not_managed: true,
                    reason: "not_managed",
                    error: "not_managed: its permissions boundary was removed or changed outside trailshare; the provisioner's fence forbids touching it, so an IAM administrator must remove the role".into(),
                };
            }
        }
        let read = match read_tags(&role.role_name, role.tag_pairs()) {
            Ok(read) => read,
            Err(error) => return damaged(role, "unreadable", error.to_string()),
        };
        if let Err(distrust) = read.check(&self.key, role.identity()) {
            let error = match distrust {
                Distrust::Unsigned => "the record carries no seal (written by an earlier version, or by hand): a PUT of the share re-signs it",
                Distrust::Unauthenticated => "the record's seal does not verify: it was not written for this role by this stack's provisioner; a PUT of the share heals it",
            };
            return damaged(role, distrust.reason(), error);
        }
        // The route the forwarder acts on must be sealed too (a sealed but
        // older route is drift, which GET of one share checks).
        let route =
            read_description(role.description.as_deref()).believe(&self.key, role.identity());
        if let Some(Err((distrust, _))) = route {
            let error = "the route in the role's description was not written for this role by this stack's provisioner: the forwarder delivers nothing for it; a PUT of the share heals it";
            return damaged(role, distrust.reason(), error);
        }
        if let Err(invalid) = trailshare::recheck::spec(&read.record.spec, &self.config) {
            return damaged(
                role,
                "unreadable",
                format!("the record is not a share this stack admits ({invalid}): a PUT of the share heals it"),
            );
        }
        Found::Share(Box::new(read.record), role)
    }

    /// The role of share `name`, if one is on the share path.
    async fn find(&self, name: &str) -> Result<Option<Found>> {
        Ok(self
            .store
            .get(&self.config.share_role_path, &role_name(name))
            .await?
            .map(|role| self.classify(role)))
    }

    /// An existing, readable, managed share, or the 404/409 that says why not.
    async fn existing(&self, name: &str) -> Result<(ShareRecord, StoredRole)> {
        match self.find(name).await? {
            None => Err(ApiError::not_found(name)),
            Some(found) => readable(found),
        }
    }

    async fn create(&self, spec: ShareSpec, caller: &str) -> Result<Value> {
        let record = ShareRecord {
            spec,
            created_by: caller.to_string(),
            created_at: now_rfc3339(),
            updated_by: None,
            updated_at: None,
            sessions_valid_after: None,
        };
        let draft = self.draft(&record)?;
        match self.store.create(&draft).await {
            Ok(role) => {
                self.seal_new(&record, &role).await?;
                self.audit(caller, "create", &record.spec.name, None, Some(&record));
                Ok(self.render(&record, &role.arn))
            }
            Err(StoreError::AlreadyExists { .. }) => Err(ApiError::new(
                409,
                "conflict",
                format!("a role named {} already exists", draft.role_name),
            )
            .on("name")),
            Err(other) => Err(principal_error(other, &record.spec)),
        }
    }

    /// A new role has no RoleId to seal to until IAM creates it: it is made
    /// with its record unsealed and its route in the tags (so the forwarder
    /// fails, and retries, what it claims), then sealed: the record's seal
    /// (TagRole) and the sealed route (UpdateRole). If either fails, the
    /// role is removed: no half-made share stays.
    async fn seal_new(&self, record: &ShareRecord, role: &StoredRole) -> Result<()> {
        let spec = &record.spec;
        let sealed = async {
            let seal = record.seal_tag(&self.key, role.identity());
            self.store.tag(&role.role_name, &[seal]).await?;
            self.store
                .update_role(
                    &role.role_name,
                    &self.description(spec, role),
                    spec.max_session_seconds as i32,
                )
                .await
        };
        if let Err(error) = sealed.await {
            if let Err(cleanup) = self.store.delete(&role.role_name).await {
                eprintln!(
                    "{}",
                    json!({"event": "aws_error", "call": cleanup.call(), "role": role.role_name, "error": cleanup.to_string()})
                );
            }
            return Err(error.into());
        }
        Ok(())
    }

    /// Create or replace. The same body twice changes nothing: an unchanged
    /// share makes no write at all, and keeps who created it and when.
    async fn put(&self, spec: ShareSpec, caller: &str) -> Result<ApiResponse> {
        let Some(found) = self.find(&spec.name).await? else {
            return Ok(ApiResponse::json(201, &self.create(spec, caller).await?));
        };
        let (current, role) = match found {
            // Nothing in a record we cannot believe is kept: not even its grantee.
            Found::Damaged {
                not_managed: false,
                role,
                reason,
                ..
            } => return self.heal(spec, role, reason, caller).await,
            found => readable(found)?,
        };
        if current.spec.grantee_account != spec.grantee_account {
            return Err(ApiError::new(
                409,
                "immutable",
                format!(
                    "grantee_account is fixed for the life of a share (it is {}): delete the share and create a new one",
                    current.spec.grantee_account
                ),
            )
            .on("grantee_account"));
        }
        // A replace plans its steps from the record, so IAM must first hold
        // exactly the record: after a replace that stopped half-way it may
        // hold part of another share (trust, route), which a plan made from
        // the record would leave in place.
        let current = self.repaired(current, &role, caller).await?;
        if current.spec == spec {
            return Ok(ApiResponse::json(200, &self.render(&current, &role.arn)));
        }
        let record = self.replace(&current, &role, spec, caller).await?;
        self.audit(
            caller,
            "replace",
            &record.spec.name,
            Some(&current),
            Some(&record),
        );
        Ok(ApiResponse::json(200, &self.render(&record, &role.arn)))
    }

    /// Brings the role from `current` to `spec` so that nobody can, at any
    /// moment, read more than the old or the new share allows, even if a call
    /// fails half-way (the record is written last, so a retry redoes it all):
    ///
    /// 1. if the trust changes, the inline policy narrows to what both shares
    ///    read (old principals are still trusted, new ones are about to be);
    /// 2. the trust;
    /// 3. the new reach, with a deny of sessions issued before a moment
    ///    after the trust changed, when who may assume or what is read changed;
    /// 4. the session length and the description (the route), then the record.
    async fn replace(
        &self,
        current: &ShareRecord,
        role: &StoredRole,
        spec: ShareSpec,
        caller: &str,
    ) -> Result<ShareRecord> {
        let old = &current.spec;
        let name = &role.role_name;
        // Who may assume, until when: principals, external id, expiry.
        let trust_changes = trust_policy(old) != trust_policy(&spec);
        let reach_changes =
            old.log_accounts != spec.log_accounts || old.expires_at != spec.expires_at;
        let mut valid_after = current.sessions_valid_after.clone();
        if trust_changes {
            let during = transition_policy(old, &spec, &self.config, valid_after.as_deref());
            if during != role_policy(old, &self.config, valid_after.as_deref()) {
                self.store
                    .put_policy(name, READ_POLICY_NAME, &during.to_string())
                    .await?;
            }
            self.store
                .update_trust(name, &trust_policy(&spec).to_string())
                .await
                .map_err(|e| principal_error(e, &spec))?;
        }
        if trust_changes || reach_changes {
            valid_after = Some(revocation_moment());
            let policy = role_policy(&spec, &self.config, valid_after.as_deref());
            self.store
                .put_policy(name, READ_POLICY_NAME, &policy.to_string())
                .await?;
        }
        // The description carries the route (expiry, delivery) that the
        // forwarder and the sweep read.
        if old.max_session_seconds != spec.max_session_seconds
            || self.description(old, role) != self.description(&spec, role)
        {
            self.store
                .update_role(
                    name,
                    &self.description(&spec, role),
                    spec.max_session_seconds as i32,
                )
                .await?;
        }
        let record = ShareRecord {
            spec,
            created_by: current.created_by.clone(),
            created_at: current.created_at.clone(),
            updated_by: Some(caller.to_string()),
            updated_at: Some(now_rfc3339()),
            sessions_valid_after: valid_after,
        };
        self.write_record(role, &record).await?;
        Ok(record)
    }

    /// The record is written last, so after a replace that stopped half-way
    /// it still says the old share while IAM may hold part of the new one.
    /// A PUT of the recorded share therefore checks that IAM holds exactly
    /// it (one GetRolePolicy; trust, description and session length came
    /// with GetRole): if so it writes nothing; if not it puts the share
    /// back — first the route, so the forwarder stops acting on the new one
    /// — reading nothing while the trust names principals the share does
    /// not, and revoking their sessions.
    async fn repair(
        &self,
        current: &ShareRecord,
        role: &StoredRole,
        caller: &str,
    ) -> Result<Option<ShareRecord>> {
        let spec = &current.spec;
        let name = &role.role_name;
        let held = self.holds(current, role).await?;
        if held.all() {
            return Ok(None);
        }
        if !held.route {
            self.store
                .update_role(
                    name,
                    &self.description(spec, role),
                    spec.max_session_seconds as i32,
                )
                .await?;
        }
        let mut valid_after = current.sessions_valid_after.clone();
        if !held.trust {
            self.store
                .put_policy(name, READ_POLICY_NAME, &hold_policy().to_string())
                .await?;
            self.store
                .update_trust(name, &trust_policy(spec).to_string())
                .await
                .map_err(|e| principal_error(e, spec))?;
            valid_after = Some(revocation_moment());
        }
        if !(held.trust && held.policy) {
            let policy = role_policy(spec, &self.config, valid_after.as_deref());
            self.store
                .put_policy(name, READ_POLICY_NAME, &policy.to_string())
                .await?;
        }
        let record = ShareRecord {
            updated_by: Some(caller.to_string()),
            updated_at: Some(now_rfc3339()),
            sessions_valid_after: valid_after,
            ..current.clone()
        };
        self.write_record(role, &record).await?;
        Ok(Some(record))
    }

    /// The record after [`Provisioner::repair`], audited when it changed
    /// anything: every path that writes a policy or trust from a record
    /// (PUT, revoke-sessions) starts here, so it never builds on a trust
    /// or route that a stopped replace left behind.
    async fn repaired(
        &self,
        current: ShareRecord,
        role: &StoredRole,
        caller: &str,
    ) -> Result<ShareRecord> {
        match self.repair(&current, role, caller).await? {
            None => Ok(current),
            Some(record) => {
                self.audit(
                    caller,
                    "repair",
                    &record.spec.name,
                    Some(&current),
                    Some(&record),
                );
                Ok(record)
            }
        }
    }

    /// Which parts of the record IAM holds: the trust, the route and
    /// session length (both from GetRole), and the inline policy (one
    /// GetRolePolicy).
    async fn holds(&self, current: &ShareRecord, role: &StoredRole) -> Result<Held> {
        let spec = &current.spec;
        let parse = |text: Option<&str>| text.and_then(|t| serde_json::from_str::<Value>(t).ok());
        let policy = role_policy(spec, &self.config, current.sessions_valid_after.as_deref());
        let held = self
            .store
            .get_policy(&role.role_name, READ_POLICY_NAME)
            .await?;
        Ok(Held {
            trust: parse(role.trust_policy.as_deref()) == Some(trust_policy(spec)),
            route: role.description.as_deref() == Some(self.description(spec, role).as_str())
                && role.max_session_seconds == Some(spec.max_session_seconds as i32),
            policy: parse(held.as_deref()) == Some(policy),
        })
    }

    /// `PUT` of a share whose record cannot be believed (unsigned, forged,
    /// unreadable): nothing of the old state is kept. The role reads
    /// nothing first, then trusts only the new principals, then gains the
    /// requested reach with every older session denied, then its sealed
    /// route and record.
    async fn heal(
        &self,
        spec: ShareSpec,
        role: StoredRole,
        reason: &str,
        caller: &str,
    ) -> Result<ApiResponse> {
        let name = &role.role_name;
        self.store
            .put_policy(name, READ_POLICY_NAME, &hold_policy().to_string())
            .await?;
        self.store
            .update_trust(name, &trust_policy(&spec).to_string())
            .await
            .map_err(|e| principal_error(e, &spec))?;
        let moment = revocation_moment();
        let policy = role_policy(&spec, &self.config, Some(&moment));
        self.store
            .put_policy(name, READ_POLICY_NAME, &policy.to_string())
            .await?;
        self.store
            .update_role(
                name,
                &self.description(&spec, &role),
                spec.max_session_seconds as i32,
            )
            .await?;
        let record = ShareRecord {
            spec,
            created_by: caller.to_string(),
            created_at: now_rfc3339(),
            updated_by: None,
            updated_at: None,
            sessions_valid_after: Some(moment),
        };
        self.write_record(&role, &record).await?;
        (self.audit)(
            &json!({"event": "audit", "at": now_rfc3339(), "caller": caller,
            "action": "heal", "share": record.spec.name, "reason": reason,
            "before": Value::Null, "after": record}),
        );
        Ok(ApiResponse::json(200, &self.render(&record, &role.arn)))
    }

    /// `POST /shares/{name}/backfill`: queues the first step of the share's
    /// deliveries for the files already in the window — one message per
    /// log account (or one that discovers them, for `["*"]`); the forwarder
    /// fans each out to days. Costs one IAM read and ⌈messages / 10⌉ sends,
    /// whatever the number of shares.
    async fn backfill(&self, name: &str, body: &Value, caller: &str) -> Result<ApiResponse> {
        if self.config.forwarder_queue_url.is_none() {
            return Err(ApiError::new(
                503,
                "not_configured",
                "backfill needs the forwarder's queue: FORWARDER_QUEUE_URL is not set",
            ));
        }
        let today = time::OffsetDateTime::now_utc().date();
        let window = trailshare::backfill::parse_window(body, today)?;
        let (current, _) = self.existing(name).await?;
        let spec = &current.spec;
        // The forwarder does nothing for an expired share: queuing its work
        // would answer 202 for deliveries that never happen.
        if spec.expired_at(time::OffsetDateTime::now_utc()) {
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
        let work = trailshare::backfill::Work::plan(&spec.name, &spec.log_accounts, window);
        let bodies: Vec<String> = work.iter().map(|w| w.to_body()).collect();
        self.queue.send(&bodies).await?;
        let answer = json!({"backfill": {
            "share": spec.name,
            "from": trailshare::backfill::format_day(window.from),
            "until": trailshare::backfill::format_day(window.until),
            // The log accounts covered, as the share names them (["*"]: all).
            "accounts": spec.log_accounts,
            "queued": bodies.len(),
        }});
        (self.audit)(
            &json!({"event": "audit", "at": now_rfc3339(), "caller": caller, "action": "backfill",
                             "share": name, "before": Value::Null, "after": answer["backfill"]}),
        );
        Ok(ApiResponse::json(202, &answer))
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
                eprintln!(
                    "{}",
                    json!({"event": "stale_tags_left", "role": role.role_name, "keys": stale, "error": error.to_string()})
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

    fn draft(&self, record: &ShareRecord) -> Result<RoleDraft> {
        let spec = &record.spec;
        Ok(RoleDraft {
            role_name: role_name(&spec.name),
            path: self.config.share_role_path.clone(),
            description: in_tags(spec),
            trust_policy: trust_policy(spec).to_string(),
            read_policy_name: READ_POLICY_NAME.to_string(),
            read_policy: role_policy(spec, &self.config, record.sessions_valid_after.as_deref())
                .to_string(),
            permissions_boundary: self.config.permissions_boundary_arn.clone(),
            max_session_seconds: spec.max_session_seconds as i32,
            tags: record.to_tags()?,
        })
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

    fn render_found(&self, found: &Found) -> Value {
        match found {
            Found::Share(record, role) => {
                let mut share = self.render(record, &role.arn);
                // IAM's RoleLastUsed (hours behind): who reviews access asks.
                share["last_used"] = match &role.last_used {
                    Some(used) => json!({"at": used.at, "region": used.region}),
                    None => Value::Null,
                };
                share
            }
            Found::Damaged {
                role,
                reason,
                error,
                ..
            } => json!({
                "name": share_name(&role.role_name).unwrap_or(&role.role_name),
                "role_arn": role.arn,
                "status": "damaged",
                "reason": reason,
                "error": error,
            }),
        }
    }

    /// One share as `GET /shares/{name}` shows it: a record IAM does not
    /// hold (a stopped replace, a record rolled back to an older sealed
    /// one) is `damaged`, reason `drift`, never shown as if it held.
    async fn render_checked(&self, found: Found) -> Result<Value> {
        let mut share = self.render_found(&found);
        if let Found::Share(record, role) = &found {
            let held = self.holds(record, role).await?;
            if !held.all() {
                let parts: Vec<&str> = [
                    (held.trust, "trust policy"),
                    (held.policy, "inline policy"),
                    (held.route, "route (description, session length)"),
                ]
                .into_iter()
                .filter(|(holds, _)| !holds)
                .map(|(_, part)| part)
                .collect();
                share["status"] = json!("damaged");
                share["reason"] = json!("drift");
                share["error"] = json!(format!(
                    "IAM's {} differs from the share's record: a PUT of the share repairs it",
                    parts.join(", ")
                ));
            }
        }
        Ok(share)
    }

    /// The share as the API returns it.
    fn render(&self, record: &ShareRecord, role_arn: &str) -> Value {
        let mut share = serde_json::to_value(&record.spec).expect("a share spec serialises");
        share["role_arn"] = json!(role_arn);
        // IAM denies an expired role already; the daily sweep deletes it.
        let expired = record.spec.expired_at(time::OffsetDateTime::now_utc());
        share["status"] = json!(if expired { "expired" } else { "active" });
        share["created_by"] = json!(record.created_by);
        share["created_at"] = json!(record.created_at);
        for (key, value) in [
            ("updated_by", &record.updated_by),
            ("updated_at", &record.updated_at),
            ("sessions_valid_after", &record.sessions_valid_after),
        ] {
            if let Some(value) = value {
                share[key] = json!(value);
            }
        }
        share["grantee_setup"] = grantee_setup(&record.spec, &self.config, role_arn);
        share
    }
}

/// A found role as a share to change, or the 409 that says why it cannot be.
fn readable(found: Found) -> Result<(ShareRecord, StoredRole)> {
    match found {
        Found::Share(record, role) => Ok((*record, role)),
        Found::Damaged {
            not_managed: true,
            error,
            ..
        } => Err(ApiError::new(409, "not_managed", error).on("name")),
        Found::Damaged { reason, error, .. } => Err(ApiError::new(
            409,
            "damaged",
            format!(
                "the share is damaged ({reason}: {error}); PUT the share to heal it, or DELETE it"
            ),
        )
        .on("name")),
    }
}

/// IAM refuses a trust policy naming a principal it does not know
/// (`MalformedPolicyDocument: Invalid principal in policy: …`): that is the
/// caller's input, a 400 naming the principal, not a 502.
fn principal_error(error: StoreError, spec: &ShareSpec) -> ApiError {
    if let StoreError::Failed { message, .. } | StoreError::Rejected { message, .. } = &error {
        if message.starts_with("MalformedPolicyDocument")
            && message.to_ascii_lowercase().contains("principal")
        {
            let field = match spec
                .grantee_principals
                .iter()
                .position(|p| message.contains(p.as_str()))
            {
                Some(i) => format!("grantee_principals[{i}]"),
                None => "grantee_principals".to_string(),
            };
            eprintln!(
                "{}",
                json!({"event": "aws_error", "call": error.call(), "error": error.to_string()})
            );
            return ApiError::new(
                400,
                "invalid_field",
                format!("{field}: IAM does not know this principal (it must exist before it can be trusted)"),
            )
            .on(&field);
        }
    }
    error.into()
}

/// Which parts of a share's record IAM holds (see `Provisioner::holds`).
struct Held {
    trust: bool,
    route: bool,
    policy: bool,
}

impl Held {
    fn all(&self) -> bool {
        self.trust && self.route && self.policy
    }
}

/// How long a sweep may run before leaving the rest to the next one (the
/// function's timeout is 29 s, set for API Gateway).
pub const SWEEP_BUDGET: std::time::Duration = std::time::Duration::from_secs(20);

/// EventBridge's `Scheduled Event`: who scheduled it (the rule's ARN, else
/// `aws.events`), for the audit lines. API Gateway events never carry a
/// top-level `source`, so no request can pass for one; and a forged one
/// (needs `lambda:InvokeFunction`) only deletes what has expired anyway.
fn scheduled_by(event: &Value) -> Option<String> {
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

/// `GET /shares` page sizes.
const DEFAULT_PAGE: usize = 50;
const MAX_PAGE: usize = 100;

/// The `next` token: the last name of the page, opaque to callers.
fn page_token(last_name: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(last_name)
}

fn page_token_name(token: &str) -> Option<String> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()?;
    String::from_utf8(bytes)
        .ok()
        .filter(|name| validate_name(name).is_ok())
}

fn method_not_allowed(allow: &'static str) -> ApiError {
    ApiError::new(
        405,
        "method_not_allowed",
        format!("allowed methods: {allow}"),
    )
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

/// How long after a trust change old principals may still assume through
/// the stale trust: IAM is eventually consistent and applies a change
/// within seconds, so sessions issued inside this margin are denied too
/// (grantees assume again once it has passed).
pub const PROPAGATION_MARGIN: time::Duration = time::Duration::seconds(15);

/// The moment from which sessions are valid again: a propagation margin
/// after now, rounded up to the next whole second (`aws:TokenIssueTime`
/// has sub-second precision).
fn revocation_moment() -> String {
    rfc3339(time::OffsetDateTime::now_utc() + PROPAGATION_MARGIN + time::Duration::SECOND)
}

/// One structured log line per request.
fn log_request(request: &ApiRequest, response: &ApiResponse) {
    println!(
        "{}",
        json!({"event": "request", "method": request.method, "path": request.path,
               "status": response.status, "caller": request.caller})
    );
}

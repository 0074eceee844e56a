//! The provisioner: the share API (create, read, replace, revoke) behind API
//! Gateway. A share is one IAM role; IAM is the only store.

mod http;

use serde_json::{json, Value};
use trailshare::config::Config;
use trailshare::policy::{grantee_setup, read_policy, trust_policy, READ_POLICY_NAME};
use trailshare::record::{role_name, share_name, RecordError, ShareRecord};
use trailshare::share::{validate, validate_name, Invalid, ShareSpec};
use trailshare::store::{RoleDraft, RoleStore, StoreError, StoredRole};

pub use crate::http::{ApiRequest, ApiResponse};

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The share API over a role store. Built once per process.
pub struct Provisioner<S> {
    store: S,
    config: Config,
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

    fn not_found(name: &str) -> ApiError {
        ApiError {
            field: Some("name".into()),
            ..ApiError::new(404, "not_found", format!("no share named {name}"))
        }
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

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        match error {
            StoreError::Throttled { .. } => ApiError::new(503, "aws_throttled", error.to_string()),
            _ => ApiError::new(502, "aws_error", error.to_string()),
        }
    }
}

impl From<RecordError> for ApiError {
    fn from(error: RecordError) -> ApiError {
        match error {
            RecordError::TooLarge => ApiError::new(400, "too_large", error.to_string()),
            _ => ApiError::new(500, "damaged_share", error.to_string()),
        }
    }
}

type Result<T> = std::result::Result<T, ApiError>;

/// Which route a request is for.
enum Route {
    Collection,
    Item(String),
}

impl<S: RoleStore> Provisioner<S> {
    pub fn new(store: S, config: Config) -> Provisioner<S> {
        Provisioner { store, config }
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
        let response = self.route(request).await.unwrap_or_else(ApiError::response);
        log_request(request, &response);
        response
    }

    async fn route(&self, request: &ApiRequest) -> Result<ApiResponse> {
        let route = match request.shares_route() {
            Some(None) => Route::Collection,
            Some(Some(name)) => Route::Item(name),
            None => {
                return Err(ApiError::new(
                    404,
                    "no_route",
                    format!("no route for {}", request.path),
                ))
            }
        };
        match (route, request.method.as_str()) {
            (Route::Collection, "GET") => self.list().await,
            (Route::Collection, "POST") => {
                let spec = validate(&request.json_body()?, None, &self.config.trail_bucket)?;
                let share = self.create(spec, &request.caller).await?;
                Ok(ApiResponse::json(201, &share))
            }
            (Route::Item(name), "GET") => {
                validate_name(&name)?;
                let (record, role) = self
                    .find(&name)
                    .await?
                    .ok_or_else(|| ApiError::not_found(&name))?;
                Ok(ApiResponse::json(200, &self.render(&record, &role.arn)))
            }
            (Route::Item(name), "PUT") => {
                validate_name(&name)?;
                let spec = validate(
                    &request.json_body()?,
                    Some(&name),
                    &self.config.trail_bucket,
                )?;
                self.put(spec, &request.caller).await
            }
            (Route::Item(name), "DELETE") => {
                validate_name(&name)?;
                self.find(&name)
                    .await?
                    .ok_or_else(|| ApiError::not_found(&name))?;
                match self.store.delete(&role_name(&name)).await? {
                    true => Ok(ApiResponse::empty(204)),
                    false => Err(ApiError::not_found(&name)),
                }
            }
            (Route::Collection, _) => Err(method_not_allowed("GET, POST")),
            (Route::Item(_), _) => Err(method_not_allowed("GET, PUT, DELETE")),
        }
    }

    async fn list(&self) -> Result<ApiResponse> {
        let mut shares = Vec::new();
        for role in self.store.list(&self.config.share_role_path).await? {
            // Roles on the path that are not (readable) shares are not listed.
            if let Ok(record) = ShareRecord::from_tags(&role.role_name, role.tag_pairs()) {
                shares.push((record.spec.name.clone(), self.render(&record, &role.arn)));
            }
        }
        shares.sort_by(|a, b| a.0.cmp(&b.0));
        let shares: Vec<Value> = shares.into_iter().map(|(_, share)| share).collect();
        Ok(ApiResponse::json(200, &json!({ "shares": shares })))
    }

    /// The share `name`, if a role on the share path records it.
    async fn find(&self, name: &str) -> Result<Option<(ShareRecord, StoredRole)>> {
        let Some(role) = self
            .store
            .get(&self.config.share_role_path, &role_name(name))
            .await?
        else {
            return Ok(None);
        };
        match ShareRecord::from_tags(&role.role_name, role.tag_pairs()) {
            Ok(record) => Ok(Some((record, role))),
            Err(RecordError::NotAShare) => Ok(None),
            Err(other) => Err(other.into()),
        }
    }

    async fn create(&self, spec: ShareSpec, caller: &str) -> Result<Value> {
        let record = ShareRecord {
            spec,
            created_by: caller.to_string(),
            created_at: now_rfc3339(),
        };
        let draft = self.draft(&record)?;
        match self.store.create(&draft).await {
            Ok(role) => Ok(self.render(&record, &role.arn)),
            Err(StoreError::AlreadyExists { .. }) => Err(ApiError {
                field: Some("name".into()),
                ..ApiError::new(
                    409,
                    "conflict",
                    format!("a role named {} already exists", draft.role_name),
                )
            }),
            Err(other) => Err(other.into()),
        }
    }

    /// Create or replace. The same body twice changes nothing: an unchanged
    /// share makes no write at all, and keeps who created it and when.
    async fn put(&self, spec: ShareSpec, caller: &str) -> Result<ApiResponse> {
        let Some(role) = self
            .store
            .get(&self.config.share_role_path, &role_name(&spec.name))
            .await?
        else {
            return Ok(ApiResponse::json(201, &self.create(spec, caller).await?));
        };
        let current = match ShareRecord::from_tags(&role.role_name, role.tag_pairs()) {
            Ok(current) => current,
            Err(RecordError::NotAShare) => {
                return Err(ApiError::new(
                    409,
                    "conflict",
                    format!("{} exists but is not a trailshare share", role.role_name),
                ));
            }
            Err(other) => return Err(other.into()),
        };
        if current.spec == spec {
            return Ok(ApiResponse::json(200, &self.render(&current, &role.arn)));
        }
        let record = ShareRecord { spec, ..current };
        let updated = self.store.replace(&self.draft(&record)?, &role).await?;
        Ok(ApiResponse::json(200, &self.render(&record, &updated.arn)))
    }

    fn draft(&self, record: &ShareRecord) -> Result<RoleDraft> {
        let spec = &record.spec;
        Ok(RoleDraft {
            role_name: role_name(&spec.name),
            path: self.config.share_role_path.clone(),
            description: format!(
                "trailshare: read-only CloudTrail logs for account {}",
                spec.grantee_account
            ),
            trust_policy: trust_policy(spec).to_string(),
            read_policy_name: READ_POLICY_NAME.to_string(),
            read_policy: read_policy(spec, &self.config).to_string(),
            permissions_boundary: self.config.permissions_boundary_arn.clone(),
            max_session_seconds: spec.max_session_seconds as i32,
            tags: record.to_tags()?,
        })
    }

    /// The share as the API returns it.
    fn render(&self, record: &ShareRecord, role_arn: &str) -> Value {
        let mut share = serde_json::to_value(&record.spec).expect("a share spec serialises");
        share["role_arn"] = json!(role_arn);
        share["created_by"] = json!(record.created_by);
        share["created_at"] = json!(record.created_at);
        share["grantee_setup"] = grantee_setup(&record.spec, &self.config, role_arn);
        debug_assert_eq!(
            share_name(&role_name(&record.spec.name)),
            Some(record.spec.name.as_str())
        );
        share
    }
}

fn method_not_allowed(allow: &'static str) -> ApiError {
    ApiError::new(
        405,
        "method_not_allowed",
        format!("allowed methods: {allow}"),
    )
}

fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .expect("0 is a valid nanosecond");
    now.format(&time::format_description::well_known::Rfc3339)
        .expect("RFC 3339 formats any UTC time")
}

/// One structured log line per request.
fn log_request(request: &ApiRequest, response: &ApiResponse) {
    println!(
        "{}",
        json!({"event": "request", "method": request.method, "path": request.path,
               "status": response.status, "caller": request.caller})
    );
}

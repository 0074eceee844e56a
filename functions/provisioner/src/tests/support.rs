//! What every provisioner unit test stands on: the stack's settings, an API
//! over `MemRoles` with an audit trail, requests, and a small evaluator of
//! the documents the store holds (who may assume, what a session reads).

use std::sync::{Arc, Mutex};

use serde_json::Value;
use trailshare::config::Config;
use trailshare::ports::AwsError;
use trailshare::seal::ShareKey;
use trailshare::share::ShareSpec;
use trailshare::testkit::{MemRole, MemRoles};

use crate::{ApiRequest, Provisioner};

pub(super) const ADMIN: &str = "arn:aws:iam::111111111111:user/platform-admin";
pub(super) const B: &str = "222222222222";
pub(super) const C: &str = "333333333333";
pub(super) const D: &str = "555555555555";

/// The stack's share secret in these tests.
pub(super) fn key() -> ShareKey {
    ShareKey::new(*b"provisioner unit tests' key 32B!").unwrap()
}

pub(super) fn config(extra: &[(&str, &str)]) -> Config {
    let mut vars = vec![
        ("TRAIL_BUCKET", "trail-bucket"),
        ("ADMIN_PRINCIPALS", ADMIN),
        (
            "PERMISSIONS_BOUNDARY_ARN",
            "arn:aws:iam::111111111111:policy/boundary",
        ),
    ];
    vars.extend_from_slice(extra);
    Config::from_lookup(|name| {
        vars.iter()
            .rev()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    })
    .unwrap()
}

/// The administrators' roles of these tests: (name, path).
pub(super) const ADMIN_ROLES: &[(&str, &str)] = &[
    ("Admin", "/platform/"),
    (
        "AWSReservedSSO_Admin_5f1e2d",
        "/aws-reserved/sso.amazonaws.com/",
    ),
];

pub(super) struct Api {
    pub(super) store: Arc<MemRoles>,
    pub(super) provisioner: Provisioner<Arc<MemRoles>, trailshare::ports::NoQueue, Arc<MemRoles>>,
    pub(super) audit: Arc<Mutex<Vec<Value>>>,
}

pub(super) fn api(config: Config) -> Api {
    let store = Arc::new(MemRoles::default().with_paths(ADMIN_ROLES));
    let audit = Arc::new(Mutex::new(Vec::new()));
    let sink = audit.clone();
    Api {
        provisioner: Provisioner::new(store.clone(), config, key())
            .with_role_paths(store.clone())
            .with_audit(Box::new(move |line| {
                sink.lock().unwrap().push(line.clone())
            })),
        store,
        audit,
    }
}

impl Api {
    pub(super) async fn call_as(
        &self,
        caller: &str,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> (u16, Value) {
        let response = self
            .provisioner
            .handle(&request(caller, method, path, body))
            .await;
        (response.status, response.body.unwrap_or(Value::Null))
    }

    pub(super) async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let body = body.map(|b| b.to_string());
        self.call_as(ADMIN, method, path, body.as_deref()).await
    }

    /// PUT `/shares/{name}` of a share that is new: a 201.
    pub(super) async fn put_new(&self, name: &str, body: Value) {
        let (status, response) = self
            .call("PUT", &format!("/shares/{name}"), Some(body))
            .await;
        assert_eq!(status, 201, "{name}: {response}");
    }
}

/// An IAM failure for `MemRoles::fail_write` (which names the call).
pub(super) fn failed(message: &str) -> AwsError {
    AwsError::Failed {
        call: "",
        message: message.into(),
    }
}

/// IAM throttling for `MemRoles::fail_write` (which names the call).
pub(super) fn throttled(message: &str) -> AwsError {
    AwsError::Throttled {
        call: "",
        message: message.into(),
    }
}

/// A request from `caller`; `path` may end in a query (`?limit=3`).
pub(super) fn request(caller: &str, method: &str, path: &str, body: Option<&str>) -> ApiRequest {
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    ApiRequest {
        method: method.into(),
        path: path.into(),
        query: query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        path_name: None,
        content_type: Some("application/json".into()),
        body: body.map(|b| b.as_bytes().to_vec()),
        caller: caller.into(),
        stage: None,
    }
}

/// The route the provisioner seals into `role`'s description for `spec`.
pub(super) fn describe(spec: &ShareSpec, role: &MemRole) -> String {
    trailshare::route::describe(spec, &key(), role.stored.identity())
}

pub(super) fn spec(body: &Value) -> ShareSpec {
    trailshare::share::validate(body, None, "trail-bucket").unwrap()
}

pub(super) fn principal(name: &str) -> String {
    format!("arn:aws:iam::{B}:role/{name}")
}

/// Now, as IAM's `aws:CurrentTime` compares it (RFC 3339, whole seconds).
fn now() -> String {
    crate::now_rfc3339()
}

/// RFC 3339, `seconds` from now (negative: in the past).
pub(super) fn from_now(seconds: i64) -> String {
    crate::rfc3339(time::OffsetDateTime::now_utc() + time::Duration::seconds(seconds))
}

pub(super) fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items.iter().flat_map(strings).collect(),
        _ => vec![],
    }
}

/// Whether `principal` may assume the role now. The worst case: the
/// principal knows every external id there ever was.
pub(super) fn may_assume(role: &MemRole, principal: &str) -> bool {
    role.trust["Statement"].as_array().unwrap().iter().any(|s| {
        s["Effect"] == "Allow"
            && strings(&s["Principal"]["AWS"])
                .iter()
                .any(|p| p == principal)
    })
}

/// Whether a session issued at `issued` (RFC 3339) reads `account`'s log file.
pub(super) fn session_reads(role: &MemRole, issued: &str, account: &str) -> bool {
    let object = format!(
        "arn:aws:s3:::trail-bucket/AWSLogs/{account}/CloudTrail/us-east-1/2024/05/01/f.json.gz"
    );
    let statements: Vec<&Value> = role
        .policies
        .values()
        .flat_map(|p| p["Statement"].as_array().unwrap())
        .collect();
    let applies = |s: &Value| {
        let action = strings(&s["Action"]);
        let resource = strings(&s["Resource"]);
        action.iter().any(|a| a == "*" || a == "s3:GetObject")
            && resource
                .iter()
                .any(|r| trailshare::ids::iam_like(r, &object))
    };
    let denied = statements.iter().any(|s| {
        s["Effect"] == "Deny"
            && applies(s)
            && match s.get("Condition") {
                None => true,
                Some(condition) => {
                    let keys = condition.as_object().unwrap();
                    assert_eq!(
                        keys.len(),
                        1,
                        "only the session and expiry denies are conditional: {condition}"
                    );
                    if let Some(expires) =
                        condition["DateGreaterThanEquals"]["aws:CurrentTime"].as_str()
                    {
                        return now().as_str() >= expires;
                    }
                    let before = condition["DateLessThan"]["aws:TokenIssueTime"]
                        .as_str()
                        .expect("a TokenIssueTime deny");
                    issued < before
                }
            }
    });
    !denied
        && statements
            .iter()
            .any(|s| s["Effect"] == "Allow" && s.get("Condition").is_none() && applies(s))
}

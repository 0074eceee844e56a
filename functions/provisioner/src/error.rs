//! Request failures, rendered as `{"error": {"code", "message", "field"}}`.

use serde_json::json;
use trailshare::ports::AwsError;
use trailshare::record::RecordError;
use trailshare::share::{Invalid, ShareSpec};

use crate::ApiResponse;

/// A request failure, rendered as `{"error": {"code", "message", "field"}}`.
#[derive(Debug)]
pub struct ApiError {
    pub(crate) status: u16,
    pub(crate) code: &'static str,
    pub(crate) message: String,
    pub(crate) field: Option<String>,
}

impl ApiError {
    pub(crate) fn new(status: u16, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    pub(crate) fn on(mut self, field: &str) -> ApiError {
        self.field = Some(field.to_string());
        self
    }

    pub(crate) fn not_found(name: &str) -> ApiError {
        ApiError::new(404, "not_found", format!("no share named {name}")).on("name")
    }

    pub(crate) fn response(self) -> ApiResponse {
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
pub(crate) fn aws_code(error: &AwsError) -> String {
    let text = match error {
        AwsError::NotFound { .. } => return "NoSuchEntity".into(),
        AwsError::AlreadyExists { .. } => return "EntityAlreadyExists".into(),
        AwsError::Throttled { message, .. }
        | AwsError::Denied { message, .. }
        | AwsError::Failed { message, .. }
        | AwsError::Rejected { message, .. } => message,
        AwsError::NotConfigured { .. } | AwsError::Refused { .. } => {
            return "no error code (not an AWS call)".into()
        }
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

impl From<AwsError> for ApiError {
    fn from(error: AwsError) -> ApiError {
        trailshare::telemetry::error(
            &json!({"event": "aws_error", "call": error.call(), "error": error.to_string()}),
        );
        let message = format!("{} failed: {}", error.call(), aws_code(&error));
        match error {
            AwsError::Throttled { .. } => ApiError::new(503, "aws_throttled", message),
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

pub(crate) type Result<T> = std::result::Result<T, ApiError>;

/// IAM refuses a trust policy naming a principal it does not know
/// (`MalformedPolicyDocument: Invalid principal in policy: …`): that is the
/// caller's input, a 400 naming the principal, not a 502.
pub(crate) fn principal_error(error: AwsError, spec: &ShareSpec) -> ApiError {
    if let AwsError::Failed { message, .. } | AwsError::Rejected { message, .. } = &error {
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
            trailshare::telemetry::error(
                &json!({"event": "aws_error", "call": error.call(), "error": error.to_string()}),
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

pub(crate) fn method_not_allowed(allow: &'static str) -> ApiError {
    ApiError::new(
        405,
        "method_not_allowed",
        format!("allowed methods: {allow}"),
    )
}

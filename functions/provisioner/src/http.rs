//! API Gateway in and out: HTTP API (payload 2.0) and REST (v1 proxy)
//! events become one `ApiRequest`; every `ApiResponse` suits both.

use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayV2httpRequest};
use aws_lambda_events::http::HeaderMap;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

use crate::{ApiError, MAX_BODY_BYTES};

/// The parts of an API Gateway request the API uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRequest {
    pub method: String,
    pub path: String,
    /// `{name}` as API Gateway matched it, when it did.
    pub path_name: Option<String>,
    pub content_type: Option<String>,
    pub body: Option<Vec<u8>>,
    /// The IAM caller, from the request context (API uses `AWS_IAM` auth).
    pub caller: String,
}

impl ApiRequest {
    /// Reads an HTTP API 2.0 or a REST v1 proxy event.
    pub fn from_event(event: Value) -> Result<ApiRequest, String> {
        let (method, path, path_params, headers, body, encoded, caller) =
            if event.get("version").and_then(Value::as_str) == Some("2.0") {
                let e: ApiGatewayV2httpRequest =
                    serde_json::from_value(event).map_err(|e| format!("HTTP API event: {e}"))?;
                let caller = e
                    .request_context
                    .authorizer
                    .and_then(|a| a.iam)
                    .and_then(|iam| iam.user_arn);
                let path = e
                    .raw_path
                    .unwrap_or(e.request_context.http.path.unwrap_or_default());
                (
                    e.request_context.http.method.to_string(),
                    path,
                    e.path_parameters,
                    e.headers,
                    e.body,
                    e.is_base64_encoded,
                    caller,
                )
            } else if event.get("httpMethod").is_some() {
                let e: ApiGatewayProxyRequest =
                    serde_json::from_value(event).map_err(|e| format!("REST API event: {e}"))?;
                let caller = e.request_context.identity.user_arn;
                (
                    e.http_method.to_string(),
                    e.path.unwrap_or_default(),
                    e.path_parameters,
                    e.headers,
                    e.body,
                    e.is_base64_encoded,
                    caller,
                )
            } else {
                return Err("not an API Gateway HTTP API (2.0) or REST (v1 proxy) event".into());
            };
        let body = match body {
            None => None,
            Some(text) if encoded => Some(
                STANDARD
                    .decode(text)
                    .map_err(|e| format!("base64 body: {e}"))?,
            ),
            Some(text) => Some(text.into_bytes()),
        };
        Ok(ApiRequest {
            method,
            path,
            path_name: path_params.get("name").cloned(),
            content_type: header(&headers, "content-type"),
            body,
            caller: caller.unwrap_or_else(|| "unknown".to_string()),
        })
    }

    /// `Some(None)` for `/shares`, `Some(Some(name))` for `/shares/{name}`
    /// (whatever stage prefix the path has), `None` for anything else.
    pub fn shares_route(&self) -> Option<Option<String>> {
        let segments: Vec<&str> = self.path.trim_end_matches('/').split('/').collect();
        match segments.as_slice() {
            [.., "shares"] => Some(None),
            [.., "shares", name] => Some(Some(
                self.path_name
                    .clone()
                    .unwrap_or_else(|| percent_decode(name)),
            )),
            _ => None,
        }
    }

    /// The body as JSON: 413 when too large, 415 when it is not JSON.
    pub fn json_body(&self) -> Result<Value, ApiError> {
        let body = self.body.as_deref().unwrap_or_default();
        if body.len() > MAX_BODY_BYTES {
            return Err(ApiError::new(
                413,
                "too_large",
                format!("the body is over {MAX_BODY_BYTES} bytes"),
            ));
        }
        if let Some(content_type) = &self.content_type {
            let essence = content_type
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            if essence != "application/json" && !essence.ends_with("+json") {
                return Err(ApiError::new(
                    415,
                    "unsupported_media_type",
                    format!("content-type {content_type} is not JSON"),
                ));
            }
        }
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError {
                field: Some(String::new()),
                ..ApiError::new(400, "invalid_body", "the body must be a JSON object")
            });
        }
        serde_json::from_slice(body)
            .map_err(|e| ApiError::new(415, "not_json", format!("the body is not JSON: {e}")))
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

/// A response in the shape both API Gateway payload versions accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiResponse {
    pub status: u16,
    pub body: Option<Value>,
}

impl ApiResponse {
    pub fn json(status: u16, body: &Value) -> ApiResponse {
        ApiResponse {
            status,
            body: Some(body.clone()),
        }
    }

    pub fn empty(status: u16) -> ApiResponse {
        ApiResponse { status, body: None }
    }

    pub fn to_value(&self) -> Value {
        match &self.body {
            Some(body) => {
                json!({"statusCode": self.status, "headers": {"content-type": "application/json"},
                                 "body": body.to_string(), "isBase64Encoded": false})
            }
            None => {
                json!({"statusCode": self.status, "headers": {}, "body": "", "isBase64Encoded": false})
            }
        }
    }
}

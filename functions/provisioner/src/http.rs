//! API Gateway in and out: HTTP API (payload 2.0) and REST (v1 proxy)
//! events become one `ApiRequest`; every `ApiResponse` suits both.

use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayV2httpRequest};
use aws_lambda_events::http::HeaderMap;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{json, Value};
use std::cell::RefCell;

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
    /// The API stage, when the path starts with it (not `$default`).
    pub stage: Option<String>,
    /// Query-string parameters (the first value of each).
    pub query: Vec<(String, String)>,
}

/// Every (method, path) the function serves, in API Gateway's route syntax.
/// `template.yaml` must route exactly these (plus an `ANY` fallback per
/// path, so other methods get a 405): API Gateway answers 404 for any route
/// it lacks before the function runs. Checked against the router and the
/// template by `tests::routes`.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/shares"),
    ("POST", "/shares"),
    ("GET", "/shares/{name}"),
    ("PUT", "/shares/{name}"),
    ("DELETE", "/shares/{name}"),
    ("POST", "/shares/{name}/revoke-sessions"),
    ("POST", "/shares/{name}/backfill"),
    ("GET", "/shares/{name}/backfill/{id}"),
    ("DELETE", "/shares/{name}/backfill/{id}"),
    ("GET", "/shares/{name}/activity"),
];

/// What a request is about; routes match exactly, so a share may be named
/// `shares` or `revoke-sessions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/shares`
    Collection,
    /// `/shares/{name}`
    Item(String),
    /// `/shares/{name}/revoke-sessions`
    RevokeSessions(String),
    /// `/shares/{name}/backfill`
    Backfill(String),
    /// `/shares/{name}/backfill/{id}`: one run
    BackfillRun(String, String),
    /// `/shares/{name}/activity`: who used the share
    Activity(String),
}

impl ApiRequest {
    /// Reads an HTTP API 2.0 or a REST v1 proxy event.
    pub fn from_event(event: Value) -> Result<ApiRequest, String> {
        let (method, path, path_params, headers, body, encoded, caller, stage, query) =
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
                    e.request_context.stage,
                    e.query_string_parameters,
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
                    e.request_context.stage,
                    e.query_string_parameters,
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
            stage: stage.filter(|s| !s.is_empty() && s != "$default"),
            query: query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        })
    }

    /// The first value of query parameter `name`.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The route of the path (after the stage, if the path carries it),
    /// matched segment by segment; `None` for anything else.
    pub fn route(&self) -> Option<Route> {
        let mut path = self.path.as_str();
        if let Some(stage) = &self.stage {
            if let Some(rest) = path
                .strip_prefix('/')
                .and_then(|p| p.strip_prefix(stage.as_str()))
                .filter(|rest| rest.starts_with('/'))
            {
                path = rest;
            }
        }
        let path = path
            .strip_suffix('/')
            .filter(|p| !p.is_empty())
            .unwrap_or(path);
        let segments: Vec<&str> = path.split('/').collect();
        let name = |segment: &str| {
            self.path_name
                .clone()
                .unwrap_or_else(|| percent_decode(segment))
        };
        match segments.as_slice() {
            ["", "shares"] => Some(Route::Collection),
            ["", "shares", item] if !item.is_empty() => Some(Route::Item(name(item))),
            ["", "shares", item, "revoke-sessions"] if !item.is_empty() => {
                Some(Route::RevokeSessions(name(item)))
            }
            ["", "shares", item, "backfill"] if !item.is_empty() => {
                Some(Route::Backfill(name(item)))
            }
            ["", "shares", item, "activity"] if !item.is_empty() => {
                Some(Route::Activity(name(item)))
            }
            ["", "shares", item, "backfill", id] if !item.is_empty() && !id.is_empty() => {
                Some(Route::BackfillRun(name(item), percent_decode(id)))
            }
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
        parse_strict(body)
    }
}

/// Parses JSON, refusing a key given twice: serde_json keeps the last one,
/// so `{"log_accounts": [...], "log_accounts": ["*"]}` would silently pass
/// whichever copy a reviewer did not read.
fn parse_strict(body: &[u8]) -> Result<Value, ApiError> {
    let duplicate = RefCell::new(None);
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let parsed = Strict {
        path: String::new(),
        duplicate: &duplicate,
    }
    .deserialize(&mut deserializer)
    .and_then(|value| deserializer.end().map(|_| value));
    if let Some(field) = duplicate.into_inner() {
        return Err(ApiError {
            field: Some(field),
            ..ApiError::new(400, "duplicate_key", "a key is given twice")
        });
    }
    parsed.map_err(|e| {
        ApiError::new(
            400,
            "invalid_json",
            format!("the body is not valid JSON: {e}"),
        )
    })
}

/// A `serde_json::Value` seed that notes the first duplicate key's path.
struct Strict<'a> {
    path: String,
    duplicate: &'a RefCell<Option<String>>,
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Strict {
            path: format!("{}[{}]", self.path, items.len()),
            duplicate: self.duplicate,
        })? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = if self.path.is_empty() {
                key.clone()
            } else {
                format!("{}.{key}", self.path)
            };
            if object.contains_key(&key) {
                self.duplicate.borrow_mut().get_or_insert(path);
                return Err(serde::de::Error::custom("duplicate key"));
            }
            let value = map.next_value_seed(Strict {
                path,
                duplicate: self.duplicate,
            })?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
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

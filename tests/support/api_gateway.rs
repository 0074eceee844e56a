//! A local stand-in for API Gateway (HTTP API, IAM auth) in front of the
//! provisioner: it checks each request's SigV4 signature by recomputing it
//! with aws-sigv4 for the keys it knows (403 if it does not match, as API
//! Gateway answers), turns the request into a payload 2.0 event whose
//! `requestContext.authorizer.iam.userArn` is the signer's ARN, and returns
//! the handler's answer. Every request is recorded for assertions.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4::SigningParams;
use aws_smithy_runtime_api::client::identity::Identity;
use serde_json::{json, Value};

/// An access key the gateway accepts, and whose ARN it reports.
#[derive(Clone, Debug)]
pub struct TestKey {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub caller_arn: String,
}

impl TestKey {
    pub fn new(id: &str, secret: &str, caller_arn: &str) -> TestKey {
        TestKey {
            access_key_id: id.into(),
            secret_access_key: secret.into(),
            caller_arn: caller_arn.into(),
        }
    }
}

/// One request as the gateway saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    /// Path and query string, as sent.
    pub target: String,
    pub body: String,
    pub content_type: Option<String>,
    /// The signer's ARN when the signature was good.
    pub caller: Option<String>,
    pub status: u16,
}

/// Handles one API Gateway event, answering with a Lambda proxy response.
pub type Handler = Arc<dyn Fn(Value) -> Pin<Box<dyn Future<Output = Value> + Send>> + Send + Sync>;

/// A `Handler` from an async function or closure.
pub fn handler<F, Fut>(f: F) -> Handler
where
    F: Fn(Value) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Value> + Send + 'static,
{
    Arc::new(move |event| Box::pin(f(event)))
}

/// A running gateway on 127.0.0.1; stopped on drop.
pub struct ApiGateway {
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for ApiGateway {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl ApiGateway {
    /// Starts the gateway. The handler runs on the gateway's own runtime,
    /// so whatever SDK clients it uses make their connections there.
    pub fn start(keys: Vec<TestKey>, handler: Handler) -> ApiGateway {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind 127.0.0.1"));
        let port = server.server_addr().to_ip().expect("an IP address").port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let keys: HashMap<String, TestKey> = keys
            .into_iter()
            .map(|k| (k.access_key_id.clone(), k))
            .collect();
        let thread = {
            let (server, seen) = (server.clone(), seen.clone());
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                    .expect("gateway runtime");
                for request in server.incoming_requests() {
                    serve(request, &keys, &handler, &runtime, &seen);
                }
            })
        };
        ApiGateway {
            url: format!("http://127.0.0.1:{port}"),
            seen,
            server,
            thread: Some(thread),
        }
    }

    /// Every request so far, oldest first.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("seen").clone()
    }
}

fn serve(
    mut request: tiny_http::Request,
    keys: &HashMap<String, TestKey>,
    handler: &Handler,
    runtime: &tokio::runtime::Runtime,
    seen: &Mutex<Vec<Seen>>,
) {
    let mut body = Vec::new();
    let _ = request.as_reader().read_to_end(&mut body);
    let method = request.method().as_str().to_string();
    let target = request.url().to_string();
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .map(|h| {
            (
                h.field.as_str().as_str().to_ascii_lowercase(),
                h.value.as_str().to_string(),
            )
        })
        .collect();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let (status, answer, caller) = match verify(&method, &target, &headers, &body, keys) {
        Err(message) => (403, json!({ "message": message }).to_string(), None),
        Ok(key) => {
            let event = event(&method, &target, &headers, &body, key);
            let response = runtime.block_on(handler(event));
            let status = response["statusCode"].as_u64().unwrap_or(502) as u16;
            let body = response["body"].as_str().unwrap_or_default().to_string();
            (status, body, Some(key.caller_arn.clone()))
        }
    };
    seen.lock().expect("seen").push(Seen {
        method,
        target,
        body: String::from_utf8_lossy(&body).into_owned(),
        content_type: header("content-type"),
        caller,
        status,
    });
    let mut response = tiny_http::Response::from_string(answer).with_status_code(status);
    response.add_header(
        tiny_http::Header::from_bytes("content-type", "application/json").expect("header"),
    );
    let _ = request.respond(response);
}

/// The key whose signature this request carries, or API Gateway's message.
fn verify<'k>(
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
    keys: &'k HashMap<String, TestKey>,
) -> Result<&'k TestKey, String> {
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let authorization = header("authorization").ok_or("Missing Authentication Token")?;
    let fields: HashMap<&str, &str> = authorization
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or("Authorization header requires the AWS4-HMAC-SHA256 algorithm")?
        .split(',')
        .filter_map(|part| part.trim().split_once('='))
        .collect();
    let credential = fields.get("Credential").ok_or("no Credential")?;
    let scope: Vec<&str> = credential.split('/').collect();
    let [key_id, _day, region, service, "aws4_request"] = scope.as_slice() else {
        return Err(format!("malformed credential scope {credential}"));
    };
    if *service != "execute-api" {
        return Err(format!(
            "Credential should be scoped to correct service: 'execute-api', not '{service}'"
        ));
    }
    let key = keys
        .get(*key_id)
        .ok_or("The security token included in the request is invalid.")?;
    let signed: Vec<&str> = fields
        .get("SignedHeaders")
        .ok_or("no SignedHeaders")?
        .split(';')
        .collect();
    let date = header("x-amz-date").ok_or("no x-amz-date")?;
    let time = time::OffsetDateTime::parse(
        date,
        &time::format_description::well_known::Iso8601::DEFAULT,
    )
    .map_err(|_| format!("bad x-amz-date {date}"))?;
    let token = header("x-amz-security-token").map(str::to_string);
    let identity = Identity::from(Credentials::new(
        &key.access_key_id,
        &key.secret_access_key,
        token,
        None,
        "gateway",
    ));
    let params = SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("execute-api")
        .time(SystemTime::from(time))
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| e.to_string())?;
    // The signer adds x-amz-date and the token itself; give it the rest of
    // what the client signed.
    let to_sign = headers.iter().filter(|(n, _)| {
        signed.contains(&n.as_str()) && n != "x-amz-date" && n != "x-amz-security-token"
    });
    let host = header("host").unwrap_or("localhost");
    let uri = format!("http://{host}{target}");
    let signable = SignableRequest::new(
        method,
        uri,
        to_sign.map(|(n, v)| (n.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .map_err(|e| e.to_string())?;
    let (_, expected) = sign(signable, &params.into())
        .map_err(|e| e.to_string())?
        .into_parts();
    if fields.get("Signature") != Some(&expected.as_str()) {
        return Err("The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.".into());
    }
    Ok(key)
}

/// The HTTP API payload 2.0 event API Gateway would send.
fn event(
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
    key: &TestKey,
) -> Value {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut parameters = serde_json::Map::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        parameters.insert(decode(name), json!(decode(value)));
    }
    let account = key.caller_arn.split(':').nth(4).unwrap_or_default();
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers.iter().map(|(n, v)| (n.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "requestContext": {
            "accountId": "111111111111", "apiId": "local", "domainName": "127.0.0.1", "domainPrefix": "local",
            "authorizer": {"iam": {"accessKey": key.access_key_id, "accountId": account, "callerId": "AIDALOCAL",
                                   "cognitoIdentity": null, "principalOrgId": null,
                                   "userArn": key.caller_arn, "userId": "AIDALOCAL"}},
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "trailshare"},
            "requestId": "local", "routeKey": "$default", "stage": "$default",
            "time": "01/May/2024:12:00:00 +0000", "timeEpoch": 1714564800000u64
        },
        "isBase64Encoded": false
    });
    if !parameters.is_empty() {
        event["queryStringParameters"] = Value::Object(parameters);
    }
    if !body.is_empty() {
        event["body"] = json!(String::from_utf8_lossy(body));
    }
    event
}

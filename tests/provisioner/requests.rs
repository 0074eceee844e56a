//! What the API answers: every bad input a 4xx naming the field, REST v1
//! events, and IAM's errors (those moto cannot make) as clear answers.

use provisioner::Provisioner;
use serde_json::{json, Value};
use stand_in::{config, share_role, unique, A, B, C, Z};
use trailshare::aws::IamRoles;

use super::{http_event, world, world_with, ADMIN, ROLE_ACTIONS};

/// method, path, body, then the expected status, error code and field.
type BadInput<'a> = (&'a str, &'a str, Value, u16, &'a str, Option<&'a str>);

#[tokio::test]
async fn every_bad_input_is_a_4xx_naming_the_field_and_creates_nothing() {
    let w = world().await;
    let table: Vec<BadInput> = vec![
        (
            "POST",
            "/shares",
            json!({"grantee_account": "2222"}),
            400,
            "invalid_field",
            Some("grantee_account"),
        ),
        (
            "POST",
            "/shares",
            json!({"grantee_account": " 22222222222"}),
            400,
            "invalid_field",
            Some("grantee_account"),
        ),
        (
            "POST",
            "/shares",
            json!({"grantee_account": 222222222222u64}),
            400,
            "invalid_field",
            Some("grantee_account"),
        ),
        (
            "POST",
            "/shares",
            json!({}),
            400,
            "missing_field",
            Some("grantee_account"),
        ),
        (
            "POST",
            "/shares",
            json!({"grantee_account": B, "log_accounts": ["*", C], "external_id": "abc", "name": "x"}),
            400,
            "invalid_field",
            Some("log_accounts[0]"),
        ),
        (
            "POST",
            "/shares",
            json!({"grantee_account": B, "log_accounts": [B, "33333333333"]}),
            400,
            "invalid_field",
            Some("log_accounts[1]"),
        ),
        (
            "POST",
            "/shares",
            json!({"grantee_account": Z, "log_accounts": ["*"], "name": "z"}),
            400,
            "missing_field",
            Some("external_id"),
        ),
        (
            "POST",
            "/shares",
            json!({"grantee_account": Z, "log_accounts": [B], "name": "z", "external_id": "bad id!"}),
            400,
            "invalid_field",
            Some("external_id"),
        ),
        (
            "POST",
            "/shares",
            json!({"grantee_account": B, "grantee_principals": [format!("arn:aws:iam::{C}:role/x")]}),
            400,
            "invalid_field",
            Some("grantee_principals[0]"),
        ),
        (
            "POST",
            "/shares",
            json!({"grantee_account": B, "max_session_seconds": 60}),
            400,
            "invalid_field",
            Some("max_session_seconds"),
        ),
        (
            "POST",
            "/shares",
            json!({"grantee_account": B, "max_session_seconds": 50000}),
            400,
            "invalid_field",
            Some("max_session_seconds"),
        ),
        (
            "POST",
            "/shares",
            json!({"grantee_account": B, "delivery": {"mode": "copy", "bucket": w.bucket}}),
            400,
            "invalid_field",
            Some("delivery.bucket"),
        ),
        (
            "POST",
            "/shares",
            json!({"grantee_account": B, "log_account": [C]}),
            400,
            "unknown_field",
            Some("log_account"),
        ),
        (
            "POST",
            "/shares",
            json!({"grantee_account": B, "name": "no spaces"}),
            400,
            "invalid_field",
            Some("name"),
        ),
        (
            "POST",
            "/shares",
            json!([1, 2]),
            400,
            "invalid_body",
            Some(""),
        ),
        (
            "PUT",
            "/shares/bad%20name",
            json!({"grantee_account": B}),
            400,
            "invalid_field",
            Some("name"),
        ),
        (
            "PUT",
            "/shares/bu-b",
            json!({"grantee_account": B, "name": "bu-c"}),
            400,
            "invalid_field",
            Some("name"),
        ),
        (
            "GET",
            "/shares/bad*name",
            Value::Null,
            400,
            "invalid_field",
            Some("name"),
        ),
        (
            "PATCH",
            "/shares/bu-b",
            Value::Null,
            405,
            "method_not_allowed",
            None,
        ),
        (
            "DELETE",
            "/shares",
            Value::Null,
            405,
            "method_not_allowed",
            None,
        ),
        ("GET", "/grants", Value::Null, 404, "no_route", None),
        (
            "GET",
            "/prod/shares/x/y",
            Value::Null,
            404,
            "no_route",
            None,
        ),
        (
            "GET",
            "/shares/bu-b/revoke-sessions",
            Value::Null,
            405,
            "method_not_allowed",
            None,
        ),
        (
            "PUT",
            "/shares/Bu-B",
            json!({"grantee_account": B}),
            400,
            "invalid_field",
            Some("name"),
        ),
        (
            "POST",
            "/shares",
            json!({"grantee_account": B, "delivery": {"mode": "copy", "bucket": "b-logs", "role_arn": format!("arn:aws:iam::{C}:role/writer")}}),
            400,
            "invalid_field",
            Some("delivery.role_arn"),
        ),
        (
            "POST",
            "/shares",
            json!({"grantee_account": B, "delivery": {"mode": "copy", "bucket": "b-logs", "prefix": "${aws:username}/"}}),
            400,
            "invalid_field",
            Some("delivery.prefix"),
        ),
        (
            "POST",
            "/shares",
            json!({"grantee_account": Z, "name": "wide", "external_id": "z-ext", "log_accounts": (0..150).map(|i| format!("{:012}", 500_000_000_000u64 + i)).collect::<Vec<_>>()}),
            400,
            "too_large",
            Some("log_accounts"),
        ),
        (
            "POST",
            "/shares",
            json!({"grantee_account": B, "grantee_principals": (0..60).map(|i| format!("arn:aws:iam::{B}:role/reader-{i:03}")).collect::<Vec<_>>()}),
            400,
            "too_large",
            Some("grantee_principals"),
        ),
        (
            "GET",
            "/shares/nobody",
            Value::Null,
            404,
            "not_found",
            Some("name"),
        ),
    ];
    for (method, path, body, status, code, field) in table {
        let body = (!body.is_null()).then_some(body);
        let (got, response) = w.call(method, path, body.clone()).await;
        assert_eq!(got, status, "{method} {path} {body:?}: {response}");
        assert_eq!(
            response["error"]["code"], code,
            "{method} {path} {body:?}: {response}"
        );
        assert_eq!(
            response["error"]["field"].as_str(),
            field,
            "{method} {path} {body:?}: {response}"
        );
    }
    // Transport-level: not JSON, a key twice, the wrong media type, too large.
    let (status, response) = w
        .raw(http_event("POST", "/shares", Some("{not json")))
        .await;
    assert_eq!(
        (status, response["error"]["code"].as_str()),
        (400, Some("invalid_json"))
    );
    let twice =
        format!(r#"{{"grantee_account": "{B}", "delivery": {{"mode": "tag", "mode": "copy"}}}}"#);
    let (status, response) = w.raw(http_event("POST", "/shares", Some(&twice))).await;
    assert_eq!(
        (
            status,
            response["error"]["code"].as_str(),
            response["error"]["field"].as_str()
        ),
        (400, Some("duplicate_key"), Some("delivery.mode"))
    );
    let twice =
        format!(r#"{{"grantee_account": "{B}", "log_accounts": ["{B}"], "log_accounts": ["*"]}}"#);
    let (status, response) = w.raw(http_event("POST", "/shares", Some(&twice))).await;
    assert_eq!(
        (status, response["error"]["field"].as_str()),
        (400, Some("log_accounts"))
    );
    let mut xml = http_event("POST", "/shares", Some("<share/>"));
    xml["headers"]["content-type"] = json!("application/xml");
    let (status, response) = w.raw(xml).await;
    assert_eq!(
        (status, response["error"]["code"].as_str()),
        (415, Some("unsupported_media_type"))
    );
    let huge = json!({"grantee_account": B, "name": "x".repeat(70 * 1024)}).to_string();
    let (status, response) = w.raw(http_event("POST", "/shares", Some(&huge))).await;
    assert_eq!(
        (status, response["error"]["code"].as_str()),
        (413, Some("too_large"))
    );
    let (status, _) = w.raw(json!({"hello": "world"})).await;
    assert_eq!(status, 400);

    assert!(w.roles().await.is_empty(), "no bad input may create a role");
}

#[tokio::test]
async fn rest_v1_events_and_a_permissions_boundary() {
    let w = world_with(ROLE_ACTIONS, true).await;
    let name = unique("bu-b");
    w.create(json!({"grantee_account": B, "name": name})).await;
    let mut v1: Value =
        serde_json::from_str(include_str!("../fixtures/events/apigw-v1-get.json")).unwrap();
    v1["path"] = json!(format!("/shares/{name}"));
    v1["pathParameters"]["name"] = json!(name);
    let (status, share) = w.raw(v1).await;
    assert_eq!(status, 200, "{share}");
    assert_eq!(share["name"], json!(name));
    assert!(share["created_by"]
        .as_str()
        .unwrap()
        .starts_with("arn:aws:iam::111111111111:"));
    let role = share_role(&w.admin, &name).await;
    let boundary = role
        .permissions_boundary
        .expect("the share role has a permissions boundary");
    assert!(boundary
        .permissions_boundary_arn
        .unwrap()
        .contains(":policy/boundary-"));
}

/// A stand-in for IAM that answers every request with one error, as real
/// IAM does and moto cannot: an unknown principal, a throttle. Returns its URL.
async fn failing_iam(status: u16, code: &'static str, message: String) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let message = message.clone();
            tokio::spawn(async move {
                // Read the whole request (headers, then Content-Length bytes).
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                loop {
                    let Ok(n) = socket.read(&mut buffer).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buffer[..n]);
                    let text = String::from_utf8_lossy(&request).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text[..end]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if request.len() >= end + 4 + length {
                            break;
                        }
                    }
                }
                let body = format!(
                    "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{}</Message></Error><RequestId>r-1</RequestId></ErrorResponse>",
                    message.replace('&', "&amp;").replace('<', "&lt;").replace('"', "&quot;")
                );
                let response = format!(
                    "HTTP/1.1 {status} Error\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    url
}

/// A provisioner whose IAM calls all get `status`/`code`/`message`.
async fn provisioner_against(
    status: u16,
    code: &'static str,
    message: String,
) -> Provisioner<IamRoles> {
    let url = failing_iam(status, code, message).await;
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(url)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_credential_types::Credentials::new(
            "AKIDEXAMPLE",
            "secret",
            None,
            None,
            "test",
        ))
        .load()
        .await;
    let config = config(&[
        ("TRAIL_BUCKET", "trail-bucket".to_string()),
        ("ADMIN_PRINCIPALS", ADMIN.to_string()),
    ]);
    Provisioner::new(IamRoles::from_sdk(&sdk), config, stand_in::share_key())
}

async fn post(provisioner: &Provisioner<IamRoles>, body: Value) -> (u16, Value) {
    let response = provisioner
        .handle_event(http_event("POST", "/shares", Some(&body.to_string())))
        .await;
    (
        response["statusCode"].as_u64().unwrap() as u16,
        serde_json::from_str(response["body"].as_str().unwrap()).unwrap(),
    )
}

/// Through the real SDK and adapter: IAM's refusal of a principal becomes a
/// 400 naming it; a throttle a 503 naming the call and the code, never
/// AWS's message.
#[tokio::test]
async fn iam_errors_moto_cannot_make_become_clear_answers() {
    let ghost = format!("arn:aws:iam::{B}:role/Ghost");
    let provisioner = provisioner_against(
        400,
        "MalformedPolicyDocument",
        format!("Invalid principal in policy: \"AWS\":\"{ghost}\""),
    )
    .await;
    let (status, body) = post(
        &provisioner,
        json!({"grantee_account": B, "grantee_principals": [format!("arn:aws:iam::{B}:role/Real"), ghost]}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("grantee_principals[1]")),
        "{body}"
    );

    let provisioner = provisioner_against(
        400,
        "Throttling",
        format!("Rate exceeded for account {A} on role arn:aws:iam::{A}:role/secret"),
    )
    .await;
    let (status, body) = post(&provisioner, json!({"grantee_account": B})).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        body["error"],
        json!({"code": "aws_throttled", "message": "iam:CreateRole failed: Throttling"})
    );

    let provisioner = provisioner_against(
        403,
        "AccessDenied",
        format!("User: arn:aws:iam::{A}:user/p is not authorized"),
    )
    .await;
    let (status, body) = post(&provisioner, json!({"grantee_account": B})).await;
    assert_eq!(
        (status, body["error"]["message"].as_str()),
        (502, Some("iam:CreateRole failed: AccessDenied"))
    );
}

//! The provisioner's handler, in-process, against the stand-in with IAM
//! enforcement on: real IAM roles, real AssumeRole, real S3 reads.

use aws_config::SdkConfig;
use provisioner::Provisioner;
use serde_json::{json, Value};
use stand_in::{
    iam_eval, log_file, log_key, put_log, s3, s3_status, stand_in, unique, StandIn, A, B, C, Z,
};
use trailshare::aws::IamRoles;
use trailshare::config::Config;

/// One test's world: a trail bucket with log files of A, B and C, a share
/// path of its own, and a provisioner signed as a fenced user of account A.
struct World {
    aws: &'static StandIn,
    bucket: String,
    path: String,
    provisioner: Provisioner<IamRoles, trailshare::ports::NoQueue, IamRoles>,
    admin: SdkConfig,
}

/// The provisioner's actions. moto authorizes IAM calls against resource
/// `*`, so a path-scoped statement would deny everything there: moto judges
/// the actions, and the template's path fence is judged by the independent
/// evaluator (`trust_conditions_and_boundary_hold_under_an_independent_evaluator`).
fn provisioner_policy(actions: &[&str]) -> Value {
    json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": actions, "Resource": "*"},
        {"Effect": "Allow", "Action": "iam:ListRoles", "Resource": "*"}
    ]})
}

const ROLE_ACTIONS: &[&str] = &[
    "iam:CreateRole",
    "iam:GetRole",
    "iam:DeleteRole",
    "iam:UpdateRole",
    "iam:UpdateAssumeRolePolicy",
    "iam:PutRolePolicy",
    "iam:GetRolePolicy",
    "iam:DeleteRolePolicy",
    "iam:ListRolePolicies",
    "iam:TagRole",
    "iam:UntagRole",
    "iam:ListRoleTags",
];

/// The API caller of the event fixtures: the one administrator.
const ADMIN: &str = "arn:aws:iam::111111111111:user/platform-admin";

async fn world_with(actions: &[&str], boundary: bool) -> World {
    world_env(actions, boundary, &[]).await
}

/// A world whose provisioner also gets `extra` variables (later ones win).
async fn world_env(actions: &[&str], boundary: bool, extra: &[(&str, &str)]) -> World {
    let aws = stand_in();
    let bucket = aws.bucket(A, "trail").await;
    let admin = aws.admin(A).await;
    let a_s3 = s3(&admin);
    for account in [A, B, C] {
        put_log(
            &a_s3,
            &bucket,
            &log_key(None, account, "1200"),
            log_file(account, "GetObject"),
        )
        .await;
    }
    let path = format!("/{}/", unique("trailshare"));
    let mut vars = vec![
        ("TRAIL_BUCKET", bucket.clone()),
        ("SHARE_ROLE_PATH", path.clone()),
        ("ADMIN_PRINCIPALS", ADMIN.to_string()),
    ];
    vars.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    let lookup = |vars: &[(&str, String)], name: &str| {
        vars.iter()
            .rev()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    };
    if boundary {
        // The boundary as the template makes it, for this deployment.
        let boundary_config = Config::from_lookup(|name| lookup(&vars, name)).unwrap();
        let policy = aws_sdk_iam::Client::new(&admin)
            .create_policy()
            .policy_name(unique("boundary"))
            .policy_document(trailshare::policy::boundary_policy(&boundary_config).to_string())
            .send()
            .await
            .expect("create boundary")
            .policy
            .unwrap();
        vars.push(("PERMISSIONS_BOUNDARY_ARN", policy.arn.unwrap()));
    }
    let config = Config::from_lookup(|name| lookup(&vars, name)).unwrap();
    let user = aws
        .user(A, &unique("provisioner"), &provisioner_policy(actions))
        .await;
    World {
        aws,
        bucket,
        path,
        provisioner: Provisioner::new(IamRoles::from_sdk(&user), config, stand_in::share_key())
            .with_role_paths(IamRoles::from_sdk(&user)),
        admin,
    }
}

async fn world() -> World {
    world_with(ROLE_ACTIONS, false).await
}

/// An HTTP API (payload 2.0) event, as API Gateway sends it with IAM auth.
fn http_event(method: &str, path: &str, body: Option<&str>) -> Value {
    let mut event: Value =
        serde_json::from_str(include_str!("fixtures/events/apigw-v2-create.json")).unwrap();
    event["routeKey"] = json!("$default");
    event["rawPath"] = json!(path);
    event["requestContext"]["http"]["method"] = json!(method);
    event["requestContext"]["http"]["path"] = json!(path);
    event.as_object_mut().unwrap().remove("pathParameters");
    match body {
        Some(body) => event["body"] = json!(body),
        None => {
            event.as_object_mut().unwrap().remove("body");
        }
    }
    event
}

impl World {
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let body = body.map(|b| b.to_string());
        self.raw(http_event(method, path, body.as_deref())).await
    }

    async fn raw(&self, event: Value) -> (u16, Value) {
        let response = self.provisioner.handle_event(event).await;
        let status = response["statusCode"].as_u64().unwrap() as u16;
        let body = response["body"].as_str().unwrap();
        (
            status,
            if body.is_empty() {
                Value::Null
            } else {
                serde_json::from_str(body).unwrap()
            },
        )
    }

    async fn create(&self, body: Value) -> Value {
        let (status, share) = self.call("POST", "/shares", Some(body)).await;
        assert_eq!(status, 201, "{share}");
        share
    }

    /// Role names IAM holds under this world's share path.
    async fn roles(&self) -> Vec<String> {
        let out = aws_sdk_iam::Client::new(&self.admin)
            .list_roles()
            .path_prefix(&self.path)
            .send()
            .await
            .unwrap();
        out.roles.into_iter().map(|r| r.role_name).collect()
    }

    /// A user in `account` who may assume `role_arn`, as `grantee_setup` says.
    async fn grantee(&self, account: &str, share: &Value) -> SdkConfig {
        self.aws
            .user(
                account,
                &unique("grantee"),
                &share["grantee_setup"]["identity_policy"],
            )
            .await
    }

    async fn read(&self, session: &SdkConfig, account: &str) -> u16 {
        s3_status(
            &s3(session)
                .get_object()
                .bucket(&self.bucket)
                .key(log_key(None, account, "1200"))
                .send()
                .await,
        )
    }
}

#[tokio::test]
async fn scenario_one_each_business_unit_reads_only_its_own_logs() {
    let w = world().await;
    for (me, other) in [(B, C), (C, B)] {
        let share = w.create(json!({"grantee_account": me})).await;
        assert_eq!(share["name"], format!("account-{me}"));
        assert_eq!(share["log_accounts"], json!([me]));
        let role_arn = share["role_arn"].as_str().unwrap().to_string();
        assert_eq!(
            role_arn,
            format!("arn:aws:iam::{A}:role{}trailshare-account-{me}", w.path)
        );

        let user = w.grantee(me, &share).await;
        let session = w
            .aws
            .assume(&user, &role_arn, None)
            .await
            .expect("grantee assumes the share role");
        assert_eq!(
            w.read(&session, me).await,
            200,
            "{me} reads its own log file"
        );
        assert_eq!(
            w.read(&session, other).await,
            403,
            "{me} must not read {other}'s log file"
        );
        assert_eq!(
            w.read(&session, A).await,
            403,
            "{me} must not read A's log file"
        );
        let write = s3(&session)
            .put_object()
            .bucket(&w.bucket)
            .key(log_key(None, me, "1300"))
            .body(b"x".to_vec().into())
            .send()
            .await;
        assert_eq!(s3_status(&write), 403, "the role is read-only");
    }
    // Last use, as IAM records it: the grantees' sessions made requests.
    let (_, b_share) = w.call("GET", &format!("/shares/account-{B}"), None).await;
    assert!(
        b_share["last_used"]["at"]
            .as_str()
            .is_some_and(|at| at.contains('T')),
        "{b_share}"
    );
    let unused = w
        .create(json!({"name": "never-used", "grantee_account": C}))
        .await;
    let (_, unused) = w
        .call(
            "GET",
            &format!("/shares/{}", unused["name"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(unused["last_used"], Value::Null, "{unused}");
    w.call("DELETE", "/shares/never-used", None).await;
    let (status, list) = w.call("GET", "/shares", None).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = list["shares"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, [format!("account-{B}"), format!("account-{C}")]);
}

#[tokio::test]
async fn scenario_two_third_party_reads_every_accounts_logs_with_external_id() {
    let w = world().await;
    let share = w
        .create(json!({"name": "auditor-z", "grantee_account": Z, "log_accounts": ["*"], "external_id": "z-issued-7f3a",
                       "max_session_seconds": 7200}))
        .await;
    assert_eq!(
        share["grantee_setup"]["assume_role_command"],
        format!("aws sts assume-role --role-arn {} --role-session-name trailshare-auditor-z --external-id z-issued-7f3a", share["role_arn"].as_str().unwrap())
    );
    // Only this test uses the name auditor-z (role names are account-wide).
    let user = w.grantee(Z, &share).await;
    let session = w
        .aws
        .assume(
            &user,
            share["role_arn"].as_str().unwrap(),
            Some("z-issued-7f3a"),
        )
        .await
        .expect("Z assumes");
    for account in [A, B, C] {
        assert_eq!(
            w.read(&session, account).await,
            200,
            "Z reads {account}'s log file"
        );
    }
    let role = aws_sdk_iam::Client::new(&w.admin)
        .get_role()
        .role_name("trailshare-auditor-z")
        .send()
        .await
        .unwrap()
        .role
        .unwrap();
    assert_eq!(role.max_session_duration, Some(7200));
    let (status, mut got) = w.call("GET", "/shares/auditor-z", None).await;
    // GET adds what only reads have: IAM's record of the role's last use.
    assert!(got.as_object_mut().unwrap().remove("last_used").is_some());
    assert_eq!(
        (status, &got),
        (200, &share),
        "GET rebuilds every field from IAM"
    );
}

#[tokio::test]
async fn revocation_removes_the_role_and_access() {
    let w = world().await;
    let name = unique("bu-b");
    let share = w.create(json!({"grantee_account": B, "name": name})).await;
    let user = w.grantee(B, &share).await;
    let role_arn = share["role_arn"].as_str().unwrap();
    let session = w
        .aws
        .assume(&user, role_arn, None)
        .await
        .expect("assume before revocation");
    assert_eq!(w.read(&session, B).await, 200);

    let (status, body) = w.call("DELETE", &format!("/shares/{name}"), None).await;
    assert_eq!((status, body), (204, Value::Null));
    assert!(w.roles().await.is_empty());
    let gone = aws_sdk_iam::Client::new(&w.admin)
        .get_role()
        .role_name(format!("trailshare-{name}"))
        .send()
        .await;
    assert_eq!(
        gone.unwrap_err()
            .raw_response()
            .map(|r| r.status().as_u16()),
        Some(404)
    );
    assert!(
        w.aws.assume(&user, role_arn, None).await.is_err(),
        "AssumeRole must fail after revocation"
    );
    // AWS answers 403; moto fails (500) looking up the deleted role. Either
    // way the old session reads nothing.
    assert_ne!(
        w.read(&session, B).await,
        200,
        "a session from before revocation reads nothing now"
    );
    assert_eq!(w.call("GET", &format!("/shares/{name}"), None).await.0, 404);
    assert_eq!(
        w.call("DELETE", &format!("/shares/{name}"), None).await.0,
        404
    );
}

#[tokio::test]
async fn put_creates_then_replaces_in_place_and_repeats_change_nothing() {
    let w = world().await;
    let name = unique("bu-b");
    let path = format!("/shares/{name}");
    let role = format!("trailshare-{name}");
    let body = json!({"grantee_account": B, "delivery": {"mode": "tag"}});
    let (status, first) = w.call("PUT", &path, Some(body.clone())).await;
    assert_eq!(status, 201, "{first}");
    let (status, again) = w.call("PUT", &path, Some(body)).await;
    assert_eq!(
        (status, &again),
        (200, &first),
        "the same body twice changes nothing"
    );

    let wider = json!({"grantee_account": B, "log_accounts": [B, C], "external_id": "b-ext-01", "max_session_seconds": 3600});
    let (status, replaced) = w.call("PUT", &path, Some(wider.clone())).await;
    assert_eq!(status, 200, "{replaced}");
    // IAM (GetRole) gives back the description and session length the
    // replace wrote, so a repeat finds nothing to repair.
    assert_eq!(
        w.call("PUT", &path, Some(wider)).await,
        (200, replaced.clone()),
        "the new body twice changes nothing"
    );
    assert_eq!(replaced["created_at"], first["created_at"]);
    assert_eq!(replaced["log_accounts"], json!([B, C]));
    assert_eq!(replaced["delivery"], json!({"mode": "none"}));
    let iam = aws_sdk_iam::Client::new(&w.admin);
    let policy = iam
        .get_role_policy()
        .role_name(&role)
        .policy_name("trailshare-read")
        .send()
        .await
        .unwrap();
    let doc: Value = serde_json::from_str(&urlencoding_decode(&policy.policy_document)).unwrap();
    assert_eq!(
        doc["Statement"][0]["Resource"],
        json!([
            format!("arn:aws:s3:::{}/AWSLogs/{B}/*", w.bucket),
            format!("arn:aws:s3:::{}/AWSLogs/{C}/*", w.bucket)
        ])
    );
    let (_, mut got) = w.call("GET", &path, None).await;
    assert_eq!(got["last_used"], Value::Null, "never assumed");
    got.as_object_mut().unwrap().remove("last_used");
    assert_eq!(got, replaced);
    assert_eq!(w.roles().await, [role]);
}

/// IAM returns policy documents URL-encoded.
fn urlencoding_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

#[tokio::test]
async fn concurrent_creates_of_one_name_give_one_201_and_one_409() {
    let w = world().await;
    let name = unique("race");
    let body = json!({"grantee_account": B, "name": name});
    let (one, two) = tokio::join!(
        w.call("POST", "/shares", Some(body.clone())),
        w.call("POST", "/shares", Some(body))
    );
    let mut statuses = [one.0, two.0];
    statuses.sort();
    assert_eq!(statuses, [201, 409], "{one:?} {two:?}");
    let conflict = if one.0 == 409 { one.1 } else { two.1 };
    assert_eq!(conflict["error"]["code"], "conflict");
    assert_eq!(conflict["error"]["field"], "name");
    assert_eq!(w.roles().await, [format!("trailshare-{name}")]);
}

#[tokio::test]
async fn a_create_that_fails_half_way_leaves_no_role() {
    let without_put_policy: Vec<&str> = ROLE_ACTIONS
        .iter()
        .copied()
        .filter(|a| *a != "iam:PutRolePolicy")
        .collect();
    let w = world_with(&without_put_policy, false).await;
    let (status, body) = w
        .call(
            "POST",
            "/shares",
            Some(json!({"grantee_account": B, "name": unique("half")})),
        )
        .await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "aws_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("iam:PutRolePolicy"),
        "{body}"
    );
    assert!(
        w.roles().await.is_empty(),
        "the half-made role must be removed"
    );
}

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
        serde_json::from_str(include_str!("fixtures/events/apigw-v1-get.json")).unwrap();
    v1["path"] = json!(format!("/shares/{name}"));
    v1["pathParameters"]["name"] = json!(name);
    let (status, share) = w.raw(v1).await;
    assert_eq!(status, 200, "{share}");
    assert_eq!(share["name"], json!(name));
    assert!(share["created_by"]
        .as_str()
        .unwrap()
        .starts_with("arn:aws:iam::111111111111:"));
    let role = aws_sdk_iam::Client::new(&w.admin)
        .get_role()
        .role_name(format!("trailshare-{name}"))
        .send()
        .await
        .unwrap()
        .role
        .unwrap();
    let boundary = role
        .permissions_boundary
        .expect("the share role has a permissions boundary");
    assert!(boundary
        .permissions_boundary_arn
        .unwrap()
        .contains(":policy/boundary-"));
}

/// A document as IAM returns it: URL-encoded by the API (moto may not).
fn iam_document(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| {
        let decoded = percent_encoding::percent_decode_str(text)
            .decode_utf8()
            .expect("utf-8 policy");
        serde_json::from_str(&decoded).expect("a JSON policy document")
    })
}

/// A share role's documents, read back from IAM, not from our own code.
struct RoleDocuments {
    arn: String,
    trust: Value,
    read: Value,
    boundary: Option<Value>,
}

impl World {
    async fn documents(&self, name: &str) -> RoleDocuments {
        let iam = aws_sdk_iam::Client::new(&self.admin);
        let role_name = format!("trailshare-{name}");
        let role = iam
            .get_role()
            .role_name(&role_name)
            .send()
            .await
            .unwrap()
            .role
            .unwrap();
        let read = iam
            .get_role_policy()
            .role_name(&role_name)
            .policy_name(trailshare::policy::READ_POLICY_NAME)
            .send()
            .await
            .unwrap();
        let mut boundary = None;
        if let Some(arn) = role
            .permissions_boundary
            .and_then(|b| b.permissions_boundary_arn)
        {
            let policy = iam.get_policy().policy_arn(&arn).send().await.unwrap();
            let version = policy.policy.unwrap().default_version_id.unwrap();
            let document = iam
                .get_policy_version()
                .policy_arn(&arn)
                .version_id(version)
                .send()
                .await
                .unwrap()
                .policy_version
                .unwrap()
                .document
                .unwrap();
            boundary = Some(iam_document(&document));
        }
        RoleDocuments {
            arn: role.arn,
            trust: iam_document(&role.assume_role_policy_document.unwrap()),
            read: iam_document(&read.policy_document),
            boundary,
        }
    }
}

impl RoleDocuments {
    /// `principal` (with an identity policy allowing it) assumes the role.
    fn assume(&self, principal: &str, external_id: Option<&str>) -> Value {
        let mut context = json!({});
        if let Some(id) = external_id {
            context["sts:ExternalId"] = json!(id);
        }
        json!({"name": format!("{principal} assumes with {external_id:?}"),
            "identityPolicies": [{"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": self.arn}]}],
            "resourcePolicy": self.trust,
            "request": {"principal": principal, "action": "sts:AssumeRole", "resource": self.arn,
                        "resourceAccount": A, "context": context}})
    }

    /// A session of the role calls `action` on `resource`, its permissions
    /// being the read policy plus `extra` identity policies, capped by the
    /// boundary when `bounded`.
    fn call(
        &self,
        action: &str,
        resource: &str,
        context: Value,
        extra: &[Value],
        bounded: bool,
    ) -> Value {
        let mut identity = vec![self.read.clone()];
        identity.extend_from_slice(extra);
        let mut case = json!({"name": format!("{action} {resource} {context}"),
            "identityPolicies": identity,
            "request": {"principal": format!("arn:aws:sts::{A}:assumed-role/{}/session", self.arn.rsplit('/').next().unwrap()),
                        "action": action, "resource": resource, "resourceAccount": A, "context": context}});
        if bounded {
            case["permissionBoundaryPolicies"] =
                json!([self.boundary.clone().expect("a boundary")]);
        }
        case
    }
}

/// Runs cases through the independent evaluator; each is (case, expected).
fn expect_decisions(cases: Vec<(Value, &str)>) {
    let (questions, expected): (Vec<Value>, Vec<&str>) = cases.into_iter().unzip();
    let decisions = iam_eval(&json!(questions));
    for ((question, want), got) in questions.iter().zip(&expected).zip(&decisions) {
        assert_eq!(got, want, "{}", question["name"]);
    }
    assert_eq!(decisions.len(), expected.len());
}

/// What moto does not evaluate (trust policies across accounts, external
/// ids, `s3:prefix` conditions, permissions boundaries), judged by
/// @cloud-copilot/iam-simulate on the documents IAM actually holds.
#[tokio::test]
async fn trust_conditions_and_boundary_hold_under_an_independent_evaluator() {
    let w = world_with(ROLE_ACTIONS, true).await;
    let b_name = unique("bu-b");
    w.create(json!({"grantee_account": B, "name": b_name}))
        .await;
    let z_name = unique("auditor-z");
    w.create(json!({"grantee_account": Z, "name": z_name, "log_accounts": ["*"], "external_id": "z-issued-7f3a",
                    "grantee_principals": [format!("arn:aws:iam::{Z}:role/Auditors")]}))
        .await;
    let b = w.documents(&b_name).await;
    let z = w.documents(&z_name).await;
    let bucket = format!("arn:aws:s3:::{}", w.bucket);
    let object = |account: &str| format!("{bucket}/{}", log_key(None, account, "1200"));
    let list = |prefix: Option<&str>| match prefix {
        Some(prefix) => json!({"s3:prefix": prefix}),
        None => json!({}),
    };
    // As if someone later attached `*` on `*` to the role.
    let broad = [
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}),
    ];
    let allowed = "Allowed";
    let denied = "ImplicitlyDenied";

    expect_decisions(vec![
        // Scenario 1 trust: B's principals, nobody else's.
        (
            b.assume(&format!("arn:aws:iam::{B}:user/analyst"), None),
            allowed,
        ),
        (
            b.assume(&format!("arn:aws:iam::{C}:user/analyst"), None),
            denied,
        ),
        (
            b.assume(&format!("arn:aws:iam::{Z}:user/auditor"), None),
            denied,
        ),
        (
            b.assume(&format!("arn:aws:iam::{A}:user/someone"), None),
            denied,
        ),
        // Scenario 2 trust: only Z's named role, only with the external id.
        (
            z.assume(
                &format!("arn:aws:iam::{Z}:role/Auditors"),
                Some("z-issued-7f3a"),
            ),
            allowed,
        ),
        (
            z.assume(
                &format!("arn:aws:iam::{Z}:role/Auditors"),
                Some("z-issued-7f3b"),
            ),
            denied,
        ),
        (
            z.assume(&format!("arn:aws:iam::{Z}:role/Auditors"), None),
            denied,
        ),
        (
            z.assume(
                &format!("arn:aws:iam::{Z}:user/intern"),
                Some("z-issued-7f3a"),
            ),
            denied,
        ),
        (
            z.assume(
                &format!("arn:aws:iam::{C}:role/Auditors"),
                Some("z-issued-7f3a"),
            ),
            denied,
        ),
        // Scenario 1 reads: B's files and B's listing only.
        (
            b.call("s3:GetObject", &object(B), json!({}), &[], true),
            allowed,
        ),
        (
            b.call("s3:GetObject", &object(C), json!({}), &[], true),
            denied,
        ),
        (
            b.call("s3:GetObject", &object(A), json!({}), &[], true),
            denied,
        ),
        (
            b.call(
                "s3:ListBucket",
                &bucket,
                list(Some(&format!("AWSLogs/{B}/CloudTrail/"))),
                &[],
                true,
            ),
            allowed,
        ),
        (
            b.call(
                "s3:ListBucket",
                &bucket,
                list(Some(&format!("AWSLogs/{C}/"))),
                &[],
                true,
            ),
            denied,
        ),
        (
            b.call("s3:ListBucket", &bucket, list(Some("AWSLogs/")), &[], true),
            denied,
        ),
        (
            b.call("s3:ListBucket", &bucket, list(Some("")), &[], true),
            denied,
        ),
        (
            b.call("s3:ListBucket", &bucket, list(None), &[], true),
            denied,
        ),
        (
            b.call("s3:GetBucketLocation", &bucket, json!({}), &[], true),
            allowed,
        ),
        (
            b.call("s3:PutObject", &object(B), json!({}), &[], true),
            denied,
        ),
        // Scenario 2 reads every account's files, nothing outside AWSLogs/.
        (
            z.call("s3:GetObject", &object(C), json!({}), &[], true),
            allowed,
        ),
        (
            z.call("s3:ListBucket", &bucket, list(Some("AWSLogs/")), &[], true),
            allowed,
        ),
        (
            z.call("s3:ListBucket", &bucket, list(Some("private/")), &[], true),
            denied,
        ),
        (
            z.call(
                "s3:GetObject",
                &format!("{bucket}/private/notes.txt"),
                json!({}),
                &[],
                true,
            ),
            // Outside CloudTrail's folders: the inline policy denies it.
            "ExplicitlyDenied",
        ),
        // The boundary: even a role given `*` on `*` stays a trail reader.
        (
            b.call("s3:PutObject", &object(B), json!({}), &broad, false),
            allowed,
        ),
        (
            b.call("s3:PutObject", &object(B), json!({}), &broad, true),
            denied,
        ),
        (
            b.call("s3:DeleteObject", &object(B), json!({}), &broad, true),
            denied,
        ),
        (
            b.call(
                "s3:GetObject",
                "arn:aws:s3:::another-bucket/secret",
                json!({}),
                &broad,
                true,
            ),
            // Denied by the boundary, and explicitly by the inline policy's
            // CloudTrail-folder limit.
            "ExplicitlyDenied",
        ),
        (
            b.call(
                "iam:CreateUser",
                &format!("arn:aws:iam::{A}:user/backdoor"),
                json!({}),
                &broad,
                true,
            ),
            denied,
        ),
        (
            b.call(
                "sts:AssumeRole",
                &format!("arn:aws:iam::{A}:role/Admin"),
                json!({}),
                &broad,
                true,
            ),
            denied,
        ),
        (
            b.call("s3:GetObject", &object(C), json!({}), &broad, true),
            allowed,
        ),
    ]);
}

/// The same event with another caller in the request context.
fn as_caller(mut event: Value, caller: &str) -> Value {
    event["requestContext"]["authorizer"]["iam"]["userArn"] = json!(caller);
    event
}

#[tokio::test]
async fn only_administrators_change_shares_and_only_for_allowed_grantees() {
    let w = world_env(
        ROLE_ACTIONS,
        false,
        &[
            (
                "ADMIN_PRINCIPALS",
                "arn:aws:iam::111111111111:role/platform/ShareAdmin*",
            ),
            ("GRANTEE_ACCOUNTS", B),
        ],
    )
    .await;
    // The administrators' role, and one named like it at another path: a
    // session ARN carries no path, so the provisioner asks IAM (GetRole).
    let iam = aws_sdk_iam::Client::new(&w.admin);
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{A}:root")}, "Action": "sts:AssumeRole"}]});
    let share_admin = unique("ShareAdmin");
    let look_alike = unique("ShareAdminEvil");
    for (role, path) in [(&share_admin, "/platform/"), (&look_alike, "/evil/")] {
        iam.create_role()
            .role_name(role)
            .path(path)
            .assume_role_policy_document(trust.to_string())
            .send()
            .await
            .expect("create role");
    }
    let name = unique("exfil");
    let body = json!({"grantee_account": Z, "name": name, "log_accounts": ["*"], "external_id": "z-ext-01"}).to_string();
    // PowerUserAccess allows execute-api:Invoke: that alone changes nothing.
    let power_user = "arn:aws:sts::111111111111:assumed-role/PowerUser/mallory";
    for (method, path, body) in [
        ("POST", "/shares".to_string(), Some(body.as_str())),
        ("PUT", format!("/shares/{name}"), Some(body.as_str())),
        ("DELETE", format!("/shares/{name}"), None),
        ("POST", format!("/shares/{name}/revoke-sessions"), None),
    ] {
        // The fixture's caller (a user of A) is not an administrator either.
        for caller in [power_user, ADMIN] {
            let (status, response) = w
                .raw(as_caller(http_event(method, &path, body), caller))
                .await;
            assert_eq!(
                (status, response["error"]["code"].as_str()),
                (403, Some("forbidden")),
                "{caller} {method} {path}: {response}"
            );
        }
    }
    assert!(w.roles().await.is_empty());
    let evil = format!("arn:aws:sts::{A}:assumed-role/{look_alike}/mallory");
    let (status, response) = w
        .raw(as_caller(http_event("POST", "/shares", Some(&body)), &evil))
        .await;
    assert_eq!(status, 403, "a look-alike role at another path: {response}");
    let admin = format!("arn:aws:sts::{A}:assumed-role/{share_admin}/alice");
    let admin = admin.as_str();
    let (status, response) = w
        .raw(as_caller(http_event("POST", "/shares", Some(&body)), admin))
        .await;
    assert_eq!(
        (
            status,
            response["error"]["code"].as_str(),
            response["error"]["field"].as_str()
        ),
        (403, Some("forbidden"), Some("grantee_account")),
        "Z is not in GRANTEE_ACCOUNTS"
    );
    let ok = json!({"grantee_account": B, "name": name}).to_string();
    let (status, share) = w
        .raw(as_caller(http_event("POST", "/shares", Some(&ok)), admin))
        .await;
    assert_eq!(status, 201, "{share}");
    assert_eq!(share["created_by"], admin);
    assert_eq!(w.roles().await, [format!("trailshare-{name}")]);
    // Reads stay open to every caller the API lets in.
    let (status, _) = w
        .raw(as_caller(http_event("GET", "/shares", None), power_user))
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_replace_revokes_older_sessions_under_an_independent_evaluator() {
    let w = world_with(ROLE_ACTIONS, true).await;
    let name = unique("bu-b");
    let path = format!("/shares/{name}");
    let readers = format!("arn:aws:iam::{B}:role/Readers");
    let auditors = format!("arn:aws:iam::{B}:role/Auditors");
    w.create(json!({"grantee_account": B, "name": name, "grantee_principals": [readers]}))
        .await;
    let (status, body) = w
        .call("PUT", &path, Some(json!({"grantee_account": B, "grantee_principals": [auditors], "log_accounts": [B, C], "external_id": "b-ext-02"})))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = w
        .call("PUT", &path, Some(json!({"grantee_account": Z})))
        .await;
    assert_eq!(status, 409, "grantee_account is immutable");
    let moment = body["sessions_valid_after"].as_str().unwrap().to_string();
    assert_eq!(body["updated_by"], ADMIN);
    let docs = w.documents(&name).await;
    let object = |account: &str| {
        format!(
            "arn:aws:s3:::{}/{}",
            w.bucket,
            log_key(None, account, "1200")
        )
    };
    let issued = |at: &str| json!({"aws:TokenIssueTime": at});
    let before = "2020-01-01T00:00:00Z";
    let after = "2999-01-01T00:00:00Z";
    let mut cases = vec![
        (docs.assume(&readers, Some("b-ext-02")), "ImplicitlyDenied"),
        (docs.assume(&auditors, Some("b-ext-02")), "Allowed"),
        (docs.assume(&auditors, None), "ImplicitlyDenied"),
        (
            docs.call("s3:GetObject", &object(C), issued(before), &[], true),
            "ExplicitlyDenied",
        ),
        (
            docs.call("s3:GetObject", &object(B), issued(before), &[], true),
            "ExplicitlyDenied",
        ),
        (
            docs.call("s3:GetObject", &object(C), issued(after), &[], true),
            "Allowed",
        ),
        (
            docs.call("s3:GetObject", &object(C), issued(&moment), &[], true),
            "Allowed",
        ),
        (
            docs.call("s3:GetObject", &object(A), issued(after), &[], true),
            "ImplicitlyDenied",
        ),
    ];
    // revoke-sessions on demand: a later moment, the same deny.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, revoked) = w
        .call("POST", &format!("{path}/revoke-sessions"), None)
        .await;
    assert_eq!(status, 200, "{revoked}");
    let later = revoked["sessions_valid_after"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(later > moment, "{later} > {moment}");
    let docs = w.documents(&name).await;
    cases.extend([
        (
            docs.call("s3:GetObject", &object(C), issued(&moment), &[], true),
            "ExplicitlyDenied",
        ),
        (
            docs.call("s3:GetObject", &object(C), issued(&later), &[], true),
            "Allowed",
        ),
    ]);
    expect_decisions(cases);
    let (_, got) = w.call("GET", &path, None).await;
    assert_eq!(got["sessions_valid_after"], json!(later));
}

#[tokio::test]
async fn kms_decrypt_only_through_s3_for_the_organization_trail() {
    let key = format!("arn:aws:kms:us-east-1:{A}:key/1234abcd-12ab-34cd-56ef-1234567890ab");
    let trail = format!("arn:aws:cloudtrail:us-east-1:{A}:trail/org-trail");
    let w = world_env(
        ROLE_ACTIONS,
        true,
        &[
            ("KMS_KEY_ARN", &key),
            ("ORGANIZATION_ID", "o-a1b2c3d4e5"),
            ("TRAIL_ARN", &trail),
        ],
    )
    .await;
    let name = unique("bu-b");
    w.create(json!({"grantee_account": B, "name": name})).await;
    let docs = w.documents(&name).await;
    let key_policy = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{A}:root")}, "Action": "kms:*", "Resource": "*"}]});
    let decrypt = |context: Value| {
        let mut case = docs.call("kms:Decrypt", &key, context, &[], true);
        case["resourcePolicy"] = key_policy.clone();
        case
    };
    let via = "s3.us-east-1.amazonaws.com";
    let ctx = "kms:EncryptionContext:aws:cloudtrail:arn";
    expect_decisions(vec![
        // B's files of an organization trail carry the management trail's ARN.
        (
            decrypt(json!({"kms:ViaService": via, ctx: trail})),
            "Allowed",
        ),
        (decrypt(json!({ctx: trail})), "ImplicitlyDenied"),
        (
            decrypt(json!({"kms:ViaService": "ec2.us-east-1.amazonaws.com", ctx: trail})),
            "ImplicitlyDenied",
        ),
        (
            decrypt(
                json!({"kms:ViaService": via, ctx: format!("arn:aws:cloudtrail:us-east-1:{C}:trail/other")}),
            ),
            "ImplicitlyDenied",
        ),
        (decrypt(json!({"kms:ViaService": via})), "ImplicitlyDenied"),
    ]);
}

#[tokio::test]
async fn damaged_legacy_and_unmanaged_roles_are_listed_healed_and_deletable() {
    let w = world_with(ROLE_ACTIONS, true).await;
    let iam = aws_sdk_iam::Client::new(&w.admin);
    let torn = unique("torn");
    let loose = unique("loose");
    for name in [&torn, &loose] {
        w.create(json!({"grantee_account": B, "name": name})).await;
    }
    // A hand edit (or a half-finished replace) leaves an unreadable record.
    iam.untag_role()
        .role_name(format!("trailshare-{torn}"))
        .tag_keys("trailshare:record:00")
        .send()
        .await
        .unwrap();
    // Someone removes a boundary outside trailshare: the fence forbids touching it.
    iam.delete_role_permissions_boundary()
        .role_name(format!("trailshare-{loose}"))
        .send()
        .await
        .unwrap();
    // A role of the first version: uppercase name, record without chunk count.
    let legacy = format!("Legacy-{}", std::process::id());
    let record: trailshare::record::ShareRecord = serde_json::from_value(json!({"spec": {"name": legacy, "grantee_account": B,
        "grantee_principals": [format!("arn:aws:iam::{B}:root")], "log_accounts": [B], "max_session_seconds": 3600,
        "delivery": {"mode": "none"}}, "created_by": ADMIN, "created_at": "2026-11-01T00:00:00Z"}))
    .unwrap();
    let v1_tags: Vec<aws_sdk_iam::types::Tag> = record
        .to_tags()
        .unwrap()
        .into_iter()
        .filter(|(k, _)| k != "trailshare:record-chunks")
        .map(|(k, v)| {
            aws_sdk_iam::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
                .unwrap()
        })
        .collect();
    let boundary_arn = iam
        .get_role()
        .role_name(format!("trailshare-{torn}"))
        .send()
        .await
        .unwrap()
        .role
        .unwrap()
        .permissions_boundary
        .unwrap()
        .permissions_boundary_arn
        .unwrap();
    iam.create_role()
        .role_name(format!("trailshare-{legacy}"))
        .path(&w.path)
        .permissions_boundary(&boundary_arn)
        .assume_role_policy_document(json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{B}:root")}, "Action": "sts:AssumeRole"}]}).to_string())
        .set_tags(Some(v1_tags))
        .send()
        .await
        .unwrap();

    let (status, list) = w.call("GET", "/shares", None).await;
    assert_eq!(status, 200);
    let by_name = |name: &str| {
        list["shares"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} not listed: {list}"))
    };
    assert_eq!(by_name(&torn)["status"], "damaged");
    assert!(by_name(&loose)["error"]
        .as_str()
        .unwrap()
        .starts_with("not_managed"));
    // Issue 20: a record without the provisioner's seal steers nothing.
    assert_eq!(
        (
            by_name(&legacy)["status"].as_str(),
            by_name(&legacy)["reason"].as_str()
        ),
        (Some("damaged"), Some("unsigned"))
    );
    assert_eq!(
        w.call("GET", &format!("/shares/{legacy}"), None).await.1["reason"],
        "unsigned"
    );

    // An admin's PUT heals a damaged share: sealed, and whole again.
    let (status, body) = w
        .call(
            "PUT",
            &format!("/shares/{torn}"),
            Some(json!({"grantee_account": B})),
        )
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("active")),
        "{body}"
    );
    assert_eq!(
        w.call("GET", &format!("/shares/{torn}"), None).await.1["status"],
        "active"
    );
    let (status, body) = w.call("DELETE", &format!("/shares/{loose}"), None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("not_managed"))
    );
    for name in [&torn, &legacy] {
        assert_eq!(
            w.call("DELETE", &format!("/shares/{name}"), None).await.0,
            204,
            "{name}"
        );
    }
    assert_eq!(w.roles().await, [format!("trailshare-{loose}")]);
}

#[tokio::test]
async fn a_share_named_shares_is_a_share() {
    let w = world().await;
    // Role names are account-wide: only one test process may hold it.
    let (status, body) = w
        .call("PUT", "/shares/shares", Some(json!({"grantee_account": B})))
        .await;
    if status == 409 {
        return assert_eq!(body["error"]["code"], "conflict", "{body}");
    }
    assert_eq!(status, 201, "{body}");
    let (status, got) = w.call("GET", "/shares/shares", None).await;
    assert_eq!((status, got["name"].as_str()), (200, Some("shares")));
    let mut staged = http_event("GET", "/prod/shares/shares", None);
    staged["requestContext"]["stage"] = json!("prod");
    assert_eq!(w.raw(staged).await.1["name"], "shares");
    assert_eq!(w.call("DELETE", "/shares/shares", None).await.0, 204);
    assert!(w.roles().await.is_empty());
}

#[tokio::test]
async fn copies_go_to_the_grantee_only() {
    let w = world_env(
        ROLE_ACTIONS,
        false,
        &[
            ("COPY_DESTINATION_BUCKETS", "b-central-logs"),
            (
                "COPY_WRITER_ROLE_ARNS",
                &format!("arn:aws:iam::{B}:role/trailshare-writer"),
            ),
        ],
    )
    .await;
    let (status, body) = w
        .call("POST", "/shares", Some(json!({"grantee_account": B, "delivery": {"mode": "copy", "bucket": "elsewhere-logs"}})))
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("delivery.bucket")),
        "{body}"
    );
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("redeploy"));
    let (status, body) = w
        .call("POST", "/shares", Some(json!({"grantee_account": B, "delivery": {"mode": "copy", "bucket": "elsewhere-logs",
            "role_arn": format!("arn:aws:iam::{B}:role/other-writer")}})))
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("delivery.role_arn")),
        "{body}"
    );
    assert!(w.roles().await.is_empty());

    let name = unique("bu-b");
    let share = w
        .create(json!({"grantee_account": B, "name": name, "delivery": {"mode": "copy", "bucket": "b-central-logs", "prefix": "central/",
            "role_arn": format!("arn:aws:iam::{B}:role/trailshare-writer")}}))
        .await;
    let writer = &share["grantee_setup"]["writer_role"]["identity_policy"];
    let bucket_policy = &share["grantee_setup"]["destination_bucket_policy"];
    let put = |bucket_account: &str, policy: Option<&Value>| {
        let mut case = json!({"name": format!("writer puts into a bucket of {bucket_account}"),
            "identityPolicies": [writer],
            "request": {"principal": format!("arn:aws:sts::{B}:assumed-role/trailshare-writer/forwarder"),
                "action": "s3:PutObject", "resource": "arn:aws:s3:::b-central-logs/central/AWSLogs/x.json.gz",
                "resourceAccount": bucket_account, "context": {"s3:x-amz-acl": "bucket-owner-full-control",
                    "s3:ResourceAccount": bucket_account, "aws:ResourceAccount": bucket_account}}});
        if let Some(policy) = policy {
            case["resourcePolicy"] = policy.clone();
        }
        case
    };
    expect_decisions(vec![
        (put(B, None), "Allowed"),
        // A bucket of that name in another account: the writer may not write.
        (put(C, None), "ImplicitlyDenied"),
        (put(A, None), "ImplicitlyDenied"),
    ]);
    // The bucket policy handed to the grantee grants nothing on anyone else's bucket.
    let from_a = |bucket_account: &str| {
        json!({"name": format!("forwarder puts into {bucket_account}'s bucket"),
            "identityPolicies": [{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}]}],
            "resourcePolicy": bucket_policy,
            "request": {"principal": format!("arn:aws:sts::{B}:assumed-role/trailshare-writer/forwarder"),
                "action": "s3:PutObject", "resource": "arn:aws:s3:::b-central-logs/central/AWSLogs/x.json.gz",
                "resourceAccount": bucket_account, "context": {"s3:x-amz-acl": "bucket-owner-full-control",
                    "s3:ResourceAccount": bucket_account, "aws:ResourceAccount": bucket_account}}})
    };
    expect_decisions(vec![
        (from_a(B), "Allowed"),
        (from_a(C), "ImplicitlyDenied"),
    ]);
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
    let config = Config::from_lookup(|name| match name {
        "TRAIL_BUCKET" => Some("trail-bucket".to_string()),
        "ADMIN_PRINCIPALS" => Some(ADMIN.to_string()),
        _ => None,
    })
    .unwrap();
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

/// RFC 3339 in whole seconds, `seconds` from now.
fn from_now(seconds: i64) -> String {
    (time::OffsetDateTime::now_utc() + time::Duration::seconds(seconds))
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// `expires_at` as IAM holds it: nobody assumes the role from then on and
/// sessions already issued read nothing, judged by the independent
/// evaluator at moments before and after (`aws:CurrentTime`); and a replace
/// that stopped half-way ends at the earlier of the two expiries.
#[tokio::test]
async fn expiry_holds_under_an_independent_evaluator() {
    let w = world_with(ROLE_ACTIONS, true).await;
    let name = unique("bu-b");
    let expires = from_now(86_400);
    let share = w
        .create(json!({"grantee_account": B, "name": name, "expires_at": expires}))
        .await;
    assert_eq!(
        (share["expires_at"].as_str(), share["status"].as_str()),
        (Some(expires.as_str()), Some("active"))
    );
    let docs = w.documents(&name).await;
    let object = |account: &str| {
        format!(
            "arn:aws:s3:::{}/{}",
            w.bucket,
            log_key(None, account, "1200")
        )
    };
    let at = |moment: &str| json!({"aws:CurrentTime": moment});
    let assume_at = |moment: &str| {
        let mut case = docs.assume(&format!("arn:aws:iam::{B}:user/analyst"), None);
        case["request"]["context"] = at(moment);
        case
    };
    let (before, after) = (from_now(3_600), from_now(2 * 86_400));
    let mut cases = vec![
        (assume_at(&before), "Allowed"),
        (assume_at(&expires), "ImplicitlyDenied"),
        (assume_at(&after), "ImplicitlyDenied"),
        (
            docs.call("s3:GetObject", &object(B), at(&before), &[], true),
            "Allowed",
        ),
        // A session issued before the expiry reads nothing from then on.
        (
            docs.call("s3:GetObject", &object(B), at(&expires), &[], true),
            "ExplicitlyDenied",
        ),
        (
            docs.call("s3:GetObject", &object(B), at(&after), &[], true),
            "ExplicitlyDenied",
        ),
        (
            docs.call(
                "s3:ListBucket",
                &format!("arn:aws:s3:::{}", w.bucket),
                json!({"aws:CurrentTime": after, "s3:prefix": format!("AWSLogs/{B}/")}),
                &[],
                true,
            ),
            "ExplicitlyDenied",
        ),
    ];

    // A replace to new principals, fewer accounts and an earlier expiry,
    // stopped by IAM after the inline policy was narrowed (this provisioner
    // may not change trust): the old principals are still trusted until
    // the old, later expiry, but read nothing past the new, earlier one.
    let w = world_with(
        &ROLE_ACTIONS
            .iter()
            .copied()
            .filter(|a| *a != "iam:UpdateAssumeRolePolicy")
            .collect::<Vec<_>>(),
        true,
    )
    .await;
    let name = unique("bu-b");
    let (soon, late) = (from_now(86_400), from_now(3 * 86_400));
    let readers = format!("arn:aws:iam::{B}:role/Readers");
    w.create(
        json!({"grantee_account": B, "name": name, "grantee_principals": [readers],
                    "log_accounts": [B, C], "external_id": "b-ext-01", "expires_at": late}),
    )
    .await;
    let (status, body) = w
        .call(
            "PUT",
            &format!("/shares/{name}"),
            Some(json!({"grantee_account": B,
            "grantee_principals": [format!("arn:aws:iam::{B}:role/Auditors")], "log_accounts": [C],
            "external_id": "b-ext-02", "expires_at": soon})),
        )
        .await;
    assert_eq!(status, 502, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("iam:UpdateAssumeRolePolicy failed"),
        "{body}"
    );
    let mid = w.documents(&name).await;
    let object = |account: &str| {
        format!(
            "arn:aws:s3:::{}/{}",
            w.bucket,
            log_key(None, account, "1200")
        )
    };
    let between = from_now(2 * 86_400);
    let mut assume_between = mid.assume(&readers, Some("b-ext-01"));
    assume_between["request"]["context"]["aws:CurrentTime"] = json!(between);
    cases.extend([
        (assume_between, "Allowed"),
        (
            mid.call("s3:GetObject", &object(C), at(&before), &[], true),
            "Allowed",
        ),
        (
            mid.call("s3:GetObject", &object(B), at(&before), &[], true),
            "ImplicitlyDenied",
        ),
        (
            mid.call("s3:GetObject", &object(C), at(&between), &[], true),
            "ExplicitlyDenied",
        ),
    ]);
    expect_decisions(cases);
}

/// The daily `Scheduled Event` deletes expired share roles from IAM and
/// nothing else; until then the share is listed as expired.
#[tokio::test]
async fn the_schedule_sweeps_expired_share_roles_from_iam() {
    let w = world().await;
    let (gone, live, forever) = (unique("gone"), unique("live"), unique("forever"));
    w.create(json!({"grantee_account": B, "name": gone, "expires_at": from_now(2)}))
        .await;
    w.create(json!({"grantee_account": C, "name": live, "expires_at": from_now(86_400)}))
        .await;
    w.create(json!({"grantee_account": B, "name": forever}))
        .await;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let (status, share) = w.call("GET", &format!("/shares/{gone}"), None).await;
    assert_eq!((status, share["status"].as_str()), (200, Some("expired")));
    let (_, share) = w.call("GET", &format!("/shares/{live}"), None).await;
    assert_eq!(share["status"], "active");

    let event: Value =
        serde_json::from_str(include_str!("fixtures/events/eventbridge-scheduled.json")).unwrap();
    let outcome = w.provisioner.handle_invocation(event).await.unwrap();
    assert_eq!(outcome["swept"], json!([gone]));
    let mut roles = w.roles().await;
    roles.sort();
    assert_eq!(
        roles,
        [
            format!("trailshare-{forever}"),
            format!("trailshare-{live}")
        ]
    );
    assert_eq!(w.call("GET", &format!("/shares/{gone}"), None).await.0, 404);
}

/// The stand-in applies the expiry too (scripts/moto_server.py judges
/// `aws:CurrentTime`): a session reads until `expires_at` and nothing a
/// second after.
#[tokio::test]
async fn a_session_reads_until_the_expiry_and_not_after() {
    let w = world().await;
    let name = unique("temp");
    let expires = from_now(5);
    let share = w
        .create(json!({"grantee_account": B, "name": name, "expires_at": expires}))
        .await;
    let role = share["role_arn"].as_str().unwrap();
    let analyst = w.grantee(B, &share).await;
    let session = w.aws.assume(&analyst, role, None).await.unwrap();
    assert_eq!(w.read(&session, B).await, 200);
    assert_eq!(w.read(&session, C).await, 403);
    let end = time::OffsetDateTime::parse(&expires, &time::format_description::well_known::Rfc3339)
        .unwrap();
    let wait = end - time::OffsetDateTime::now_utc() + time::Duration::seconds(1);
    assert!(wait.is_positive(), "the set-up took longer than 5 s");
    tokio::time::sleep(wait.unsigned_abs()).await;
    assert_eq!(
        w.read(&session, B).await,
        403,
        "a session issued before expires_at reads nothing after it"
    );
    // No new session either: moto does not judge cross-account trust, so
    // `expiry_holds_under_an_independent_evaluator` proves that part.
}

/// The real AWS CLI, configured with nothing but the grantee's own keys as
/// `default` and the share's `cli_profile` pasted as it is, reads the
/// grantee's logs through the share role and nobody else's.
#[tokio::test]
async fn the_cli_profile_works_with_the_real_aws_cli() {
    use aws_credential_types::provider::ProvideCredentials;
    let root = stand_in::repo_root();
    // What `make test` installs (scripts/setup.sh); quick when present.
    let venv = std::process::Command::new(root.join("scripts/venv.sh"))
        .args([".venv-awscli", "requirements/awscli.txt"])
        .status()
        .expect("scripts/venv.sh");
    assert!(venv.success(), "could not install the pinned AWS CLI");
    let w = world_env(
        ROLE_ACTIONS,
        false,
        &[("TRAIL_BUCKET_REGION", stand_in::REGION)],
    )
    .await;
    let name = unique("bu-b");
    let share = w
        .create(json!({"grantee_account": B, "name": name, "external_id": "b-ext-cli"}))
        .await;
    let profile = share["grantee_setup"]["cli_profile"].as_str().unwrap();
    assert!(
        profile.ends_with("\nduration_seconds = 3600\nregion = us-east-1"),
        "{profile}"
    );
    let keys = w
        .grantee(B, &share)
        .await
        .credentials_provider()
        .unwrap()
        .provide_credentials()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    let credentials = dir.path().join("credentials");
    std::fs::write(
        &config,
        format!("[default]\nregion = us-east-1\n\n{profile}\n"),
    )
    .unwrap();
    std::fs::write(
        &credentials,
        format!(
            "[default]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            keys.access_key_id(),
            keys.secret_access_key()
        ),
    )
    .unwrap();
    let aws = |args: &[&str]| {
        let mut command = std::process::Command::new(root.join(".venv-awscli/bin/aws"));
        command
            .args(args)
            .args(["--profile", &format!("trailshare-{name}")]);
        // Only the files above: nothing from this machine's environment.
        for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("AWS_")) {
            command.env_remove(key);
        }
        let output = command
            .env("AWS_CONFIG_FILE", &config)
            .env("AWS_SHARED_CREDENTIALS_FILE", &credentials)
            .env("AWS_ENDPOINT_URL", &w.aws.url)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output()
            .expect("run the AWS CLI");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).to_string(),
            String::from_utf8_lossy(&output.stderr).to_string(),
        )
    };
    let (ok, identity, err) = aws(&["sts", "get-caller-identity", "--output", "text"]);
    assert!(ok, "{err}");
    assert!(
        identity.contains(&format!("assumed-role/trailshare-{name}/")),
        "{identity}"
    );
    let bucket = format!("s3://{}", w.bucket);
    let (ok, listing, err) = aws(&["s3", "ls", &format!("{bucket}/AWSLogs/{B}/"), "--recursive"]);
    assert!(ok, "{err}");
    assert!(listing.contains(&log_key(None, B, "1200")), "{listing}");
    assert!(!listing.contains(C), "{listing}");
    // C's file: denied (moto does not judge the s3:prefix condition of a
    // listing; the evaluator does, in the tests above).
    let (ok, _, err) = aws(&[
        "s3",
        "cp",
        &format!("{bucket}/{}", log_key(None, C, "1200")),
        "-",
    ]);
    assert!(!ok && err.contains("403"), "{err}");
    let (ok, body, err) = aws(&[
        "s3",
        "cp",
        &format!("{bucket}/{}", log_key(None, B, "1200")),
        "-",
    ]);
    assert!(ok, "{err}");
    assert!(!body.is_empty());
}

#[tokio::test]
async fn notifications_go_to_the_grantee_only() {
    let listed = format!("arn:aws:sqs:us-east-1:{B}:b-new-logs");
    let forwarder = format!("arn:aws:iam::{A}:role/trailshare-ForwarderRole-X");
    let w = world_env(
        ROLE_ACTIONS,
        false,
        &[
            ("NOTIFICATION_TARGET_ARNS", listed.as_str()),
            ("FORWARDER_ROLE_ARN", forwarder.as_str()),
        ],
    )
    .await;
    for (notify, field) in [
        // Not in the stack's list: the forwarder could never send to it.
        (
            json!({"queue_arn": format!("arn:aws:sqs:us-east-1:{B}:elsewhere")}),
            "notify.queue_arn",
        ),
        // Someone else's topic: never, list or not.
        (
            json!({"topic_arn": format!("arn:aws:sns:us-east-1:{C}:t")}),
            "notify.topic_arn",
        ),
        (
            json!({"queue_arn": listed, "topic_arn": format!("arn:aws:sns:us-east-1:{B}:t")}),
            "notify",
        ),
    ] {
        let (status, body) = w
            .call(
                "POST",
                "/shares",
                Some(json!({"grantee_account": B, "notify": notify})),
            )
            .await;
        assert_eq!(
            (status, body["error"]["field"].as_str()),
            (400, Some(field)),
            "{body}"
        );
    }
    assert!(w.roles().await.is_empty(), "a refused share left a role");

    let share = w
        .create(
            json!({"grantee_account": B, "name": unique("bu-b"), "notify": {"queue_arn": listed}}),
        )
        .await;
    assert_eq!(share["notify"], json!({"queue_arn": listed}));
    let (_, got) = w
        .call(
            "GET",
            &format!("/shares/{}", share["name"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(
        got["notify"],
        json!({"queue_arn": listed}),
        "GET rebuilds notify from IAM"
    );
    // The statement the queue's owner adds lets the forwarder send, and
    // nobody else, and nothing else.
    let policy = &share["grantee_setup"]["queue_policy"];
    let case = |principal: &str, action: &str| {
        json!({"name": format!("{principal} {action}"), "identityPolicies": [
                   {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}]}],
               "resourcePolicy": policy,
               "request": {"principal": principal, "action": action, "resource": listed, "resourceAccount": B, "context": {}}})
    };
    let session = format!("arn:aws:sts::{A}:assumed-role/trailshare-ForwarderRole-X/forwarder");
    expect_decisions(vec![
        (case(&session, "sqs:SendMessage"), "Allowed"),
        (case(&session, "sqs:ReceiveMessage"), "ImplicitlyDenied"),
        (
            case(
                &format!("arn:aws:sts::{A}:assumed-role/other/s"),
                "sqs:SendMessage",
            ),
            "ImplicitlyDenied",
        ),
        (
            case(
                &format!("arn:aws:sts::{Z}:assumed-role/trailshare-ForwarderRole-X/s"),
                "sqs:SendMessage",
            ),
            "ImplicitlyDenied",
        ),
    ]);
}

/// Scenario 1 in each trail layout the product supports, through the real
/// role: Control Tower's (`TRAIL_PREFIX` = `ORGANIZATION_ID`), an
/// organization trail without a prefix, and a custom prefix. B's role reads
/// B's files under both the member and the organization path, and nothing
/// of C's, nor B's files outside the layout's root.
#[tokio::test]
async fn scenario_one_holds_in_control_tower_organization_and_custom_prefix_layouts() {
    const ORG: &str = "o-a1b2c3d4e5";
    let layouts: [(&str, &[(&str, &str)]); 3] = [
        (
            "o-a1b2c3d4e5/",
            &[("TRAIL_PREFIX", ORG), ("ORGANIZATION_ID", ORG)],
        ),
        ("", &[("ORGANIZATION_ID", ORG)]),
        ("audit/central/", &[("TRAIL_PREFIX", "audit/central")]),
    ];
    for (root, vars) in layouts {
        let w = world_env(ROLE_ACTIONS, true, vars).await;
        let organization = vars.iter().any(|(k, _)| *k == "ORGANIZATION_ID");
        let key = |account: &str, org: bool| {
            let org = if org {
                format!("{ORG}/")
            } else {
                String::new()
            };
            format!("{root}AWSLogs/{org}{account}/CloudTrail/us-east-1/2024/05/01/{account}_CloudTrail_us-east-1_20240501T1200Z_L4yout.json.gz")
        };
        let mut paths = vec![false];
        if organization {
            paths.push(true);
        }
        let a_s3 = s3(&w.admin);
        for account in [B, C] {
            for &org in &paths {
                put_log(&a_s3, &w.bucket, &key(account, org), log_file(account, "x")).await;
            }
        }
        let share = w
            .create(json!({"grantee_account": B, "name": unique("layout-b")}))
            .await;
        let user = w.grantee(B, &share).await;
        let session = w
            .aws
            .assume(&user, share["role_arn"].as_str().unwrap(), None)
            .await
            .expect("B assumes its role");
        let get = |key: String| {
            let client = s3(&session);
            let bucket = w.bucket.clone();
            async move { s3_status(&client.get_object().bucket(bucket).key(key).send().await) }
        };
        for &org in &paths {
            assert_eq!(
                get(key(B, org)).await,
                200,
                "{root}: B reads {}",
                key(B, org)
            );
            assert_eq!(
                get(key(C, org)).await,
                403,
                "{root}: B must not read {}",
                key(C, org)
            );
        }
        // AWS Config's files beside B's CloudTrail folder (as in Control
        // Tower's log archive): not readable through the share.
        let config_key = |org: bool| {
            key(B, org)
                .replace("/CloudTrail/", "/Config/")
                .replace("_CloudTrail_", "_Config_")
        };
        for &org in &paths {
            put_log(&a_s3, &w.bucket, &config_key(org), log_file(B, "x")).await;
            assert_eq!(
                get(config_key(org)).await,
                403,
                "{root}: B must not read {}",
                config_key(org)
            );
        }
        if !root.is_empty() {
            // world_env's files lie at AWSLogs/<acct>/…, outside this root.
            assert_eq!(
                get(log_key(None, B, "1200")).await,
                403,
                "{root}: B's role reads only under the trail's prefix"
            );
        }
    }
}

/// Grants stop at CloudTrail's own folders: a share role (of one account,
/// and of every account) reads the log, digest and Insight files of its
/// accounts, and no other service's object beside them: Control Tower's
/// log archive keeps AWS Config under `AWSLogs/<acct>/Config/` (key shapes
/// from the AWS Config developer guide, "Delivering configuration
/// snapshots/history to an S3 bucket"). Judged by the independent
/// evaluator on the documents the provisioner writes (inline policy and
/// the stack's boundary), in the account and the organization layouts,
/// with and without a prefix and KMS. Listing the account folder stays
/// allowed (`trailshare pull`, `aws s3 ls`). Failed before the fix: every
/// Config key was Allowed.
#[test]
fn share_roles_read_only_cloudtrail_folders_in_every_layout() {
    const ORG: &str = "o-a1b2c3d4e5";
    let kms_key = format!("arn:aws:kms:us-east-1:{A}:key/1234abcd-12ab-34cd-56ef-1234567890ab");
    let org_trail = format!("arn:aws:cloudtrail:us-east-1:{A}:trail/org-trail");
    let layouts: [&[(&str, &str)]; 4] = [
        &[],
        &[("TRAIL_PREFIX", "audit/central"), ("KMS_KEY_ARN", &kms_key)],
        &[("ORGANIZATION_ID", ORG)],
        &[
            ("TRAIL_PREFIX", ORG),
            ("ORGANIZATION_ID", ORG),
            ("KMS_KEY_ARN", &kms_key),
            ("TRAIL_ARN", &org_trail),
        ],
    ];
    let mut cases = Vec::new();
    for vars in layouts {
        let config = Config::from_lookup(|name| match name {
            "TRAIL_BUCKET" => Some("central-trail".into()),
            "PERMISSIONS_BOUNDARY_ARN" => Some(format!("arn:aws:iam::{A}:policy/boundary")),
            _ => vars
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string()),
        })
        .expect("config");
        let root = config.logs_root();
        let mut folders = vec![format!("{root}{B}/")];
        if let Some(org) = &config.organization_id {
            folders.push(format!("{root}{org}/{B}/"));
        }
        let boundary = trailshare::policy::boundary_policy(&config);
        for body in [
            json!({"name": "bu-b", "grantee_account": B}),
            json!({"name": "z", "grantee_account": Z, "log_accounts": ["*"], "external_id": "z-ext-01"}),
        ] {
            let spec = trailshare::share::validate(&body, None, "central-trail").expect("spec");
            let policy =
                trailshare::policy::role_policy(&spec, &config, Some("2026-01-01T00:00:00Z"));
            let call = |action: &str, resource: String, context: Value, want: &'static str| {
                let mut case = json!({"name": format!("{vars:?} {} {action} {resource} {context}", spec.name),
                    "identityPolicies": [policy.clone()],
                    "permissionBoundaryPolicies": [boundary.clone()],
                    "request": {"principal": format!("arn:aws:sts::{A}:assumed-role/trailshare-{}/s", spec.name),
                                "action": action, "resource": resource, "resourceAccount": A,
                                "context": context}});
                if action == "kms:Decrypt" {
                    // The key policy leaves the decision to A's IAM policies.
                    case["resourcePolicy"] = json!({"Version": "2012-10-17", "Statement": [
                        {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{A}:root")},
                         "Action": "kms:*", "Resource": "*"}]});
                }
                (case, want)
            };
            let object = |key: String| format!("arn:aws:s3:::central-trail/{key}");
            for folder in &folders {
                for file in [
                    format!("CloudTrail/us-east-1/2024/05/01/{B}_CloudTrail_us-east-1_20240501T1200Z_AbCd.json.gz"),
                    format!("CloudTrail-Digest/us-east-1/2024/05/01/{B}_CloudTrail-Digest_us-east-1_main_us-east-1_20240501T120000Z.json.gz"),
                    format!("CloudTrail-Insight/us-east-1/2024/05/01/{B}_CloudTrail-Insight_us-east-1_20240501T1200Z_AbCd.json.gz"),
                ] {
                    cases.push(call("s3:GetObject", object(format!("{folder}{file}")), json!({}), "Allowed"));
                }
                for file in [
                    format!("Config/us-east-1/2024/5/1/ConfigHistory/{B}_Config_us-east-1_ConfigHistory_AWS::S3::Bucket_20240501T120000Z_20240501T120000Z_1.json.gz"),
                    format!("Config/us-east-1/2024/5/1/ConfigSnapshot/{B}_Config_us-east-1_ConfigSnapshot_20240501T120000Z_a1b2c3d4.json.gz"),
                    "Config/ConfigWritabilityCheckFile".to_string(),
                ] {
                    cases.push(call("s3:GetObject", object(format!("{folder}{file}")), json!({}), "ExplicitlyDenied"));
                }
                cases.push(call(
                    "s3:ListBucket",
                    "arn:aws:s3:::central-trail".into(),
                    json!({"s3:prefix": folder, "s3:delimiter": "/"}),
                    "Allowed",
                ));
            }
            if let Some(key) = &config.kms_key_arn {
                // S3 decrypts a Config object with its own context
                // (aws:s3:arn), never CloudTrail's: refused.
                let via = "s3.us-east-1.amazonaws.com";
                let config_object = object(format!(
                    "{}Config/us-east-1/2024/5/1/ConfigHistory/x.json.gz",
                    folders[0]
                ));
                cases.push(call("kms:Decrypt", key.clone(),
                                json!({"kms:ViaService": via, "kms:EncryptionContext:aws:s3:arn": config_object}),
                                "ImplicitlyDenied"));
                cases.push(call("kms:Decrypt", key.clone(),
                                json!({"kms:ViaService": via, "kms:EncryptionContext:aws:cloudtrail:arn":
                                       config.trail_arn.clone().unwrap_or(format!("arn:aws:cloudtrail:us-east-1:{B}:trail/main"))}),
                                "Allowed"));
            }
        }
    }
    expect_decisions(cases);
}

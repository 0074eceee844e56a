//! The provisioner's handler, in-process, against the stand-in with IAM
//! enforcement on: real IAM roles, real AssumeRole, real S3 reads.

mod access;
mod documents;
mod expiry;
mod key_policy;
mod lifecycle;
mod policies;
mod requests;
mod restrictions;

use aws_config::SdkConfig;
use provisioner::Provisioner;
use serde_json::{json, Value};
use stand_in::{
    config, log_file, log_key, put_log, s3, s3_status, stand_in, unique, StandIn, A, B, C,
};
use trailshare::aws::IamRoles;

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
    if boundary {
        // The boundary as the template makes it, for this deployment.
        let boundary_config = config(&vars);
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
    let config = config(&vars);
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
        serde_json::from_str(include_str!("../fixtures/events/apigw-v2-create.json")).unwrap();
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

    /// The ARN of `account`'s log file that the world put in the bucket.
    fn object_arn(&self, account: &str) -> String {
        format!(
            "arn:aws:s3:::{}/{}",
            self.bucket,
            log_key(None, account, "1200")
        )
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

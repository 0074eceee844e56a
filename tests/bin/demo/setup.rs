//! The stage: the stand-in, account A's trail bucket, the deployment (the
//! share roles' boundary, the share secret, B's queue, the functions'
//! identity) and both functions running as Lambda binaries.

use aws_credential_types::Credentials;
use serde_json::json;
use stand_in::{
    digest_file, digest_key, log_key, put_log, s3, stand_in, trail_file, unique, StandIn, A, B, C,
};

use super::lambdas::{functions_key, runtime_env};
use super::{step, Demo, Lambdas};

/// What the deployment made, for the functions and for B.
pub(crate) struct Deployment {
    pub(crate) share_path: String,
    /// Where the forwarder writes share activity (DESIGN.md "Activity").
    pub(crate) activity: String,
    boundary: String,
    secret: String,
    /// The functions' access key.
    key: Credentials,
    /// B's queue (an "SQS-based S3" input of B's SIEM): ARN and URL.
    pub(crate) b_queue: String,
    pub(crate) b_queue_url: String,
    pub(crate) b_sqs: aws_sdk_sqs::Client,
}

pub(crate) async fn start_stand_in() -> &'static StandIn {
    step("Start the local AWS stand-in (moto, IAM enforcement on) with accounts A, B, C and Z");
    let aws: &StandIn = tokio::task::spawn_blocking(stand_in).await.unwrap();
    println!("    moto at {}", aws.url);
    aws
}

pub(crate) async fn trail_bucket(aws: &'static StandIn) -> Demo {
    step("Account A: the central trail bucket with CloudTrail log files of A, B and C");
    let trail = aws.bucket(A, "central-trail").await;
    let a_s3 = s3(&aws.admin(A).await);
    let mut keys = Vec::new();
    for (account, stamp) in [(A, "1205"), (B, "1205"), (C, "1205")] {
        let key = log_key(None, account, stamp);
        put_log(&a_s3, &trail, &key, trail_file(account)).await;
        println!("    s3://{trail}/{key}");
        keys.push(key);
    }
    let digest = digest_key(None, B);
    a_s3.put_object()
        .bucket(&trail)
        .key(&digest)
        .body(digest_file(B, &trail, &keys[1..2]).into())
        .content_type("application/json")
        .content_encoding("gzip")
        .metadata("signature", "9d0a4c3e8f")
        .metadata("signing-algorithm", "SHA256withRSA")
        .send()
        .await
        .unwrap();
    println!("    s3://{trail}/{digest}  (digest, signature in metadata)");
    let c_bucket = aws.bucket(C, "c-central-logs").await;
    Demo {
        aws,
        trail,
        keys,
        digest,
        c_bucket,
    }
}

pub(crate) async fn deploy(demo: &Demo) -> Deployment {
    let Demo {
        aws,
        trail,
        c_bucket,
        ..
    } = demo;
    step("Deploy: the share roles' permissions boundary, and the functions' identity in A");
    let share_path = "/trailshare/".to_string();
    let activity = aws.bucket(A, "activity").await;
    println!("    activity bucket {activity} (who used each share)");
    let config =
        trailshare::config::Config::from_lookup(|n| (n == "TRAIL_BUCKET").then(|| trail.clone()))
            .unwrap();
    let boundary = aws_sdk_iam::Client::new(&aws.admin(A).await)
        .create_policy()
        .policy_name("trailshare-share-boundary")
        .policy_document(trailshare::policy::boundary_policy(&config).to_string())
        .send()
        .await
        .unwrap()
        .policy
        .unwrap()
        .arn
        .unwrap();
    println!("    boundary {boundary}");
    let secret = stand_in::create_share_secret(&aws.admin(A).await).await;
    println!("    share secret {secret} (keys the seal of every share's record and route)");
    // B's SIEM reads new log files from a queue in B (an "SQS-based S3" input).
    let b_sqs = aws_sdk_sqs::Client::new(&aws.admin(B).await);
    let b_queue_name = unique("b-new-logs");
    let b_queue_url = b_sqs
        .create_queue()
        .queue_name(&b_queue_name)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let b_queue = format!("arn:aws:sqs:us-east-1:{B}:{b_queue_name}");
    println!("    B's queue {b_queue}");
    // moto authorizes IAM calls against resource `*`, so the template's
    // fence on the share path cannot be shown here (tests/iam-eval/template.test.mjs checks
    // it with the independent evaluator); the actions are the template's.
    let functions_policy = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["iam:CreateRole", "iam:GetRole", "iam:DeleteRole", "iam:UpdateRole", "iam:UpdateAssumeRolePolicy",
            "iam:PutRolePolicy", "iam:GetRolePolicy", "iam:DeleteRolePolicy", "iam:ListRolePolicies", "iam:TagRole", "iam:UntagRole",
            "iam:ListRoleTags", "iam:ListRoles"],
         "Resource": "*"},
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectTagging", "s3:PutObjectTagging"], "Resource": format!("arn:aws:s3:::{trail}/AWSLogs/*")},
        {"Effect": "Allow", "Action": ["s3:PutObject", "s3:PutObjectAcl", "s3:GetObject"], "Resource": format!("arn:aws:s3:::{c_bucket}/*")},
        {"Effect": "Allow", "Action": ["sqs:SendMessage", "sns:Publish"], "Resource": b_queue},
        // Share activity: the forwarder writes it, the provisioner reads it.
        {"Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"], "Resource": format!("arn:aws:s3:::{activity}/share=*")},
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": format!("arn:aws:s3:::{activity}")},
        // moto authorizes Secrets Manager calls against resource "*" only (as
        // IAM's): the template's grant of this one secret is judged by the
        // evaluator (template.test.mjs).
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}
    ]});
    // The functions sign as a user of A with that policy; its keys go to them.
    let key = functions_key(aws, &functions_policy).await;
    Deployment {
        share_path,
        activity,
        boundary,
        secret,
        key,
        b_queue,
        b_queue_url,
        b_sqs,
    }
}

pub(crate) fn run_functions(demo: &Demo, deployment: &Deployment) -> Lambdas {
    let Demo { aws, trail, .. } = demo;
    let Deployment {
        share_path,
        boundary,
        secret,
        key,
        ..
    } = deployment;
    step(
        "Run both functions as Lambda binaries (cargo lambda watch: the Lambda runtime interface)",
    );
    let mut env = vec![
        ("TRAIL_BUCKET", trail.clone()),
        ("SHARE_SECRET_ARN", secret.clone()),
        ("SHARE_ROLE_PATH", share_path.clone()),
        ("PERMISSIONS_BOUNDARY_ARN", boundary.clone()),
        ("ACTIVITY_BUCKET", deployment.activity.clone()),
        ("OWNER_ACCOUNT", A.to_string()),
    ];
    env.extend(runtime_env(aws, key));
    let lambdas = Lambdas::start("demo-lambdas", &env);
    println!(
        "    runtime API on 127.0.0.1:{} (first call compiles the functions)",
        lambdas.port
    );
    lambdas
}

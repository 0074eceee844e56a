//! Each trail layout end to end, with its own functions.

use serde_json::{json, Value};
use stand_in::{put_log, s3, trail_file, unique, StandIn, A, B, C};

use super::lambdas::{functions_key, queue_batch, runtime_env, Lambdas};
use super::{analyst, backfill, object_tags, read_status, step, Report};

/// The organization of the layouts below.
pub(crate) const ORG: &str = "o-a1b2c3d4e5";

/// Where a trail writes its files: `[<prefix>/]AWSLogs/[<org>/]<account>/…`.
pub(crate) struct Layout {
    title: &'static str,
    /// Names this layout's bucket, share path, shares and copy prefix.
    short: &'static str,
    prefix: Option<&'static str>,
    org: Option<&'static str>,
}

pub(crate) const LAYOUTS: [Layout; 3] = [
    Layout {
        title: "Control Tower (TRAIL_PREFIX=ORGANIZATION_ID=o-a1b2c3d4e5), CloudTrail's own SNS notification",
        short: "ct",
        prefix: Some(ORG),
        org: Some(ORG),
    },
    Layout {
        title: "organization trail without a prefix (ORGANIZATION_ID=o-a1b2c3d4e5), EventBridge via SQS",
        short: "org",
        prefix: None,
        org: Some(ORG),
    },
    Layout {
        title: "custom prefix (TRAIL_PREFIX=audit/central), S3 event notification",
        short: "custom",
        prefix: Some("audit/central"),
        org: None,
    },
];

/// The organization share's deployment: Control Tower's layout, a stack of
/// its own (`organization.rs`).
pub(crate) const CONTROL_TOWER_MEMBERS: Layout = Layout {
    title: "Control Tower, an organization share",
    short: "members",
    prefix: Some(ORG),
    org: Some(ORG),
};

impl Layout {
    /// A log file of `account` on 2024-05-`day` in this layout.
    pub(crate) fn key(&self, account: &str, day: u32) -> String {
        let prefix = self.prefix.map(|p| format!("{p}/")).unwrap_or_default();
        let org = self.org.map(|o| format!("{o}/")).unwrap_or_default();
        format!("{prefix}AWSLogs/{org}{account}/CloudTrail/us-east-1/2024/05/{day:02}/{account}_CloudTrail_us-east-1_202405{day:02}T1205Z_AbCdEf12.json.gz")
    }

    /// `<prefix>/AWSLogs/`: what the functions may read and tag.
    fn logs_root(&self) -> String {
        match self.prefix {
            Some(prefix) => format!("{prefix}/AWSLogs/"),
            None => "AWSLogs/".to_string(),
        }
    }

    /// How the trail announces `keys` in this layout: Control Tower's
    /// bucket notifications cannot change, so CloudTrail's SNS topic.
    fn arrival(&self, bucket: &str, keys: &[String]) -> Value {
        match self.short {
            "ct" => {
                let message = json!({"s3Bucket": bucket, "s3ObjectKey": keys}).to_string();
                json!({"Records": [{"EventVersion": "1.0", "EventSource": "aws:sns",
                    "EventSubscriptionArn": format!("arn:aws:sns:us-east-1:{A}:aws-controltower-AllConfigNotifications:1"),
                    "Sns": {"Type": "Notification", "MessageId": "1", "Message": message,
                        "TopicArn": format!("arn:aws:sns:us-east-1:{A}:aws-controltower-AllConfigNotifications"),
                        "Timestamp": "2024-05-03T12:05:00.000Z"}}]})
            }
            "org" => queue_batch(bucket, keys),
            _ => {
                json!({"Records": keys.iter().map(|key| json!({"eventVersion": "2.1", "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": 100}}}))
                .collect::<Vec<_>>()})
            }
        }
    }
}

/// A layout's deployment on the stand-in: its trail bucket, the share
/// roles' boundary and secret, the forwarder's queue and where backfill
/// runs keep their counts, and both real Lambda binaries under their own
/// `cargo lambda watch` started with the layout's environment.
pub(crate) struct Stack {
    pub(crate) trail: String,
    pub(crate) lambdas: Lambdas,
    sqs: aws_sdk_sqs::Client,
    queue: String,
    queue_name: String,
}

impl Layout {
    pub(crate) async fn deploy(&self, aws: &StandIn, c_bucket: &str) -> Stack {
        let admin = aws.admin(A).await;
        let trail = aws.bucket(A, &format!("trail-{}", self.short)).await;
        let sqs = aws_sdk_sqs::Client::new(&admin);
        let queue_name = unique(&format!("forwarder-{}", self.short));
        let queue = sqs
            .create_queue()
            .queue_name(&queue_name)
            .send()
            .await
            .ok()
            .and_then(|q| q.queue_url)
            .unwrap_or_default();
        let mut vars = vec![("TRAIL_BUCKET", trail.clone())];
        vars.extend(self.prefix.map(|p| ("TRAIL_PREFIX", p.to_string())));
        vars.extend(self.org.map(|o| ("ORGANIZATION_ID", o.to_string())));
        let config = trailshare::config::Config::from_lookup(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
        })
        .expect("layout config");
        let boundary = aws_sdk_iam::Client::new(&admin)
            .create_policy()
            .policy_name(format!("trailshare-share-boundary-{}", self.short))
            .policy_document(trailshare::policy::boundary_policy(&config).to_string())
            .send()
            .await
            .ok()
            .and_then(|p| p.policy?.arn)
            .unwrap_or_default();
        let secret = stand_in::create_share_secret(&admin).await;
        // Where backfill runs keep their counts (the template's BackfillBucket).
        let runs = aws.bucket(A, &format!("runs-{}", self.short)).await;
        let policy = self.functions_policy(&trail, &runs, c_bucket, &queue_name);
        let key = functions_key(aws, &policy).await;
        let mut env = vars.clone();
        env.extend([
            ("SHARE_SECRET_ARN", secret),
            ("SHARE_ROLE_PATH", format!("/trailshare-{}/", self.short)),
            ("PERMISSIONS_BOUNDARY_ARN", boundary),
            ("FORWARDER_QUEUE_URL", queue.clone()),
            ("BACKFILL_BUCKET", runs),
        ]);
        env.extend(runtime_env(aws, &key));
        let settings: Vec<String> = vars[1..].iter().map(|(k, v)| format!("{k}={v}")).collect();
        let lambdas = Lambdas::start(&format!("demo-lambdas-{}", self.short), &env);
        println!(
            "    both functions under their own cargo lambda watch (127.0.0.1:{}), {}",
            lambdas.port,
            settings.join(" ")
        );
        Stack {
            trail,
            lambdas,
            sqs,
            queue,
            queue_name,
        }
    }

    /// The template's grants for this layout (IAM as in the first step).
    /// moto authorizes SendMessageBatch as its own action; AWS, as
    /// sqs:SendMessage (the template's grant).
    fn functions_policy(&self, trail: &str, runs: &str, c_bucket: &str, queue_name: &str) -> Value {
        let root = self.logs_root();
        json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": format!("arn:aws:s3:::{runs}/runs/*")},
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": format!("arn:aws:s3:::{runs}")},
            {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"},
            {"Effect": "Allow", "Action": ["iam:CreateRole", "iam:GetRole", "iam:DeleteRole", "iam:UpdateRole", "iam:UpdateAssumeRolePolicy",
                "iam:PutRolePolicy", "iam:GetRolePolicy", "iam:DeleteRolePolicy", "iam:ListRolePolicies", "iam:TagRole", "iam:UntagRole",
                "iam:ListRoles"], "Resource": "*"},
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectTagging", "s3:PutObjectTagging"], "Resource": format!("arn:aws:s3:::{trail}/{root}*")},
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": format!("arn:aws:s3:::{trail}")},
            {"Effect": "Allow", "Action": ["s3:PutObject", "s3:PutObjectAcl", "s3:GetObject"], "Resource": format!("arn:aws:s3:::{c_bucket}/*")},
            {"Effect": "Allow", "Action": ["sqs:SendMessage", "sqs:SendMessageBatch"], "Resource": format!("arn:aws:sqs:us-east-1:{A}:{queue_name}")}
        ]})
    }
}

/// One trail layout end to end, with both real Lambda binaries run by their
/// own `cargo lambda watch` started with this layout's environment: a share
/// reads its own account's files there and not another's; new files are
/// tagged and copied; backfill delivers the files already there.
pub(crate) async fn layout_step(
    report: &mut Report,
    aws: &StandIn,
    layout: &Layout,
    c_bucket: &str,
) {
    step(&format!("Layout: {}", layout.title));
    let Stack {
        trail,
        lambdas,
        sqs,
        queue,
        queue_name,
    } = layout.deploy(aws, c_bucket).await;
    let a_s3 = s3(&aws.admin(A).await);
    let root = layout.logs_root();
    // Files from before the shares: B's on May 1 and 2, C's on May 1.
    let old = [
        (B, layout.key(B, 1)),
        (B, layout.key(B, 2)),
        (C, layout.key(C, 1)),
    ];
    for (account, key) in &old {
        put_log(&a_s3, &trail, key, trail_file(account)).await;
    }
    println!("    s3://{trail}/{}  (and 2 more)", old[0].1);

    let b_name = format!("{}-b", layout.short);
    let c_name = format!("{}-c", layout.short);
    let copy_prefix = format!("{}/", layout.short);
    let (status, b_share) = lambdas.api(
        "POST",
        "/shares",
        Some(json!({"name": b_name, "grantee_account": B, "delivery": {"mode": "tag"}})),
    );
    let (c_status, _) = lambdas.api(
        "POST",
        "/shares",
        Some(json!({"name": c_name, "grantee_account": C,
            "delivery": {"mode": "copy", "bucket": c_bucket, "prefix": copy_prefix}})),
    );
    report.check(
        status == 201 && c_status == 201,
        &format!("POST /shares {b_name} (B, tag) -> {status}, {c_name} (C, copy) -> {c_status}"),
    );
    let read = match b_share["role_arn"].as_str() {
        None => None,
        Some(role) => {
            let analyst = analyst(aws, B, &b_share).await;
            match aws.assume(&analyst, role, None).await {
                Ok(session) => Some((
                    read_status(&session, &trail, &old[0].1).await,
                    read_status(&session, &trail, &old[2].1).await,
                )),
                Err(_) => None,
            }
        }
    };
    report.check(
        read == Some((200, 403)),
        &format!(
            "B's role reads B's {}… -> {}, C's -> {} (denied)",
            root,
            read.map_or(0, |r| r.0),
            read.map_or(0, |r| r.1)
        ),
    );

    // New files arrive on May 3.
    let new = [layout.key(B, 3), layout.key(C, 3)];
    for (account, key) in [(B, &new[0]), (C, &new[1])] {
        put_log(&a_s3, &trail, key, trail_file(account)).await;
    }
    let reply = lambdas.invoke("forwarder", &layout.arrival(&trail, &new));
    let ok = reply == json!({"batchItemFailures": []})
        || (reply["processed"] == 2 && reply["failed"] == 0);
    let c_admin = s3(&aws.admin(C).await);
    let tagged = |tags: Option<Vec<aws_sdk_s3::types::Tag>>| {
        tags.unwrap_or_default()
            .iter()
            .any(|t| t.key == "trailshare:account" && t.value == B)
    };
    let copied = |key: &str| {
        c_admin
            .head_object()
            .bucket(c_bucket)
            .key(format!("{copy_prefix}{key}"))
            .send()
    };
    let b_tagged = tagged(object_tags(&a_s3, &trail, &new[0]).await);
    let c_copied = copied(&new[1]).await.is_ok();
    report.check(
        ok && b_tagged && c_copied,
        &format!(
            "new files forwarded ({reply}): B's tagged {b_tagged}, C's copied to s3://{c_bucket}/{copy_prefix}… {c_copied}"
        ),
    );

    // Backfill both shares over May 1-2: the files from before them.
    let mut accepted = Vec::new();
    let mut runs = Vec::new();
    for name in [&b_name, &c_name] {
        let (status, answer) = lambdas.api(
            "POST",
            &format!("/shares/{name}/backfill"),
            Some(json!({"from": "2024-05-01", "until": "2024-05-02"})),
        );
        accepted.push(format!(
            "{name} -> {status} {}",
            answer["backfill"]["queued"]
        ));
        if status != 202 {
            accepted.push("FAILED".into());
        }
        runs.push(
            answer["backfill"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
    }
    let queue = backfill::Queue {
        sqs: &sqs,
        url: &queue,
        name: &queue_name,
    };
    let (invocations, failures) =
        backfill::drain(&queue, &lambdas, Some((b_name.as_str(), runs[0].as_str()))).await;
    let b_old = tagged(object_tags(&a_s3, &trail, &old[0].1).await)
        && tagged(object_tags(&a_s3, &trail, &old[1].1).await);
    let c_old = copied(&old[2].1).await.is_ok();
    let c_untagged = object_tags(&a_s3, &trail, &old[2].1).await == Some(Vec::new());
    report.check(
        !accepted.iter().any(|a| a == "FAILED")
            && failures == 0
            && b_old
            && c_old
            && c_untagged,
        &format!(
            "backfill May 1-2 ({}; {invocations} forwarder invocations): B's 2 old files tagged {b_old}, C's copied {c_old}, C's left untagged {c_untagged}",
            accepted.join(", ")
        ),
    );
    backfill::check_runs(report, &lambdas, &queue, &b_name, &runs[0]).await;
    drop(lambdas);
}

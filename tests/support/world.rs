//! The forwarder suites' world (tests/forwarder, tests/faults,
//! tests/tamper): a trail bucket in A and a share path of their own, the
//! provisioner signed as A's administrator (who is the stack's one
//! administrator), and forwarders signed as users of A with the forwarder's
//! permissions.

use aws_config::SdkConfig;
use forwarder::Forwarder;
use provisioner::Provisioner;
use serde_json::{json, Value};
use trailshare::aws::{IamRoles, S3Objects};
use trailshare::config::Config;
use trailshare::events::CreatedObject;

use crate::{api_event, config, s3, share_key, stand_in, unique, StandIn, A};

/// The stack's administrator (ADMIN_PRINCIPALS): A's admin user.
pub const ADMIN: &str = "arn:aws:iam::111111111111:user/admin";

/// A forwarder of these tests, signed as a user of A.
pub type TestForwarder = Forwarder<IamRoles, S3Objects>;

/// One test's world.
pub struct World {
    pub aws: &'static StandIn,
    /// The trail bucket, in A.
    pub bucket: String,
    /// The functions' configuration.
    pub config: Config,
    /// A's administrator.
    pub admin: SdkConfig,
    /// The provisioner, signed as A's administrator.
    pub provisioner: Provisioner<IamRoles>,
}

/// What a forwarder user may do besides what every one may: read and tag
/// the trail bucket's files, list its folders (backfill) and read the
/// share roles.
#[derive(Clone, Copy, Default)]
pub struct Grants<'a> {
    /// Buckets it writes copies to (and reads them back).
    pub destinations: &'a [&'a str],
    /// Also `s3:ListBucket` on the destinations: a HEAD of a copy not yet
    /// written answers 404, not 403.
    pub list_destinations: bool,
    /// Writer roles it may assume.
    pub writers: &'a [&'a str],
    /// Queues and topics it may announce to (as the template's
    /// NotificationTargetArns grants).
    pub targets: &'a [&'a str],
    /// The activity bucket it writes share activity to (as the template's
    /// WriteShareActivity grants: `share=*` objects only).
    pub activity: Option<&'a str>,
}

impl World {
    /// A new world: TRAIL_BUCKET, SHARE_ROLE_PATH, SHARE_CACHE_SECONDS=0 and
    /// ADMIN_PRINCIPALS, then `extra` variables (later ones win).
    pub async fn new(extra: &[(&str, &str)]) -> World {
        let aws = stand_in();
        let bucket = aws.bucket(A, "trail").await;
        let mut vars = vec![
            ("TRAIL_BUCKET", bucket.clone()),
            ("SHARE_ROLE_PATH", format!("/{}/", unique("trailshare"))),
            ("SHARE_CACHE_SECONDS", "0".to_string()),
            ("ADMIN_PRINCIPALS", ADMIN.to_string()),
        ];
        vars.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        let config = config(&vars);
        let admin = aws.admin(A).await;
        World {
            aws,
            bucket,
            provisioner: Provisioner::new(IamRoles::from_sdk(&admin), config.clone(), share_key()),
            config,
            admin,
        }
    }

    /// The share API, called by the administrator: the status and the
    /// body (null when it is not JSON).
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u64, Value) {
        let event = api_event(method, path, &body.unwrap_or(Value::Null), ADMIN);
        let response = self.provisioner.handle_event(event).await;
        let text = response["body"].as_str().unwrap_or_default();
        (
            response["statusCode"].as_u64().unwrap(),
            serde_json::from_str(text).unwrap_or(Value::Null),
        )
    }

    /// Creates a share through the provisioner (as it stores shares), named
    /// uniquely: role names are account-wide and tests run in parallel.
    pub async fn share(&self, mut body: Value) -> Value {
        body["name"] = json!(unique("share"));
        let (status, share) = self.call("POST", "/shares", Some(body)).await;
        assert_eq!(status, 201, "{share}");
        share
    }

    /// A copy share to a new bucket of `grantee`, with the bucket policy
    /// `grantee_setup` gives; with `writer`, through a writer role in
    /// `grantee` set up as `grantee_setup` describes. Returns the bucket
    /// and the writer role's ARN.
    pub async fn copy_share(
        &self,
        grantee: &str,
        log_accounts: &[&str],
        prefix: &str,
        writer: bool,
    ) -> (String, Option<String>) {
        let dest = self.aws.bucket(grantee, "dest").await;
        let admin = self.aws.admin(grantee).await;
        let writer_name = unique("trailshare-writer");
        let writer_arn = format!("arn:aws:iam::{grantee}:role/{writer_name}");
        let mut delivery = json!({"mode": "copy", "bucket": dest, "prefix": prefix});
        if writer {
            delivery["role_arn"] = json!(writer_arn);
        }
        let mut body =
            json!({"grantee_account": grantee, "log_accounts": log_accounts, "delivery": delivery});
        if log_accounts.iter().any(|a| *a != grantee) {
            body["external_id"] = json!(format!("ext-{}", unique("x")));
        }
        let share = self.share(body).await;
        let setup = &share["grantee_setup"];
        if setup
            .get("destination_bucket_policy")
            .is_some_and(|p| !p.is_null())
        {
            self.put_destination_policy(grantee, &dest, &share).await;
        }
        if !writer {
            return (dest, None);
        }
        let iam = aws_sdk_iam::Client::new(&admin);
        iam.create_role()
            .role_name(&writer_name)
            .assume_role_policy_document(setup["writer_role"]["trust_policy"].to_string())
            .send()
            .await
            .expect("writer role");
        iam.put_role_policy()
            .role_name(&writer_name)
            .policy_name("write")
            .policy_document(setup["writer_role"]["identity_policy"].to_string())
            .send()
            .await
            .expect("writer policy");
        (dest, Some(writer_arn))
    }

    /// `grantee`'s administrator puts on `bucket` the destination bucket
    /// policy that `share`'s `grantee_setup` gives.
    pub async fn put_destination_policy(&self, grantee: &str, bucket: &str, share: &Value) {
        let policy = &share["grantee_setup"]["destination_bucket_policy"];
        assert!(policy.is_object(), "no destination bucket policy: {share}");
        s3(&self.aws.admin(grantee).await)
            .put_bucket_policy()
            .bucket(bucket)
            .policy(policy.to_string())
            .send()
            .await
            .expect("destination bucket policy");
    }

    /// An S3 client of A's administrator.
    pub fn s3(&self) -> aws_sdk_s3::Client {
        s3(&self.admin)
    }

    /// The tags of the trail bucket's `key`.
    pub async fn tags(&self, key: &str) -> Vec<(String, String)> {
        let out = self
            .s3()
            .get_object_tagging()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        out.tag_set.into_iter().map(|t| (t.key, t.value)).collect()
    }

    /// Sets the tags of the trail bucket's `key` to `tags`.
    pub async fn put_tags(&self, key: &str, tags: &[(String, String)]) {
        let tag_set = tags
            .iter()
            .map(|(k, v)| aws_sdk_s3::types::Tag::builder().key(k).value(v).build())
            .collect::<Result<Vec<_>, _>>()
            .expect("tags with keys and values");
        let tagging = aws_sdk_s3::types::Tagging::builder()
            .set_tag_set(Some(tag_set))
            .build()
            .expect("a tag set");
        self.s3()
            .put_object_tagging()
            .bucket(&self.bucket)
            .key(key)
            .tagging(tagging)
            .send()
            .await
            .unwrap_or_else(|e| panic!("tag {key}: {e:?}"));
    }

    /// The trail bucket's `key` as an event names it (no ETag, no size:
    /// the forwarder reads the real ones).
    pub fn created(&self, key: &str) -> CreatedObject {
        CreatedObject {
            bucket: self.bucket.clone(),
            key: key.to_string(),
            etag: None,
            size: None,
        }
    }

    /// A user of A with the forwarder's permissions and `grants`.
    pub async fn forwarder_user(&self, grants: Grants<'_>) -> SdkConfig {
        let mut statements = vec![
            json!({"Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectTagging", "s3:PutObjectTagging"],
                   "Resource": format!("arn:aws:s3:::{}/*", self.bucket)}),
            json!({"Effect": "Allow", "Action": ["iam:ListRoles", "iam:ListRoleTags", "iam:GetRole"], "Resource": "*"}),
            // Backfill: list the trail bucket's folders.
            json!({"Effect": "Allow", "Action": "s3:ListBucket", "Resource": format!("arn:aws:s3:::{}", self.bucket)}),
        ];
        if !grants.destinations.is_empty() {
            let objects: Vec<String> = grants
                .destinations
                .iter()
                .map(|b| format!("arn:aws:s3:::{b}/*"))
                .collect();
            statements.push(json!({"Effect": "Allow", "Action": ["s3:PutObject", "s3:PutObjectAcl", "s3:GetObject"], "Resource": objects}));
            if grants.list_destinations {
                let buckets: Vec<String> = grants
                    .destinations
                    .iter()
                    .map(|b| format!("arn:aws:s3:::{b}"))
                    .collect();
                statements.push(
                    json!({"Effect": "Allow", "Action": "s3:ListBucket", "Resource": buckets}),
                );
            }
        }
        if !grants.writers.is_empty() {
            statements.push(
                json!({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": grants.writers}),
            );
        }
        if let Some(bucket) = grants.activity {
            statements.push(json!({"Effect": "Allow", "Action": "s3:PutObject",
                                   "Resource": format!("arn:aws:s3:::{bucket}/share=*")}));
        }
        if !grants.targets.is_empty() {
            statements.push(json!({"Effect": "Allow", "Action": ["sqs:SendMessage", "sns:Publish"], "Resource": grants.targets}));
        }
        self.aws
            .user(
                A,
                &unique("forwarder"),
                &json!({"Version": "2012-10-17", "Statement": statements}),
            )
            .await
    }

    /// The forwarder of this world, signed with `sdk`.
    pub fn forwarder_as(&self, sdk: &SdkConfig) -> TestForwarder {
        Forwarder::new(
            IamRoles::from_sdk(sdk),
            S3Objects::new(sdk),
            self.config.clone(),
            share_key(),
        )
    }

    /// The forwarder, signed as a user of A with the forwarder's
    /// permissions: it writes copies to `destinations` and assumes
    /// `writers`.
    pub async fn forwarder(&self, destinations: &[&str], writers: &[&str]) -> TestForwarder {
        let user = self
            .forwarder_user(Grants {
                destinations,
                writers,
                ..Grants::default()
            })
            .await;
        self.forwarder_as(&user)
    }
}

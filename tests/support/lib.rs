//! Test support: the local AWS stand-in (moto's server) with IAM enforcement
//! on, four accounts with administrator users, and SDK clients for each.
//!
//! One server per test process, started on first use by `scripts/moto.sh`
//! and stopped by its watchdog when the process exits. Tests share it, so
//! each test names its buckets, users and share path uniquely (`unique`).

pub mod api_gateway;
pub mod binary;
pub mod fault_proxy;
pub mod lambda;
pub mod world;

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use serde_json::{json, Value};

/// Account A: owns the trail bucket and the share roles.
pub const A: &str = "111111111111";
/// Accounts B and C: business units whose logs A collects (scenario 1).
pub const B: &str = "222222222222";
pub const C: &str = "333333333333";
/// Account Z: a third-party auditor (scenario 2).
pub const Z: &str = "444444444444";
pub const ACCOUNTS: [&str; 4] = [A, B, C, Z];
pub const REGION: &str = "us-east-1";
/// The 17 Regions a Control Tower trail of the issue's size delivers from.
pub const SEVENTEEN_REGIONS: [&str; 17] = [
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-north-1",
    "ap-south-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-southeast-1",
    "ap-southeast-2",
    "sa-east-1",
];

/// A running stand-in and the administrator keys of each account.
pub struct StandIn {
    pub url: String,
    admins: HashMap<&'static str, (String, String)>,
}

static STAND_IN: OnceLock<StandIn> = OnceLock::new();
static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The repository root (where `scripts/` lives).
pub fn repo_root() -> PathBuf {
    // The tests crate sits at tests/ in the repository.
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// A name no other test in this run uses: `<prefix>-<pid>-<n>`, lowercase.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// The stand-in for this test process, started and bootstrapped on first use.
pub fn stand_in() -> &'static StandIn {
    STAND_IN.get_or_init(|| {
        // Bootstrap on a thread with its own runtime: SDK clients must not
        // outlive the runtime they were built on, and each test has its own.
        std::thread::spawn(|| {
            let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
            runtime.block_on(StandIn::start())
        })
        .join()
        .expect("stand-in bootstrap panicked")
    })
}

impl StandIn {
    async fn start() -> StandIn {
        let state = repo_root()
            .join("target")
            .join(format!("moto-{}", std::process::id()));
        let output = Command::new(repo_root().join("scripts/moto.sh"))
            .args(["start", "--watch", &std::process::id().to_string()])
            .env("MOTO_STATE_DIR", &state)
            .stderr(Stdio::inherit())
            .output()
            .expect("run scripts/moto.sh");
        assert!(output.status.success(), "scripts/moto.sh start failed");
        let url = String::from_utf8(output.stdout)
            .expect("utf-8 url")
            .trim()
            .to_string();

        // Enforcement is off until every account has an administrator; the
        // header picks the account while requests are not yet signed checks.
        let mut admins = HashMap::new();
        for account in ACCOUNTS {
            let iam = aws_sdk_iam::Client::new(
                &sdk_config(
                    &url,
                    Credentials::new("bootstrap", "bootstrap", None, None, "bootstrap"),
                )
                .await,
            );
            let with_account = move |req: &mut aws_sdk_iam::config::http::HttpRequest| {
                req.headers_mut().insert("x-moto-account-id", account);
            };
            iam.create_user()
                .user_name("admin")
                .customize()
                .mutate_request(with_account)
                .send()
                .await
                .expect("create admin");
            iam.put_user_policy()
                .user_name("admin")
                .policy_name("admin")
                .policy_document(json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}).to_string())
                .customize()
                .mutate_request(with_account)
                .send()
                .await
                .expect("admin policy");
            let key = iam
                .create_access_key()
                .user_name("admin")
                .customize()
                .mutate_request(with_account)
                .send()
                .await
                .expect("admin key")
                .access_key
                .expect("access key");
            admins.insert(account, (key.access_key_id, key.secret_access_key));
        }
        set_enforcement(&url, true);
        StandIn { url, admins }
    }

    /// SDK configuration for account `account`'s administrator.
    pub async fn admin(&self, account: &str) -> SdkConfig {
        let (id, secret) = &self.admins[account];
        sdk_config(
            &self.url,
            Credentials::new(id, secret, None, None, "stand-in"),
        )
        .await
    }

    /// Creates an IAM user in `account` with one inline policy and returns
    /// SDK configuration signed with the user's own access key.
    pub async fn user(&self, account: &str, name: &str, policy: &Value) -> SdkConfig {
        let iam = aws_sdk_iam::Client::new(&self.admin(account).await);
        iam.create_user()
            .user_name(name)
            .send()
            .await
            .expect("create user");
        iam.put_user_policy()
            .user_name(name)
            .policy_name("test-policy")
            .policy_document(policy.to_string())
            .send()
            .await
            .expect("put user policy");
        let key = iam
            .create_access_key()
            .user_name(name)
            .send()
            .await
            .expect("create key")
            .access_key
            .expect("key");
        sdk_config(
            &self.url,
            Credentials::new(
                key.access_key_id,
                key.secret_access_key,
                None,
                None,
                "stand-in",
            ),
        )
        .await
    }

    /// `config`'s principal assumes `role_arn`; the session's configuration.
    pub async fn assume(
        &self,
        config: &SdkConfig,
        role_arn: &str,
        external_id: Option<&str>,
    ) -> Result<SdkConfig, String> {
        let sts = aws_sdk_sts::Client::new(config);
        let out = sts
            .assume_role()
            .role_arn(role_arn)
            .role_session_name("test-session")
            .set_external_id(external_id.map(str::to_string))
            .send()
            .await
            .map_err(|e| format!("{:?}", e.into_service_error()))?;
        let c = out.credentials.ok_or("no credentials")?;
        Ok(sdk_config(
            &self.url,
            Credentials::new(
                c.access_key_id,
                c.secret_access_key,
                Some(c.session_token),
                None,
                "assumed",
            ),
        )
        .await)
    }

    /// Creates a bucket in account `account` and returns its name.
    pub async fn bucket(&self, account: &str, prefix: &str) -> String {
        let name = unique(prefix);
        s3(&self.admin(account).await)
            .create_bucket()
            .bucket(&name)
            .send()
            .await
            .expect("create bucket");
        name
    }
}

/// Turns moto's IAM enforcement (signatures and identity policies) on or off.
fn set_enforcement(url: &str, on: bool) {
    let body = if on { "0" } else { "inf" };
    let status = Command::new("curl")
        .args([
            "-fsS",
            "-X",
            "POST",
            "-H",
            "Content-Type: text/plain",
            "--data",
            body,
            &format!("{url}/moto-api/reset-auth"),
        ])
        .stdout(Stdio::null())
        .status()
        .expect("curl");
    assert!(status.success(), "could not set moto enforcement");
}

/// An SDK configuration against the stand-in with these credentials.
pub async fn sdk_config(url: &str, credentials: Credentials) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(url)
        .region(Region::new(REGION))
        .credentials_provider(credentials)
        .load()
        .await
}

/// The functions' configuration from these variables (a later one wins).
pub fn config(vars: &[(&str, String)]) -> trailshare::config::Config {
    trailshare::config::Config::from_lookup(|name| {
        vars.iter()
            .rev()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    })
    .expect("a valid test configuration")
}

/// An event fixture of `tests/fixtures/events`, shaped like the real ones.
pub fn fixture(name: &str) -> Value {
    let path = repo_root().join("tests/fixtures/events").join(name);
    serde_json::from_str(
        &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Encodes a key the way S3 notifications do: `%XX`, then space as `+`.
pub fn notification_key(key: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'/')
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'*');
    percent_encoding::utf8_percent_encode(key, SET)
        .to_string()
        .replace("%20", "+")
}

/// An S3 client for `config` (path-style, as a local endpoint needs).
pub fn s3(config: &SdkConfig) -> aws_sdk_s3::Client {
    trailshare::aws::s3_client(config)
}

/// A CloudTrail log-file key for `account` under `prefix`.
pub fn log_key(prefix: Option<&str>, account: &str, stamp: &str) -> String {
    let root = prefix.map(|p| format!("{p}/")).unwrap_or_default();
    format!("{root}AWSLogs/{account}/CloudTrail/us-east-1/2024/05/01/{account}_CloudTrail_us-east-1_20240501T{stamp}Z_AbCdEf12.json.gz")
}

/// The digest-file key of `account` under `prefix`.
pub fn digest_key(prefix: Option<&str>, account: &str) -> String {
    let root = prefix.map(|p| format!("{p}/")).unwrap_or_default();
    format!("{root}AWSLogs/{account}/CloudTrail-Digest/us-east-1/2024/05/01/{account}_CloudTrail-Digest_us-east-1_main_us-east-1_20240501T120500Z.json.gz")
}

/// A gzipped CloudTrail log file with one plausible record from `account`.
pub fn log_file(account: &str, event_name: &str) -> Vec<u8> {
    let records = json!({"Records": [{
        "eventVersion": "1.09",
        "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLE", "arn": format!("arn:aws:iam::{account}:user/alice"),
                          "accountId": account, "userName": "alice"},
        "eventTime": "2024-05-01T12:03:11Z", "eventSource": "s3.amazonaws.com", "eventName": event_name,
        "awsRegion": REGION, "sourceIPAddress": "198.51.100.7", "userAgent": "aws-cli/2.15.0",
        "requestParameters": {"bucketName": "app-data"}, "responseElements": null,
        "requestID": "EXAMPLE123", "eventID": "3b1c9e8e-0000-4000-8000-000000000001",
        "readOnly": true, "eventType": "AwsApiCall", "managementEvent": true, "recipientAccountId": account,
        "eventCategory": "Management"
    }]});
    gzip(records.to_string().as_bytes())
}

/// Puts a log file as CloudTrail does (gzip, JSON), returns its ETag.
pub async fn put_log(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: Vec<u8>) -> String {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(body.into())
        .content_type("application/json")
        .content_encoding("gzip")
        .send()
        .await
        .unwrap_or_else(|e| panic!("put {key}: {e:?}"))
        .e_tag
        .unwrap_or_default()
}

/// The share role `trailshare-<name>` as IAM holds it, read with `admin`.
pub async fn share_role(admin: &SdkConfig, name: &str) -> aws_sdk_iam::types::Role {
    aws_sdk_iam::Client::new(admin)
        .get_role()
        .role_name(format!("trailshare-{name}"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("get role trailshare-{name}: {e:?}"))
        .role
        .expect("GetRole answers with the role")
}

/// Tags (key, value) as IAM takes them.
pub fn iam_tags(tags: &[(String, String)]) -> Vec<aws_sdk_iam::types::Tag> {
    tags.iter()
        .map(|(k, v)| {
            aws_sdk_iam::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
                .expect("a tag has a key and a value")
        })
        .collect()
}

/// The HTTP status of a failed S3 call (e.g. 403), or 200 for success.
pub fn s3_status<T, E>(
    result: &Result<T, aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>>,
) -> u16 {
    match result {
        Ok(_) => 200,
        Err(error) => error
            .raw_response()
            .map(|r| r.status().as_u16())
            .unwrap_or(0),
    }
}

/// Asks the independent IAM policy evaluator (`tests/iam-eval`, built on
/// @cloud-copilot/iam-simulate) for decisions on a batch of cases.
pub fn iam_eval(cases: &Value) -> Vec<String> {
    let dir = repo_root().join("tests/iam-eval");
    let mut child = Command::new("node")
        .arg(dir.join("eval.mjs"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run node (make test installs tests/iam-eval)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(json!({ "cases": cases }).to_string().as_bytes())
        .expect("write cases");
    let output = child.wait_with_output().expect("evaluator output");
    assert!(
        output.status.success(),
        "evaluator failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result: Value = serde_json::from_slice(&output.stdout).expect("evaluator JSON");
    result["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["decision"].as_str().expect("decision").to_string())
        .collect()
}

/// A realistic gzipped CloudTrail log file: several records from `account`.
pub fn trail_file(account: &str) -> Vec<u8> {
    let record = |time: &str, source: &str, name: &str, read_only: bool| {
        json!({"eventVersion": "1.09",
            "userIdentity": {"type": "AssumedRole", "principalId": "AROAEXAMPLE:ops", "accountId": account,
                "arn": format!("arn:aws:sts::{account}:assumed-role/Ops/ops"),
                "sessionContext": {"sessionIssuer": {"type": "Role", "arn": format!("arn:aws:iam::{account}:role/Ops"), "accountId": account, "userName": "Ops"}}},
            "eventTime": time, "eventSource": source, "eventName": name, "awsRegion": REGION,
            "sourceIPAddress": "203.0.113.24", "userAgent": "aws-cli/2.15.30", "requestParameters": {},
            "responseElements": null, "requestID": format!("{name}-{time}"), "eventID": format!("{account}-{name}-{time}"),
            "readOnly": read_only, "eventType": "AwsApiCall", "managementEvent": true,
            "recipientAccountId": account, "eventCategory": "Management"})
    };
    let records = json!({"Records": [
        record("2024-05-01T12:00:41Z", "sts.amazonaws.com", "AssumeRole", false),
        record("2024-05-01T12:01:07Z", "ec2.amazonaws.com", "DescribeInstances", true),
        record("2024-05-01T12:03:55Z", "s3.amazonaws.com", "CreateBucket", false)
    ]});
    gzip(records.to_string().as_bytes())
}

/// A gzipped CloudTrail digest file listing `log_keys` of `account`.
pub fn digest_file(account: &str, bucket: &str, log_keys: &[String]) -> Vec<u8> {
    let files: Vec<Value> = log_keys
        .iter()
        .map(|key| json!({"s3Bucket": bucket, "s3Object": key, "hashValue": "9f3b...", "hashAlgorithm": "SHA-256",
                          "newestEventTime": "2024-05-01T12:03:55Z", "oldestEventTime": "2024-05-01T12:00:41Z"}))
        .collect();
    let digest = json!({"awsAccountId": account, "digestStartTime": "2024-05-01T11:05:00Z", "digestEndTime": "2024-05-01T12:05:00Z",
        "digestS3Bucket": bucket, "digestS3Object": digest_key(None, account), "digestPublicKeyFingerprint": "6d3f...",
        "digestSignatureAlgorithm": "SHA256withRSA", "newestEventTime": "2024-05-01T12:03:55Z", "oldestEventTime": "2024-05-01T12:00:41Z",
        "previousDigestS3Bucket": bucket, "previousDigestHashValue": "b2a1...", "previousDigestHashAlgorithm": "SHA-256",
        "previousDigestSignature": "4a5e...", "logFiles": files});
    gzip(digest.to_string().as_bytes())
}

/// Where a documented activity record's placeholders point (see
/// tests/fixtures/activity/README.md): the share role's path and share, the
/// trail bucket and the key read. `{{A}}` is always account A.
pub struct ActivityPlace<'a> {
    pub path: &'a str,
    pub share: &'a str,
    pub bucket: &'a str,
    pub key: &'a str,
}

/// A documented CloudTrail record of tests/fixtures/activity with its
/// placeholders filled in.
pub fn activity_record(name: &str, place: &ActivityPlace<'_>) -> Value {
    let path = repo_root().join(format!("tests/fixtures/activity/{name}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .replace("{{A}}", A)
        .replace("{{PATH}}", place.path)
        .replace("{{SHARE}}", place.share)
        .replace("{{BUCKET}}", place.bucket)
        .replace("{{KEY}}", place.key);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A CloudTrail log file of `records` (a JSON array), gzip'd as CloudTrail
/// writes it.
pub fn records_file(records: Value) -> Vec<u8> {
    gzip(json!({"Records": records}).to_string().as_bytes())
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).expect("gzip");
    gz.finish().expect("gzip")
}

/// An API Gateway HTTP API (payload 2.0) event as API Gateway hands it to
/// the provisioner, from the IAM caller `caller` (`AWS_IAM` auth).
pub fn api_event(method: &str, path: &str, body: &Value, caller: &str) -> Value {
    let (raw_path, query) = path.split_once('?').unwrap_or((path, ""));
    let query_parameters: serde_json::Map<String, Value> = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    json!({"version": "2.0", "routeKey": "$default", "rawPath": raw_path, "rawQueryString": query,
        "queryStringParameters": query_parameters,
        "headers": {"content-type": "application/json"}, "isBase64Encoded": false, "body": body.to_string(),
        "requestContext": {"accountId": A, "apiId": "api", "authorizer": {"iam": {"userArn": caller}},
            "domainName": "d", "domainPrefix": "d", "requestId": "r", "routeKey": "$default", "stage": "$default",
            "time": "25/Nov/2026:00:00:00 +0000", "timeEpoch": 0,
            "http": {"method": method, "path": raw_path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "test"}}})
}

/// The share secret of the stack these tests stand up: the value the
/// template's generated secret would hold, as the functions read it.
pub const SHARE_SECRET: &str = "integration tests' share secret: 32+ bytes";

/// The key both functions derive from [`SHARE_SECRET`].
pub fn share_key() -> trailshare::seal::ShareKey {
    trailshare::seal::ShareKey::new(SHARE_SECRET).expect("the test secret is long enough")
}

/// Creates the stack's share secret in the account of `admin` (as the
/// template's `AWS::SecretsManager::Secret` does) and returns its ARN.
pub async fn create_share_secret(admin: &SdkConfig) -> String {
    aws_sdk_secretsmanager::Client::new(admin)
        .create_secret()
        .name(unique("trailshare-share-secret"))
        .secret_string(SHARE_SECRET)
        .send()
        .await
        .expect("create the share secret")
        .arn
        .expect("a created secret has an ARN")
}

/// A grantee's queue in its own account (the notification target of a
/// share): (ARN, URL).
pub async fn grantee_queue(sqs: &aws_sdk_sqs::Client, account: &str) -> (String, String) {
    let name = unique("new-logs");
    let url = sqs
        .create_queue()
        .queue_name(&name)
        .send()
        .await
        .expect("create the grantee's queue")
        .queue_url
        .expect("queue url");
    (format!("arn:aws:sqs:{REGION}:{account}:{name}"), url)
}

/// What a Lambda binary needs to reach `endpoint` (the stand-in, or a proxy
/// to it) as `principal`: the endpoint, the Region and its access keys.
pub async fn binary_env(principal: &SdkConfig, endpoint: &str) -> Vec<(&'static str, String)> {
    use aws_credential_types::provider::ProvideCredentials;
    let key = principal
        .credentials_provider()
        .expect("a principal with credentials")
        .provide_credentials()
        .await
        .expect("static credentials");
    vec![
        ("AWS_ENDPOINT_URL", endpoint.to_string()),
        ("AWS_REGION", REGION.to_string()),
        ("AWS_ACCESS_KEY_ID", key.access_key_id().to_string()),
        ("AWS_SECRET_ACCESS_KEY", key.secret_access_key().to_string()),
    ]
}

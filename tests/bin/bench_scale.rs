//! `make bench`: trailshare at the large end, on the stand-in. The AWS
//! requests the functions make are counted (in the SDK's HTTP client where
//! responses are large, else by a counting proxy, no faults), so the figures
//! are requests (which carry over to AWS) and milliseconds (which are the
//! stand-in's). Printed, never asserted.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use aws_sdk_iam::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_iam::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_iam::error::BoxError;

use aws_credential_types::provider::ProvideCredentials;
use futures_util::stream::{self, StreamExt};
use provisioner::Provisioner;
use serde_json::{json, Value};
use stand_in::fault_proxy::FaultProxy;
use stand_in::{log_file, put_log, s3, stand_in, unique, StandIn, A, B, C};
use trailshare::aws::{IamRoles, S3Objects, SqsQueue};
use trailshare::config::Config;
use trailshare::ports::RoleStore;

fn config(vars: &[(&str, String)]) -> Config {
    Config::from_lookup(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    })
    .expect("bench config")
}

fn caller() -> String {
    format!("arn:aws:iam::{A}:user/admin")
}

fn api_event(method: &str, path: &str, body: &Value) -> Value {
    stand_in::api_event(method, path, body, &caller())
}

async fn create<S: RoleStore, Q: trailshare::ports::WorkQueue>(
    api: &Provisioner<S, Q>,
    body: Value,
) -> Value {
    let response = api.handle_event(api_event("POST", "/shares", &body)).await;
    assert_eq!(response["statusCode"], 201, "{response}");
    serde_json::from_str(response["body"].as_str().expect("body")).expect("share")
}

fn s3_event(bucket: &str, key: &str, etag: Option<&str>) -> Value {
    let mut object = json!({"key": key, "size": 100});
    if let Some(etag) = etag {
        object["eTag"] = json!(etag);
    }
    json!({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": bucket}, "object": object}}]})
}

/// Requests and milliseconds of `work`, as the proxy counted them.
async fn measure<F: std::future::Future<Output = T>, T>(
    proxy: &FaultProxy,
    work: F,
) -> (u64, f64, T) {
    let before = proxy.counts().requests;
    let started = Instant::now();
    let out = work.await;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    (proxy.counts().requests - before, ms, out)
}

/// Counts the IAM requests (retries included) of the clients it builds.
/// Used where responses are large, instead of the counting proxy: the proxy
/// sets SO_LINGER 0 on its client sockets (for its Reset fault), so when
/// moto answers `Connection: close` the proxy's close resets a response
/// still in the socket buffer (a 1,000-role ListRoles is 639 KB) and the SDK
/// retries with backoff: that was the 3.2 s "first invocation".
#[derive(Debug, Clone, Default)]
struct Counter(Arc<AtomicU64>);

impl Intercept for Counter {
    fn name(&self) -> &'static str {
        "Counter"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

impl Counter {
    fn iam(&self, sdk: &aws_config::SdkConfig) -> IamRoles {
        IamRoles::new(aws_sdk_iam::Client::from_conf(
            aws_sdk_iam::config::Builder::from(sdk)
                .interceptor(self.clone())
                .build(),
        ))
    }

    fn count(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

fn median(mut ms: Vec<f64>) -> f64 {
    ms.sort_by(f64::total_cmp);
    ms[ms.len() / 2]
}

fn key(account: &str, region: &str, day: u32, n: usize) -> String {
    format!("AWSLogs/{account}/CloudTrail/{region}/2024/05/{day:02}/{account}_CloudTrail_{region}_202405{day:02}T{n:02}00Z_Sc{n:04}.json.gz")
}

#[tokio::main]
async fn main() {
    let aws: &'static StandIn = stand_in();
    let admin = aws.admin(A).await;
    let proxy = FaultProxy::start(&aws.url);
    let counted = proxy.config(&admin);
    let trail = aws.bucket(A, "scale-trail").await;

    println!("share table (forwarder refresh) and API pages:");
    // BENCH_SHARES=1,100 for a quicker run.
    let sizes: Vec<usize> = std::env::var("BENCH_SHARES")
        .unwrap_or_else(|_| "1,100,1000".into())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    for n in sizes {
        let path = format!("/{}/", unique("scale"));
        let vars = [
            ("TRAIL_BUCKET", trail.clone()),
            ("SHARE_ROLE_PATH", path.clone()),
            ("ADMIN_PRINCIPALS", caller()),
        ];
        let cfg = config(&vars);
        let api = Provisioner::new(
            IamRoles::from_sdk(&admin),
            cfg.clone(),
            stand_in::share_key(),
        )
        .with_audit(Box::new(|_| {}));
        let started = Instant::now();
        stream::iter(0..n)
            .map(|i| {
                let api = &api;
                async move {
                    create(api, json!({"name": format!("n{n}-{i:04}"), "grantee_account": B, "delivery": {"mode": "tag"}}))
                        .await
                }
            })
            .buffer_unordered(8)
            .collect::<Vec<_>>()
            .await;
        println!(
            "  {n:>4} shares created in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        // IAM requests counted in the client (the counting proxy resets
        // large responses, see `Counter`); the refresh makes no S3 request.
        let counter = Counter::default();
        let forwarder_on = |sdk: &aws_config::SdkConfig| {
            forwarder::Forwarder::new(
                counter.iam(&admin),
                S3Objects::new(sdk),
                cfg.clone(),
                stand_in::share_key(),
            )
        };
        let before = counter.count();
        let started = Instant::now();
        forwarder_on(&admin).warm_up().await;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        println!(
            "  refresh with {n:>4} shares: {} requests, {ms:.0} ms",
            counter.count() - before
        );
        if n == 1 || n == 1000 {
            cold_starts(&admin, &trail, &path, n).await;
        }
        if n < 1000 {
            continue;
        }
        // The same call with nothing around it, and a cold forwarder's first
        // invocation (its refresh, then one file tagged), each the median of
        // three in this run. Each invocation gets a file of its own (same
        // work).
        let iam = aws_sdk_iam::Client::new(&admin);
        let mut bare = Vec::new();
        let mut listed = 0;
        for _ in 0..3 {
            let started = Instant::now();
            let out = iam
                .list_roles()
                .path_prefix(&path)
                .max_items(1000)
                .send()
                .await
                .expect("ListRoles");
            bare.push(started.elapsed().as_secs_f64() * 1000.0);
            listed = out.roles.len();
        }
        let bare = median(bare);
        println!("  bare ListRoles of {listed} roles, direct: {bare:.0} ms (median of 3)");
        let mut first = Vec::new();
        let mut requests = 0;
        // Run 0 counts (S3 through the proxy); runs 1-3 are timed direct.
        for run in 0..4 {
            let object = key(B, "us-east-1", 1, run);
            let etag = put_log(&s3(&admin), &trail, &object, log_file(B, "x")).await;
            let cold = forwarder_on(if run == 0 { &counted } else { &admin });
            let before = counter.count();
            let (s3_requests, ms, reply) = measure(
                &proxy,
                cold.handle_event(s3_event(&trail, &object, Some(&etag))),
            )
            .await;
            assert_eq!(reply.expect("first invocation")["processed"], 1);
            match run {
                0 => requests = counter.count() - before + s3_requests,
                _ => first.push(ms),
            }
        }
        let first = median(first);
        println!(
            "  first invocation with {n} shares (refresh + tag one file): {requests} requests, {first:.0} ms (median of 3; {:+.0} ms against the bare ListRoles)",
            first - bare
        );
        let counted_api = Provisioner::new(counter.iam(&admin), cfg.clone(), stand_in::share_key());
        let before = counter.count();
        let started = Instant::now();
        let page = counted_api
            .handle_event(api_event("GET", "/shares", &Value::Null))
            .await;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let requests = counter.count() - before;
        let body: Value =
            serde_json::from_str(page["body"].as_str().unwrap_or("{}")).unwrap_or_default();
        println!(
            "  GET /shares first page ({} of {n}, status {}): {requests} requests, {ms:.0} ms",
            body["shares"].as_array().map_or(0, Vec::len),
            page["statusCode"]
        );
        if page["statusCode"] != 200 {
            println!("    {body}");
        }
    }

    println!("requests per file (with the event's ETag; +1 when the event carries none):");
    per_file(aws, &admin, &counted, &proxy, &trail).await;

    println!("backfill:");
    backfill(&admin, &counted, &proxy, &trail).await;
}

/// A cold forwarder process, ours and the Python/boto3 one a user would
/// write instead (bench/python_forwarder, under the real runtime interface
/// client, awslambdaric), each started fresh under scripts/fake_runtime.py
/// against this stand-in and these `n` shares, handed the same S3 event for
/// a new file of B (a file of its own per run: same work each time). Five
/// runs each, alternating; medians.
async fn cold_starts(admin: &aws_config::SdkConfig, trail: &str, path: &str, n: usize) {
    let root = stand_in::repo_root();
    let python = root.join(".venv-bench/bin/python");
    if !python.is_file() {
        println!(
            "  cold start against Python/boto3: skipped (no .venv-bench; make bench installs it)"
        );
        return;
    }
    let keys = admin
        .credentials_provider()
        .expect("credentials")
        .provide_credentials()
        .await
        .expect("keys");
    let dir = std::env::temp_dir().join(unique("cold"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let ours = root.join("target/release/forwarder");
    let runners: [(&str, Vec<std::ffi::OsString>); 2] = [
        ("trailshare (Rust)", vec![ours.into()]),
        (
            "Python 3.11/boto3",
            vec![
                python.into(),
                "-m".into(),
                "awslambdaric".into(),
                "handler.lambda_handler".into(),
            ],
        ),
    ];
    let mut figures: Vec<Vec<Value>> = vec![Vec::new(); runners.len()];
    for run in 0..5 {
        for (which, (name, command)) in runners.iter().enumerate() {
            let object = key(B, "us-west-2", 3, run * runners.len() + which);
            let etag = put_log(&s3(admin), trail, &object, log_file(B, "x")).await;
            let event_file = dir.join(format!("{run}-{which}.json"));
            std::fs::write(
                &event_file,
                s3_event(trail, &object, Some(&etag)).to_string(),
            )
            .expect("event file");
            let out = std::process::Command::new(root.join(".venv/bin/python"))
                .arg(root.join("scripts/fake_runtime.py"))
                .arg(&command[0])
                .arg(&event_file)
                .arg("1")
                .args(&command[1..])
                .env("TRAIL_BUCKET", trail)
                .env("SHARE_ROLE_PATH", path)
                .env("AWS_ENDPOINT_URL", &stand_in().url)
                .env("AWS_REGION", "us-east-1")
                .env("AWS_ACCESS_KEY_ID", keys.access_key_id())
                .env("AWS_SECRET_ACCESS_KEY", keys.secret_access_key())
                .env("PYTHONPATH", root.join("bench/python_forwarder"))
                .env("RUST_LOG", "warn")
                .output()
                .expect("run scripts/fake_runtime.py");
            let figure: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
                panic!(
                    "{name}: {}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                )
            });
            // Each run must have done the work: the file carries B's tag.
            let tags = s3(admin)
                .get_object_tagging()
                .bucket(trail)
                .key(&object)
                .send()
                .await
                .expect("tags")
                .tag_set;
            assert!(
                figure["errors"] == 0
                    && tags
                        .iter()
                        .any(|t| t.key == "trailshare:account" && t.value == B),
                "{name} did not tag {object}: {figure}"
            );
            figures[which].push(figure);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!("  cold forwarder process, {n} share(s), one S3 event (median of 5 runs each):");
    println!(
        "    {:<18} {:>12} {:>12} {:>16} {:>10}",
        "", "exec->/next", "first call", "exec->response", "peak RSS"
    );
    for ((name, _), runs) in runners.iter().zip(&figures) {
        let m = |field: &str| median(runs.iter().filter_map(|f| f[field].as_f64()).collect());
        println!(
            "    {name:<18} {:>9.1} ms {:>9.1} ms {:>13.1} ms {:>6.1} MiB",
            m("init_ms"),
            m("first_ms"),
            m("first_response_ms"),
            m("peak_rss_mib")
        );
    }
}

async fn per_file(
    aws: &'static StandIn,
    admin: &aws_config::SdkConfig,
    counted: &aws_config::SdkConfig,
    proxy: &FaultProxy,
    trail: &str,
) {
    let path = format!("/{}/", unique("perfile"));
    let cfg = config(&[
        ("TRAIL_BUCKET", trail.to_string()),
        ("SHARE_ROLE_PATH", path),
        ("ADMIN_PRINCIPALS", caller()),
    ]);
    let api = Provisioner::new(
        IamRoles::from_sdk(admin),
        cfg.clone(),
        stand_in::share_key(),
    );
    // B: tag; C: copy by the forwarder; Z-owned writer copy of A's own logs.
    create(
        &api,
        json!({"name": "tag-b", "grantee_account": B, "delivery": {"mode": "tag"}}),
    )
    .await;
    let c_dest = aws.bucket(C, "perfile-c").await;
    let c = create(&api, json!({"name": unique("copy-c"), "grantee_account": C, "delivery": {"mode": "copy", "bucket": c_dest}})).await;
    s3(&aws.admin(C).await)
        .put_bucket_policy()
        .bucket(&c_dest)
        .policy(c["grantee_setup"]["destination_bucket_policy"].to_string())
        .send()
        .await
        .expect("bucket policy");
    let z = stand_in::Z;
    let z_dest = aws.bucket(z, "perfile-z").await;
    let writer_name = unique("perfile-writer");
    let writer_arn = format!("arn:aws:iam::{z}:role/{writer_name}");
    let w = create(&api, json!({"name": unique("writer-z"), "grantee_account": z, "log_accounts": [A], "external_id": "bench-1",
        "delivery": {"mode": "copy", "bucket": z_dest, "role_arn": writer_arn}}))
    .await;
    let iam_z = aws_sdk_iam::Client::new(&aws.admin(z).await);
    iam_z
        .create_role()
        .role_name(&writer_name)
        .assume_role_policy_document(w["grantee_setup"]["writer_role"]["trust_policy"].to_string())
        .send()
        .await
        .expect("writer role");
    iam_z
        .put_role_policy()
        .role_name(&writer_name)
        .policy_name("write")
        .policy_document(w["grantee_setup"]["writer_role"]["identity_policy"].to_string())
        .send()
        .await
        .expect("writer policy");
    let forwarder = forwarder::Forwarder::new(
        IamRoles::from_sdk(counted),
        S3Objects::new(counted),
        cfg,
        stand_in::share_key(),
    );
    forwarder.warm_up().await;
    for (mode, account) in [
        ("tag", B),
        ("copy by the forwarder", C),
        ("copy by a writer role", A),
    ] {
        // A warm function: the writer role's credentials are already held
        // (STS is called once per role per hour, not per file).
        let warm = key(account, "eu-west-1", 2, 9);
        put_log(&s3(admin), trail, &warm, log_file(account, "x")).await;
        forwarder
            .handle_event(s3_event(trail, &warm, None))
            .await
            .expect("warm-up");
        let mut figures = Vec::new();
        for (i, with_etag) in [(1, true), (2, false)] {
            let object = key(account, "eu-west-1", 2, i);
            let etag = put_log(&s3(admin), trail, &object, log_file(account, "x")).await;
            let etag = with_etag.then_some(etag.as_str());
            for _ in ["new", "done"] {
                let seen = proxy.counts().log.len();
                let (requests, _, reply) = measure(
                    proxy,
                    forwarder.handle_event(s3_event(trail, &object, etag)),
                )
                .await;
                assert!(reply.is_ok(), "{mode}: {reply:?}");
                if std::env::var_os("BENCH_LOG").is_some() {
                    for line in &proxy.counts().log[seen..] {
                        println!("      {line}");
                    }
                }
                figures.push(requests);
            }
        }
        println!(
            "  {mode:<22} new {}, done {} (no ETag in the event: new {}, done {})",
            figures[0], figures[1], figures[2], figures[3]
        );
    }
}

async fn backfill(
    admin: &aws_config::SdkConfig,
    counted: &aws_config::SdkConfig,
    proxy: &FaultProxy,
    trail: &str,
) {
    let sqs = aws_sdk_sqs::Client::new(admin);
    let queue = sqs
        .create_queue()
        .queue_name(unique("scale-queue"))
        .send()
        .await
        .expect("queue")
        .queue_url
        .expect("url");
    let path = format!("/{}/", unique("backfill"));
    let cfg = config(&[
        ("TRAIL_BUCKET", trail.to_string()),
        ("SHARE_ROLE_PATH", path),
        ("ADMIN_PRINCIPALS", caller()),
        ("FORWARDER_QUEUE_URL", queue.clone()),
    ]);
    let setup = Provisioner::new(
        IamRoles::from_sdk(admin),
        cfg.clone(),
        stand_in::share_key(),
    );
    let name = unique("bf");
    create(
        &setup,
        json!({"name": name, "grantee_account": B, "log_accounts": [B, C], "external_id": "bench-2",
        "delivery": {"mode": "tag"}}),
    )
    .await;
    // 10 days x 3 regions x 2 accounts, 2 files each.
    let mut files = Vec::new();
    for account in [B, C] {
        for region in ["us-east-1", "eu-west-1", "ap-south-1"] {
            for day in 10..20 {
                for n in 0..2 {
                    files.push(key(account, region, day, n));
                }
            }
        }
    }
    let s3_admin = s3(admin);
    stream::iter(&files)
        .map(|k| {
            let s3_admin = &s3_admin;
            async move { put_log(s3_admin, trail, k, log_file(B, "old")).await }
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
    let api = Provisioner::new(
        IamRoles::from_sdk(counted),
        cfg.clone(),
        stand_in::share_key(),
    )
    .with_queue(SqsQueue::new(counted, &queue));
    let forwarder = forwarder::Forwarder::new(
        IamRoles::from_sdk(counted),
        S3Objects::new(counted),
        cfg,
        stand_in::share_key(),
    )
    .with_queue(SqsQueue::new(counted, &queue));
    let before = proxy.counts().requests;
    let started = Instant::now();
    let response = api
        .handle_event(api_event(
            "POST",
            &format!("/shares/{name}/backfill"),
            &json!({"from": "2024-05-10", "until": "2024-05-19"}),
        ))
        .await;
    assert_eq!(response["statusCode"], 202, "{response}");
    // Lambda's SQS poller: receive, invoke, delete what was acknowledged.
    let mut invocations = 0;
    loop {
        let received = sqs
            .receive_message()
            .queue_url(&queue)
            .max_number_of_messages(10)
            .send()
            .await
            .expect("receive");
        let messages = received.messages.unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        let records: Vec<Value> = messages
            .iter()
            .map(|m| json!({"messageId": m.message_id, "body": m.body, "eventSource": "aws:sqs"}))
            .collect();
        let reply = forwarder
            .handle_event(json!({ "Records": records }))
            .await
            .expect("batch");
        assert_eq!(reply, json!({"batchItemFailures": []}));
        invocations += 1;
        for m in &messages {
            sqs.delete_message()
                .queue_url(&queue)
                .set_receipt_handle(m.receipt_handle.clone())
                .send()
                .await
                .expect("delete");
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let requests = proxy.counts().requests - before;
    println!(
        "  {} files (10 days x 3 regions x 2 accounts x 2): {invocations} invocations, {:.0} files/s, {:.2} requests per file ({requests} in all), {seconds:.1} s",
        files.len(),
        files.len() as f64 / seconds,
        requests as f64 / files.len() as f64
    );
}

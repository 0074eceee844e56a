//! `make bench`: trailshare at the large end, on the stand-in. Every AWS
//! request the functions make goes through a counting proxy (no faults), so
//! the figures are requests (which carry over to AWS) and milliseconds (which
//! are the stand-in's). Printed, never asserted.

use std::time::Instant;

use futures_util::stream::{self, StreamExt};
use provisioner::Provisioner;
use serde_json::{json, Value};
use stand_in::fault_proxy::FaultProxy;
use stand_in::{log_file, put_log, s3, stand_in, unique, StandIn, A, B, C};
use trailshare::aws::{IamRoles, S3Objects, SqsQueue};
use trailshare::config::Config;
use trailshare::store::RoleStore;

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

async fn create<S: RoleStore, Q: trailshare::store::WorkQueue>(
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
        let api =
            Provisioner::new(IamRoles::from_sdk(&admin), cfg.clone()).with_audit(Box::new(|_| {}));
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
        // Requests through the counting proxy; time without it (the proxy
        // itself costs time on large responses).
        let through_proxy = |sdk: &aws_config::SdkConfig| {
            forwarder::Forwarder::new(IamRoles::from_sdk(sdk), S3Objects::new(sdk), cfg.clone())
        };
        let (requests, _, _) = measure(&proxy, through_proxy(&counted).warm_up()).await;
        let (_, ms, _) = measure(&proxy, through_proxy(&admin).warm_up()).await;
        println!("  refresh with {n:>4} shares: {requests} requests, {ms:.0} ms");
        if n < 1000 {
            continue;
        }
        // The same call with nothing around it.
        for (how, sdk) in [("direct", &admin)] {
            let iam = aws_sdk_iam::Client::new(sdk);
            let started = Instant::now();
            let listed = iam
                .list_roles()
                .path_prefix(&path)
                .max_items(1000)
                .send()
                .await
                .expect("ListRoles");
            println!(
                "  bare ListRoles of {} roles, {how}: {:.0} ms",
                listed.roles.len(),
                started.elapsed().as_secs_f64() * 1000.0
            );
        }
        let object = key(B, "us-east-1", 1, 0);
        let etag = put_log(&s3(&admin), &trail, &object, log_file(B, "x")).await;
        let cold = forwarder::Forwarder::new(
            IamRoles::from_sdk(&counted),
            S3Objects::new(&counted),
            cfg.clone(),
        );
        let (requests, ms, _) = measure(
            &proxy,
            cold.handle_event(s3_event(&trail, &object, Some(&etag))),
        )
        .await;
        println!("  first invocation with {n} shares (refresh + tag one file): {requests} requests, {ms:.0} ms");
        let counted_api = Provisioner::new(IamRoles::from_sdk(&counted), cfg.clone());
        let (requests, ms, page) = measure(
            &proxy,
            counted_api.handle_event(api_event("GET", "/shares", &Value::Null)),
        )
        .await;
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
    let api = Provisioner::new(IamRoles::from_sdk(admin), cfg.clone());
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
    let forwarder =
        forwarder::Forwarder::new(IamRoles::from_sdk(counted), S3Objects::new(counted), cfg);
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
    let setup = Provisioner::new(IamRoles::from_sdk(admin), cfg.clone());
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
    let api = Provisioner::new(IamRoles::from_sdk(counted), cfg.clone())
        .with_queue(SqsQueue::new(counted, &queue));
    let forwarder =
        forwarder::Forwarder::new(IamRoles::from_sdk(counted), S3Objects::new(counted), cfg)
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

//! `make bench`: what share activity costs the forwarder per log file
//! (DESIGN.md "Activity"). The release binary runs under
//! scripts/fake_runtime.py against the stand-in, through a counting proxy,
//! once with `ACTIVITY_BUCKET` set and once without, on a typical and a
//! large log file of A (1 % of its records about share roles: AWS's
//! documented records of tests/fixtures/activity) and on a file of B. The
//! figures are printed, never asserted.

use std::process::Command;

use provisioner::Provisioner;
use serde_json::{json, Value};
use stand_in::fault_proxy::FaultProxy;
use stand_in::{activity_record, log_key, records_file, s3, stand_in, unique, ActivityPlace, A, B};
use trailshare::aws::IamRoles;
use trailshare::config::Config;

/// Invocations of each case (the same file each time, as a re-delivery).
const RUNS: usize = 5;
/// Log files of A: (label, records).
const FILES: [(&str, usize); 2] = [
    ("typical (1,000 records)", 1_000),
    ("large (40,000 records)", 40_000),
];

#[tokio::main]
async fn main() {
    let aws = stand_in();
    let admin = aws.admin(A).await;
    let trail = aws.bucket(A, "bench-trail").await;
    let activity = aws.bucket(A, "bench-activity").await;
    let path = format!("/{}/", unique("bench"));
    let secret = stand_in::create_share_secret(&admin).await;
    let caller = format!("arn:aws:iam::{A}:user/admin");
    let vars = [
        ("TRAIL_BUCKET", trail.clone()),
        ("SHARE_ROLE_PATH", path.clone()),
        ("ADMIN_PRINCIPALS", caller.clone()),
        ("SHARE_SECRET_ARN", secret.clone()),
    ];
    let config =
        Config::from_lookup(|n| vars.iter().find(|(k, _)| *k == n).map(|(_, v)| v.clone()))
            .expect("bench config");
    let shares = Provisioner::new(IamRoles::from_sdk(&admin), config, stand_in::share_key());
    // B's files are tagged: their usual work, with or without activity.
    let share = unique("bench-b");
    let body = json!({"name": share, "grantee_account": B, "delivery": {"mode": "tag"}});
    let response = shares
        .handle_event(stand_in::api_event("POST", "/shares", &body, &caller))
        .await;
    assert_eq!(response["statusCode"], 201, "{response}");

    let proxy = FaultProxy::start(&aws.url);
    let mut env: Vec<(&str, String)> = vars.to_vec();
    env.extend(stand_in::binary_env(&admin, &proxy.url).await);
    env.extend([("OWNER_ACCOUNT", A.into()), ("RUST_LOG", "warn".into())]);
    let dir = std::env::temp_dir().join(unique("bench-activity"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut cases = Vec::new();
    for (i, (label, records)) in FILES.iter().enumerate() {
        let key = log_key(None, A, &format!("{:04}", 1000 + i));
        let (file, raw) = log_file(&path, &trail, &share, *records);
        put(&admin, &trail, &key, file.clone()).await;
        cases.push((
            format!(
                "A, {label}, {} KiB gz / {} KiB",
                file.len() >> 10,
                raw >> 10
            ),
            key,
        ));
    }
    let b_key = log_key(None, B, "2000");
    put(&admin, &trail, &b_key, stand_in::log_file(B, "GetObject")).await;
    cases.push(("B (a tag share's file)".into(), b_key));

    println!("bench-activity: the forwarder per log file, {RUNS} invocations each (p50; requests per invocation):");
    println!(
        "  {:<52} {:>14} {:>22} {:>22}",
        "file", "activity", "requests (trail/act.)", "ms p50 / peak RSS MiB"
    );
    for (label, key) in &cases {
        for on in [false, true] {
            let mut env = env.clone();
            if on {
                env.push(("ACTIVITY_BUCKET", activity.clone()));
            }
            let event = json!({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": trail}, "object": {"key": key}}}]});
            let event_file = dir.join("event.json");
            std::fs::write(&event_file, event.to_string()).unwrap();
            let before = proxy.counts();
            let figures = run(&env, &event_file);
            let after = proxy.counts();
            let per = |bucket: &str| {
                let n = after.by_bucket.get(bucket).copied().unwrap_or(0)
                    - before.by_bucket.get(bucket).copied().unwrap_or(0);
                n as f64 / RUNS as f64
            };
            println!(
                "  {label:<52} {:>14} {:>10.1} / {:<9.1} {:>10} / {:<9}  errors {}",
                if on { "ACTIVITY_BUCKET" } else { "off" },
                per(&trail),
                per(&activity),
                figures["p50_ms"],
                figures["peak_rss_mib"],
                figures["errors"]
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The release forwarder under the fake Lambda runtime, `RUNS` invocations.
fn run(env: &[(&str, String)], event_file: &std::path::Path) -> Value {
    let out = Command::new(".venv/bin/python")
        .args(["scripts/fake_runtime.py", "target/release/forwarder"])
        .arg(event_file)
        .arg(RUNS.to_string())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("run scripts/fake_runtime.py");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "fake_runtime: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// A gzip'd log file of A with `records` records, one in a hundred about
/// share `share` (the documented records, in turn), the rest other
/// traffic (the S3 User Guide's ListBuckets record); and its raw size.
fn log_file(path: &str, trail: &str, share: &str, records: usize) -> (Vec<u8>, usize) {
    let read = log_key(None, B, "0000");
    let place = ActivityPlace {
        path,
        share,
        bucket: trail,
        key: &read,
    };
    let fixture = |name: &str| activity_record(name, &place);
    let about = [
        "assume-role-cross-account",
        "assume-role-denied",
        "s3-getobject-by-share-session",
    ]
    .map(fixture);
    let other = fixture("s3-listbuckets-not-a-share");
    let all: Vec<&Value> = (0..records)
        .map(|i| {
            if i % 100 == 0 {
                &about[(i / 100) % about.len()]
            } else {
                &other
            }
        })
        .collect();
    let raw = json!({"Records": all}).to_string().len();
    (records_file(json!(all)), raw)
}

async fn put(admin: &aws_config::SdkConfig, bucket: &str, key: &str, body: Vec<u8>) {
    s3(admin)
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(body.into())
        .send()
        .await
        .expect("put");
}

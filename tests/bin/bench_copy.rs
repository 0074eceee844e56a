//! `make bench`: the forwarder's peak memory while it copies one 256 MiB
//! object each way — server-side (its own credentials: no bytes through the
//! function) and streamed (a writer role in the grantee account: GET piped
//! into PUT). The real release binary runs under scripts/fake_runtime.py
//! against the stand-in; the figures are printed, never asserted.

use std::process::Command;

use aws_credential_types::provider::ProvideCredentials;
use provisioner::Provisioner;
use serde_json::{json, Value};
use stand_in::{log_key, s3, stand_in, unique, A, B, C};
use trailshare::aws::IamRoles;
use trailshare::config::Config;

const SIZE: usize = 256 * 1024 * 1024;

#[tokio::main]
async fn main() {
    let aws = stand_in();
    let admin = aws.admin(A).await;
    let trail = aws.bucket(A, "bench-trail").await;
    let path = format!("/{}/", unique("bench"));
    let caller = format!("arn:aws:iam::{A}:user/admin");
    let vars = [
        ("TRAIL_BUCKET", trail.clone()),
        ("SHARE_ROLE_PATH", path.clone()),
        ("ADMIN_PRINCIPALS", caller.clone()),
    ];
    let config = Config::from_lookup(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    })
    .expect("bench config");
    let shares = Provisioner::new(IamRoles::from_sdk(&admin), config, stand_in::share_key());

    // B's copy is written by the forwarder itself; C's through C's writer role.
    let b_dest = aws.bucket(B, "bench-b").await;
    let c_dest = aws.bucket(C, "bench-c").await;
    let writer_name = unique("bench-writer");
    let writer_arn = format!("arn:aws:iam::{C}:role/{writer_name}");
    create_share(
        &shares,
        &caller,
        json!({"name": unique("b"), "grantee_account": B,
        "delivery": {"mode": "copy", "bucket": b_dest}}),
    )
    .await;
    let c_share = create_share(&shares, &caller, json!({"name": unique("c"), "grantee_account": C,
        "external_id": "bench-ext", "delivery": {"mode": "copy", "bucket": c_dest, "role_arn": writer_arn}}))
    .await;
    let writer = &c_share["grantee_setup"]["writer_role"];
    let iam_c = aws_sdk_iam::Client::new(&aws.admin(C).await);
    iam_c
        .create_role()
        .role_name(&writer_name)
        .assume_role_policy_document(writer["trust_policy"].to_string())
        .send()
        .await
        .expect("writer role");
    iam_c
        .put_role_policy()
        .role_name(&writer_name)
        .policy_name("write")
        .policy_document(writer["identity_policy"].to_string())
        .send()
        .await
        .expect("writer policy");

    let body: Vec<u8> = (0..SIZE).map(|i| (i % 251) as u8).collect();
    let dir = std::env::temp_dir().join(unique("bench-copy"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let credentials = admin
        .credentials_provider()
        .expect("credentials")
        .provide_credentials()
        .await
        .expect("keys");
    println!("forwarder copying one {} MiB object:", SIZE >> 20);
    for (way, account, dest) in [
        ("server-side (own credentials)", B, &b_dest),
        ("streamed (writer role)", C, &c_dest),
    ] {
        let key = log_key(None, account, "0000");
        s3(&admin)
            .put_object()
            .bucket(&trail)
            .key(&key)
            .body(body.clone().into())
            .send()
            .await
            .expect("upload the source");
        let event = json!({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
            "s3": {"bucket": {"name": trail}, "object": {"key": key, "size": SIZE}}}]});
        let event_file = dir.join(format!("{account}.json"));
        std::fs::write(&event_file, event.to_string()).expect("event file");
        let out = Command::new(".venv/bin/python")
            .args(["scripts/fake_runtime.py", "target/release/forwarder"])
            .arg(&event_file)
            .arg("1")
            .env("TRAIL_BUCKET", &trail)
            .env("SHARE_ROLE_PATH", &path)
            .env("AWS_ENDPOINT_URL", &aws.url)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", credentials.access_key_id())
            .env("AWS_SECRET_ACCESS_KEY", credentials.secret_access_key())
            .output()
            .expect("run scripts/fake_runtime.py");
        let figures: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
            panic!(
                "fake_runtime: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        let copy = s3(&aws.admin(account).await)
            .head_object()
            .bucket(dest)
            .key(&key)
            .send()
            .await
            .expect("the copy exists");
        println!(
            "  {way:<30} peak RSS {:>6} MiB, {:>7} ms, errors {}, copy {} bytes",
            figures["peak_rss_mib"],
            figures["p50_ms"],
            figures["errors"],
            copy.content_length.unwrap_or_default()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

async fn create_share<S: trailshare::ports::RoleStore>(
    shares: &Provisioner<S>,
    caller: &str,
    body: Value,
) -> Value {
    let event = stand_in::api_event("POST", "/shares", &body, caller);
    let response = shares.handle_event(event).await;
    assert_eq!(response["statusCode"], 201, "{response}");
    serde_json::from_str(response["body"].as_str().expect("body")).expect("share json")
}

//! `make bench`: the domain's hot paths, timed without a framework
//! (median of repeated batches, ns per operation).

use std::hint::black_box;
use std::time::Instant;

use serde_json::json;
use trailshare::config::Config;
use trailshare::events::decode;
use trailshare::key::{decode_notification_key, LogKey};
use trailshare::policy::read_policy;
use trailshare::record::ShareRecord;
use trailshare::share::validate;

fn bench(name: &str, mut op: impl FnMut()) {
    const BATCH: u32 = 2_000;
    let mut samples: Vec<f64> = (0..25)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..BATCH {
                op();
            }
            start.elapsed().as_nanos() as f64 / f64::from(BATCH)
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    println!(
        "{{\"bench\": \"{name}\", \"ns_per_op\": {:.0}}}",
        samples[samples.len() / 2]
    );
}

fn main() {
    let key = "my logs+archive/AWSLogs/o-a1b2c3d4e5/222222222222/CloudTrail/us-east-1/2024/05/01/222222222222_CloudTrail_us-east-1_20240501T1205Z_AbCdEfGh12345678.json.gz";
    let encoded = "my+logs%2Barchive/AWSLogs/o-a1b2c3d4e5/222222222222/CloudTrail/us-east-1/2024/05/01/222222222222_CloudTrail_us-east-1_20240501T1205Z_AbCdEfGh12345678.json.gz";
    let body = json!({"name": "z", "grantee_account": "444444444444", "log_accounts": ["222222222222", "333333333333"],
        "external_id": "ext-123", "delivery": {"mode": "copy", "bucket": "z-logs", "prefix": "central/"}});
    let config = Config::from_lookup(|n| match n {
        "TRAIL_BUCKET" => Some("trail-bucket".into()),
        "ORGANIZATION_ID" => Some("o-a1b2c3d4e5".into()),
        "KMS_KEY_ARN" => Some("arn:aws:kms:us-east-1:111111111111:key/k".into()),
        "TRAIL_ARN" => Some("arn:aws:cloudtrail:us-east-1:111111111111:trail/org".into()),
        _ => None,
    })
    .unwrap();
    let spec = validate(&body, None, "trail-bucket").unwrap();
    let record = ShareRecord {
        spec: spec.clone(),
        created_by: "arn:aws:iam::111111111111:user/ops".into(),
        created_at: "2026-11-24T00:00:00Z".into(),
        updated_by: None,
        updated_at: None,
        sessions_valid_after: None,
    };
    let tags = record.to_tags().unwrap();
    let records: Vec<_> = (0..10)
        .map(|i| json!({"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                        "s3": {"bucket": {"name": "trail-bucket"}, "object": {"key": encoded, "eTag": format!("e{i}")}}}))
        .collect();
    let batch = json!({"Records": [{"messageId": "m", "eventSource": "aws:sqs", "body": json!({"Records": records}).to_string()}]});

    bench("key_parse", || {
        drop(black_box(LogKey::parse(black_box(key))))
    });
    bench("key_decode_notification", || {
        drop(black_box(decode_notification_key(black_box(encoded))))
    });
    bench("share_validate", || {
        drop(black_box(validate(black_box(&body), None, "trail-bucket")))
    });
    bench("read_policy", || {
        drop(black_box(read_policy(black_box(&spec), &config)))
    });
    bench("record_to_tags", || drop(black_box(record.to_tags())));
    bench("record_from_tags", || {
        drop(black_box(ShareRecord::from_tags(
            "trailshare-z",
            tags.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        )))
    });
    bench("decode_sqs_batch_of_10", || {
        drop(black_box(decode(black_box(&batch))))
    });
}

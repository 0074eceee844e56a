//! Proves the stand-in is real: with IAM enforcement on, an identity policy
//! scoped to B's prefix lets B read its own log file and not C's.

use serde_json::json;
use stand_in::{log_file, log_key, put_log, s3, s3_status, stand_in, A, B, C};

#[tokio::test]
async fn enforcement_lets_b_read_its_prefix_and_denies_cs() {
    let aws = stand_in();
    let bucket = aws.bucket(A, "harness").await;
    let admin = s3(&aws.admin(A).await);
    let b_key = log_key(None, B, "1200");
    let c_key = log_key(None, C, "1200");
    put_log(&admin, &bucket, &b_key, log_file(B, "ListBuckets")).await;
    put_log(&admin, &bucket, &c_key, log_file(C, "ListBuckets")).await;

    let policy = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{bucket}/AWSLogs/{B}/*")}]});
    let reader = s3(&aws.user(B, &stand_in::unique("reader"), &policy).await);

    let own = reader.get_object().bucket(&bucket).key(&b_key).send().await;
    assert_eq!(s3_status(&own), 200, "{own:?}");
    let body = own.unwrap().body.collect().await.unwrap().into_bytes();
    assert_eq!(body.as_ref(), log_file(B, "ListBuckets").as_slice());

    let other = reader.get_object().bucket(&bucket).key(&c_key).send().await;
    assert_eq!(s3_status(&other), 403, "{other:?}");

    // An unsigned or unknown key is refused outright: enforcement is on.
    let stranger = s3(&aws
        .admin(A)
        .await
        .to_builder()
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new(
                    "AKIAUNKNOWN0000000000",
                    "nope",
                    None,
                    None,
                    "x",
                ),
            ),
        )
        .build());
    let denied = stranger
        .get_object()
        .bucket(&bucket)
        .key(&b_key)
        .send()
        .await;
    assert_eq!(s3_status(&denied), 403, "{denied:?}");
}

//! What a grantee's queue or topic hears once a file's delivery is done: one
//! S3 event notification, shaped exactly as S3 sends one, so a SIEM's
//! "SQS-based S3" input (Splunk, Elastic, Datadog, …) reads it unchanged and
//! fetches the object it names.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::key::encode_notification_key;

/// The object a grantee reads: the copy for copy delivery, the trail
/// bucket's object otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announced<'a> {
    pub bucket: &'a str,
    /// The real (decoded) key.
    pub key: &'a str,
    pub size: u64,
    /// Unquoted.
    pub etag: &'a str,
    /// The account that owns `bucket`, when known.
    pub bucket_owner: Option<&'a str>,
}

/// One `ObjectCreated:Put` record (event version 2.1) for `object`.
/// `configurationId` names the share, so a grantee with several shares on
/// one queue can tell them apart.
pub fn s3_event(object: &Announced, share: &str, region: &str, at: OffsetDateTime) -> Value {
    let event_time = at
        .replace_nanosecond(at.millisecond() as u32 * 1_000_000)
        .unwrap_or(at)
        .format(&Rfc3339)
        .unwrap_or_default();
    // S3's ids are opaque; these are stable for one announcement.
    let digest = Sha256::digest(format!(
        "{}/{}/{}",
        object.bucket,
        object.key,
        at.unix_timestamp_nanos()
    ));
    let request_id = hex::encode_upper(&digest[..8]);
    let sequencer = format!(
        "{:018X}",
        at.unix_timestamp_nanos() as u128 & ((1 << 72) - 1)
    );
    json!({"Records": [{
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": region,
        "eventTime": event_time,
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:trailshare-forwarder"},
        "requestParameters": {"sourceIPAddress": "trailshare"},
        "responseElements": {"x-amz-request-id": request_id, "x-amz-id-2": hex::encode(&digest[8..])},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": format!("trailshare-{share}"),
            "bucket": {
                "name": object.bucket,
                "ownerIdentity": {"principalId": object.bucket_owner.unwrap_or_default()},
                "arn": format!("arn:aws:s3:::{}", object.bucket),
            },
            "object": {
                "key": encode_notification_key(object.key),
                "size": object.size,
                "eTag": object.etag,
                "sequencer": sequencer,
            },
        },
    }]})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{decode, CreatedObject, Notification, Trigger};
    use time::macros::datetime;

    const KEY: &str = "central/AWSLogs/222222222222/CloudTrail/us-east-1/2026/11/25/222222222222_CloudTrail_us-east-1_20261125T1205Z_a b+c.json.gz";

    fn announced() -> Announced<'static> {
        Announced {
            bucket: "b-logs",
            key: KEY,
            size: 2311,
            etag: "0123456789abcdef0123456789abcdef",
            bucket_owner: Some("222222222222"),
        }
    }

    /// Every field S3 itself sends (the documented fixture), none more.
    fn shape(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                Value::Object(map.iter().map(|(k, v)| (k.clone(), shape(v))).collect())
            }
            Value::Array(items) => Value::Array(items.iter().map(shape).collect()),
            Value::String(_) => json!("string"),
            Value::Number(_) => json!("number"),
            other => other.clone(),
        }
    }

    #[test]
    fn has_exactly_the_shape_of_an_s3_notification() {
        let fixture: Value =
            serde_json::from_str(include_str!("../../tests/fixtures/events/s3-put.json")).unwrap();
        let ours = s3_event(
            &announced(),
            "bu-b",
            "us-east-1",
            datetime!(2026-11-25 12:05:31.271828 UTC),
        );
        assert_eq!(shape(&ours), shape(&fixture));
        let record = &ours["Records"][0];
        assert_eq!(record["eventTime"], "2026-11-25T12:05:31.271Z");
        assert_eq!(record["s3"]["configurationId"], "trailshare-bu-b");
        assert_eq!(record["s3"]["bucket"]["arn"], "arn:aws:s3:::b-logs");
        assert_eq!(record["s3"]["object"]["size"], 2311);
        assert_eq!(
            record["s3"]["object"]["key"],
            "central/AWSLogs/222222222222/CloudTrail/us-east-1/2026/11/25/222222222222_CloudTrail_us-east-1_20261125T1205Z_a+b%2Bc.json.gz"
        );
    }

    #[test]
    fn decodes_back_to_the_announced_object() {
        let ours = s3_event(
            &announced(),
            "bu-b",
            "eu-west-1",
            datetime!(2026-11-25 00:00:00 UTC),
        );
        assert_eq!(
            decode(&ours),
            Ok(Trigger::Direct(Notification::Objects(vec![
                CreatedObject {
                    bucket: "b-logs".into(),
                    key: KEY.into(),
                    etag: Some("0123456789abcdef0123456789abcdef".into()),
                    size: Some(2311),
                }
            ])))
        );
    }
}

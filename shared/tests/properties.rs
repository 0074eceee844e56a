//! Properties of the domain over generated input: the key parser, the event
//! decoder, the share validator and the record ⇄ tags round trip never
//! panic on arbitrary input, and what they accept they give back exactly.
//! Only public APIs, so the share model may grow fields without this file
//! changing.

use proptest::prelude::*;
use serde_json::{json, Map, Value};
use trailshare::events::{decode, CreatedObject, Notification, Trigger};
use trailshare::key::{decode_notification_key, LogKey};
use trailshare::record::{role_name, ShareRecord};
use trailshare::share::{validate, ShareSpec};

const TRAIL: &str = "trail-bucket";
const ACCOUNTS: [&str; 4] = [
    "111111111111",
    "222222222222",
    "333333333333",
    "444444444444",
];

// ---------------------------------------------------------------- strategies

fn account() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(ACCOUNTS.to_vec()).prop_map(str::to_string),
        1 => "[0-9]{12}",
    ]
}

/// Segments that are sometimes what the key grammar wants and sometimes not.
fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 +%._-]{0,12}",
        "\\PC{0,8}",
        Just("AWSLogs".to_string()),
        Just("CloudTrail".to_string()),
        Just(String::new()),
    ]
}

/// A key built like a CloudTrail key, each part valid or not.
fn key_like() -> impl Strategy<Value = String> {
    let folder = prop::sample::select(vec![
        "CloudTrail",
        "CloudTrail-Digest",
        "CloudTrail-Insight",
        "Cloudtrail",
        "",
    ]);
    (
        prop::collection::vec(segment(), 0..3),
        prop::option::of(prop_oneof!["o-[a-z0-9]{10,32}", "o-[a-zA-Z0-9]{0,12}"]),
        account(),
        prop_oneof![3 => Just(None), 1 => account().prop_map(Some)],
        folder.clone(),
        prop_oneof![3 => Just(None), 1 => folder.prop_map(Some)],
        prop_oneof![3 => "[a-z]{2}-[a-z]{4,9}-[0-9]", 1 => "[a-zA-Z0-9_-]{0,6}"],
        (
            prop_oneof![3 => "(19[7-9][0-9]|2[0-9]{3})", 1 => "[0-9]{3,5}"],
            prop_oneof![3 => "(0[1-9]|1[0-2])", 1 => "[0-9]{1,3}"],
            prop_oneof![3 => "(0[1-9]|[12][0-9]|3[01])", 1 => "[0-9]{1,3}"],
        ),
        "[a-zA-Z0-9_ +%-]{0,24}",
        prop::sample::select(vec![".json.gz", ".json.gz", ".json.gz", ".json", ""]),
    )
        .prop_map(
            |(prefix, org, acct, file_acct, folder, file_folder, region, (y, m, d), tail, ext)| {
                let mut parts = prefix;
                parts.push("AWSLogs".to_string());
                parts.extend(org);
                let file_acct = file_acct.unwrap_or_else(|| acct.clone());
                let file_folder = file_folder.unwrap_or(folder);
                parts.extend([acct, folder.to_string(), region, y, m, d]);
                parts.push(format!("{file_acct}_{file_folder}_{tail}{ext}"));
                parts.join("/")
            },
        )
}

/// A key CloudTrail could have written, and the fields it must parse to.
fn valid_key() -> impl Strategy<Value = (String, LogKey)> {
    let prefix = prop::option::of(
        prop::collection::vec("[a-zA-Z0-9 +()!'*._-]{1,10}|\\p{L}{1,6}", 1..4)
            .prop_map(|s| s.join("/")),
    );
    let kind = prop::sample::select(vec![
        trailshare::key::LogKind::Events,
        trailshare::key::LogKind::Digest,
        trailshare::key::LogKind::Insight,
    ]);
    (
        prefix,
        prop::option::of("o-[a-z0-9]{10,32}"),
        account(),
        kind,
        "[a-z]{2}-[a-z]{4,9}-[0-9]",
        (1970u16..=9999, 1u8..=12, 1u8..=31),
        "[a-zA-Z0-9_-]{0,30}",
    )
        .prop_map(
            |(prefix, org, acct, kind, region, (year, month, day), tail)| {
                let file = format!("{acct}_{}_{region}_{tail}.json.gz", kind.folder());
                let key = LogKey {
                    prefix,
                    organization_id: org,
                    account: acct,
                    kind,
                    region,
                    year,
                    month,
                    day,
                    file,
                };
                (key.to_string(), key)
            },
        )
}

/// Words the decoders and the validator look for, so generated JSON gets
/// past their first checks.
const WORDS: &[&str] = &[
    "Records",
    "eventSource",
    "EventSource",
    "eventName",
    "s3",
    "bucket",
    "name",
    "object",
    "key",
    "eTag",
    "etag",
    "messageId",
    "body",
    "Type",
    "Message",
    "Event",
    "source",
    "detail-type",
    "detail",
    "aws:s3",
    "aws:sqs",
    "aws:sns",
    "Notification",
    "s3:TestEvent",
    "aws.s3",
    "Object Created",
    "ObjectCreated:Put",
    "grantee_account",
    "grantee_principals",
    "log_accounts",
    "external_id",
    "max_session_seconds",
    "delivery",
    "mode",
    "prefix",
    "role_arn",
    "copy",
    "tag",
    "none",
    "*",
    "222222222222",
    "s3Bucket",
    "s3ObjectKey",
    "Sns",
];

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(WORDS.to_vec()).prop_map(str::to_string),
        "\\PC{0,10}",
    ]
}

/// Any JSON value, biased towards the names the code under test looks at.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        word().prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((word(), inner.clone()), 0..8)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
            // A JSON document inside a string, as SQS bodies and SNS messages are.
            inner.prop_map(|v| Value::String(v.to_string())),
        ]
    })
}

/// Any key at all (S3 allows any UTF-8), with the characters S3
/// notifications encode well represented.
fn any_key() -> impl Strategy<Value = String> {
    prop_oneof!["\\PC{1,40}", "[a-z +%/=&?#~*'()!.$,:;@_-]{1,40}"]
}

/// Encodes a key as S3 event notifications do: `%XX`, then space as `+`.
fn notification_key(key: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'*')
        .remove(b'/');
    percent_encoding::utf8_percent_encode(key, SET)
        .to_string()
        .replace("%20", "+")
}

fn s3_notification(objects: &[CreatedObject]) -> Value {
    json!({"Records": objects.iter().map(|o| {
        let mut object = json!({"key": notification_key(&o.key), "sequencer": "0055AED6DCD90281E5"});
        if let Some(etag) = &o.etag {
            object["eTag"] = json!(etag);
        }
        if let Some(size) = o.size {
            object["size"] = json!(size);
        }
        json!({"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1", "eventName": "ObjectCreated:Put",
               "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": o.bucket, "arn": format!("arn:aws:s3:::{}", o.bucket)}, "object": object}})
    }).collect::<Vec<_>>()})
}

fn bridge_event(object: &CreatedObject) -> Value {
    let mut detail_object = json!({"key": object.key});
    if let Some(etag) = &object.etag {
        detail_object["etag"] = json!(format!("\"{etag}\""));
    }
    if let Some(size) = object.size {
        detail_object["size"] = json!(size);
    }
    json!({"version": "0", "detail-type": "Object Created", "source": "aws.s3", "account": ACCOUNTS[0],
           "region": "us-east-1", "detail": {"version": "0", "bucket": {"name": object.bucket}, "object": detail_object}})
}

/// CloudTrail's own SNS message of delivered files: keys not encoded, no ETag.
fn cloudtrail_message() -> impl Strategy<Value = (Value, Vec<CreatedObject>)> {
    (
        "[a-z0-9][a-z0-9.-]{1,20}[a-z0-9]",
        prop::collection::vec(any_key(), 1..4),
    )
        .prop_map(|(bucket, keys)| {
            let objects = keys
                .iter()
                .map(|key| CreatedObject {
                    bucket: bucket.clone(),
                    key: key.clone(),
                    etag: None,
                    size: None,
                })
                .collect();
            (json!({"s3Bucket": bucket, "s3ObjectKey": keys}), objects)
        })
}

/// A message SNS carries: an S3 notification or CloudTrail's message.
fn sns_message() -> impl Strategy<Value = (Value, Vec<CreatedObject>)> {
    prop_oneof![
        prop::collection::vec(created_object(), 0..3)
            .prop_map(|objects| (s3_notification(&objects), objects)),
        cloudtrail_message(),
    ]
}

fn created_object() -> impl Strategy<Value = CreatedObject> {
    (
        "[a-z0-9][a-z0-9.-]{1,20}[a-z0-9]",
        any_key(),
        prop::option::of("[0-9a-f]{32}(-[0-9]{1,2})?"),
        prop::option::of(0u64..(5u64 << 40)),
    )
        .prop_map(|(bucket, key, etag, size)| CreatedObject {
            bucket,
            key,
            etag,
            size,
        })
}

/// One SQS message body carrying `objects`, in one of the shapes the queue
/// sees, and what it must decode to.
fn queue_body() -> impl Strategy<Value = (String, Notification)> {
    prop_oneof![
        prop::collection::vec(created_object(), 0..4)
            .prop_map(|objects| (s3_notification(&objects).to_string(), Notification::Objects(objects))),
        created_object()
            .prop_map(|o| (bridge_event(&o).to_string(), Notification::Objects(vec![o]))),
        prop::collection::vec(created_object(), 1..3).prop_map(|objects| {
            let envelope = json!({"Type": "Notification", "MessageId": "m", "TopicArn": "arn:aws:sns:us-east-1:111111111111:t",
                                  "Message": s3_notification(&objects).to_string()});
            (envelope.to_string(), Notification::Objects(objects))
        }),
        cloudtrail_message().prop_map(|(message, objects)| (message.to_string(), Notification::Objects(objects))),
        cloudtrail_message().prop_map(|(message, objects)| {
            let envelope = json!({"Type": "Notification", "MessageId": "m", "Message": message.to_string()});
            (envelope.to_string(), Notification::Objects(objects))
        }),
        Just((
            json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": TRAIL}).to_string(),
            Notification::Test
        )),
    ]
}

fn iam_name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9+=,.@_-]{1,20}"
}

/// A share body most of whose variants are valid: every field is either
/// left out or set to something the contract allows.
fn share_body() -> impl Strategy<Value = Value> {
    account().prop_flat_map(|grantee| {
        let principal = {
            let grantee = grantee.clone();
            prop_oneof![
                Just(format!("arn:aws:iam::{grantee}:root")),
                iam_name().prop_map({
                    let g = grantee.clone();
                    move |n| format!("arn:aws:iam::{g}:user/{n}")
                }),
                ("([A-Za-z0-9_-]{1,8}/){0,2}", iam_name()).prop_map({
                    let g = grantee.clone();
                    move |(path, n)| format!("arn:aws:iam::{g}:role/{path}{n}")
                }),
            ]
        };
        let principals = prop::option::of(
            prop::collection::btree_set(principal, 1..4)
                .prop_map(|s| s.into_iter().collect::<Vec<_>>()),
        );
        let log_accounts = prop_oneof![
            Just(None),
            Just(Some(vec!["*".to_string()])),
            Just(Some(vec![grantee.clone()])),
            prop::collection::btree_set(account(), 1..4)
                .prop_map(|s| Some(s.into_iter().collect())),
        ];
        let external_id = prop::option::weighted(0.75, "[A-Za-z0-9+=,.@:/-]{2,64}");
        // Copies go to the grantee only: a writer role in its account, and
        // a prefix of the characters TRAIL_PREFIX allows, ending in `/`.
        let delivery = prop_oneof![
            Just(None),
            Just(Some(json!({"mode": "none"}))),
            Just(Some(json!({"mode": "tag"}))),
            (
                "[a-z0-9][a-z0-9-]{1,30}[a-z0-9]",
                prop::option::of("([a-zA-Z0-9 +!._'()-]{1,10}/){1,3}"),
                prop::option::of((Just(grantee.clone()), iam_name())),
            )
                .prop_map(|(bucket, prefix, role)| {
                    let mut d = json!({"mode": "copy", "bucket": bucket});
                    if let Some(prefix) = prefix {
                        d["prefix"] = json!(prefix);
                    }
                    if let Some((acct, name)) = role {
                        d["role_arn"] = json!(format!("arn:aws:iam::{acct}:role/{name}"));
                    }
                    Some(d)
                }),
        ];
        // Notifications go to the grantee's own standard queue or topic.
        let notify = prop::option::of(
            (
                any::<bool>(),
                "[a-z]{2}-[a-z]{4,9}-[1-9]",
                "[A-Za-z0-9_-]{1,80}",
            )
                .prop_map({
                    let g = grantee.clone();
                    move |(queue, region, name)| {
                        if queue {
                            json!({"queue_arn": format!("arn:aws:sqs:{region}:{g}:{name}")})
                        } else {
                            json!({"topic_arn": format!("arn:aws:sns:{region}:{g}:{name}")})
                        }
                    }
                }),
        );
        // Whole seconds in UTC, as stored.
        let expires_at = prop::option::of(
            (2027i32..2100, 1u8..=12, 1u8..=28, 0u8..24, 0u8..60)
                .prop_map(|(y, mo, d, h, mi)| format!("{y}-{mo:02}-{d:02}T{h:02}:{mi:02}:00Z")),
        );
        (
            Just(grantee),
            prop::option::of("[a-z0-9+=,.@_-]{1,48}"),
            principals,
            log_accounts,
            external_id,
            prop::option::of(3600u32..=43200),
            delivery,
            (notify, expires_at),
        )
            .prop_map(
                |(
                    grantee,
                    name,
                    principals,
                    logs,
                    external_id,
                    seconds,
                    delivery,
                    (notify, expires_at),
                )| {
                    let mut body = json!({"grantee_account": grantee});
                    let fields = [
                        ("name", name.map(Value::from)),
                        ("grantee_principals", principals.map(Value::from)),
                        ("log_accounts", logs.map(Value::from)),
                        ("external_id", external_id.map(Value::from)),
                        ("max_session_seconds", seconds.map(Value::from)),
                        ("delivery", delivery),
                        ("notify", notify),
                        ("expires_at", expires_at.map(Value::from)),
                    ];
                    for (field, value) in fields {
                        if let Some(value) = value {
                            body[field] = value;
                        }
                    }
                    body
                },
            )
    })
}

/// A share body with the validator's field names and arbitrary values.
fn share_body_like() -> impl Strategy<Value = Value> {
    let field = prop::sample::select(vec![
        "name",
        "grantee_account",
        "grantee_principals",
        "log_accounts",
        "external_id",
        "max_session_seconds",
        "delivery",
        "mode",
        "bucket",
        "prefix",
        "role_arn",
    ]);
    let value = prop_oneof![
        any_json(),
        share_body(),
        prop::collection::vec((field.clone(), any_json()), 0..4)
            .prop_map(|p| Value::Object(p.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
    ];
    prop::collection::vec((field, value), 0..8)
        .prop_map(|p| Value::Object(p.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
}

fn valid_share() -> impl Strategy<Value = ShareSpec> {
    share_body().prop_filter_map("the validator refuses it", |body| {
        validate(&body, None, TRAIL).ok()
    })
}

// ---------------------------------------------------------------- properties

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn the_key_parser_never_panics_and_what_it_accepts_reserialises_to_itself(
        key in prop_oneof![any::<String>(), "\\PC{0,200}", key_like()]
    ) {
        if let Ok(parsed) = LogKey::parse(&key) {
            prop_assert_eq!(parsed.to_string(), key);
        }
    }

    #[test]
    fn every_key_cloudtrail_writes_parses_to_its_owner((key, want) in valid_key()) {
        let parsed = LogKey::parse(&key);
        prop_assert_eq!(parsed.as_ref(), Ok(&want), "{}", key);
        prop_assert_eq!(parsed.unwrap().to_string(), key);
    }

    #[test]
    fn keys_built_like_cloudtrail_keys_reserialise_when_accepted(key in key_like()) {
        if let Ok(parsed) = LogKey::parse(&key) {
            prop_assert_eq!(parsed.to_string(), key);
        }
    }

    #[test]
    fn a_file_name_of_another_account_is_never_accepted(key in key_like()) {
        if let Ok(parsed) = LogKey::parse(&key) {
            let file_account = parsed.file.split('_').next().unwrap_or_default();
            prop_assert_eq!(file_account, parsed.account.as_str());
        }
    }

    #[test]
    fn notification_keys_decode_to_the_key_s3_encoded(key in any_key()) {
        prop_assert_eq!(decode_notification_key(&notification_key(&key)), Ok(key));
    }

    #[test]
    fn the_event_decoder_never_panics(event in any_json()) {
        let _ = decode(&event);
    }

    #[test]
    fn the_event_decoder_never_panics_on_any_sqs_body(
        bodies in prop::collection::vec(prop_oneof![any_json().prop_map(|v| v.to_string()), "\\PC{0,40}"], 1..5)
    ) {
        let event = json!({"Records": bodies.iter().enumerate().map(|(i, body)|
            json!({"messageId": i.to_string(), "eventSource": "aws:sqs", "body": body})).collect::<Vec<_>>()});
        let Ok(Trigger::Queue(messages)) = decode(&event) else {
            return Err(TestCaseError::fail("an SQS batch is a queue trigger"));
        };
        prop_assert_eq!(messages.len(), bodies.len());
    }

    #[test]
    fn s3_notifications_decode_to_the_objects_they_carry(objects in prop::collection::vec(created_object(), 0..5)) {
        prop_assert_eq!(
            decode(&s3_notification(&objects)),
            Ok(Trigger::Direct(Notification::Objects(objects)))
        );
    }

    #[test]
    fn eventbridge_events_decode_to_their_object_unencoded(object in created_object()) {
        prop_assert_eq!(
            decode(&bridge_event(&object)),
            Ok(Trigger::Direct(Notification::Objects(vec![object])))
        );
    }

    #[test]
    fn sns_invocations_decode_to_every_object_their_messages_carry(messages in prop::collection::vec(sns_message(), 1..4)) {
        let event = json!({"Records": messages.iter().map(|(message, _)| json!({
            "EventSource": "aws:sns", "EventVersion": "1.0", "EventSubscriptionArn": "arn:aws:sns:us-east-1:111111111111:t:1",
            "Sns": {"Type": "Notification", "MessageId": "m", "TopicArn": "arn:aws:sns:us-east-1:111111111111:t",
                    "Message": message.to_string(), "Timestamp": "2024-05-01T12:05:31.271Z"}})).collect::<Vec<_>>()});
        let want: Vec<CreatedObject> = messages.into_iter().flat_map(|(_, objects)| objects).collect();
        prop_assert_eq!(decode(&event), Ok(Trigger::Direct(Notification::Objects(want))));
    }

    #[test]
    fn sqs_batches_decode_every_message_to_what_it_carries(bodies in prop::collection::vec(queue_body(), 1..10)) {
        let event = json!({"Records": bodies.iter().enumerate().map(|(i, (body, _))| json!({
            "messageId": format!("m-{i}"), "receiptHandle": "h", "body": body, "attributes": {"ApproximateReceiveCount": "1"},
            "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:111111111111:q", "awsRegion": "us-east-1"})).collect::<Vec<_>>()});
        let Ok(Trigger::Queue(messages)) = decode(&event) else {
            return Err(TestCaseError::fail("an SQS batch is a queue trigger"));
        };
        prop_assert_eq!(messages.len(), bodies.len());
        for (i, (message, (_, want))) in messages.iter().zip(&bodies).enumerate() {
            prop_assert_eq!(&message.message_id, &format!("m-{i}"));
            prop_assert_eq!(message.content.as_ref(), Ok(want));
        }
    }

    #[test]
    fn the_share_validator_never_panics(
        body in prop_oneof![any_json(), share_body_like()],
        path in prop::option::of(prop_oneof!["[A-Za-z0-9+=,.@_-]{1,48}", "\\PC{0,60}"])
    ) {
        let _ = validate(&body, path.as_deref(), TRAIL);
    }

    #[test]
    fn every_valid_share_round_trips_exactly(spec in valid_share()) {
        let stored = serde_json::to_value(&spec).expect("a share serialises");
        prop_assert_eq!(validate(&stored, None, TRAIL), Ok(spec.clone()), "{}", stored);
        prop_assert_eq!(validate(&stored, Some(&spec.name), TRAIL), Ok(spec.clone()), "{}", stored);
        let parsed: ShareSpec = serde_json::from_value(stored.clone()).expect("a share deserialises");
        prop_assert_eq!(parsed, spec);
    }

    #[test]
    fn every_valid_share_record_round_trips_through_role_tags(
        spec in valid_share(),
        created_by in "arn:aws:(iam|sts)::[0-9]{12}:(user|assumed-role)/[A-Za-z0-9+=,.@_/-]{1,40}",
        created_at in "20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9]Z",
    ) {
        let record: ShareRecord = serde_json::from_value(json!({"spec": spec, "created_by": created_by, "created_at": created_at}))
            .expect("a record of a valid share");
        let tags = record.to_tags().expect("a valid share fits in its role's tags");
        for (key, value) in &tags {
            prop_assert!(key.chars().count() <= 128 && value.chars().count() <= 256, "{} = {}", key, value);
            prop_assert!(
                value.chars().all(|c| c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c)),
                "IAM refuses the tag value {}", value
            );
        }
        let back = ShareRecord::from_tags(
            &role_name(&record.spec.name),
            tags.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        );
        prop_assert_eq!(back.as_ref(), Ok(&record));
        // The order IAM lists tags in does not matter.
        let back = ShareRecord::from_tags(
            &role_name(&record.spec.name),
            tags.iter().rev().map(|(k, v)| (k.as_str(), v.as_str())),
        );
        prop_assert_eq!(back, Ok(record));
    }

    #[test]
    fn reading_arbitrary_role_tags_never_panics(
        role in "\\PC{0,30}",
        tags in prop::collection::vec((prop_oneof![word(), "trailshare:(format|record:[0-9]{1,3}|grantee-account)"], "\\PC{0,40}"), 0..10)
    ) {
        let _ = ShareRecord::from_tags(&role, tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    }
}

/// The generators reach what they are meant to: enough generated keys parse
/// for the reserialise property to say something, and enough generated
/// share bodies are valid for the round trips (a validator that refused
/// everything would otherwise pass them vacuously).
#[test]
fn the_generators_produce_accepted_input() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut keys, mut shares) = (0, 0);
    for _ in 0..1000 {
        let key = key_like().new_tree(&mut runner).unwrap().current();
        keys += usize::from(LogKey::parse(&key).is_ok());
        let body = share_body().new_tree(&mut runner).unwrap().current();
        shares += usize::from(validate(&body, None, TRAIL).is_ok());
    }
    println!("{keys} of 1000 generated keys parse; {shares} of 1000 share bodies are valid");
    assert!(keys >= 10, "only {keys} of 1000 generated keys parse");
    assert!(
        shares >= 300,
        "only {shares} of 1000 generated share bodies are valid"
    );
}

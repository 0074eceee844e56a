use super::*;
use crate::admission::{check_deployment, check_not_expired};
use serde_json::json;
use serde_json::Value;

const TRAIL: &str = "trail-bucket";
const B: &str = "222222222222";

fn ok(body: Value) -> ShareSpec {
    validate(&body, None, TRAIL).unwrap_or_else(|e| panic!("{body}: {e}"))
}

#[test]
fn scenario_one_defaults() {
    let spec = ok(json!({"grantee_account": B}));
    assert_eq!(spec.name, "account-222222222222");
    assert_eq!(
        spec.grantee_principals,
        vec![format!("arn:aws:iam::{B}:root")]
    );
    assert_eq!(spec.log_accounts, vec![B]);
    assert_eq!(spec.max_session_seconds, 3600);
    assert_eq!(spec.delivery, Delivery::None);
    assert!(!spec.reads_third_party_logs());
    assert!(spec.covers(B) && !spec.covers("333333333333"));
}

#[test]
fn expires_at_is_stored_in_whole_utc_seconds() {
    use time::macros::datetime;
    let spec = ok(json!({"grantee_account": B, "expires_at": "2027-03-31T00:00:00.999Z"}));
    assert_eq!(spec.expires_at.as_deref(), Some("2027-03-31T00:00:00Z"));
    assert!(!spec.expired_at(datetime!(2027-03-30 23:59:59 UTC)));
    assert!(spec.expired_at(datetime!(2027-03-31 00:00:00 UTC)));
    assert_eq!(
        check_not_expired(&spec, datetime!(2026-11-25 00:00:00 UTC)),
        Ok(())
    );
    let past = check_not_expired(&spec, datetime!(2027-04-01 00:00:00 UTC)).unwrap_err();
    assert_eq!(
        (past.field.as_str(), past.code),
        ("expires_at", "invalid_field")
    );
    // An unreadable stored value never grants.
    assert!(is_expired("not a time", datetime!(2000-01-01 00:00:00 UTC)));
}

#[test]
fn notify_names_one_standard_queue_or_topic_of_the_grantee() {
    let queue = format!("arn:aws:sqs:us-east-1:{B}:new-logs");
    let spec = ok(json!({"grantee_account": B, "notify": {"queue_arn": queue}}));
    assert_eq!(spec.notify, Some(Notify::QueueArn(queue.clone())));
    let topic = format!("arn:aws:sns:eu-west-1:{B}:new_logs-2");
    let spec = ok(json!({"grantee_account": B, "notify": {"topic_arn": topic}}));
    assert_eq!(spec.notify.as_ref().map(Notify::arn), Some(topic.as_str()));
    // Stored and read back as the API shows it.
    assert_eq!(
        serde_json::to_value(&spec.notify).unwrap(),
        json!({"topic_arn": topic})
    );
    let config = crate::config::Config::from_lookup(|n| match n {
        "TRAIL_BUCKET" => Some(TRAIL.into()),
        "NOTIFICATION_TARGET_ARNS" => Some(queue.clone()),
        _ => None,
    })
    .unwrap();
    let outside = check_deployment(&spec, &config).unwrap_err();
    assert_eq!(outside.field, "notify.topic_arn");
    assert!(
        outside.message.contains("NOTIFICATION_TARGET_ARNS"),
        "{outside}"
    );
    let inside = ok(json!({"grantee_account": B, "notify": {"queue_arn": queue}}));
    assert_eq!(check_deployment(&inside, &config), Ok(()));
    // The template's default (set, empty) grants the forwarder no send:
    // every notify is a 400; unset (local runs) checks nothing.
    let none_allowed = |value: Option<&str>| {
        let value = value.map(str::to_string);
        crate::config::Config::from_lookup(move |n| match n {
            "TRAIL_BUCKET" => Some(TRAIL.into()),
            "NOTIFICATION_TARGET_ARNS" => value.clone(),
            _ => None,
        })
        .unwrap()
    };
    assert_eq!(
        check_deployment(&inside, &none_allowed(Some("")))
            .unwrap_err()
            .field,
        "notify.queue_arn"
    );
    assert_eq!(check_deployment(&inside, &none_allowed(None)), Ok(()));
    let plain = ok(json!({"grantee_account": B}));
    assert_eq!(check_deployment(&plain, &none_allowed(Some(""))), Ok(()));
}

#[test]
fn scenario_two_full_body() {
    let spec = ok(json!({
        "name": "auditor-z",
        "grantee_account": "444444444444",
        "grantee_principals": ["arn:aws:iam::444444444444:role/Auditors"],
        "log_accounts": ["*"],
        "external_id": "issued-by:z/1=a,b@c.d+e-f",
        "max_session_seconds": 43200,
        "delivery": {"mode": "copy", "bucket": "z-logs", "prefix": "central/", "role_arn": "arn:aws:iam::444444444444:role/writer"}
    }));
    assert_eq!(spec.name, "auditor-z");
    assert!(spec.reads_all_accounts() && spec.covers(B));
    assert_eq!(
        spec.delivery,
        Delivery::Copy {
            bucket: "z-logs".into(),
            prefix: "central/".into(),
            role_arn: Some("arn:aws:iam::444444444444:role/writer".into())
        }
    );
}

#[test]
fn put_takes_the_name_from_the_path() {
    let spec = validate(&json!({"grantee_account": B}), Some("bu-b"), TRAIL).unwrap();
    assert_eq!(spec.name, "bu-b");
    let same = validate(
        &json!({"grantee_account": B, "name": "bu-b"}),
        Some("bu-b"),
        TRAIL,
    )
    .unwrap();
    assert_eq!(same, spec);
}

#[test]
fn the_spec_survives_json() {
    let spec = ok(
        json!({"name": "x", "grantee_account": B, "log_accounts": [B, "333333333333"], "external_id": "abc",
        "delivery": {"mode": "copy", "bucket": "b-logs"}}),
    );
    let back: ShareSpec = serde_json::from_value(serde_json::to_value(&spec).unwrap()).unwrap();
    assert_eq!(back, spec);
}

/// Every rule, each naming its field.
#[test]
fn every_invalid_input_names_its_field() {
    let third = |extra: Value| {
        let mut body = json!({"name": "z", "grantee_account": "444444444444", "log_accounts": ["*"], "external_id": "abc"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let table: Vec<(Value, Option<&str>, &str, &str)> = vec![
        (json!([]), None, "", "invalid_body"),
        (json!("text"), None, "", "invalid_body"),
        (json!({}), None, "grantee_account", "missing_field"),
        (
            json!({"grantee_account": 222222222222u64}),
            None,
            "grantee_account",
            "invalid_field",
        ),
        (
            json!({"grantee_account": "22222222222"}),
            None,
            "grantee_account",
            "invalid_field",
        ),
        (
            json!({"grantee_account": " 22222222222"}),
            None,
            "grantee_account",
            "invalid_field",
        ),
        (
            json!({"grantee_account": "0222222222222"}),
            None,
            "grantee_account",
            "invalid_field",
        ),
        (
            json!({"grantee_account": "22222222222a"}),
            None,
            "grantee_account",
            "invalid_field",
        ),
        (
            json!({"grantee_account": B, "grantee": "x"}),
            None,
            "grantee",
            "unknown_field",
        ),
        (
            json!({"grantee_account": B, "log_acounts": ["*"]}),
            None,
            "log_acounts",
            "unknown_field",
        ),
        (
            json!({"grantee_account": B, "name": ""}),
            None,
            "name",
            "invalid_field",
        ),
        (
            json!({"grantee_account": B, "name": "a/b"}),
            None,
            "name",
            "invalid_field",
        ),
        (
            json!({"grantee_account": B, "name": "x".repeat(49)}),
            None,
            "name",
            "invalid_field",
        ),
        (
            json!({"grantee_account": B, "name": 7}),
            None,
            "name",
            "invalid_field",
        ),
        (
            json!({"grantee_account": B, "name": "other"}),
            Some("bu-b"),
            "name",
            "invalid_field",
        ),
        (
            json!({"grantee_account": B}),
            Some("bad name"),
            "name",
            "invalid_field",
        ),
        (
            json!({"grantee_account": B, "grantee_principals": []}),
            None,
            "grantee_principals",
            "invalid_field",
        ),
        (
            json!({"grantee_account": B, "grantee_principals": "arn:aws:iam::222222222222:root"}),
            None,
            "grantee_principals",
            "invalid_field",
        ),
        (
            json!({"grantee_account": B, "grantee_principals": ["arn:aws:iam::222222222222:root", "arn:aws:iam::333333333333:root"]}),
            None,
            "grantee_principals[1]",
            "invalid_field",
        ),
        (
            json!({"grantee_account": B, "grantee_principals": ["arn:aws:iam::222222222222:role/*"]}),
            None,
            "grantee_principals[0]",
            "invalid_field",
        ),
        (
            json!({"grantee_account": B, "grantee_principals": ["*"]}),
            None,
            "grantee_principals[0]",
            "invalid_field",
        ),
        (
            json!({"grantee_account": B, "grantee_principals": [1]}),
            None,
            "grantee_principals[0]",
            "invalid_field",
        ),
        (
            json!({"grantee_account": B, "grantee_principals": ["arn:aws:iam::222222222222:root", "arn:aws:iam::222222222222:root"]}),
            None,
            "grantee_principals[1]",
            "invalid_field",
        ),
        (
            json!({"grantee_account": B, "log_accounts": []}),
            None,
            "log_accounts",
            "invalid_field",
        ),
        (
            json!({"grantee_account": B, "log_accounts": [B, "*"], "external_id": "abc"}),
            None,
            "log_accounts[1]",
            "invalid_field",
        ),
        (
            json!({"grantee_account": B, "log_accounts": ["*", B], "external_id": "abc"}),
            None,
            "log_accounts[0]",
            "invalid_field",
        ),
        (
            json!({"grantee_account": B, "log_accounts": [B, "3333"]}),
            None,
            "log_accounts[1]",
            "invalid_field",
        ),
        (
            json!({"grantee_account": B, "log_accounts": [B, B]}),
            None,
            "log_accounts[1]",
            "invalid_field",
        ),
        (
            json!({"grantee_account": B, "log_accounts": ["333333333333"]}),
            None,
            "external_id",
            "missing_field",
        ),
        (
            json!({"grantee_account": B, "log_accounts": ["*"], "name": "z"}),
            None,
            "external_id",
            "missing_field",
        ),
        (
            json!({"grantee_account": B, "log_accounts": ["*"], "external_id": "abc"}),
            None,
            "name",
            "missing_field",
        ),
        (
            third(json!({"external_id": "a"})),
            None,
            "external_id",
            "invalid_field",
        ),
        (
            third(json!({"external_id": "has space"})),
            None,
            "external_id",
            "invalid_field",
        ),
        (
            third(json!({"external_id": "semi;colon"})),
            None,
            "external_id",
            "invalid_field",
        ),
        (
            third(json!({"external_id": "x".repeat(1225)})),
            None,
            "external_id",
            "invalid_field",
        ),
        (
            third(json!({"external_id": 1234})),
            None,
            "external_id",
            "invalid_field",
        ),
        (
            json!({"grantee_account": B, "max_session_seconds": 3599}),
            None,
            "max_session_seconds",
            "invalid_field",
        ),
        (
            json!({"grantee_account": B, "max_session_seconds": 43201}),
            None,
            "max_session_seconds",
            "invalid_field",
        ),
        (
            json!({"grantee_account": B, "max_session_seconds": 3600.5}),
            None,
            "max_session_seconds",
            "invalid_field",
        ),
        (
            json!({"grantee_account": B, "max_session_seconds": "3600"}),
            None,
            "max_session_seconds",
            "invalid_field",
        ),
        (
            json!({"grantee_account": B, "expires_at": "2027-03-31"}),
            None,
            "expires_at",
            "invalid_field",
        ),
        (
            json!({"grantee_account": B, "expires_at": "2027-03-31T00:00:00+02:00"}),
            None,
            "expires_at",
            "invalid_field",
        ),
        (
            json!({"grantee_account": B, "expires_at": 1806451200}),
            None,
            "expires_at",
            "invalid_field",
        ),
        (
            json!({"grantee_account": B, "notify": "arn:aws:sqs:us-east-1:222222222222:q"}),
            None,
            "notify",
            "invalid_field",
        ),
        (
            json!({"grantee_account": B, "notify": {"queue_arn": "arn:aws:sqs:us-east-1:222222222222:q", "topic_arn": "arn:aws:sns:us-east-1:222222222222:t"}}),
            None,
            "notify",
            "invalid_field",
        ),
        (
            json!({"grantee_account": B, "notify": {"url": "https://sqs.us-east-1.amazonaws.com/222222222222/q"}}),
            None,
            "notify.url",
            "unknown_field",
        ),
        (
            json!({"grantee_account": B, "notify": {"queue_arn": "arn:aws:sqs:us-east-1:333333333333:q"}}),
            None,
            "notify.queue_arn",
            "invalid_field",
        ),
        (
            json!({"grantee_account": B, "notify": {"queue_arn": "arn:aws:sqs:us-east-1:222222222222:q.fifo"}}),
            None,
            "notify.queue_arn",
            "invalid_field",
        ),
        (
            json!({"grantee_account": B, "notify": {"queue_arn": "arn:aws:sns:us-east-1:222222222222:t"}}),
            None,
            "notify.queue_arn",
            "invalid_field",
        ),
        (
            json!({"grantee_account": B, "notify": {"topic_arn": "arn:aws:sns:us-east-1:222222222222:*"}}),
            None,
            "notify.topic_arn",
            "invalid_field",
        ),
        (
            json!({"grantee_account": B, "delivery": "copy"}),
            None,
            "delivery",
            "invalid_field",
        ),
        (
            json!({"grantee_account": B, "delivery": {"mode": "move"}}),
            None,
            "delivery.mode",
            "invalid_field",
        ),
        (
            json!({"grantee_account": B, "delivery": {"mode": "copy"}}),
            None,
            "delivery.bucket",
            "missing_field",
        ),
        (
            json!({"grantee_account": B, "delivery": {"mode": "copy", "bucket": TRAIL}}),
            None,
            "delivery.bucket",
            "invalid_field",
        ),
        (
            json!({"grantee_account": B, "delivery": {"mode": "copy", "bucket": "Bad_Bucket"}}),
            None,
            "delivery.bucket",
            "invalid_field",
        ),
        (
            json!({"grantee_account": B, "delivery": {"mode": "copy", "bucket": "ok-bucket", "prefix": "/abs"}}),
            None,
            "delivery.prefix",
            "invalid_field",
        ),
        (
            json!({"grantee_account": B, "delivery": {"mode": "copy", "bucket": "ok-bucket", "role_arn": "arn:aws:iam::222222222222:user/u"}}),
            None,
            "delivery.role_arn",
            "invalid_field",
        ),
        (
            json!({"grantee_account": B, "delivery": {"mode": "copy", "bucket": "ok-bucket", "role_arn": "arn:aws:iam::333333333333:role/writer"}}),
            None,
            "delivery.role_arn",
            "invalid_field",
        ),
        (
            json!({"grantee_account": B, "delivery": {"mode": "copy", "bucket": "ok-bucket", "prefix": "*"}}),
            None,
            "delivery.prefix",
            "invalid_field",
        ),
        (
            json!({"grantee_account": B, "delivery": {"mode": "copy", "bucket": "ok-bucket", "prefix": "${aws:username}/"}}),
            None,
            "delivery.prefix",
            "invalid_field",
        ),
        (
            json!({"grantee_account": B, "delivery": {"mode": "copy", "bucket": "ok-bucket", "prefix": "central"}}),
            None,
            "delivery.prefix",
            "invalid_field",
        ),
        (
            json!({"grantee_account": B, "delivery": {"mode": "copy", "bucket": "ok-bucket", "prefix": "a//b/"}}),
            None,
            "delivery.prefix",
            "invalid_field",
        ),
        (
            json!({"grantee_account": B, "delivery": {"mode": "copy", "bucket": "ok-bucket", "prefix": format!("{}/", "p".repeat(256))}}),
            None,
            "delivery.prefix",
            "invalid_field",
        ),
        (
            json!({"grantee_account": B, "name": "Bu-B"}),
            None,
            "name",
            "invalid_field",
        ),
        (
            json!({"grantee_account": B, "delivery": {"mode": "tag", "bucket": "ok-bucket"}}),
            None,
            "delivery.bucket",
            "invalid_field",
        ),
        (
            json!({"grantee_account": B, "delivery": {"mode": "none", "prefix": "p/"}}),
            None,
            "delivery.prefix",
            "invalid_field",
        ),
        (
            json!({"grantee_account": B, "delivery": {"mode": "tag", "bukcet": "x"}}),
            None,
            "delivery.bukcet",
            "unknown_field",
        ),
    ];
    for (body, path, field, code) in table {
        let err = validate(&body, path, TRAIL).expect_err(&body.to_string());
        assert_eq!(
            (err.field.as_str(), err.code),
            (field, code),
            "{body}: {}",
            err.message
        );
        assert!(!err.message.is_empty());
    }
}

#[test]
fn names() {
    for good in ["a", "bu-b", "a+b=c,d.e@f_g-h", "shares", &"x".repeat(48)] {
        assert!(validate_name(good).is_ok(), "{good}");
    }
    for bad in ["", "a b", "a/b", "a*", "ü", "Bu-B", &"x".repeat(49)] {
        assert!(validate_name(bad).is_err(), "{bad}");
    }
    // Shares of the first version may have uppercase names: still readable.
    assert!(validate_existing_name("Bu-B").is_ok());
    assert!(validate_existing_name("a/b").is_err());
}

#[test]
fn the_deployment_lists_bound_copies() {
    let mut config = crate::config::Config::from_lookup(|name| {
        (name == "TRAIL_BUCKET").then(|| TRAIL.to_string())
    })
    .unwrap();
    let own = ok(json!({"grantee_account": B, "delivery": {"mode": "copy", "bucket": "b-logs"}}));
    let writer = ok(
        json!({"grantee_account": B, "delivery": {"mode": "copy", "bucket": "b-logs", "role_arn": "arn:aws:iam::222222222222:role/w"}}),
    );
    assert_eq!(
        check_deployment(&own, &config),
        Ok(()),
        "unset: not checked"
    );
    config.copy_destination_buckets = Some(vec!["c-logs".into()]);
    config.copy_writer_role_arns = Some(vec!["arn:aws:iam::222222222222:role/other".into()]);
    assert_eq!(
        check_deployment(&own, &config).unwrap_err().field,
        "delivery.bucket"
    );
    assert_eq!(
        check_deployment(&writer, &config).unwrap_err().field,
        "delivery.role_arn"
    );
    config.copy_destination_buckets = Some(vec!["b-logs".into()]);
    config.copy_writer_role_arns = Some(vec!["arn:aws:iam::222222222222:role/w".into()]);
    assert_eq!(check_deployment(&own, &config), Ok(()));
    assert_eq!(check_deployment(&writer, &config), Ok(()));
}

#[test]
fn an_unknown_field_is_named_with_its_path_and_the_fields_it_could_be() {
    let top = validate(
        &json!({"grantee_account": "222222222222", "log_acount": ["*"]}),
        None,
        "trail",
    )
    .unwrap_err();
    assert_eq!(
        (top.field.as_str(), top.code),
        ("log_acount", "unknown_field")
    );
    assert!(top.message.contains("`log_accounts`"), "{}", top.message);
    let nested = validate(
        &json!({"grantee_account": "222222222222", "delivery": {"mode": "tag", "bukcet": "x"}}),
        None,
        "trail",
    )
    .unwrap_err();
    assert_eq!(nested.field, "delivery.bukcet");
    assert!(nested.message.contains("`role_arn`"), "{}", nested.message);
    // `null` is the same as leaving a field out.
    let spec = validate(
        &json!({"grantee_account": "222222222222", "notify": null, "delivery": null, "name": null}),
        None,
        "trail",
    )
    .unwrap();
    assert_eq!(
        (spec.name.as_str(), spec.notify),
        ("account-222222222222", None)
    );
}

//! Extraction and scanning over the documented records of
//! `tests/fixtures/activity` (see its README for their sources).

use std::io::Write;

use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;

const A: &str = "111111111111";
const PATH: &str = "/trailshare/";
const BUCKET: &str = "central-trail";
const KEY: &str = "AWSLogs/222222222222/CloudTrail/us-east-1/2025/02/10/222222222222_CloudTrail_us-east-1_20250210T0505Z_a.json.gz";

fn roles() -> ShareRoles {
    ShareRoles {
        account: A.into(),
        path: PATH.into(),
        trail_bucket: BUCKET.into(),
        known: None,
    }
}

/// A fixture with its placeholders filled in for share `share`.
fn fixture(name: &str, share: &str) -> Value {
    let path = format!(
        "{}/../tests/fixtures/activity/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).expect(&path);
    let text = text
        .replace("{{A}}", A)
        .replace("{{PATH}}", PATH)
        .replace("{{SHARE}}", share)
        .replace("{{BUCKET}}", BUCKET)
        .replace("{{KEY}}", KEY);
    serde_json::from_str(&text).expect("a fixture is JSON")
}

fn gzip(records: &[Value]) -> Vec<u8> {
    let body = serde_json::to_vec(&json!({"Records": records})).unwrap();
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(&body).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn a_cross_account_assumption_is_the_callers_account_and_principal() {
    let (share, day, line) = extract(&fixture("assume-role-cross-account", "bu-b"), &roles())
        .expect("a share role's assumption");
    assert_eq!((share.as_str(), day.as_str()), ("bu-b", "2014-07-18"));
    let ActivityLine::Assume(a) = line else {
        panic!("{line:?}")
    };
    assert_eq!(a.account, "777788889999");
    assert_eq!(a.principal, "AIDAQRSTUVWXYZEXAMPLE");
    assert_eq!(a.arn, None, "the role owner's log gives no caller ARN here");
    assert_eq!(a.session_name, "JohnDoe-EC2-dev");
    assert_eq!(a.source_ip, "192.0.2.101");
    assert!(a.user_agent.starts_with("aws-cli/1.11.10"));
    assert_eq!(a.error_code, None);
    assert_eq!(a.time, "2014-07-18T15:07:39Z");
    assert_eq!(a.access_key_id.as_deref(), Some("AKIAQRSTUVWXYZEXAMPLE"));
}

#[test]
fn a_denied_assumption_keeps_its_error_code() {
    let (_, _, line) = extract(&fixture("assume-role-denied", "bu-b"), &roles()).unwrap();
    assert!(line.is_denied_assume());
    let ActivityLine::Assume(a) = line else {
        panic!()
    };
    assert_eq!(a.error_code.as_deref(), Some("AccessDenied"));
}

#[test]
fn session_tags_are_kept_as_key_and_value() {
    let (_, _, line) = extract(&fixture("assume-role-with-tags", "members"), &roles()).unwrap();
    let ActivityLine::Assume(a) = line else {
        panic!()
    };
    assert_eq!(
        a.session_tags.get("Email").map(String::as_str),
        Some("johndoe@example.com")
    );
    assert_eq!(
        a.session_tags.get("CostCenter").map(String::as_str),
        Some("12345")
    );
    assert_eq!(
        a.arn.as_deref(),
        Some("arn:aws:sts::111111111111:assumed-role/JohnDoe/JohnRole1")
    );
}

#[test]
fn a_read_of_the_trail_bucket_by_a_share_session_is_kept() {
    let (share, day, line) =
        extract(&fixture("s3-getobject-by-share-session", "bu-b"), &roles()).unwrap();
    assert_eq!((share.as_str(), day.as_str()), ("bu-b", "2025-02-10"));
    let ActivityLine::Read(r) = line else {
        panic!()
    };
    assert_eq!(r.action, "GetObject");
    assert_eq!(r.key, KEY);
    assert_eq!(r.bytes, Some(339117));
    assert_eq!(r.session_name, "JohnDoe-EC2-dev");
    assert_eq!(r.source_ip, "192.0.2.101");
    assert_eq!(r.access_key_id.as_deref(), Some("ASIAQRSTUVWXYZEXAMPLE"));
}

#[test]
fn records_about_other_roles_buckets_or_accounts_are_not_kept() {
    assert_eq!(
        extract(&fixture("s3-listbuckets-not-a-share", "x"), &roles()),
        None
    );
    // A share-named role at another path, in another account, or an
    // invalid share name (it would become an object key) is not a share.
    let other = [
        ("/other/", A, "bu-b"),
        (PATH, "999999999999", "bu-b"),
        (PATH, A, "../x"),
        (PATH, A, "BU-B"),
    ];
    for (path, account, share) in other {
        let text = fixture("assume-role-cross-account", share)
            .to_string()
            .replace(&format!("{A}:role{PATH}"), &format!("{account}:role{path}"));
        assert_eq!(
            extract(&serde_json::from_str(&text).unwrap(), &roles()),
            None,
            "{path} {account} {share}"
        );
    }
    let mut read = fixture("s3-getobject-by-share-session", "bu-b");
    read["requestParameters"]["bucketName"] = json!("another-bucket");
    assert_eq!(extract(&read, &roles()), None);
    // A session whose issuer is a `trailshare-` role off the share path.
    let mut read = fixture("s3-getobject-by-share-session", "bu-b");
    read["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"] =
        json!(format!("arn:aws:iam::{A}:role/elsewhere/trailshare-bu-b"));
    assert_eq!(extract(&read, &roles()), None);
}

#[test]
fn a_log_file_is_grouped_by_share_and_day_in_file_order() {
    let records = [
        fixture("s3-listbuckets-not-a-share", "x"),
        fixture("assume-role-cross-account", "bu-b"),
        fixture("assume-role-denied", "bu-b"),
        fixture("s3-getobject-by-share-session", "bu-b"),
        fixture("assume-role-with-tags", "members"),
    ];
    let found = scan(&gzip(&records)[..], true, &roles(), Limits::default()).unwrap();
    assert_eq!(found.records, 5);
    assert_eq!(found.dropped, 0);
    let groups: Vec<_> = found.objects.keys().cloned().collect();
    assert_eq!(
        groups,
        [
            ("bu-b".into(), "2014-07-18".into()),
            ("bu-b".into(), "2025-02-10".into()),
            ("members".into(), "2019-10-02".into())
        ]
    );
    let assumed = &found.objects[&("bu-b".to_string(), "2014-07-18".to_string())];
    assert_eq!(assumed.len(), 2);
    assert!(!assumed[0].is_denied_assume() && assumed[1].is_denied_assume());
    // The same file gives the same bytes.
    let again = scan(&gzip(&records)[..], true, &roles(), Limits::default()).unwrap();
    assert_eq!(
        to_jsonl(assumed),
        to_jsonl(&again.objects[&("bu-b".into(), "2014-07-18".into())])
    );
}

#[test]
fn limits_bound_what_a_file_may_cost() {
    let records: Vec<Value> = (0..10)
        .map(|i| fixture("assume-role-cross-account", &format!("s{i}")))
        .collect();
    let limits = Limits {
        max_bytes: 1 << 20,
        max_lines: 4,
        max_objects: 3,
        ..Limits::default()
    };
    let found = scan(&gzip(&records)[..], true, &roles(), limits).unwrap();
    assert_eq!(
        (found.objects.len(), found.lines(), found.dropped),
        (3, 3, 7)
    );
    let limits = Limits {
        max_bytes: 100,
        ..Limits::default()
    };
    assert!(matches!(
        scan(&gzip(&records)[..], true, &roles(), limits),
        Err(ScanError::TooLarge(100))
    ));
    let mut long = fixture("assume-role-cross-account", "bu-b");
    long["userAgent"] = json!("x".repeat(100_000));
    let (_, _, ActivityLine::Assume(a)) = extract(&long, &roles()).unwrap() else {
        panic!()
    };
    assert_eq!(a.user_agent.len(), MAX_FIELD_CHARS);
    // Lines whose callers chose large values: bounded by bytes kept, not
    // only by their count.
    let fat: Vec<Value> = (0..10).map(|_| long.clone()).collect();
    let limits = Limits {
        max_kept_bytes: 4_000,
        ..Limits::default()
    };
    let found = scan(&gzip(&fat)[..], true, &roles(), limits).unwrap();
    assert!(found.kept_bytes <= 4_000, "{}", found.kept_bytes);
    assert_eq!(found.lines() + found.dropped, 10);
    assert!(found.lines() >= 1 && found.dropped >= 1, "{found:?}");
}

#[test]
fn what_is_not_a_log_file_is_an_error_not_nothing() {
    for body in [
        &b"not json"[..],
        b"[1,2]",
        b"{\"Records\": 3}",
        b"{\"Records\": []} x",
    ] {
        assert!(
            matches!(
                scan(body, false, &roles(), Limits::default()),
                Err(ScanError::Malformed(_))
            ),
            "{body:?}"
        );
    }
    let empty = scan(
        &b"{\"Records\": [], \"other\": {\"a\": [1]}}"[..],
        false,
        &roles(),
        Limits::default(),
    )
    .unwrap();
    assert_eq!(empty, Extracted::default());
}

proptest! {
    /// Whatever a record holds, extraction never panics, and whatever it
    /// keeps makes a safe object key: a valid share name and a real date.
    #[test]
    fn any_record_yields_a_safe_key_or_nothing(
        name in "[A-Za-z0-9./=_-]{0,60}",
        time in "[0-9T:Z-]{0,24}",
        denied in proptest::bool::ANY,
    ) {
        let mut record = fixture("assume-role-cross-account", "x");
        record["requestParameters"]["roleArn"] = json!(format!("arn:aws:iam::{A}:role{PATH}trailshare-{name}"));
        record["eventTime"] = json!(time);
        if denied { record["errorCode"] = json!("AccessDenied"); }
        if let Some((share, day, line)) = extract(&record, &roles()) {
            prop_assert!(is_share_name(&share));
            prop_assert_eq!(day_of(&format!("{day}T00:00:00Z")), Some(day.clone()));
            let key = object_key(&share, &day, KEY);
            prop_assert!(!key.contains("..") || share.contains(".."));
            prop_assert_eq!(key.matches('/').count(), 2);
            prop_assert_eq!(line.is_denied_assume(), denied);
        }
    }

    #[test]
    fn day_of_accepts_only_dates(text in "\\PC{0,30}") {
        if let Some(day) = day_of(&text) {
            prop_assert_eq!(day.len(), 10);
            prop_assert!(day.bytes().all(|b| b.is_ascii_digit() || b == b'-'));
        }
    }
}

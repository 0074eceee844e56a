//! Share activity (DESIGN.md "Activity"): a log file of A holding AWS's
//! documented AssumeRole (allowed, denied, with tags) and S3 GetObject
//! records (tests/fixtures/activity) becomes one JSON-lines object per
//! share and day in the activity bucket; the same file again writes the
//! same bytes; a file of B costs no request at all.

use std::collections::BTreeMap;

use forwarder::Outcome;
use serde_json::{json, Value};
use stand_in::fault_proxy::FaultProxy;
use stand_in::world::{Grants, TestForwarder, World};
use stand_in::{
    activity_record, log_file, log_key, put_log, records_file, stand_in, ActivityPlace, A, B,
};
use trailshare::activity::{from_jsonl, object_key, ActivityLine};

/// The documented records, in file order, as the test's world names them.
const RECORDS: [&str; 5] = [
    "s3-listbuckets-not-a-share",
    "assume-role-cross-account",
    "assume-role-denied",
    "s3-getobject-by-share-session",
    "assume-role-with-tags",
];

/// A's log file of the documented records, gzip'd as CloudTrail writes it.
fn a_log_file(w: &World, share: &str, read_key: &str) -> Vec<u8> {
    let place = ActivityPlace {
        path: &w.config.share_role_path,
        share,
        bucket: &w.bucket,
        key: read_key,
    };
    let records: Vec<Value> = RECORDS.iter().map(|n| activity_record(n, &place)).collect();
    records_file(json!(records))
}

/// A world whose forwarder writes activity to a new bucket of A.
async fn activity_world() -> (World, String) {
    let activity = stand_in().bucket(A, "activity").await;
    let w = World::new(&[("ACTIVITY_BUCKET", &activity), ("OWNER_ACCOUNT", A)]).await;
    (w, activity)
}

/// Every object of the activity bucket: key → body.
async fn activity_objects(w: &World, bucket: &str) -> BTreeMap<String, String> {
    let s3 = w.s3();
    let listed = s3.list_objects_v2().bucket(bucket).send().await.unwrap();
    let mut objects = BTreeMap::new();
    for object in listed.contents() {
        let key = object.key().unwrap().to_string();
        let body = s3
            .get_object()
            .bucket(bucket)
            .key(&key)
            .send()
            .await
            .unwrap();
        let bytes = body.body.collect().await.unwrap().into_bytes();
        objects.insert(key, String::from_utf8(bytes.to_vec()).unwrap());
    }
    objects
}

/// A share of B and a log file of A (stamped `stamp`) about it, in the
/// trail bucket: (the share's name, the file's key, the key it says was read).
async fn a_file_about_a_share(w: &World, stamp: &str) -> (String, String, String) {
    let share = w.share(json!({"grantee_account": B})).await;
    let name = share["name"].as_str().unwrap().to_string();
    let a_key = log_key(None, A, stamp);
    let read_key = log_key(None, B, "1200");
    put_log(&w.s3(), &w.bucket, &a_key, a_log_file(w, &name, &read_key)).await;
    (name, a_key, read_key)
}

/// The forwarder as deployed with the activity bucket, through a proxy
/// that counts its requests (and judges `ExpectedBucketOwner`).
async fn activity_forwarder(w: &World, activity: &str) -> (TestForwarder, FaultProxy) {
    let user = w
        .forwarder_user(Grants {
            activity: Some(activity),
            ..Grants::default()
        })
        .await;
    let proxy = FaultProxy::start(&w.aws.url);
    (w.forwarder_as(&proxy.config(&user)), proxy)
}

#[tokio::test]
async fn a_log_file_of_a_becomes_its_shares_activity_once_and_b_files_cost_nothing() {
    let (w, activity) = activity_world().await;
    let (name, a_key, read_key) = a_file_about_a_share(&w, "1300").await;
    let name = name.as_str();
    let (forwarder, proxy) = activity_forwarder(&w, &activity).await;

    let outcome = forwarder.process(&w.created(&a_key)).await;
    let Outcome::Processed { account, actions } = &outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(account, A);
    assert_eq!(actions, &["activity: 4 lines of 5 records in 3 objects"]);
    let objects = activity_objects(&w, &activity).await;
    let key = |day| object_key(name, day, &a_key);
    assert_eq!(
        objects.keys().cloned().collect::<Vec<_>>(),
        [key("2014-07-18"), key("2019-10-02"), key("2025-02-10")]
    );
    let lines = |day| {
        let (lines, skipped) = from_jsonl(&objects[&key(day)]);
        assert_eq!(skipped, 0);
        lines
    };
    let assumed = lines("2014-07-18");
    let [ActivityLine::Assume(allowed), ActivityLine::Assume(denied)] = &assumed[..] else {
        panic!("{assumed:?}")
    };
    assert_eq!(
        (allowed.account.as_str(), allowed.principal.as_str()),
        ("777788889999", "AIDAQRSTUVWXYZEXAMPLE")
    );
    assert_eq!(
        (allowed.error_code.as_deref(), denied.error_code.as_deref()),
        (None, Some("AccessDenied"))
    );
    let [ActivityLine::Read(read)] = &lines("2025-02-10")[..] else {
        panic!()
    };
    assert_eq!(
        (read.key.as_str(), read.bytes, read.session_name.as_str()),
        (read_key.as_str(), Some(339117), "JohnDoe-EC2-dev")
    );
    let [ActivityLine::Assume(tagged)] = &lines("2019-10-02")[..] else {
        panic!()
    };
    assert_eq!(
        tagged.session_tags.get("CostCenter").map(String::as_str),
        Some("12345")
    );
    // (Its denied_assume alert line: tests/metrics.rs, where every test
    // captures the log, so no other thread races the log's callsites.)

    // A file about a share that does not exist (any caller can name one
    // in a denied AssumeRole): read, nothing kept, nothing written.
    let ghost_key = log_key(None, A, "1302");
    let ghost_file = a_log_file(&w, "no-such-share", &read_key);
    put_log(&w.s3(), &w.bucket, &ghost_key, ghost_file).await;
    let ghost = forwarder.process(&w.created(&ghost_key)).await;
    let Outcome::Processed { actions, .. } = &ghost else {
        panic!("{ghost:?}")
    };
    assert_eq!(actions, &["activity: 0 lines of 5 records in 0 objects"]);
    assert_eq!(activity_objects(&w, &activity).await, objects);

    // The same file again: the same objects, byte for byte.
    assert_eq!(forwarder.process(&w.created(&a_key)).await, outcome);
    assert_eq!(activity_objects(&w, &activity).await, objects);

    // A file of B: not read for activity, nothing written.
    let b_key = log_key(None, B, "1301");
    put_log(&w.s3(), &w.bucket, &b_key, log_file(B, "GetObject")).await;
    let before = proxy.counts().by_bucket;
    let b = forwarder.process(&w.created(&b_key)).await;
    assert!(matches!(b, Outcome::Skipped { .. }), "{b:?}");
    let after = proxy.counts().by_bucket;
    for bucket in [&w.bucket, &activity] {
        assert_eq!(
            after.get(bucket.as_str()),
            before.get(bucket.as_str()),
            "requests to {bucket}"
        );
    }
}

#[tokio::test]
async fn a_failed_activity_write_fails_the_file_naming_the_activity_target() {
    let (w, activity) = activity_world().await;
    let (_, a_key, _) = a_file_about_a_share(&w, "1310").await;
    // Not granted the activity bucket: the write is denied.
    let forwarder = w.forwarder(&[], &[]).await;
    let outcome = forwarder.process(&w.created(&a_key)).await;
    let Outcome::Failed { error } = &outcome else {
        panic!("{outcome:?}")
    };
    assert!(
        error.starts_with("activity: s3:PutObject was denied"),
        "{error}"
    );
    assert!(activity_objects(&w, &activity).await.is_empty());
    // A digest file of A is not a log file: not read, not failed.
    let digest = stand_in::digest_key(None, A);
    put_log(&w.s3(), &w.bucket, &digest, log_file(A, "x")).await;
    let skipped = forwarder.process(&w.created(&digest)).await;
    assert!(matches!(skipped, Outcome::Skipped { .. }), "{skipped:?}");
}

/// Someone else's bucket under the activity bucket's name (deleted, then
/// taken): S3 refuses the write for `ExpectedBucketOwner` (judged by the
/// fault proxy: moto ignores the header), the file fails, nothing is written.
#[tokio::test]
async fn activity_is_never_written_to_a_bucket_another_account_owns() {
    let (w, activity) = activity_world().await;
    let (_, a_key, _) = a_file_about_a_share(&w, "1320").await;
    let (forwarder, proxy) = activity_forwarder(&w, &activity).await;
    proxy.set_bucket_owner(&activity, B);
    let outcome = forwarder.process(&w.created(&a_key)).await;
    let Outcome::Failed { error } = &outcome else {
        panic!("{outcome:?}")
    };
    assert!(error.starts_with("activity: s3:PutObject"), "{error}");
    assert!(activity_objects(&w, &activity).await.is_empty());
    // The stack's own account as owner: the same file is written.
    proxy.set_bucket_owner(&activity, A);
    let written = forwarder.process(&w.created(&a_key)).await;
    assert!(matches!(written, Outcome::Processed { .. }), "{written:?}");
    assert_eq!(activity_objects(&w, &activity).await.len(), 3);
}

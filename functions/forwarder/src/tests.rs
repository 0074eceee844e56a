//! The forwarder's decisions over in-memory ports: what each share mode does
//! to a file, what is skipped, and how often IAM is asked.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use serde_json::json;
use trailshare::config::Config;
use trailshare::events::CreatedObject;
use trailshare::ports::RoleSummary;
use trailshare::ports::{
    AwsError, CopyState, Destination, ListedObject, Listing, LogObjects, ObjectMetadata,
    RoleReader, SourceHead, StoredRole, WorkQueue, SOURCE_ETAG_METADATA,
};
use trailshare::record::{role_name, ShareRecord};
use trailshare::route::describe;
use trailshare::seal::ShareKey;
use trailshare::share::validate;

use super::log::target_line;
use super::{Forwarder, Outcome};
use trailshare::targets::Target;

const B: &str = "222222222222";
const C: &str = "333333333333";
const Z: &str = "444444444444";

/// The stack's share secret in these tests.
fn share_key() -> ShareKey {
    ShareKey::new(*b"forwarder unit tests' key: 32 B!").unwrap()
}

/// Share roles: each with its record in tags and its description as the
/// provisioner writes them. Counts listings and single-role reads.
#[derive(Default)]
struct FakeRoles {
    roles: Vec<(StoredRole, String)>,
    listings: AtomicUsize,
    reads: AtomicUsize,
}

impl FakeRoles {
    fn with(bodies: &[serde_json::Value]) -> FakeRoles {
        let roles = bodies
            .iter()
            .map(|body| {
                let spec = validate(body, None, "trail-bucket").unwrap();
                let record = ShareRecord {
                    spec,
                    created_by: "me".into(),
                    created_at: "now".into(),
                    updated_by: None,
                    updated_at: None,
                    sessions_valid_after: None,
                };
                let name = role_name(&record.spec.name);
                let mut role = StoredRole {
                    arn: format!("arn:aws:iam::111111111111:role/trailshare/{name}"),
                    role_id: format!("AROA{:017}", name.len()),
                    role_name: name,
                    path: "/trailshare/".into(),
                    tags: Vec::new(),
                    permissions_boundary: None,
                    trust_policy: None,
                    last_used: None,
                    description: None,
                    max_session_seconds: None,
                };
                role.tags = record
                    .to_sealed_tags(&share_key(), role.identity())
                    .unwrap();
                let description = describe(&record.spec, &share_key(), role.identity());
                (role, description)
            })
            .collect();
        FakeRoles {
            roles,
            ..FakeRoles::default()
        }
    }
}

impl RoleReader for FakeRoles {
    async fn get(&self, _: &str, name: &str) -> Result<Option<StoredRole>, AwsError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        Ok(self
            .roles
            .iter()
            .find(|(r, _)| r.role_name == name)
            .map(|(r, _)| r.clone()))
    }
    async fn list_summaries(&self, _: &str) -> Result<Vec<RoleSummary>, AwsError> {
        self.listings.fetch_add(1, Ordering::SeqCst);
        Ok(self
            .roles
            .iter()
            .map(|(r, description)| RoleSummary {
                role_name: r.role_name.clone(),
                arn: r.arn.clone(),
                role_id: r.role_id.clone(),
                description: Some(description.clone()),
            })
            .collect())
    }
}

/// (bucket, key)
type ObjectId = (String, String);

/// An object as the fake S3 holds it.
#[derive(Debug, Clone, Default)]
struct FakeObject {
    body: Vec<u8>,
    etag: String,
    metadata: ObjectMetadata,
    tags: Vec<(String, String)>,
}

/// Objects by (bucket, key) in buckets with owners; counts every call and
/// fails the buckets it is told to.
#[derive(Default)]
struct FakeObjects {
    objects: Mutex<HashMap<ObjectId, FakeObject>>,
    /// bucket → owning account; a bucket not here does not exist.
    owners: Mutex<HashMap<String, String>>,
    /// bucket → the error every request to it gets.
    failing: Mutex<HashMap<String, AwsError>>,
    calls: Mutex<Vec<String>>,
    /// Buckets whose default encryption is SSE-KMS: a copy's ETag differs.
    kms: Mutex<Vec<String>>,
}

impl FakeObjects {
    fn with_buckets(buckets: &[(&str, &str)]) -> FakeObjects {
        let fake = FakeObjects::default();
        for (bucket, owner) in buckets {
            fake.owners
                .lock()
                .unwrap()
                .insert(bucket.to_string(), owner.to_string());
        }
        fake
    }
    fn put(&self, bucket: &str, key: &str, body: &[u8], tags: &[(&str, &str)]) {
        let object = FakeObject {
            body: body.to_vec(),
            etag: format!("etag-{}", body.len()),
            metadata: ObjectMetadata {
                content_type: Some("application/json".into()),
                content_encoding: Some("gzip".into()),
                user: [("signature".to_string(), "abc".to_string())].into(),
            },
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        self.objects
            .lock()
            .unwrap()
            .insert((bucket.into(), key.into()), object);
    }
    fn object(&self, bucket: &str, key: &str) -> Option<FakeObject> {
        self.objects
            .lock()
            .unwrap()
            .get(&(bucket.to_string(), key.to_string()))
            .cloned()
    }
    fn tags_of(&self, bucket: &str, key: &str) -> Vec<(String, String)> {
        self.object(bucket, key).unwrap().tags
    }
    fn fail(&self, bucket: &str, error: Option<AwsError>) {
        let mut failing = self.failing.lock().unwrap();
        match error {
            Some(error) => failing.insert(bucket.to_string(), error),
            None => failing.remove(bucket),
        };
    }
    fn calls(&self) -> Vec<String> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }
    /// Notes the call; the bucket's injected failure, if any.
    fn call(&self, call: &str, bucket: &str) -> Result<(), AwsError> {
        self.calls.lock().unwrap().push(call.to_string());
        match self.failing.lock().unwrap().get(bucket) {
            Some(error) => Err(error.clone()),
            None => Ok(()),
        }
    }
    /// What S3 answers a request to a destination: `ExpectedBucketOwner`
    /// must match, and a write to a missing bucket is `NoSuchBucket`.
    fn check_destination(&self, d: &Destination, write: bool) -> Result<bool, AwsError> {
        match self.owners.lock().unwrap().get(&d.bucket) {
            Some(owner) if *owner == d.owner => Ok(true),
            Some(_) => Err(AwsError::Denied {
                call: "s3:HeadObject",
                message: "AccessDenied".into(),
            }),
            None if write => Err(AwsError::Rejected {
                call: "s3:PutObject",
                message: "NoSuchBucket".into(),
            }),
            None => Ok(false),
        }
    }
    fn write_copy(&self, source: &FakeObject, d: &Destination) {
        let mut copy = source.clone();
        copy.tags.clear();
        copy.metadata
            .user
            .insert(SOURCE_ETAG_METADATA.into(), source.etag.clone());
        copy.etag = format!("copy-etag-{}", source.body.len());
        self.objects
            .lock()
            .unwrap()
            .insert((d.bucket.clone(), d.key.clone()), copy);
    }
}

impl LogObjects for FakeObjects {
    async fn tags(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<Vec<(String, String)>>, AwsError> {
        self.call("tags", bucket)?;
        Ok(self.object(bucket, key).map(|o| o.tags))
    }
    async fn put_tags(
        &self,
        bucket: &str,
        key: &str,
        tags: &[(String, String)],
    ) -> Result<(), AwsError> {
        self.call("put_tags", bucket)?;
        self.objects
            .lock()
            .unwrap()
            .get_mut(&(bucket.into(), key.into()))
            .ok_or(AwsError::NotFound {
                call: "s3:PutObjectTagging",
            })?
            .tags = tags.to_vec();
        Ok(())
    }
    async fn head(&self, bucket: &str, key: &str) -> Result<Option<SourceHead>, AwsError> {
        self.call("head", bucket)?;
        Ok(self.object(bucket, key).map(|o| SourceHead {
            etag: o.etag,
            metadata: o.metadata,
            size: o.body.len() as u64,
        }))
    }
    async fn copy_state(&self, d: &Destination) -> Result<Option<CopyState>, AwsError> {
        self.call("copy_state", &d.bucket)?;
        if !self.check_destination(d, false)? {
            return Ok(None);
        }
        Ok(self.object(&d.bucket, &d.key).map(|o| CopyState {
            etag: o.etag,
            mark: o.metadata.user.get(SOURCE_ETAG_METADATA).cloned(),
        }))
    }
    async fn copy_as_is(&self, bucket: &str, key: &str, d: &Destination) -> Result<(), AwsError> {
        self.call("copy_as_is", &d.bucket)?;
        assert!(d.writer.is_none(), "server-side copies use our credentials");
        self.check_destination(d, true)?;
        let mut copy = self.object(bucket, key).ok_or(AwsError::NotFound {
            call: "s3:CopyObject",
        })?;
        copy.tags.clear();
        // S3 keeps the ETag (the MD5) unless the destination re-encrypts
        // with KMS.
        if self.kms.lock().unwrap().contains(&d.bucket) {
            copy.etag = format!("kms-etag-{}", copy.body.len());
        }
        self.objects
            .lock()
            .unwrap()
            .insert((d.bucket.clone(), d.key.clone()), copy);
        Ok(())
    }
    async fn copy_within(
        &self,
        bucket: &str,
        key: &str,
        source: &SourceHead,
        d: &Destination,
    ) -> Result<(), AwsError> {
        self.call("copy_within", &d.bucket)?;
        assert!(d.writer.is_none(), "server-side copies use our credentials");
        self.check_destination(d, true)?;
        let object = self.object(bucket, key).ok_or(AwsError::NotFound {
            call: "s3:CopyObject",
        })?;
        assert_eq!(
            object.etag, source.etag,
            "copied only if the source is unchanged"
        );
        self.write_copy(&object, d);
        Ok(())
    }
    async fn list(&self, bucket: &str, prefix: &str, folders: bool) -> Result<Listing, AwsError> {
        self.call("list", bucket)?;
        let mut listing = Listing::default();
        let mut keys: Vec<(String, String, u64)> = self
            .objects
            .lock()
            .unwrap()
            .iter()
            .filter(|((b, k), _)| b == bucket && k.starts_with(prefix))
            .map(|((_, k), o)| (k.clone(), o.etag.clone(), o.body.len() as u64))
            .collect();
        keys.sort();
        for (key, etag, size) in keys {
            let rest = &key[prefix.len()..];
            match rest.find('/') {
                Some(slash) if folders => {
                    let folder = format!("{prefix}{}", &rest[..=slash]);
                    if !listing.folders.contains(&folder) {
                        listing.folders.push(folder);
                    }
                }
                _ => listing.objects.push(ListedObject {
                    key,
                    etag: Some(etag),
                    size: Some(size),
                }),
            }
        }
        Ok(listing)
    }
    async fn copy_streamed(
        &self,
        bucket: &str,
        key: &str,
        if_match: Option<&str>,
        d: &Destination,
    ) -> Result<String, AwsError> {
        let writer = d.writer.as_ref().map(|w| (&w.role_arn, &w.external_id));
        self.call(&format!("copy_streamed via {writer:?}"), &d.bucket)?;
        let object = self.object(bucket, key).ok_or(AwsError::NotFound {
            call: "s3:GetObject",
        })?;
        if let Some(etag) = if_match {
            assert_eq!(object.etag, etag);
        }
        self.check_destination(d, true)?;
        self.write_copy(&object, d);
        Ok(object.etag)
    }
}

fn config(cache_seconds: &str) -> Config {
    let vars = [
        ("TRAIL_BUCKET", "trail-bucket"),
        ("SHARE_CACHE_SECONDS", cache_seconds),
        ("ORGANIZATION_ID", "o-a1b2c3d4e5"),
    ];
    Config::from_lookup(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    })
    .unwrap()
}

fn key(account: &str) -> String {
    format!("AWSLogs/{account}/CloudTrail/us-east-1/2024/05/01/{account}_CloudTrail_us-east-1_20240501T1205Z_x.json.gz")
}

fn created(key: &str) -> CreatedObject {
    CreatedObject {
        bucket: "trail-bucket".into(),
        key: key.into(),
        etag: None,
        size: None,
    }
}

fn processed(account: &str, actions: &[&str]) -> Outcome {
    Outcome::Processed {
        account: account.into(),
        actions: actions.iter().map(|a| a.to_string()).collect(),
    }
}

#[tokio::test]
async fn tagging_keeps_other_tags_and_a_repeat_costs_one_read() {
    let objects = FakeObjects::default();
    objects.put("trail-bucket", &key(B), b"log", &[("team", "blue")]);
    let forwarder = Forwarder::new(
        FakeRoles::with(&[json!({"grantee_account": B, "delivery": {"mode": "tag"}})]),
        objects,
        config("60"),
        share_key(),
    );
    assert_eq!(
        forwarder.process(&created(&key(B))).await,
        processed(B, &["tagged trailshare:account=222222222222"])
    );
    assert_eq!(forwarder.objects.calls(), ["tags", "put_tags"]);
    assert_eq!(
        forwarder.objects.tags_of("trail-bucket", &key(B)),
        [
            ("team".into(), "blue".into()),
            ("trailshare:account".into(), B.into())
        ]
    );
    assert_eq!(
        forwarder.process(&created(&key(B))).await,
        processed(B, &["already tagged"])
    );
    assert_eq!(forwarder.objects.calls(), ["tags"]);
}

#[tokio::test]
async fn ten_tags_leave_no_room_and_fail_rather_than_drop_one() {
    let objects = FakeObjects::default();
    let ten: Vec<(String, String)> = (0..10)
        .map(|i| (format!("k{i}"), "v".to_string()))
        .collect();
    let ten: Vec<(&str, &str)> = ten.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    objects.put("trail-bucket", &key(B), b"log", &ten);
    let forwarder = Forwarder::new(
        FakeRoles::with(&[json!({"grantee_account": B, "delivery": {"mode": "tag"}})]),
        objects,
        config("60"),
        share_key(),
    );
    assert!(
        matches!(forwarder.process(&created(&key(B))).await, Outcome::Failed { error } if error.contains("10 tags"))
    );
    assert_eq!(forwarder.objects.tags_of("trail-bucket", &key(B)).len(), 10);
}

fn copy_shares() -> [serde_json::Value; 3] {
    [
        json!({"grantee_account": B, "delivery": {"mode": "copy", "bucket": "b-logs", "prefix": "in/"}}),
        json!({"name": "z", "grantee_account": Z, "log_accounts": ["*"], "external_id": "ext-1",
               "delivery": {"mode": "copy", "bucket": "z-logs", "role_arn": "arn:aws:iam::444444444444:role/w"}}),
        json!({"name": "z2", "grantee_account": Z, "log_accounts": [B], "external_id": "ext-1",
               "delivery": {"mode": "copy", "bucket": "z-logs", "role_arn": "arn:aws:iam::444444444444:role/w"}}),
    ]
}

const WRITER_CALL: &str =
    "copy_streamed via Some((\"arn:aws:iam::444444444444:role/w\", Some(\"ext-1\")))";

#[tokio::test]
async fn copies_go_once_to_each_distinct_destination_with_its_owner_writer_and_mark() {
    let objects = FakeObjects::with_buckets(&[("b-logs", B), ("z-logs", Z)]);
    objects.put("trail-bucket", &key(B), b"log-bytes", &[]);
    let forwarder = Forwarder::new(
        FakeRoles::with(&copy_shares()),
        objects,
        config("60"),
        share_key(),
    );
    let k = key(B);
    let with_etag = CreatedObject {
        etag: Some("etag-9".into()),
        ..created(&k)
    };
    assert_eq!(
        forwarder.process(&with_etag).await,
        processed(
            B,
            &[
                &format!("copied to s3://b-logs/in/{k}"),
                &format!("copied to s3://z-logs/{k}")
            ]
        )
    );
    let mut calls = forwarder.objects.calls();
    calls.sort();
    // Own credentials: HEAD copy, then CopyObject (server side, the
    // source's metadata as is). Writer role: HEAD copy, then GET streamed
    // into a marked PUT.
    assert_eq!(
        calls,
        ["copy_as_is", "copy_state", "copy_state", WRITER_CALL]
    );
    for (bucket, copy_key) in [("b-logs", format!("in/{k}")), ("z-logs", k.clone())] {
        let copy = forwarder.objects.object(bucket, &copy_key).unwrap();
        assert_eq!(copy.body, b"log-bytes");
        assert_eq!(copy.metadata.content_encoding.as_deref(), Some("gzip"));
        assert_eq!(copy.metadata.user["signature"], "abc");
    }
    let own = forwarder
        .objects
        .object("b-logs", &format!("in/{k}"))
        .unwrap();
    assert_eq!(own.etag, "etag-9", "unmarked; its ETag is the check");
    assert!(!own.metadata.user.contains_key(SOURCE_ETAG_METADATA));
    let streamed = forwarder.objects.object("z-logs", &k).unwrap();
    assert_eq!(streamed.metadata.user[SOURCE_ETAG_METADATA], "etag-9");
    assert_ne!(
        streamed.etag, "etag-9",
        "the mark, not the ETag, is the check"
    );
    // At-least-once delivery: the event again costs one HEAD per copy.
    let again = forwarder.process(&with_etag).await;
    assert_eq!(
        again,
        processed(
            B,
            &[
                &format!("already copied to s3://b-logs/in/{k}"),
                &format!("already copied to s3://z-logs/{k}")
            ]
        )
    );
    assert_eq!(forwarder.objects.calls(), ["copy_state", "copy_state"]);
    // Without the event's ETag (CloudTrail's SNS message): one source HEAD
    // more, shared by both copies.
    let _ = forwarder.process(&created(&k)).await;
    let mut calls = forwarder.objects.calls();
    calls.sort();
    assert_eq!(calls, ["copy_state", "copy_state", "head"]);
}

#[tokio::test]
async fn a_stale_copy_is_redone_with_the_mark_and_an_unmarked_one_counts_by_its_etag() {
    let k = key(B);
    let share = json!({"grantee_account": B, "delivery": {"mode": "copy", "bucket": "b-logs"}});
    let copied = processed(B, &[&format!("copied to s3://b-logs/{k}")]);
    let already = processed(B, &[&format!("already copied to s3://b-logs/{k}")]);
    for (stale, mark) in [(b"other".as_slice(), None), (b"log-bytes", Some("etag-1"))] {
        let objects = FakeObjects::with_buckets(&[("b-logs", B)]);
        objects.put("trail-bucket", &k, b"log-bytes", &[]);
        // A copy of other bytes without the mark, or one marked as made
        // from another version of the source.
        objects.put("b-logs", &k, stale, &[]);
        if let Some(mark) = mark {
            let mut objects_map = objects.objects.lock().unwrap();
            let copy = objects_map.get_mut(&("b-logs".into(), k.clone())).unwrap();
            copy.metadata
                .user
                .insert(SOURCE_ETAG_METADATA.into(), mark.into());
        }
        let forwarder = Forwarder::new(
            FakeRoles::with(std::slice::from_ref(&share)),
            objects,
            config("60"),
            share_key(),
        );
        assert_eq!(forwarder.process(&created(&k)).await, copied);
        let copy = forwarder.objects.object("b-logs", &k).unwrap();
        assert_eq!(copy.body, b"log-bytes");
        assert_eq!(copy.metadata.user[SOURCE_ETAG_METADATA], "etag-9");
        let mut calls = forwarder.objects.calls();
        calls.sort();
        assert_eq!(calls, ["copy_state", "copy_within", "head"]);
        assert_eq!(forwarder.process(&created(&k)).await, already);
    }
}

/// Under SSE-KMS the unmarked copy's ETag differs from the source's: the
/// first repeated event redoes it once, marked; later ones cost one HEAD.
#[tokio::test]
async fn under_kms_a_repeated_event_marks_the_copy_once_then_costs_one_head() {
    let k = key(B);
    let objects = FakeObjects::with_buckets(&[("b-logs", B)]);
    objects.kms.lock().unwrap().push("b-logs".into());
    objects.put("trail-bucket", &k, b"log-bytes", &[]);
    let share = json!({"grantee_account": B, "delivery": {"mode": "copy", "bucket": "b-logs"}});
    let forwarder = Forwarder::new(
        FakeRoles::with(&[share]),
        objects,
        config("60"),
        share_key(),
    );
    let event = CreatedObject {
        etag: Some("etag-9".into()),
        ..created(&k)
    };
    let copied = processed(B, &[&format!("copied to s3://b-logs/{k}")]);
    assert_eq!(forwarder.process(&event).await, copied);
    assert_eq!(forwarder.objects.calls(), ["copy_state", "copy_as_is"]);
    assert_eq!(forwarder.process(&event).await, copied);
    let mut calls = forwarder.objects.calls();
    calls.sort();
    assert_eq!(calls, ["copy_state", "copy_within", "head"]);
    let copy = forwarder.objects.object("b-logs", &k).unwrap();
    assert_eq!(copy.metadata.user[SOURCE_ETAG_METADATA], "etag-9");
    assert_eq!(copy.metadata.user["signature"], "abc");
    assert_eq!(
        forwarder.process(&event).await,
        processed(B, &[&format!("already copied to s3://b-logs/{k}")])
    );
    assert_eq!(forwarder.objects.calls(), ["copy_state"]);
}

#[tokio::test]
async fn a_missing_or_foreign_destination_fails_the_file_and_never_skips_it() {
    // b-logs does not exist; c-logs exists but belongs to another account
    // (a deleted bucket's name re-created elsewhere).
    let objects = FakeObjects::with_buckets(&[("c-logs", Z)]);
    objects.put("trail-bucket", &key(B), b"log", &[]);
    objects.put("trail-bucket", &key(C), b"log", &[]);
    let shares = [
        json!({"grantee_account": B, "delivery": {"mode": "copy", "bucket": "b-logs"}}),
        json!({"grantee_account": C, "delivery": {"mode": "copy", "bucket": "c-logs"}}),
    ];
    let forwarder = Forwarder::new(FakeRoles::with(&shares), objects, config("60"), share_key());
    let missing = forwarder.process(&created(&key(B))).await;
    assert!(
        matches!(&missing, Outcome::Failed { error } if error.contains("NoSuchBucket")),
        "{missing:?}"
    );
    let foreign = forwarder.process(&created(&key(C))).await;
    assert!(
        matches!(&foreign, Outcome::Failed { error } if error.contains("denied")),
        "{foreign:?}"
    );
    assert!(forwarder.objects.object("c-logs", &key(C)).is_none());
}

#[tokio::test]
async fn targets_are_independent_and_a_retry_redoes_only_what_is_not_done() {
    let objects = FakeObjects::with_buckets(&[("b-logs", B), ("z-logs", Z)]);
    objects.put("trail-bucket", &key(B), b"log", &[]);
    let shares = [
        json!({"grantee_account": B, "delivery": {"mode": "tag"}}),
        json!({"name": "b-copy", "grantee_account": B, "delivery": {"mode": "copy", "bucket": "b-logs"}}),
        json!({"name": "z", "grantee_account": Z, "log_accounts": ["*"], "external_id": "ext-1",
               "delivery": {"mode": "copy", "bucket": "z-logs"}}),
    ];
    let forwarder = Forwarder::new(FakeRoles::with(&shares), objects, config("60"), share_key());
    forwarder.objects.fail(
        "z-logs",
        Some(AwsError::Throttled {
            call: "s3:CopyObject",
            message: "SlowDown".into(),
        }),
    );
    let first = forwarder.process(&created(&key(B))).await;
    assert!(
        matches!(&first, Outcome::Failed { error } if error.contains("z-logs") && !error.contains("b-logs")),
        "{first:?}"
    );
    // The other targets were done regardless.
    assert_eq!(
        forwarder.objects.tags_of("trail-bucket", &key(B)),
        [("trailshare:account".to_string(), B.to_string())]
    );
    assert!(forwarder.objects.object("b-logs", &key(B)).is_some());
    forwarder.objects.calls();

    forwarder.objects.fail("z-logs", None);
    let retry = forwarder.process(&created(&key(B))).await;
    let k = key(B);
    assert_eq!(
        retry,
        processed(
            B,
            &[
                "already tagged",
                &format!("already copied to s3://b-logs/{k}"),
                &format!("copied to s3://z-logs/{k}")
            ]
        )
    );
    let mut calls = forwarder.objects.calls();
    calls.sort();
    assert_eq!(
        calls,
        ["copy_as_is", "copy_state", "copy_state", "head", "tags"],
        "nothing already done is written again"
    );
}

#[tokio::test]
async fn only_a_missing_source_is_a_skip() {
    let objects = FakeObjects::with_buckets(&[("b-logs", B)]);
    objects.put("trail-bucket", &key(B), b"log", &[]);
    let shares = [
        json!({"grantee_account": B, "delivery": {"mode": "copy", "bucket": "b-logs"}}),
        json!({"name": "b-tag", "grantee_account": B, "delivery": {"mode": "tag"}}),
        json!({"grantee_account": C}),
    ];
    let forwarder = Forwarder::new(FakeRoles::with(&shares), objects, config("60"), share_key());
    let skip = |reason: &str| Outcome::Skipped {
        reason: reason.to_string(),
    };
    assert_eq!(
        forwarder.process(&created(&key(C))).await,
        skip("no share delivers account 333333333333's log files")
    );
    assert_eq!(
        forwarder.process(&created(&key("444444444444"))).await,
        skip("no share delivers account 444444444444's log files")
    );
    let gone = forwarder
        .process(&created(&key(B).replace("1205Z", "1300Z")))
        .await;
    assert!(matches!(gone, Outcome::Skipped { reason } if reason.contains("no longer exists")));
    // A throttled or failing trail bucket is not "gone": it fails.
    forwarder.objects.fail(
        "trail-bucket",
        Some(AwsError::Failed {
            call: "s3:GetObjectTagging",
            message: "InternalError".into(),
        }),
    );
    assert!(matches!(
        forwarder.process(&created(&key(B))).await,
        Outcome::Failed { .. }
    ));
    forwarder.objects.fail("trail-bucket", None);
    let other_bucket = CreatedObject {
        bucket: "elsewhere".into(),
        ..created(&key(B))
    };
    assert_eq!(
        forwarder.process(&other_bucket).await,
        skip("bucket elsewhere is not the trail bucket")
    );
    assert!(matches!(
        forwarder.process(&created("AWSLogs/README.txt")).await,
        Outcome::Skipped { .. }
    ));
    assert_eq!(
        forwarder
            .process(&created(&format!("logs/{}", key(B))))
            .await,
        skip("outside the trail prefix")
    );
    let foreign_org = key(B).replace("AWSLogs/", "AWSLogs/o-zzzzzzzzzz/");
    assert_eq!(
        forwarder.process(&created(&foreign_org)).await,
        skip("organization layout of another organization")
    );
}

#[tokio::test]
async fn a_failed_object_fails_its_sqs_message_and_only_that_one() {
    let objects = FakeObjects::with_buckets(&[("b-logs", B)]);
    objects.put("trail-bucket", &key(B), b"log", &[]);
    objects.put("trail-bucket", &key(C), b"log", &[]);
    let shares = [
        json!({"grantee_account": B, "delivery": {"mode": "copy", "bucket": "b-logs"}}),
        json!({"grantee_account": C, "delivery": {"mode": "copy", "bucket": "missing-bucket"}}),
    ];
    let forwarder = Forwarder::new(FakeRoles::with(&shares), objects, config("60"), share_key());
    let body = |k: &str| {
        json!({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
            "s3": {"bucket": {"name": "trail-bucket"}, "object": {"key": k}}}]})
        .to_string()
    };
    let batch = json!({"Records": [
        {"messageId": "m-b", "eventSource": "aws:sqs", "body": body(&key(B))},
        {"messageId": "m-c", "eventSource": "aws:sqs", "body": body(&key(C))},
        {"messageId": "m-bad", "eventSource": "aws:sqs", "body": "not json"}
    ]});
    let response = forwarder.handle_event(batch).await.unwrap();
    assert_eq!(
        response,
        json!({"batchItemFailures": [{"itemIdentifier": "m-c"}, {"itemIdentifier": "m-bad"}]})
    );
}

#[tokio::test]
async fn one_listing_serves_many_objects_until_the_cache_expires() {
    let objects = FakeObjects::default();
    for account in [B, C] {
        objects.put("trail-bucket", &key(account), b"log", &[]);
    }
    let shares = [
        json!({"grantee_account": B, "delivery": {"mode": "tag"}}),
        json!({"grantee_account": C, "delivery": {"mode": "tag"}}),
    ];
    let cached = Forwarder::new(FakeRoles::with(&shares), objects, config("60"), share_key());
    let event = json!({"Records": [
        {"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "trail-bucket"}, "object": {"key": key(B)}}},
        {"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "trail-bucket"}, "object": {"key": key(C)}}}
    ]});
    for _ in 0..3 {
        cached.handle_event(event.clone()).await.unwrap();
    }
    assert_eq!(cached.shares.roles().listings.load(Ordering::SeqCst), 1);

    let uncached = Forwarder::new(
        FakeRoles::with(&shares),
        FakeObjects::default(),
        config("0"),
        share_key(),
    );
    let _ = uncached.handle_event(event.clone()).await;
    let _ = uncached.handle_event(event).await;
    assert_eq!(uncached.shares.roles().listings.load(Ordering::SeqCst), 4);
}

#[test]
fn each_target_outcome_is_one_line_that_says_whether_a_retry_may_help() {
    let object = created(&key(B));
    let copy = Target::Copy(Destination {
        bucket: "b-logs".into(),
        key: key(B),
        owner: B.into(),
        writer: None,
    });
    let line = |target: &Target, result| target_line(&object, &target.name(), &result);
    let cases = [
        (
            AwsError::Throttled {
                call: "s3:CopyObject",
                message: "SlowDown".into(),
            },
            true,
        ),
        (
            AwsError::Failed {
                call: "s3:CopyObject",
                message: "connection reset".into(),
            },
            true,
        ),
        (
            AwsError::Denied {
                call: "s3:HeadObject",
                message: "AccessDenied".into(),
            },
            false,
        ),
        (
            AwsError::Rejected {
                call: "s3:CopyObject",
                message: "NoSuchBucket".into(),
            },
            false,
        ),
        (
            AwsError::Rejected {
                call: "s3:PutObjectTagging",
                message: "10 tags".into(),
            },
            false,
        ),
    ];
    for (error, retryable) in cases {
        let call = error.call();
        let l = line(&copy, Err(error));
        assert_eq!(l["outcome"], "failed");
        assert_eq!(l["retryable"], retryable, "{l}");
        assert_eq!(l["call"], call);
        assert_eq!(l["target"], format!("copy to s3://b-logs/{}", key(B)));
    }
    let gone = line(
        &Target::Tag,
        Err(AwsError::NotFound {
            call: "s3:GetObjectTagging",
        }),
    );
    assert_eq!(gone["outcome"], "source_gone");
    let done = line(&Target::Tag, Ok("already tagged".into()));
    assert_eq!(
        (done["outcome"].as_str(), done["target"].as_str()),
        (Some("done"), Some("tag"))
    );
}

/// The forwarder's queue, in memory: what was sent, in order.
#[derive(Default)]
struct FakeQueue {
    sent: Mutex<Vec<String>>,
}

impl WorkQueue for &FakeQueue {
    async fn send(&self, bodies: &[String]) -> Result<(), AwsError> {
        self.sent.lock().unwrap().extend_from_slice(bodies);
        Ok(())
    }
}

fn queued(bodies: &[String]) -> serde_json::Value {
    let records: Vec<serde_json::Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| json!({"messageId": format!("w{i}"), "eventSource": "aws:sqs", "body": body}))
        .collect();
    json!({ "Records": records })
}

fn day_key(account: &str, region: &str, day: &str, stamp: &str) -> String {
    let (y, m, d) = (&day[0..4], &day[5..7], &day[8..10]);
    format!("AWSLogs/{account}/CloudTrail/{region}/{y}/{m}/{d}/{account}_CloudTrail_{region}_{y}{m}{d}T{stamp}Z_x.json.gz")
}

#[tokio::test]
async fn backfill_fans_out_share_to_account_to_day_and_treats_only_that_share() {
    let objects = FakeObjects::with_buckets(&[("z-logs", Z)]);
    let mut existing = Vec::new();
    for account in [B, C] {
        for (region, day) in [
            ("us-east-1", "2024-05-01"),
            ("eu-west-1", "2024-05-02"),
            ("us-east-1", "2024-06-01"),
        ] {
            let key = day_key(account, region, day, "0100");
            objects.put("trail-bucket", &key, b"old", &[]);
            existing.push(key);
        }
    }
    // A tag share over B that is not being backfilled must not be touched.
    let shares = [
        json!({"name": "z", "grantee_account": Z, "log_accounts": ["*"], "external_id": "ext-1",
               "delivery": {"mode": "copy", "bucket": "z-logs"}}),
        json!({"name": "b-tag", "grantee_account": B, "delivery": {"mode": "tag"}}),
    ];
    let queue = FakeQueue::default();
    let forwarder = Forwarder::new(FakeRoles::with(&shares), objects, config("60"), share_key())
        .with_queue(&queue);
    let plan = json!({"trailshare_backfill": {"step": "accounts", "share": "z", "from": "2024-05-01", "until": "2024-05-02"}});
    let reply = forwarder
        .handle_event(queued(&[plan.to_string()]))
        .await
        .unwrap();
    assert_eq!(reply, json!({"batchItemFailures": []}));
    let accounts = std::mem::take(&mut *queue.sent.lock().unwrap());
    assert_eq!(
        accounts.len(),
        2,
        "one item per account found: {accounts:?}"
    );
    forwarder.handle_event(queued(&accounts)).await.unwrap();
    let days = std::mem::take(&mut *queue.sent.lock().unwrap());
    assert_eq!(days.len(), 4, "two accounts x two days: {days:?}");
    let reply = forwarder.handle_event(queued(&days)).await.unwrap();
    assert_eq!(reply, json!({"batchItemFailures": []}));
    // Each day: one item per region folder of the account (two regions).
    let folders = std::mem::take(&mut *queue.sent.lock().unwrap());
    assert_eq!(folders.len(), 8, "four days x two regions: {folders:?}");
    let reply = forwarder.handle_event(queued(&folders)).await.unwrap();
    assert_eq!(reply, json!({"batchItemFailures": []}));
    assert!(
        queue.sent.lock().unwrap().is_empty(),
        "a folder's only page is the last step"
    );
    for key in &existing {
        let in_window = !key.contains("/2024/06/");
        assert_eq!(
            forwarder.objects.object("z-logs", key).is_some(),
            in_window,
            "{key}"
        );
        assert!(
            forwarder.objects.tags_of("trail-bucket", key).is_empty(),
            "b-tag was not backfilled: {key}"
        );
    }
}

#[tokio::test]
async fn backfill_for_a_share_that_is_gone_does_nothing_and_without_a_queue_fails() {
    let objects = FakeObjects::default();
    objects.put(
        "trail-bucket",
        &day_key(B, "us-east-1", "2024-05-01", "0100"),
        b"old",
        &[],
    );
    let shares = [json!({"grantee_account": B, "delivery": {"mode": "tag"}})];
    let account = |share: &str| {
        json!({"trailshare_backfill": {"step": "account", "share": share, "account": B,
               "from": "2024-05-01", "until": "2024-05-01"}})
        .to_string()
    };
    let forwarder = Forwarder::new(FakeRoles::with(&shares), objects, config("60"), share_key());
    let gone = forwarder
        .handle_event(queued(&[account("deleted-share")]))
        .await
        .unwrap();
    assert_eq!(gone, json!({"batchItemFailures": []}));
    // No queue configured: fanning out fails (retried, then dead-lettered).
    let name = format!("account-{B}");
    let no_queue = forwarder
        .handle_event(queued(&[account(&name)]))
        .await
        .unwrap();
    assert_eq!(
        no_queue,
        json!({"batchItemFailures": [{"itemIdentifier": "w0"}]})
    );
    // A folder's page needs no queue: it delivers that page's files.
    let day = json!({"trailshare_backfill": {"step": "files", "share": name, "account": B, "day": "2024-05-01",
                                             "folder": format!("AWSLogs/{B}/CloudTrail/us-east-1/")}});
    let done = forwarder
        .handle_event(queued(&[day.to_string()]))
        .await
        .unwrap();
    assert_eq!(done, json!({"batchItemFailures": []}));
    assert_eq!(
        forwarder.objects.tags_of(
            "trail-bucket",
            &day_key(B, "us-east-1", "2024-05-01", "0100")
        ),
        [("trailshare:account".to_string(), B.to_string())]
    );
}

#[tokio::test]
async fn the_share_table_costs_one_listing_and_a_read_only_for_routes_that_do_not_fit() {
    let many: Vec<String> = (0..80)
        .map(|i| format!("{:012}", 100_000_000_000u64 + i))
        .collect();
    let mut bodies: Vec<serde_json::Value> = (0..300)
        .map(
            |i| json!({"name": format!("s{i}"), "grantee_account": B, "delivery": {"mode": "tag"}}),
        )
        .collect();
    // One share reads 80 accounts: its route does not fit a description.
    bodies.push(
        json!({"name": "wide", "grantee_account": C, "log_accounts": many, "external_id": "e-1",
                       "delivery": {"mode": "tag"}}),
    );
    let mut roles = FakeRoles::with(&bodies);
    // And one role made by the first version: a plain description.
    roles.roles[0].1 = format!("trailshare: read-only CloudTrail logs for account {B}");
    let forwarder = Forwarder::new(roles, FakeObjects::default(), config("60"), share_key());
    let table = forwarder.shares.get().await.unwrap();
    assert_eq!(table.routes.len(), 301);
    assert!(table.damaged.is_empty());
    assert!(table
        .routes
        .iter()
        .any(|r| r.name == "wide" && r.log_accounts.len() == 80));
    assert!(table.routes.iter().any(|r| r.name == "s0"));
    let roles = forwarder.shares.roles();
    assert_eq!(roles.listings.load(Ordering::SeqCst), 1);
    assert_eq!(
        roles.reads.load(Ordering::SeqCst),
        2,
        "only the two routes not in a description"
    );
}

/// Grantee queues and topics: what each heard, or the failure to give.
#[derive(Default)]
struct FakeNotifier {
    sent: Mutex<Vec<(String, serde_json::Value)>>,
    failing: Mutex<Option<AwsError>>,
}

impl FakeNotifier {
    fn sent(&self) -> Vec<(String, serde_json::Value)> {
        std::mem::take(&mut *self.sent.lock().unwrap())
    }
}

impl trailshare::ports::Notifier for FakeNotifier {
    async fn notify(
        &self,
        target: &trailshare::share::Notify,
        message: &str,
    ) -> Result<(), AwsError> {
        if let Some(error) = self.failing.lock().unwrap().clone() {
            return Err(error);
        }
        let message = serde_json::from_str(message).expect("a notice is JSON");
        self.sent
            .lock()
            .unwrap()
            .push((target.arn().to_string(), message));
        Ok(())
    }
}

fn queue(account: &str) -> String {
    format!("arn:aws:sqs:us-east-1:{account}:new-logs")
}

#[tokio::test]
async fn a_notice_follows_the_delivery_and_names_where_the_grantee_reads() {
    let objects = FakeObjects::with_buckets(&[("b-logs", B)]);
    objects.put("trail-bucket", &key(B), b"log-bytes", &[]);
    objects.put("trail-bucket", &key(C), b"c-log", &[]);
    let forwarder = Forwarder::new(
        FakeRoles::with(&[
            json!({"name": "b", "grantee_account": B, "notify": {"queue_arn": queue(B)},
                   "delivery": {"mode": "copy", "bucket": "b-logs", "prefix": "central/"}}),
            json!({"name": "c", "grantee_account": C, "notify": {"topic_arn": format!("arn:aws:sns:us-east-1:{C}:t")}}),
        ]),
        objects,
        config("60"), share_key()
    )
    .with_notifier(FakeNotifier::default(), "eu-west-1");
    // Copy delivery: the notice names the copy; size and ETag came with the event.
    let from_event = CreatedObject {
        etag: Some("etag-9".into()),
        size: Some(9),
        ..created(&key(B))
    };
    let Outcome::Processed { actions, .. } = forwarder.process(&from_event).await else {
        panic!("B's file must be processed");
    };
    assert_eq!(actions.len(), 2, "{actions:?}");
    let sent = forwarder.notifier.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, queue(B));
    let record = &sent[0].1["Records"][0];
    assert_eq!(record["awsRegion"], "eu-west-1");
    assert_eq!(record["s3"]["bucket"]["name"], "b-logs");
    assert_eq!(record["s3"]["object"]["key"], format!("central/{}", key(B)));
    assert_eq!(record["s3"]["object"]["size"], 9);
    assert_eq!(record["s3"]["object"]["eTag"], "etag-9");
    assert_eq!(record["s3"]["configurationId"], "trailshare-b");
    // The copy, then the notice: no request beyond the copy's own.
    assert_eq!(forwarder.objects.calls(), ["copy_state", "copy_as_is"]);
    // Delivery none: the trail bucket's object; no size in the event, so
    // one HEAD supplies it.
    let Outcome::Processed { .. } = forwarder.process(&created(&key(C))).await else {
        panic!("C's file must be processed");
    };
    let sent = forwarder.notifier.sent();
    assert_eq!(sent.len(), 1);
    let record = &sent[0].1["Records"][0];
    assert_eq!(record["s3"]["bucket"]["name"], "trail-bucket");
    assert_eq!(record["s3"]["object"]["key"], key(C));
    assert_eq!(record["s3"]["object"]["size"], 5);
    assert_eq!(forwarder.objects.calls(), ["head"]);
}

#[tokio::test]
async fn no_notice_before_the_delivery_and_a_failed_notice_fails_the_file() {
    let objects = FakeObjects::with_buckets(&[("b-logs", B)]);
    objects.put("trail-bucket", &key(B), b"log-bytes", &[]);
    let forwarder = Forwarder::new(
        FakeRoles::with(&[
            json!({"name": "b", "grantee_account": B, "notify": {"queue_arn": queue(B)},
                   "delivery": {"mode": "copy", "bucket": "b-logs"}}),
        ]),
        objects,
        config("60"),
        share_key(),
    )
    .with_notifier(FakeNotifier::default(), "us-east-1");
    let missing = AwsError::Rejected {
        call: "s3:CopyObject",
        message: "NoSuchBucket".into(),
    };
    forwarder.objects.fail("b-logs", Some(missing));
    assert!(matches!(
        forwarder.process(&created(&key(B))).await,
        Outcome::Failed { .. }
    ));
    assert!(
        forwarder.notifier.sent().is_empty(),
        "announced an undelivered file"
    );
    forwarder.objects.fail("b-logs", None);
    *forwarder.notifier.failing.lock().unwrap() = Some(AwsError::Throttled {
        call: "sqs:SendMessage",
        message: "slow down".into(),
    });
    let Outcome::Failed { error } = forwarder.process(&created(&key(B))).await else {
        panic!("a notice that could not be sent must fail the file");
    };
    assert!(error.contains("notify"), "{error}");
    assert!(forwarder.objects.object("b-logs", &key(B)).is_some());
    // The retry finds the copy done (one read) and announces it.
    *forwarder.notifier.failing.lock().unwrap() = None;
    forwarder.objects.calls();
    assert!(matches!(
        forwarder.process(&created(&key(B))).await,
        Outcome::Processed { .. }
    ));
    assert_eq!(forwarder.notifier.sent().len(), 1);
    assert_eq!(forwarder.objects.calls(), ["copy_state", "head"]);
}

#[tokio::test]
async fn the_forwarder_does_nothing_for_an_expired_share() {
    let objects = FakeObjects::default();
    objects.put("trail-bucket", &key(B), b"log", &[]);
    let forwarder = Forwarder::new(
        FakeRoles::with(&[
            json!({"name": "b", "grantee_account": B, "expires_at": "2020-01-01T00:00:00Z",
                   "notify": {"queue_arn": queue(B)}, "delivery": {"mode": "tag"}}),
        ]),
        objects,
        config("60"),
        share_key(),
    )
    .with_notifier(FakeNotifier::default(), "us-east-1");
    assert!(matches!(
        forwarder.process(&created(&key(B))).await,
        Outcome::Skipped { .. }
    ));
    assert!(forwarder.notifier.sent().is_empty());
    assert!(forwarder
        .objects
        .tags_of("trail-bucket", &key(B))
        .is_empty());
}

/// A route edited outside the API (iam:UpdateRole) to announce B's files
/// to another account's queue: its seal no longer fits, so the share is
/// damaged: nothing is sent or copied for it, and the file is not
/// acknowledged (retried, then dead-lettered).
#[tokio::test]
async fn a_route_naming_a_queue_outside_the_grantee_account_sends_nothing() {
    let objects = FakeObjects::with_buckets(&[("b-logs", B)]);
    objects.put("trail-bucket", &key(B), b"log-bytes", &[]);
    let mut roles = FakeRoles::with(&[json!({"name": "b", "grantee_account": B,
        "notify": {"queue_arn": queue(B)}, "delivery": {"mode": "copy", "bucket": "b-logs"}})]);
    let (_, description) = &mut roles.roles[0];
    assert!(description.contains(&queue(B)), "{description}");
    *description = description.replace(&queue(B), &queue(Z));
    let forwarder = Forwarder::new(roles, objects, config("60"), share_key())
        .with_notifier(FakeNotifier::default(), "us-east-1");
    let Outcome::Failed { error } = forwarder.process(&created(&key(B))).await else {
        panic!("the file must not be acknowledged");
    };
    assert!(
        error.contains("share b is damaged (unauthenticated)"),
        "{error}"
    );
    assert!(forwarder.notifier.sent().is_empty());
    assert!(forwarder.objects.object("b-logs", &key(B)).is_none());
}

/// Issue 20: someone with only `iam:UpdateRole` or `iam:TagRole` on share
/// roles rewrites what steers a share. Neither its description (the route)
/// nor its tags (the record) carry a seal that fits, so the share delivers
/// nothing: each file it claims fails (retried, then dead-lettered), while
/// the other shares' deliveries of the same files are done as usual.
#[tokio::test]
async fn a_forged_route_or_record_delivers_nothing_and_fails_what_it_claims() {
    let objects = FakeObjects::with_buckets(&[("b-logs", B), ("c-logs", C)]);
    objects.put("trail-bucket", &key(B), b"b-log", &[]);
    objects.put("trail-bucket", &key(C), b"c-log", &[]);
    let mut roles = FakeRoles::with(&[
        json!({"name": "b", "grantee_account": B, "delivery": {"mode": "copy", "bucket": "b-logs"}}),
        json!({"name": "c", "grantee_account": C, "delivery": {"mode": "copy", "bucket": "c-logs"}}),
        json!({"name": "t", "grantee_account": B, "delivery": {"mode": "tag"}}),
    ]);
    // b's route now claims every account's files, for B's bucket.
    let forged = roles.roles[0].1.replace(&format!("[\"{B}\"]"), "[\"*\"]");
    assert_ne!(forged, roles.roles[0].1);
    roles.roles[0].1 = forged;
    // t's route moves to its tags, and its record there is rewritten to
    // copy into C's bucket: a record sealed for another share.
    let (c_role, _) = roles.roles[1].clone();
    let (t_role, t_description) = &mut roles.roles[2];
    *t_description = format!("trailshare route in tags: read-only CloudTrail logs for account {B}");
    t_role.tags = c_role.tags.clone();
    let forwarder = Forwarder::new(roles, objects, config("60"), share_key());

    for (file, claimed_by) in [(key(B), vec!["b", "t"]), (key(C), vec!["b"])] {
        let Outcome::Failed { error } = forwarder.process(&created(&file)).await else {
            panic!("{file}: a file a damaged share claims is never acknowledged");
        };
        for name in &claimed_by {
            assert!(
                error.contains(&format!("share {name} is damaged")),
                "{file}: {error}"
            );
        }
    }
    let table = forwarder.shares.get().await.unwrap();
    let reasons: Vec<(&str, &str)> = table
        .damaged
        .iter()
        .map(|d| (d.name.as_str(), d.reason))
        .collect();
    // t's tags hold c's record: the role's name does not match it.
    assert_eq!(reasons, [("b", "unauthenticated"), ("t", "unreadable")]);
    // Nothing went to B's bucket; C's own share delivered C's file.
    assert!(forwarder.objects.object("b-logs", &key(C)).is_none());
    assert!(forwarder.objects.object("b-logs", &key(B)).is_none());
    assert!(forwarder.objects.object("c-logs", &key(C)).is_some());
    assert!(forwarder
        .objects
        .tags_of("trail-bucket", &key(B))
        .is_empty());
}

/// A record's seal binds it to its role: the sealed record of share `b`
/// copied onto a role re-created under the same name (a new RoleId) is
/// not believed, nor is a route written by an earlier version (no seal).
#[tokio::test]
async fn a_record_moved_to_a_recreated_role_or_an_unsigned_route_is_not_believed() {
    let objects = FakeObjects::with_buckets(&[("b-logs", B)]);
    objects.put("trail-bucket", &key(B), b"b-log", &[]);
    let mut roles = FakeRoles::with(&[
        json!({"name": "b", "grantee_account": B, "delivery": {"mode": "copy", "bucket": "b-logs"}}),
        json!({"name": "old", "grantee_account": B, "delivery": {"mode": "tag"}}),
    ]);
    let (b_role, b_description) = &mut roles.roles[0];
    b_role.role_id = "AROA99999999999999999".into();
    *b_description = format!("trailshare route in tags: read-only CloudTrail logs for account {B}");
    let (_, old_description) = &mut roles.roles[1];
    let json = old_description.splitn(5, ' ').nth(4).unwrap().to_string();
    *old_description = format!("trailshare route v1 {json}");
    let forwarder = Forwarder::new(roles, objects, config("60"), share_key());
    assert!(matches!(
        forwarder.process(&created(&key(B))).await,
        Outcome::Failed { .. }
    ));
    let table = forwarder.shares.get().await.unwrap();
    let reasons: Vec<(&str, &str)> = table
        .damaged
        .iter()
        .map(|d| (d.name.as_str(), d.reason))
        .collect();
    assert_eq!(reasons, [("b", "unauthenticated"), ("old", "unsigned")]);
    assert!(table.routes.is_empty());
    assert!(forwarder.objects.object("b-logs", &key(B)).is_none());
    assert!(forwarder
        .objects
        .tags_of("trail-bucket", &key(B))
        .is_empty());
}

/// Whoever gets a message onto the queue cannot make one work item fan out
/// into millions: an item the API would refuse (a window over 366 days, one
/// ending after today, a reversed one, a malformed share name) fails its own
/// message and queues nothing; a good item beside it goes on as usual.
#[tokio::test]
async fn a_crafted_backfill_item_fails_its_message_and_queues_nothing() {
    let shares = [
        json!({"name": "z", "grantee_account": Z, "log_accounts": ["*"], "external_id": "ext-1",
                         "delivery": {"mode": "tag"}}),
    ];
    let queue = FakeQueue::default();
    let forwarder = Forwarder::new(
        FakeRoles::with(&shares),
        FakeObjects::default(),
        config("60"),
        share_key(),
    )
    .with_queue(&queue);
    let item = |work: serde_json::Value| json!({ "trailshare_backfill": work }).to_string();
    let account = |from: &str, until: &str| {
        item(json!({"step": "account", "share": "z", "account": B, "from": from, "until": until}))
    };
    let bodies = [
        account("1926-01-01", "2026-01-01"),
        account("2026-01-01", "9999-12-31"),
        account("2026-01-02", "2026-01-01"),
        item(
            json!({"step": "accounts", "share": "z", "from": "0001-01-01", "until": "2026-01-01"}),
        ),
        item(json!({"step": "day", "share": "z", "account": B, "day": "9999-12-31"})),
        item(json!({"step": "day", "share": "Z/../x", "account": B, "day": "2026-01-01"})),
        account("2026-01-01", "2026-01-03"),
    ];
    let reply = forwarder.handle_event(queued(&bodies)).await.unwrap();
    let failed: Vec<&str> = reply["batchItemFailures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["w0", "w1", "w2", "w3", "w4", "w5"], "{reply}");
    let sent = queue.sent.lock().unwrap();
    assert_eq!(sent.len(), 3, "only the good item's three days: {sent:?}");
}

/// Issue 20: the forwarder holds the stack's lists too (set but empty: none
/// allowed), and acts on no route outside them, sealed or not: a share the
/// provisioner admitted before the lists narrowed delivers nothing and its
/// files fail; a share within them is delivered as usual.
#[tokio::test]
async fn a_sealed_route_outside_the_stacks_lists_delivers_nothing() {
    let objects = FakeObjects::with_buckets(&[("b-logs", B)]);
    objects.put("trail-bucket", &key(B), b"b-log", &[]);
    let roles = FakeRoles::with(&[
        json!({"name": "b", "grantee_account": B, "delivery": {"mode": "copy", "bucket": "b-logs"}}),
        json!({"name": "t", "grantee_account": B, "delivery": {"mode": "tag"}}),
    ]);
    let mut narrowed = config("60");
    narrowed.copy_destination_buckets = Some(Vec::new());
    let forwarder = Forwarder::new(roles, objects, narrowed, share_key());
    let Outcome::Failed { error } = forwarder.process(&created(&key(B))).await else {
        panic!("a file a damaged share claims is never acknowledged");
    };
    assert!(
        error.contains("share b is damaged (not_admitted)"),
        "{error}"
    );
    assert!(forwarder.objects.object("b-logs", &key(B)).is_none());
    assert_eq!(
        forwarder.objects.tags_of("trail-bucket", &key(B)),
        [("trailshare:account".to_string(), B.to_string())]
    );
}

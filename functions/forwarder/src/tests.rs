//! The forwarder's decisions over in-memory ports: what each share mode does
//! to a file, what is skipped, and how often IAM is asked.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use serde_json::json;
use trailshare::config::Config;
use trailshare::events::CreatedObject;
use trailshare::record::{role_name, ShareRecord};
use trailshare::share::validate;
use trailshare::store::{
    LogObjects, ObjectMetadata, RoleDraft, RoleStore, StoreError, StoredObject, StoredRole, Writer,
};

use super::{Forwarder, Outcome};

const B: &str = "222222222222";
const C: &str = "333333333333";

#[derive(Default)]
struct FakeRoles {
    roles: Vec<StoredRole>,
    listings: AtomicUsize,
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
                StoredRole {
                    role_name: role_name(&record.spec.name),
                    arn: String::new(),
                    path: "/trailshare/".into(),
                    tags: record.to_tags().unwrap(),
                    permissions_boundary: None,
                    trust_policy: None,
                }
            })
            .collect();
        FakeRoles {
            roles,
            listings: AtomicUsize::new(0),
        }
    }
}

impl RoleStore for FakeRoles {
    async fn create(&self, _: &RoleDraft) -> Result<StoredRole, StoreError> {
        unreachable!("the forwarder never creates roles")
    }
    async fn list_with_boundaries(&self, _: &str) -> Result<Vec<StoredRole>, StoreError> {
        unreachable!("the forwarder lists tags only")
    }
    async fn get_policy(&self, _: &str, _: &str) -> Result<Option<String>, StoreError> {
        unreachable!("the forwarder never reads policies")
    }
    async fn put_policy(&self, _: &str, _: &str, _: &str) -> Result<(), StoreError> {
        unreachable!("the forwarder never changes roles")
    }
    async fn update_trust(&self, _: &str, _: &str) -> Result<(), StoreError> {
        unreachable!("the forwarder never changes roles")
    }
    async fn update_role(&self, _: &str, _: &str, _: i32) -> Result<(), StoreError> {
        unreachable!("the forwarder never changes roles")
    }
    async fn tag(&self, _: &str, _: &[(String, String)]) -> Result<(), StoreError> {
        unreachable!("the forwarder never changes roles")
    }
    async fn untag(&self, _: &str, _: &[String]) -> Result<(), StoreError> {
        unreachable!("the forwarder never changes roles")
    }
    async fn get(&self, _: &str, _: &str) -> Result<Option<StoredRole>, StoreError> {
        unreachable!("the forwarder lists")
    }
    async fn list(&self, _: &str) -> Result<Vec<StoredRole>, StoreError> {
        self.listings.fetch_add(1, Ordering::SeqCst);
        Ok(self.roles.clone())
    }
    async fn delete(&self, _: &str) -> Result<bool, StoreError> {
        unreachable!("the forwarder never deletes roles")
    }
}

/// (bucket, key)
type ObjectId = (String, String);
/// An object and its tags.
type TaggedObject = (StoredObject, Vec<(String, String)>);

/// Objects by (bucket, key), with their tags; counts every call.
#[derive(Default)]
struct FakeObjects {
    objects: Mutex<HashMap<ObjectId, TaggedObject>>,
    calls: Mutex<Vec<String>>,
    deny_puts: bool,
}

impl FakeObjects {
    fn put(&self, bucket: &str, key: &str, body: &[u8], tags: &[(&str, &str)]) {
        let object = StoredObject {
            body: body.to_vec(),
            etag: Some(format!("etag-{}", body.len())),
            metadata: ObjectMetadata::default(),
        };
        let tags = tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.objects
            .lock()
            .unwrap()
            .insert((bucket.into(), key.into()), (object, tags));
    }
    fn tags_of(&self, bucket: &str, key: &str) -> Vec<(String, String)> {
        self.objects.lock().unwrap()[&(bucket.to_string(), key.to_string())]
            .1
            .clone()
    }
    fn calls(&self) -> Vec<String> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }
    fn note(&self, call: &str) {
        self.calls.lock().unwrap().push(call.to_string());
    }
}

impl LogObjects for FakeObjects {
    async fn tags(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<Vec<(String, String)>>, StoreError> {
        self.note("tags");
        Ok(self
            .objects
            .lock()
            .unwrap()
            .get(&(bucket.into(), key.into()))
            .map(|(_, t)| t.clone()))
    }
    async fn put_tags(
        &self,
        bucket: &str,
        key: &str,
        tags: &[(String, String)],
    ) -> Result<(), StoreError> {
        self.note("put_tags");
        self.objects
            .lock()
            .unwrap()
            .get_mut(&(bucket.into(), key.into()))
            .unwrap()
            .1 = tags.to_vec();
        Ok(())
    }
    async fn get(&self, bucket: &str, key: &str) -> Result<Option<StoredObject>, StoreError> {
        self.note("get");
        Ok(self
            .objects
            .lock()
            .unwrap()
            .get(&(bucket.into(), key.into()))
            .map(|(o, _)| o.clone()))
    }
    async fn copy_etag(
        &self,
        _: Option<&Writer>,
        bucket: &str,
        key: &str,
    ) -> Result<Option<String>, StoreError> {
        self.note("copy_etag");
        Ok(self
            .objects
            .lock()
            .unwrap()
            .get(&(bucket.into(), key.into()))
            .and_then(|(o, _)| o.etag.clone()))
    }
    async fn put_copy(
        &self,
        writer: Option<&Writer>,
        bucket: &str,
        key: &str,
        object: &StoredObject,
    ) -> Result<(), StoreError> {
        self.note(&format!(
            "put_copy via {:?}",
            writer.map(|w| (&w.role_arn, &w.external_id))
        ));
        if self.deny_puts {
            return Err(StoreError::Denied {
                call: "s3:PutObject",
                message: "AccessDenied".into(),
            });
        }
        self.objects
            .lock()
            .unwrap()
            .insert((bucket.into(), key.into()), (object.clone(), vec![]));
        Ok(())
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
    );
    assert!(
        matches!(forwarder.process(&created(&key(B))).await, Outcome::Failed { error } if error.contains("10 tags"))
    );
    assert_eq!(forwarder.objects.tags_of("trail-bucket", &key(B)).len(), 10);
}

#[tokio::test]
async fn copies_go_once_to_each_distinct_destination_with_the_writer_and_external_id() {
    let objects = FakeObjects::default();
    objects.put("trail-bucket", &key(B), b"log-bytes", &[]);
    let shares = [
        json!({"grantee_account": B, "delivery": {"mode": "copy", "bucket": "b-logs", "prefix": "in/"}}),
        json!({"name": "z", "grantee_account": "444444444444", "log_accounts": ["*"], "external_id": "ext-1",
               "delivery": {"mode": "copy", "bucket": "z-logs", "role_arn": "arn:aws:iam::444444444444:role/w"}}),
        json!({"name": "z2", "grantee_account": "444444444444", "log_accounts": [B], "external_id": "ext-1",
               "delivery": {"mode": "copy", "bucket": "z-logs", "role_arn": "arn:aws:iam::444444444444:role/w"}}),
    ];
    let forwarder = Forwarder::new(FakeRoles::with(&shares), objects, config("60"));
    let outcome = forwarder.process(&created(&key(B))).await;
    let k = key(B);
    assert_eq!(
        outcome,
        processed(
            B,
            &[
                &format!("copied to s3://b-logs/in/{k}"),
                &format!("copied to s3://z-logs/{k}")
            ]
        )
    );
    assert_eq!(
        forwarder.objects.calls(),
        [
            "copy_etag",
            "get",
            "put_copy via None",
            "copy_etag",
            "put_copy via Some((\"arn:aws:iam::444444444444:role/w\", Some(\"ext-1\")))"
        ]
    );
    // At-least-once delivery: the event again finds both copies in place.
    let again = forwarder
        .process(&CreatedObject {
            etag: Some("etag-9".into()),
            ..created(&key(B))
        })
        .await;
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
    assert_eq!(
        forwarder.objects.calls(),
        ["copy_etag", "copy_etag"],
        "with the event's ETag a repeat is one HEAD per copy"
    );
}

#[tokio::test]
async fn failures_skips_and_missing_objects() {
    let objects = FakeObjects {
        deny_puts: true,
        ..FakeObjects::default()
    };
    objects.put("trail-bucket", &key(B), b"log", &[]);
    let shares = [
        json!({"grantee_account": B, "delivery": {"mode": "copy", "bucket": "b-logs"}}),
        json!({"grantee_account": C}),
    ];
    let forwarder = Forwarder::new(FakeRoles::with(&shares), objects, config("60"));
    assert!(
        matches!(forwarder.process(&created(&key(B))).await, Outcome::Failed { error } if error.contains("s3:PutObject"))
    );
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
async fn one_listing_serves_many_objects_until_the_cache_expires() {
    let objects = FakeObjects::default();
    for account in [B, C] {
        objects.put("trail-bucket", &key(account), b"log", &[]);
    }
    let shares = [
        json!({"grantee_account": B, "delivery": {"mode": "tag"}}),
        json!({"grantee_account": C, "delivery": {"mode": "tag"}}),
    ];
    let cached = Forwarder::new(FakeRoles::with(&shares), objects, config("60"));
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
    );
    let _ = uncached.handle_event(event.clone()).await;
    let _ = uncached.handle_event(event).await;
    assert_eq!(uncached.shares.roles().listings.load(Ordering::SeqCst), 4);
}

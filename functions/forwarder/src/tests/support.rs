//! What every forwarder unit test stands on: the stack's settings, share
//! roles in `MemRoles`, S3 in memory (`FakeObjects`), grantees' queues and
//! topics (`FakeNotifier`), and the events and outcomes the tests speak in.

use std::collections::HashMap;
use std::sync::Mutex;

use trailshare::config::Config;
use trailshare::events::CreatedObject;
use trailshare::ports::{
    AwsError, CopyState, Destination, ListedObject, Listing, LogObjects, ObjectMetadata,
    SourceHead, SOURCE_ETAG_METADATA,
};
use trailshare::record::ShareRecord;
use trailshare::seal::ShareKey;
use trailshare::share::validate;
use trailshare::testkit::MemRoles;

use crate::{Forwarder, Outcome};

pub(super) const B: &str = "222222222222";
pub(super) const C: &str = "333333333333";
pub(super) const Z: &str = "444444444444";

/// The stack's share secret in these tests.
pub(super) fn share_key() -> ShareKey {
    ShareKey::new(*b"forwarder unit tests' key: 32 B!").unwrap()
}

/// Share roles for `bodies`, each with its record in its tags and its
/// route in its description, sealed as the provisioner writes them.
pub(super) fn share_roles(bodies: &[serde_json::Value]) -> MemRoles {
    let roles = MemRoles::default();
    for body in bodies {
        let record = ShareRecord {
            spec: validate(body, None, "trail-bucket").unwrap(),
            created_by: "me".into(),
            created_at: "now".into(),
            updated_by: None,
            updated_at: None,
            sessions_valid_after: None,
        };
        roles.insert_share(&record, &share_key());
    }
    roles
}

/// A forwarder over `roles` and `objects` that caches the share table for
/// a minute.
pub(super) fn forwarder(roles: MemRoles, objects: FakeObjects) -> Forwarder<MemRoles, FakeObjects> {
    Forwarder::new(roles, objects, config("60"), share_key())
}

pub(super) fn config(cache_seconds: &str) -> Config {
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

pub(super) fn key(account: &str) -> String {
    format!("AWSLogs/{account}/CloudTrail/us-east-1/2024/05/01/{account}_CloudTrail_us-east-1_20240501T1205Z_x.json.gz")
}

pub(super) fn created(key: &str) -> CreatedObject {
    CreatedObject {
        bucket: "trail-bucket".into(),
        key: key.into(),
        etag: None,
        size: None,
    }
}

pub(super) fn processed(account: &str, actions: &[&str]) -> Outcome {
    Outcome::Processed {
        account: account.into(),
        actions: actions.iter().map(|a| a.to_string()).collect(),
    }
}

pub(super) fn queue(account: &str) -> String {
    format!("arn:aws:sqs:us-east-1:{account}:new-logs")
}

/// (bucket, key)
type ObjectId = (String, String);

/// An object as the fake S3 holds it.
#[derive(Debug, Clone, Default)]
pub(super) struct FakeObject {
    pub(super) body: Vec<u8>,
    pub(super) etag: String,
    pub(super) metadata: ObjectMetadata,
    pub(super) tags: Vec<(String, String)>,
}

/// Objects by (bucket, key) in buckets with owners; counts every call and
/// fails the buckets it is told to.
#[derive(Default)]
pub(super) struct FakeObjects {
    pub(super) objects: Mutex<HashMap<ObjectId, FakeObject>>,
    /// bucket → owning account; a bucket not here does not exist.
    owners: Mutex<HashMap<String, String>>,
    /// bucket → the error every request to it gets.
    failing: Mutex<HashMap<String, AwsError>>,
    calls: Mutex<Vec<String>>,
    /// Buckets whose default encryption is SSE-KMS: a copy's ETag differs.
    pub(super) kms: Mutex<Vec<String>>,
}

impl FakeObjects {
    pub(super) fn with_buckets(buckets: &[(&str, &str)]) -> FakeObjects {
        let fake = FakeObjects::default();
        for (bucket, owner) in buckets {
            fake.owners
                .lock()
                .unwrap()
                .insert(bucket.to_string(), owner.to_string());
        }
        fake
    }
    pub(super) fn put(&self, bucket: &str, key: &str, body: &[u8], tags: &[(&str, &str)]) {
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
    pub(super) fn object(&self, bucket: &str, key: &str) -> Option<FakeObject> {
        self.objects
            .lock()
            .unwrap()
            .get(&(bucket.to_string(), key.to_string()))
            .cloned()
    }
    pub(super) fn tags_of(&self, bucket: &str, key: &str) -> Vec<(String, String)> {
        self.object(bucket, key).unwrap().tags
    }
    pub(super) fn fail(&self, bucket: &str, error: Option<AwsError>) {
        let mut failing = self.failing.lock().unwrap();
        match error {
            Some(error) => failing.insert(bucket.to_string(), error),
            None => failing.remove(bucket),
        };
    }
    pub(super) fn calls(&self) -> Vec<String> {
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

/// Grantee queues and topics: what each heard, or the failure to give.
#[derive(Default)]
pub(super) struct FakeNotifier {
    pub(super) sent: Mutex<Vec<(String, serde_json::Value)>>,
    pub(super) failing: Mutex<Option<AwsError>>,
}

impl FakeNotifier {
    pub(super) fn sent(&self) -> Vec<(String, serde_json::Value)> {
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

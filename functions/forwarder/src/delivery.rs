//! Carrying out one target: the tag, a copy, an announcement.

use crate::{Forwarder, ACCOUNT_TAG, MAX_OBJECT_TAGS};
use trailshare::events::CreatedObject;
use trailshare::notice::{s3_event, Announced};
use trailshare::ports::{
    AwsError, Destination, LogObjects, Notifier, RoleReader, SourceHead, WorkQueue,
};
use trailshare::targets::{Notice, Target};

impl<S: RoleReader, O: LogObjects, Q: WorkQueue, N: Notifier> Forwarder<S, O, Q, N> {
    /// Brings one target to done. `Err(NotFound)` only ever means the
    /// source object is gone; every other error fails the object.
    pub(crate) async fn reach(
        &self,
        object: &CreatedObject,
        account: &str,
        target: &Target,
        source: &SourceCache,
    ) -> Result<String, AwsError> {
        match target {
            Target::Tag => self.ensure_tagged(object, account).await,
            Target::Copy(destination) => self.ensure_copied(object, destination, source).await,
        }
    }

    /// Sends one S3-event-shaped message naming where the grantee reads the
    /// file: the copy, or the trail bucket's object. One request when the
    /// event carried size and ETag; otherwise the source's HEAD (shared
    /// with the copies) supplies them.
    pub(crate) async fn announce(
        &self,
        object: &CreatedObject,
        notice: &Notice,
        targets: &[Target],
        source: &SourceCache,
    ) -> Result<String, AwsError> {
        // The provisioner accepts only the grantee's own queues and topics;
        // a route that says otherwise (a role description edited outside
        // the API) is refused, and the file is retried, then dead-lettered.
        if trailshare::ids::arn_account(notice.notify.arn()) != Some(&notice.grantee_account) {
            return Err(AwsError::Refused {
                call: "notify",
                message: format!(
                    "{} is not in the grantee account {} of share {}",
                    notice.notify.arn(),
                    notice.grantee_account,
                    notice.share
                ),
            });
        }
        let (size, etag) = match (object.size, &object.etag) {
            (Some(size), Some(etag)) => (size, etag.clone()),
            _ => {
                let head = source.head(&self.objects, object).await?;
                (object.size.unwrap_or(head.size), head.etag)
            }
        };
        let (bucket, key, owner) = match notice.after.map(|i| &targets[i]) {
            Some(Target::Copy(destination)) => (
                destination.bucket.as_str(),
                destination.key.as_str(),
                Some(destination.owner.as_str()),
            ),
            _ => (object.bucket.as_str(), object.key.as_str(), None),
        };
        let announced = Announced {
            bucket,
            key,
            size,
            etag: &etag,
            bucket_owner: owner,
        };
        let message = s3_event(
            &announced,
            &notice.share,
            &self.region,
            time::OffsetDateTime::now_utc(),
        );
        self.notifier
            .notify(&notice.notify, &message.to_string())
            .await?;
        Ok(format!(
            "announced s3://{bucket}/{key} to {}",
            notice.notify.arn()
        ))
    }

    /// One read when already tagged; otherwise one read and one write that
    /// keeps the object's other tags.
    pub(crate) async fn ensure_tagged(
        &self,
        object: &CreatedObject,
        account: &str,
    ) -> Result<String, AwsError> {
        let mut tags = self
            .objects
            .tags(&object.bucket, &object.key)
            .await?
            .ok_or(AwsError::NotFound {
                call: "s3:GetObjectTagging",
            })?;
        if tags.iter().any(|(k, v)| k == ACCOUNT_TAG && v == account) {
            return Ok("already tagged".to_string());
        }
        tags.retain(|(k, _)| k != ACCOUNT_TAG);
        if tags.len() >= MAX_OBJECT_TAGS {
            return Err(AwsError::Rejected {
                call: "s3:PutObjectTagging",
                message: format!(
                    "the object already has {MAX_OBJECT_TAGS} tags; no room for {ACCOUNT_TAG}"
                ),
            });
        }
        tags.push((ACCOUNT_TAG.to_string(), account.to_string()));
        self.objects
            .put_tags(&object.bucket, &object.key, &tags)
            .await?;
        Ok(format!("tagged {ACCOUNT_TAG}={account}"))
    }

    /// Done when the copy is of the source's ETag (`CopyState::is_of`):
    /// one HEAD when the event carries the ETag. A new copy with our own
    /// credentials is one server-side `CopyObject` that keeps the source's
    /// metadata as it is; a stale one is redone with the metadata replaced
    /// and marked; a writer role streams the source into a marked PUT.
    pub(crate) async fn ensure_copied(
        &self,
        object: &CreatedObject,
        destination: &Destination,
        source: &SourceCache,
    ) -> Result<String, AwsError> {
        let target = format!("s3://{}/{}", destination.bucket, destination.key);
        let existing = self.objects.copy_state(destination).await?;
        if let Some(copy) = &existing {
            let source_etag = match &object.etag {
                Some(etag) => etag.clone(),
                None => source.head(&self.objects, object).await?.etag,
            };
            if copy.is_of(&source_etag) {
                return Ok(format!("already copied to {target}"));
            }
        }
        match (&destination.writer, existing) {
            (None, None) => {
                self.objects
                    .copy_as_is(&object.bucket, &object.key, destination)
                    .await?;
            }
            (None, Some(_)) => {
                let head = source.head(&self.objects, object).await?;
                self.objects
                    .copy_within(&object.bucket, &object.key, &head, destination)
                    .await?;
            }
            (Some(_), _) => {
                let known = source.known_etag(object);
                self.objects
                    .copy_streamed(&object.bucket, &object.key, known.as_deref(), destination)
                    .await?;
            }
        }
        Ok(format!("copied to {target}"))
    }
}

/// The source's HEAD, read at most once per object whatever the number of
/// copies that need it.
#[derive(Default)]
pub(crate) struct SourceCache {
    head: tokio::sync::OnceCell<SourceHead>,
}

impl SourceCache {
    async fn head<O: LogObjects>(
        &self,
        objects: &O,
        object: &CreatedObject,
    ) -> Result<SourceHead, AwsError> {
        self.head
            .get_or_try_init(|| async {
                objects
                    .head(&object.bucket, &object.key)
                    .await?
                    .ok_or(AwsError::NotFound {
                        call: "s3:HeadObject",
                    })
            })
            .await
            .cloned()
    }

    /// The source's size if known (from the event, the listing or a HEAD
    /// read anyway): no request is made for it.
    pub(crate) fn known_size(&self, object: &CreatedObject) -> Option<u64> {
        object.size.or_else(|| self.head.get().map(|h| h.size))
    }

    /// The source ETag if already known (from the event or a HEAD).
    fn known_etag(&self, object: &CreatedObject) -> Option<String> {
        object
            .etag
            .clone()
            .or_else(|| self.head.get().map(|h| h.etag.clone()))
    }
}

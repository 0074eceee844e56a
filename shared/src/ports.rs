//! The ports: what the functions need from AWS, as small traits over plain
//! data. The SDK adapters in `aws` implement them; tests may too.

use std::collections::BTreeMap;
use std::future::Future;

/// A failed AWS call, classified for retries and HTTP status codes, naming
/// the API call so an operator knows which permission or service failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AwsError {
    #[error("{call}: not found")]
    NotFound { call: &'static str },
    #[error("{call}: already exists")]
    AlreadyExists { call: &'static str },
    #[error("{call} was throttled: {message}")]
    Throttled { call: &'static str, message: String },
    #[error("{call} was denied: {message}")]
    Denied { call: &'static str, message: String },
    /// A transient failure (5xx, timeout, reset, credentials): a retry may work.
    #[error("{call} failed: {message}")]
    Failed { call: &'static str, message: String },
    /// AWS refused the request as it stands (a missing bucket, a full tag
    /// set, a 4xx): retrying alone will not help, but it is still a failure.
    #[error("{call} was rejected: {message}")]
    Rejected { call: &'static str, message: String },
    /// Not an AWS call: the forwarder lacks what the work needs (a queue,
    /// a notifier) until it is deployed with it.
    #[error("{call} cannot run: {missing}")]
    NotConfigured {
        call: &'static str,
        missing: &'static str,
    },
    /// Not an AWS call: the work itself is refused before any call (a
    /// malformed work item, a route naming a target outside its grantee's
    /// account).
    #[error("{call} refused: {message}")]
    Refused { call: &'static str, message: String },
}

impl AwsError {
    /// The AWS API call that failed.
    pub fn call(&self) -> &'static str {
        match self {
            AwsError::NotFound { call }
            | AwsError::AlreadyExists { call }
            | AwsError::Throttled { call, .. }
            | AwsError::Denied { call, .. }
            | AwsError::Failed { call, .. }
            | AwsError::Rejected { call, .. }
            | AwsError::NotConfigured { call, .. }
            | AwsError::Refused { call, .. } => call,
        }
    }

    /// Whether retrying the same request later may succeed by itself.
    /// Denials and rejections need someone to change a setting first.
    pub fn retryable(&self) -> bool {
        matches!(self, AwsError::Throttled { .. } | AwsError::Failed { .. })
    }
}

/// A share role as it should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleDraft {
    pub role_name: String,
    pub path: String,
    pub description: String,
    pub trust_policy: String,
    pub read_policy_name: String,
    pub read_policy: String,
    pub permissions_boundary: Option<String>,
    pub max_session_seconds: i32,
    pub tags: Vec<(String, String)>,
}

/// A role as `ListRoles` returns it: no tags, no boundary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleSummary {
    pub role_name: String,
    pub arn: String,
    /// IAM's `RoleId`: a seal is bound to it (see `crate::seal`).
    pub role_id: String,
    pub description: Option<String>,
}

/// When a role was last used (IAM's `RoleLastUsed`: tracked by IAM, with a
/// delay of hours, and only from `GetRole`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastUsed {
    /// RFC 3339.
    pub at: String,
    pub region: Option<String>,
}

/// A role as IAM has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRole {
    pub role_name: String,
    pub arn: String,
    /// IAM's `RoleId`: a seal is bound to it (see `crate::seal`).
    pub role_id: String,
    pub path: String,
    pub tags: Vec<(String, String)>,
    /// The role's permissions boundary as IAM reports it (`get` reads it).
    pub permissions_boundary: Option<String>,
    /// The trust policy (JSON) as IAM holds it; only `get` reads it.
    pub trust_policy: Option<String>,
    /// From `GetRole` only; `None`: never used (or not read).
    pub last_used: Option<LastUsed>,
    /// The description (the forwarder's route) as IAM holds it: a replace
    /// that stopped half-way may have left the new one, so a repair reads it.
    pub description: Option<String>,
    /// `MaxSessionDuration` as IAM holds it.
    pub max_session_seconds: Option<i32>,
}

impl StoredRole {
    /// What a seal of this role's record or route is bound to.
    pub fn identity(&self) -> crate::seal::RoleIdentity<'_> {
        crate::seal::RoleIdentity {
            arn: &self.arn,
            role_id: &self.role_id,
        }
    }

    pub fn tag_pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// Reads share roles in IAM, fenced to one path: all the forwarder may do
/// with roles, so "the forwarder never changes roles" is a type.
pub trait RoleReader: Send + Sync {
    /// The role `role_name` if it exists under `path`, with its tags and boundary.
    fn get(
        &self,
        path: &str,
        role_name: &str,
    ) -> impl Future<Output = Result<Option<StoredRole>, AwsError>> + Send;
    /// Every role under `path` as `ListRoles` returns it (name, ARN,
    /// description): one call per 1,000 roles, nothing per role.
    fn list_summaries(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<Vec<RoleSummary>, AwsError>> + Send;
}

/// Share roles in IAM, fenced to one path, for the provisioner. Writes are
/// one IAM call each, so the provisioner decides their order (a replace
/// must never widen access half-way) and a test can fail any one of them.
pub trait RoleStore: RoleReader {
    /// Creates the role with its trust, boundary, tags and inline policy; on
    /// any failure removes what it made. `AlreadyExists` if the name is taken.
    fn create(
        &self,
        draft: &RoleDraft,
    ) -> impl Future<Output = Result<StoredRole, AwsError>> + Send;
    /// `iam:GetRolePolicy`: one inline policy (JSON), `None` if absent.
    fn get_policy(
        &self,
        role_name: &str,
        policy_name: &str,
    ) -> impl Future<Output = Result<Option<String>, AwsError>> + Send;
    /// `iam:PutRolePolicy`: sets one inline policy.
    fn put_policy(
        &self,
        role_name: &str,
        policy_name: &str,
        document: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// `iam:UpdateAssumeRolePolicy`: sets the trust policy.
    fn update_trust(
        &self,
        role_name: &str,
        document: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// `iam:UpdateRole`: description and maximum session length.
    fn update_role(
        &self,
        role_name: &str,
        description: &str,
        max_session_seconds: i32,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// `iam:TagRole`: adds or overwrites tags, all at once.
    fn tag(
        &self,
        role_name: &str,
        tags: &[(String, String)],
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// `iam:UntagRole`: removes tags.
    fn untag(
        &self,
        role_name: &str,
        keys: &[String],
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// Removes the inline policies, then the role. `false` if it did not exist.
    fn delete(&self, role_name: &str) -> impl Future<Output = Result<bool, AwsError>> + Send;
}

impl RoleSummary {
    /// What a seal of this role's route is bound to.
    pub fn identity(&self) -> crate::seal::RoleIdentity<'_> {
        crate::seal::RoleIdentity {
            arn: &self.arn,
            role_id: &self.role_id,
        }
    }
}

/// The stack's share secret (`SHARE_SECRET_ARN`), read once per process.
pub trait ShareSecret: Send + Sync {
    /// The secret's value, as bytes.
    fn read(&self) -> impl Future<Output = Result<Vec<u8>, AwsError>> + Send;
}

/// The headers of an S3 object that a faithful copy must carry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectMetadata {
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    /// `x-amz-meta-*`: digest files keep their signature here.
    pub user: BTreeMap<String, String>,
}

/// User metadata key on a copy whose metadata we wrote: the source's ETag.
/// Under SSE-KMS or multipart uploads a copy's own ETag differs from its
/// source's, so then this, not the copy's ETag, says whether it is done.
pub const SOURCE_ETAG_METADATA: &str = "trailshare-source-etag";

/// What a HEAD of an existing copy says about where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyState {
    /// The copy's own ETag, unquoted.
    pub etag: String,
    /// Its `trailshare-source-etag`, if it has one.
    pub mark: Option<String>,
}

impl CopyState {
    /// Whether this copy was made from the source whose ETag is
    /// `source_etag`: its mark says so, or, unmarked (a server-side copy
    /// that kept the source's metadata as is), its own ETag equals it. An
    /// unmarked copy whose ETag differs (SSE-KMS, multipart) is redone,
    /// once, with the mark.
    pub fn is_of(&self, source_etag: &str) -> bool {
        match &self.mark {
            Some(mark) => mark == source_etag,
            None => self.etag == source_etag,
        }
    }
}

/// What a HEAD of the source says: enough to copy it faithfully.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceHead {
    /// Unquoted.
    pub etag: String,
    pub metadata: ObjectMetadata,
    /// Bytes: the size a notification announces.
    pub size: u64,
}

/// Whose credentials write a copy: the function's own, or a role in the
/// destination account assumed with the share's external id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Writer {
    pub role_arn: String,
    pub external_id: Option<String>,
}

/// Where one copy goes. Every request to the destination carries
/// `ExpectedBucketOwner = owner`, so a bucket of that name owned by anyone
/// else (a deleted bucket's name re-created elsewhere) gets nothing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Destination {
    pub bucket: String,
    pub key: String,
    /// The share's grantee account.
    pub owner: String,
    pub writer: Option<Writer>,
}

/// One page-complete listing of a prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// Objects directly listed: key and (unquoted) ETag.
    pub objects: Vec<ListedObject>,
    /// With a delimiter: the child "folders" (common prefixes, ending in `/`).
    pub folders: Vec<String>,
}

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedObject {
    pub key: String,
    /// Unquoted.
    pub etag: Option<String>,
    pub size: Option<u64>,
}

/// One page of a listing (see [`LogObjects::list_page`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    pub objects: Vec<ListedObject>,
    /// The listing goes on after the page's last key.
    pub more: bool,
}

/// Where backfill runs are kept (`BACKFILL_BUCKET`).
pub use crate::backfill::runs::RunStore;

/// Where share activity is read back (`ACTIVITY_BUCKET`), by the provisioner.
pub use crate::activity::read::{ActivityObjects, Fetched};

/// Where grantees hear of delivered files: their SQS queues and SNS topics.
pub trait Notifier: Send + Sync {
    /// Sends one message (an S3 event notification's JSON) to `target`.
    fn notify(
        &self,
        target: &crate::share::Notify,
        message: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// No notifier configured: a share that asks for notifications fails its
/// files (retried, then dead-lettered) rather than dropping the notice.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoNotifier;

impl Notifier for NoNotifier {
    async fn notify(&self, target: &crate::share::Notify, _: &str) -> Result<(), AwsError> {
        Err(AwsError::NotConfigured {
            call: match target {
                crate::share::Notify::QueueArn(_) => "sqs:SendMessage",
                crate::share::Notify::TopicArn(_) => "sns:Publish",
            },
            missing: "the forwarder has no notifier",
        })
    }
}

/// The forwarder's own queue, where backfill work fans out.
pub trait WorkQueue: Send + Sync {
    /// Sends every body (in batches of 10); fails if any is not accepted.
    fn send(&self, bodies: &[String]) -> impl Future<Output = Result<(), AwsError>> + Send;

    /// Sends one message to the queue's dead-letter queue with string
    /// message `attributes`. Without a dead-letter queue configured it
    /// fails, and the message is left to the queue's own redrive.
    fn dead_letter(
        &self,
        _body: &str,
        _attributes: &[(&'static str, String)],
    ) -> impl Future<Output = Result<(), AwsError>> + Send {
        async {
            Err(AwsError::Rejected {
                call: "sqs:SendMessage",
                message: "no dead-letter queue is configured".into(),
            })
        }
    }
}

/// No queue configured (`FORWARDER_QUEUE_URL` unset): work that must fan
/// out fails, so it is retried and dead-lettered rather than dropped.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoQueue;

impl WorkQueue for NoQueue {
    async fn send(&self, _: &[String]) -> Result<(), AwsError> {
        Err(AwsError::NotConfigured {
            call: "sqs:SendMessageBatch",
            missing: "FORWARDER_QUEUE_URL is not set",
        })
    }
}

/// A queue only when one is configured (`FORWARDER_QUEUE_URL`): without
/// one, work that must fan out fails, so it is retried and dead-lettered
/// rather than dropped.
impl<Q: WorkQueue> WorkQueue for Option<Q> {
    async fn send(&self, bodies: &[String]) -> Result<(), AwsError> {
        match self {
            Some(queue) => queue.send(bodies).await,
            None => NoQueue.send(bodies).await,
        }
    }

    async fn dead_letter(
        &self,
        body: &str,
        attributes: &[(&'static str, String)],
    ) -> Result<(), AwsError> {
        match self {
            Some(queue) => queue.dead_letter(body, attributes).await,
            None => NoQueue.dead_letter(body, attributes).await,
        }
    }
}

/// The S3 operations the forwarder needs. `NotFound` from a call on the
/// source means the source is gone; a missing destination bucket is never
/// `NotFound` from a write (it is `Rejected`), so it cannot pass for a skip.
pub trait LogObjects: Send + Sync {
    /// The source object's tags, or `None` if it does not exist.
    fn tags(
        &self,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<Vec<(String, String)>>, AwsError>> + Send;
    /// Replaces the source object's whole tag set.
    fn put_tags(
        &self,
        bucket: &str,
        key: &str,
        tags: &[(String, String)],
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// The source's ETag and metadata, or `None` if it does not exist.
    fn head(
        &self,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<SourceHead>, AwsError>> + Send;
    /// The copy at `destination` (one HEAD), or `None` when there is none.
    fn copy_state(
        &self,
        destination: &Destination,
    ) -> impl Future<Output = Result<Option<CopyState>, AwsError>> + Send;
    /// Server-side copy with the function's own credentials that keeps the
    /// source's metadata as it is (`MetadataDirective=COPY`), so it needs
    /// no HEAD of the source: a new copy in one request. It carries no mark;
    /// its ETag is the done-check (see [`CopyState::is_of`]).
    fn copy_as_is(
        &self,
        bucket: &str,
        key: &str,
        destination: &Destination,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// Server-side copy with the function's own credentials, metadata
    /// replaced by the source's plus the mark: no bytes pass through the
    /// function. Only if the source still has `source.etag`.
    fn copy_within(
        &self,
        bucket: &str,
        key: &str,
        source: &SourceHead,
        destination: &Destination,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// Everything under `prefix` (all pages); with `folders`, split at the
    /// next `/` into objects and child folders.
    fn list(
        &self,
        bucket: &str,
        prefix: &str,
        folders: bool,
    ) -> impl Future<Output = Result<Listing, AwsError>> + Send;
    /// One page of the objects under `prefix` (no folders): at most
    /// `max_keys`, in key order, those after `after` when given; `more`
    /// when the listing goes on past the page (ListObjectsV2's
    /// `StartAfter`, `MaxKeys`, `IsTruncated`). One request.
    fn list_page(
        &self,
        bucket: &str,
        prefix: &str,
        after: Option<&str>,
        max_keys: usize,
    ) -> impl Future<Output = Result<Page, AwsError>> + Send {
        async move {
            let listing = self.list(bucket, prefix, false).await?;
            let mut objects: Vec<ListedObject> = listing
                .objects
                .into_iter()
                .filter(|o| after.is_none_or(|after| o.key.as_str() > after))
                .collect();
            objects.sort_by(|a, b| a.key.cmp(&b.key));
            let more = objects.len() > max_keys;
            objects.truncate(max_keys);
            Ok(Page { objects, more })
        }
    }
    /// Reads the source and streams it to `destination` with the writer's
    /// credentials (never the whole body in memory). `if_match`: the ETag
    /// the source must still have. Returns the source ETag it copied.
    fn copy_streamed(
        &self,
        bucket: &str,
        key: &str,
        if_match: Option<&str>,
        destination: &Destination,
    ) -> impl Future<Output = Result<String, AwsError>> + Send;

    /// Reads the log file `bucket`/`key` as a stream (gunzipped when its
    /// name ends in `.gz`) and keeps what concerns share roles (see
    /// [`crate::activity::scan`]); `None` if the object does not exist.
    /// Memory stays bounded whatever the file's size.
    fn scan_activity(
        &self,
        _bucket: &str,
        _key: &str,
        _roles: &ActivityRoles,
        _limits: ActivityLimits,
    ) -> impl Future<Output = Result<Option<Extracted>, AwsError>> + Send {
        async {
            Err(AwsError::NotConfigured {
                call: "s3:GetObject",
                missing: "no reader of log files for activity",
            })
        }
    }

    /// Writes one activity object (JSON lines) to `bucket`/`key`,
    /// replacing any object there: the same source gives the same bytes.
    /// `owner`: the account the bucket must belong to (S3 refuses the
    /// write otherwise: a deleted bucket's name taken by someone else
    /// receives nothing).
    fn put_activity(
        &self,
        _bucket: &str,
        _key: &str,
        _body: String,
        _owner: Option<&str>,
    ) -> impl Future<Output = Result<(), AwsError>> + Send {
        async {
            Err(AwsError::NotConfigured {
                call: "s3:PutObject",
                missing: "no writer of activity objects",
            })
        }
    }
}

use crate::activity::{Extracted, Limits as ActivityLimits, ShareRoles as ActivityRoles};

/// `iam:GetRole` for the caller's own role: its path (`/…/`), `None` if no
/// role has that name in this account. An assumed-role session's ARN
/// carries no path, so an `ADMIN_PRINCIPALS` entry with one is checked
/// through this (once per role and process).
pub trait RolePaths: Send + Sync {
    fn role_path(
        &self,
        role_name: &str,
    ) -> impl Future<Output = Result<Option<String>, AwsError>> + Send;
}

/// No IAM client: every lookup fails, so a role entry never admits anyone.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRolePaths;

impl RolePaths for NoRolePaths {
    async fn role_path(&self, _: &str) -> Result<Option<String>, AwsError> {
        Err(AwsError::NotConfigured {
            call: "iam:GetRole",
            missing: "no IAM client to look up the caller's role path",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What is missing from the deployment is not a failed AWS call: it
    /// says what is missing, and no retry alone mends it.
    #[tokio::test]
    async fn missing_parts_are_their_own_failures_and_not_retryable() {
        let queue = NoQueue.send(&["{}".into()]).await.unwrap_err();
        let notify = NoNotifier
            .notify(
                &crate::share::Notify::TopicArn("arn:aws:sns:us-east-1:222222222222:t".into()),
                "",
            )
            .await
            .unwrap_err();
        let paths = NoRolePaths.role_path("admin").await.unwrap_err();
        for (error, call) in [
            (queue, "sqs:SendMessageBatch"),
            (notify, "sns:Publish"),
            (paths, "iam:GetRole"),
        ] {
            assert!(matches!(error, AwsError::NotConfigured { .. }), "{error:?}");
            assert_eq!(error.call(), call);
            assert!(!error.retryable());
        }
        assert!(NoQueue
            .send(&[])
            .await
            .unwrap_err()
            .to_string()
            .contains("FORWARDER_QUEUE_URL"));
    }
}

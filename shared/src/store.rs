//! The ports: what the functions need from AWS, as small traits over plain
//! data. The SDK adapters in `aws` implement them; tests may too.

use std::collections::BTreeMap;
use std::future::Future;

/// A failed AWS call, classified for retries and HTTP status codes, naming
/// the API call so an operator knows which permission or service failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("{call}: not found")]
    NotFound { call: &'static str },
    #[error("{call}: already exists")]
    AlreadyExists { call: &'static str },
    #[error("{call} was throttled: {message}")]
    Throttled { call: &'static str, message: String },
    #[error("{call} was denied: {message}")]
    Denied { call: &'static str, message: String },
    #[error("{call} failed: {message}")]
    Failed { call: &'static str, message: String },
}

impl StoreError {
    /// The AWS API call that failed.
    pub fn call(&self) -> &'static str {
        match self {
            StoreError::NotFound { call }
            | StoreError::AlreadyExists { call }
            | StoreError::Throttled { call, .. }
            | StoreError::Denied { call, .. }
            | StoreError::Failed { call, .. } => call,
        }
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

/// A role as IAM has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRole {
    pub role_name: String,
    pub arn: String,
    pub path: String,
    pub tags: Vec<(String, String)>,
    /// The role's permissions boundary as IAM reports it. Only `get` and
    /// `list_with_boundaries` read it; `list` (tags only) leaves it `None`.
    pub permissions_boundary: Option<String>,
    /// The trust policy (JSON) as IAM holds it; only `get` reads it.
    pub trust_policy: Option<String>,
}

impl StoredRole {
    pub fn tag_pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// Share roles in IAM, fenced to one path. Writes are one IAM call each, so
/// the provisioner decides their order (a replace must never widen access
/// half-way) and a test can fail any one of them.
pub trait RoleStore: Send + Sync {
    /// Creates the role with its trust, boundary, tags and inline policy; on
    /// any failure removes what it made. `AlreadyExists` if the name is taken.
    fn create(
        &self,
        draft: &RoleDraft,
    ) -> impl Future<Output = Result<StoredRole, StoreError>> + Send;
    /// The role `role_name` if it exists under `path`, with its tags and boundary.
    fn get(
        &self,
        path: &str,
        role_name: &str,
    ) -> impl Future<Output = Result<Option<StoredRole>, StoreError>> + Send;
    /// Every role under `path`, with its tags (not its boundary).
    fn list(&self, path: &str) -> impl Future<Output = Result<Vec<StoredRole>, StoreError>> + Send;
    /// Every role under `path`, with its tags and boundary.
    fn list_with_boundaries(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<Vec<StoredRole>, StoreError>> + Send;
    /// `iam:GetRolePolicy`: one inline policy (JSON), `None` if absent.
    fn get_policy(
        &self,
        role_name: &str,
        policy_name: &str,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;
    /// `iam:PutRolePolicy`: sets one inline policy.
    fn put_policy(
        &self,
        role_name: &str,
        policy_name: &str,
        document: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// `iam:UpdateAssumeRolePolicy`: sets the trust policy.
    fn update_trust(
        &self,
        role_name: &str,
        document: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// `iam:UpdateRole`: description and maximum session length.
    fn update_role(
        &self,
        role_name: &str,
        description: &str,
        max_session_seconds: i32,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// `iam:TagRole`: adds or overwrites tags, all at once.
    fn tag(
        &self,
        role_name: &str,
        tags: &[(String, String)],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// `iam:UntagRole`: removes tags.
    fn untag(
        &self,
        role_name: &str,
        keys: &[String],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Removes the inline policies, then the role. `false` if it did not exist.
    fn delete(&self, role_name: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// The headers of an S3 object that a faithful copy must carry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectMetadata {
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    /// `x-amz-meta-*`: digest files keep their signature here.
    pub user: BTreeMap<String, String>,
}

/// An object read in full (CloudTrail files are small: a few MB at most).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    pub body: Vec<u8>,
    pub etag: Option<String>,
    pub metadata: ObjectMetadata,
}

/// Whose credentials write a copy: the function's own, or a role in the
/// destination account assumed with the share's external id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Writer {
    pub role_arn: String,
    pub external_id: Option<String>,
}

/// The S3 operations the forwarder needs.
pub trait LogObjects: Send + Sync {
    /// The object's tags, or `None` if the object does not exist.
    fn tags(
        &self,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<Vec<(String, String)>>, StoreError>> + Send;
    /// Replaces the object's whole tag set.
    fn put_tags(
        &self,
        bucket: &str,
        key: &str,
        tags: &[(String, String)],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The whole object, or `None` if it does not exist.
    fn get(
        &self,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<StoredObject>, StoreError>> + Send;
    /// The ETag of a copy, or `None` if there is none yet.
    fn copy_etag(
        &self,
        writer: Option<&Writer>,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;
    /// Writes a copy with `bucket-owner-full-control`.
    fn put_copy(
        &self,
        writer: Option<&Writer>,
        bucket: &str,
        key: &str,
        object: &StoredObject,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

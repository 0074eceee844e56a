//! `LogObjects` over S3, with writer roles assumed through STS.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_config::sts::AssumeRoleProvider;
use aws_config::SdkConfig;
use aws_sdk_s3::types::{MetadataDirective, ObjectCannedAcl, Tag, Tagging, TaggingDirective};
use aws_sdk_s3::Client;

use super::{classify, listed, put_error, s3_client};
use crate::ports::{
    AwsError, CopyState, Destination, ListedObject, Listing, LogObjects, ObjectMetadata, Page,
    SourceHead, Writer, SOURCE_ETAG_METADATA,
};

/// S3 access for the forwarder. Build once per process: the writer clients
/// (one per destination role) are cached here, and their assumed-role
/// credentials are refreshed by the SDK shortly before they expire.
#[derive(Debug)]
pub struct S3Objects {
    sdk: SdkConfig,
    own: Client,
    writers: Mutex<HashMap<Writer, Client>>,
}

impl S3Objects {
    pub fn new(sdk: &SdkConfig) -> S3Objects {
        S3Objects {
            sdk: sdk.clone(),
            own: s3_client(sdk),
            writers: Mutex::new(HashMap::new()),
        }
    }

    /// A `CopyObject` with our own credentials to `destination`, carrying
    /// what every copy must: `ExpectedBucketOwner`,
    /// `bucket-owner-full-control`, and no tags: `TaggingDirective=REPLACE`
    /// with an empty tag set, so account A's tags never land in the
    /// grantee's bucket (S3's default COPY would carry them, and need
    /// `s3:PutObjectTagging` there).
    fn server_side_copy(
        &self,
        bucket: &str,
        key: &str,
        destination: &Destination,
    ) -> aws_sdk_s3::operation::copy_object::builders::CopyObjectFluentBuilder {
        self.own
            .copy_object()
            .copy_source(copy_source(bucket, key))
            .bucket(&destination.bucket)
            .key(&destination.key)
            .expected_bucket_owner(&destination.owner)
            .acl(ObjectCannedAcl::BucketOwnerFullControl)
            .tagging_directive(TaggingDirective::Replace)
    }

    async fn client_for(&self, writer: Option<&Writer>) -> Client {
        let Some(writer) = writer else {
            return self.own.clone();
        };
        if let Some(client) = self.writers.lock().expect("writer cache lock").get(writer) {
            return client.clone();
        }
        let mut builder =
            AssumeRoleProvider::builder(&writer.role_arn).session_name("trailshare-forwarder");
        if let Some(external_id) = &writer.external_id {
            builder = builder.external_id(external_id);
        }
        let provider = builder.configure(&self.sdk).build().await;
        let config = self
            .sdk
            .to_builder()
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(provider),
            )
            .build();
        let client = s3_client(&config);
        self.writers
            .lock()
            .expect("writer cache lock")
            .insert(writer.clone(), client.clone());
        client
    }
}

fn or_missing<T>(result: Result<T, AwsError>) -> Result<Option<T>, AwsError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(AwsError::NotFound { .. }) => Ok(None),
        Err(other) => Err(other),
    }
}

pub(super) fn unquote(etag: Option<String>) -> Option<String> {
    etag.map(|e| e.trim_matches('"').to_string())
}

/// S3's `x-amz-copy-source`: bucket and key, the key URL-encoded.
fn copy_source(bucket: &str, key: &str) -> String {
    const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'/')
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    format!(
        "{bucket}/{}",
        percent_encoding::utf8_percent_encode(key, KEEP)
    )
}

/// The source's user metadata plus the mark that says which source this
/// copy was made from.
fn copy_metadata(metadata: &ObjectMetadata, source_etag: &str) -> HashMap<String, String> {
    let mut user: HashMap<String, String> = metadata.user.clone().into_iter().collect();
    user.insert(SOURCE_ETAG_METADATA.to_string(), source_etag.to_string());
    user
}

fn metadata_of(
    content_type: Option<String>,
    content_encoding: Option<String>,
    user: Option<HashMap<String, String>>,
) -> ObjectMetadata {
    ObjectMetadata {
        content_type,
        content_encoding,
        user: user
            .unwrap_or_default()
            .into_iter()
            .filter(|(k, _)| k != SOURCE_ETAG_METADATA)
            .collect(),
    }
}

impl LogObjects for S3Objects {
    async fn tags(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<Vec<(String, String)>>, AwsError> {
        or_missing(
            self.own
                .get_object_tagging()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .map(|out| out.tag_set.into_iter().map(|t| (t.key, t.value)).collect())
                .map_err(|e| classify("s3:GetObjectTagging", e)),
        )
    }

    async fn put_tags(
        &self,
        bucket: &str,
        key: &str,
        tags: &[(String, String)],
    ) -> Result<(), AwsError> {
        let tag_set = tags
            .iter()
            .map(|(k, v)| {
                Tag::builder()
                    .key(k)
                    .value(v)
                    .build()
                    .expect("key and value are set")
            })
            .collect();
        let tagging = Tagging::builder()
            .set_tag_set(Some(tag_set))
            .build()
            .expect("tag set is set");
        self.own
            .put_object_tagging()
            .bucket(bucket)
            .key(key)
            .tagging(tagging)
            .send()
            .await
            .map_err(|e| classify("s3:PutObjectTagging", e))?;
        Ok(())
    }

    async fn head(&self, bucket: &str, key: &str) -> Result<Option<SourceHead>, AwsError> {
        let head = or_missing(
            self.own
                .head_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| classify("s3:HeadObject", e)),
        )?;
        Ok(head.map(|out| SourceHead {
            etag: unquote(out.e_tag).unwrap_or_default(),
            metadata: metadata_of(out.content_type, out.content_encoding, out.metadata),
            size: out.content_length.unwrap_or_default().max(0) as u64,
        }))
    }

    async fn copy_state(&self, destination: &Destination) -> Result<Option<CopyState>, AwsError> {
        let client = self.client_for(destination.writer.as_ref()).await;
        let head = client
            .head_object()
            .bucket(&destination.bucket)
            .key(&destination.key)
            .expected_bucket_owner(&destination.owner)
            .send()
            .await
            .map_err(|e| classify("s3:HeadObject", e));
        Ok(or_missing(head)?.map(|out| CopyState {
            etag: unquote(out.e_tag).unwrap_or_default(),
            mark: out
                .metadata
                .and_then(|mut user| user.remove(SOURCE_ETAG_METADATA)),
        }))
    }

    async fn copy_as_is(
        &self,
        bucket: &str,
        key: &str,
        destination: &Destination,
    ) -> Result<(), AwsError> {
        self.server_side_copy(bucket, key, destination)
            .metadata_directive(MetadataDirective::Copy)
            .send()
            .await
            .map_err(|e| classify("s3:CopyObject", e))?;
        Ok(())
    }

    async fn copy_within(
        &self,
        bucket: &str,
        key: &str,
        source: &SourceHead,
        destination: &Destination,
    ) -> Result<(), AwsError> {
        self.server_side_copy(bucket, key, destination)
            .copy_source_if_match(format!("\"{}\"", source.etag))
            .metadata_directive(MetadataDirective::Replace)
            .set_content_type(source.metadata.content_type.clone())
            .set_content_encoding(source.metadata.content_encoding.clone())
            .set_metadata(Some(copy_metadata(&source.metadata, &source.etag)))
            .send()
            .await
            .map_err(|e| classify("s3:CopyObject", e))?;
        Ok(())
    }

    async fn list(&self, bucket: &str, prefix: &str, folders: bool) -> Result<Listing, AwsError> {
        let mut listing = Listing::default();
        let mut token = None;
        loop {
            let page = self
                .own
                .list_objects_v2()
                .bucket(bucket)
                .prefix(prefix)
                .set_delimiter(folders.then(|| "/".to_string()))
                .set_continuation_token(token)
                .send()
                .await
                .map_err(|e| classify("s3:ListObjectsV2", e))?;
            listing.objects.extend(
                page.contents
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(listed),
            );
            listing.folders.extend(
                page.common_prefixes
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|p| p.prefix),
            );
            match page
                .next_continuation_token
                .filter(|_| page.is_truncated == Some(true))
            {
                Some(next) => token = Some(next),
                None => return Ok(listing),
            }
        }
    }

    async fn list_page(
        &self,
        bucket: &str,
        prefix: &str,
        after: Option<&str>,
        max_keys: usize,
    ) -> Result<Page, AwsError> {
        let page = self
            .own
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_start_after(after.map(str::to_string))
            .max_keys(i32::try_from(max_keys).unwrap_or(1000).clamp(1, 1000))
            .send()
            .await
            .map_err(|e| classify("s3:ListObjectsV2", e))?;
        let mut objects: Vec<ListedObject> = page
            .contents
            .unwrap_or_default()
            .into_iter()
            .filter_map(listed)
            .collect();
        // S3 never returns more than MaxKeys; a stand-in that did would not
        // make one item more than a page.
        let more = page.is_truncated == Some(true) || objects.len() > max_keys;
        objects.truncate(max_keys);
        Ok(Page { objects, more })
    }

    async fn copy_streamed(
        &self,
        bucket: &str,
        key: &str,
        if_match: Option<&str>,
        destination: &Destination,
    ) -> Result<String, AwsError> {
        let source = self
            .own
            .get_object()
            .bucket(bucket)
            .key(key)
            .set_if_match(if_match.map(|etag| format!("\"{etag}\"")))
            .send()
            .await
            .map_err(|e| classify("s3:GetObject", e))?;
        let etag = unquote(source.e_tag).unwrap_or_default();
        let metadata = metadata_of(
            source.content_type,
            source.content_encoding,
            source.metadata,
        );
        let client = self.client_for(destination.writer.as_ref()).await;
        // The body goes from the GET's stream to the PUT as it arrives: the
        // function holds a few buffers of it, never the whole object.
        client
            .put_object()
            .bucket(&destination.bucket)
            .key(&destination.key)
            .expected_bucket_owner(&destination.owner)
            .body(source.body)
            .set_content_length(source.content_length)
            .set_content_type(metadata.content_type.clone())
            .set_content_encoding(metadata.content_encoding.clone())
            .set_metadata(Some(copy_metadata(&metadata, &etag)))
            .acl(ObjectCannedAcl::BucketOwnerFullControl)
            .send()
            .await
            .map_err(put_error)?;
        Ok(etag)
    }

    async fn scan_activity(
        &self,
        bucket: &str,
        key: &str,
        roles: &crate::activity::ShareRoles,
        limits: crate::activity::Limits,
    ) -> Result<Option<crate::activity::Extracted>, AwsError> {
        super::activity::scan_log(&self.own, bucket, key, roles, limits).await
    }

    async fn put_activity(
        &self,
        bucket: &str,
        key: &str,
        body: String,
        owner: Option<&str>,
    ) -> Result<(), AwsError> {
        super::activity::put(&self.own, bucket, key, body, owner).await
    }
}

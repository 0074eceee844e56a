//! `LogObjects` over S3, with writer roles assumed through STS.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_config::sts::AssumeRoleProvider;
use aws_config::SdkConfig;
use aws_sdk_s3::types::{ObjectCannedAcl, Tag, Tagging};
use aws_sdk_s3::Client;

use super::{classify, s3_client};
use crate::store::{LogObjects, ObjectMetadata, StoreError, StoredObject, Writer};

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

fn or_missing<T>(result: Result<T, StoreError>) -> Result<Option<T>, StoreError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(StoreError::NotFound { .. }) => Ok(None),
        Err(other) => Err(other),
    }
}

fn unquote(etag: Option<String>) -> Option<String> {
    etag.map(|e| e.trim_matches('"').to_string())
}

impl LogObjects for S3Objects {
    async fn tags(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<Vec<(String, String)>>, StoreError> {
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
    ) -> Result<(), StoreError> {
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

    async fn get(&self, bucket: &str, key: &str) -> Result<Option<StoredObject>, StoreError> {
        let output = match or_missing(
            self.own
                .get_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| classify("s3:GetObject", e)),
        )? {
            Some(output) => output,
            None => return Ok(None),
        };
        let metadata = ObjectMetadata {
            content_type: output.content_type.clone(),
            content_encoding: output.content_encoding.clone(),
            user: output
                .metadata
                .clone()
                .unwrap_or_default()
                .into_iter()
                .collect(),
        };
        let etag = unquote(output.e_tag.clone());
        let body = output
            .body
            .collect()
            .await
            .map_err(|e| StoreError::Failed {
                call: "s3:GetObject",
                message: format!("reading the body: {e}"),
            })?
            .into_bytes()
            .to_vec();
        Ok(Some(StoredObject {
            body,
            etag,
            metadata,
        }))
    }

    async fn copy_etag(
        &self,
        writer: Option<&Writer>,
        bucket: &str,
        key: &str,
    ) -> Result<Option<String>, StoreError> {
        let client = self.client_for(writer).await;
        let head = client
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| classify("s3:HeadObject", e));
        Ok(or_missing(head)?.and_then(|out| unquote(out.e_tag)))
    }

    async fn put_copy(
        &self,
        writer: Option<&Writer>,
        bucket: &str,
        key: &str,
        object: &StoredObject,
    ) -> Result<(), StoreError> {
        let client = self.client_for(writer).await;
        client
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(object.body.clone().into())
            .set_content_type(object.metadata.content_type.clone())
            .set_content_encoding(object.metadata.content_encoding.clone())
            .set_metadata(Some(
                object
                    .metadata
                    .user
                    .clone()
                    .into_iter()
                    .collect::<HashMap<_, _>>(),
            ))
            .acl(ObjectCannedAcl::BucketOwnerFullControl)
            .send()
            .await
            .map_err(|e| classify("s3:PutObject", e))?;
        Ok(())
    }
}

//! `ActivityObjects` over S3: the provisioner reads `ACTIVITY_BUCKET`
//! (ListObjectsV2 under one share's day folder, GetObject of what it
//! lists) and never writes it.

use aws_config::SdkConfig;
use aws_sdk_s3::Client;

use super::{classify, s3_client};
use crate::activity::read::{ActivityObjects, Fetched};
use crate::ports::{AwsError, ListedObject, Page};

/// The activity bucket, read-only. Build once per process.
#[derive(Debug, Clone)]
pub struct S3Activity {
    s3: Client,
    bucket: String,
}

impl S3Activity {
    pub fn new(sdk: &SdkConfig, bucket: impl Into<String>) -> S3Activity {
        S3Activity {
            s3: s3_client(sdk),
            bucket: bucket.into(),
        }
    }
}

impl ActivityObjects for S3Activity {
    async fn list_page(&self, prefix: &str, after: Option<&str>) -> Result<Page, AwsError> {
        let page = self
            .s3
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .set_start_after(after.map(str::to_string))
            .send()
            .await
            .map_err(|e| classify("s3:ListObjectsV2", e))?;
        let objects = page
            .contents
            .unwrap_or_default()
            .into_iter()
            .filter_map(|o| {
                Some(ListedObject {
                    key: o.key?,
                    etag: None,
                    size: o.size.map(|s| s.max(0) as u64),
                })
            })
            .collect();
        Ok(Page {
            objects,
            more: page.is_truncated == Some(true),
        })
    }

    async fn fetch(&self, key: &str, max_bytes: u64) -> Result<Fetched, AwsError> {
        let out = match self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => out,
            Err(error) => {
                return match classify("s3:GetObject", error) {
                    AwsError::NotFound { .. } => Ok(Fetched::Gone),
                    other => Err(other),
                }
            }
        };
        // Bounded before a byte is read: whoever wrote the object, it
        // cannot make the function hold more than the caller allows.
        let length = out.content_length.unwrap_or(i64::MAX);
        if u64::try_from(length).map_or(true, |length| length > max_bytes) {
            return Ok(Fetched::TooLarge);
        }
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| AwsError::Failed {
                call: "s3:GetObject",
                message: e.to_string(),
            })?
            .into_bytes()
            .to_vec();
        Ok(Fetched::Body(bytes))
    }
}

//! `RunStore` over S3: one object per backfill run in `BACKFILL_BUCKET`,
//! written with S3's conditional writes (`If-None-Match: *` to create,
//! `If-Match: <ETag>` to update), so concurrent invocations never
//! overwrite each other's counts.

use aws_config::SdkConfig;
use aws_sdk_s3::Client;

use super::{classify, get_if_present, read_body, s3_client};
use crate::backfill::{RunStore, StoredRun, MAX_RUN_BYTES};
use crate::ports::AwsError;

/// The runs bucket. Build once per process.
#[derive(Debug, Clone)]
pub struct S3Runs {
    s3: Client,
    bucket: String,
}

impl S3Runs {
    pub fn new(sdk: &SdkConfig, bucket: impl Into<String>) -> S3Runs {
        S3Runs {
            s3: s3_client(sdk),
            bucket: bucket.into(),
        }
    }
}

impl RunStore for S3Runs {
    async fn read(&self, key: &str) -> Result<Option<StoredRun>, AwsError> {
        let Some(out) = get_if_present(&self.s3, &self.bucket, key).await? else {
            return Ok(None);
        };
        // Bounded before a byte is read: whoever wrote the object, it
        // cannot make the function hold more than a run's worth.
        if out.content_length.unwrap_or(0) > MAX_RUN_BYTES as i64 {
            return Err(AwsError::Rejected {
                call: "s3:GetObject",
                message: format!("run object {key} is over {MAX_RUN_BYTES} bytes"),
            });
        }
        let version = out.e_tag.clone().unwrap_or_default();
        let bytes = read_body(out.body).await?;
        Ok(Some(StoredRun { bytes, version }))
    }

    async fn write(
        &self,
        key: &str,
        body: Vec<u8>,
        version: Option<&str>,
    ) -> Result<bool, AwsError> {
        let request = self
            .s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .body(body.into());
        let request = match version {
            Some(etag) => request.if_match(etag),
            None => request.if_none_match("*"),
        };
        match request.send().await {
            Ok(_) => Ok(true),
            Err(error) => {
                // 412: not the version read (or created meanwhile); 409: a
                // concurrent conditional write to the same key won.
                let status = error.raw_response().map(|r| r.status().as_u16());
                match status {
                    Some(412 | 409) => Ok(false),
                    _ => Err(classify("s3:PutObject", error)),
                }
            }
        }
    }
}

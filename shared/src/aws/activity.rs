//! The activity bucket over S3. The forwarder reads a log file of A as a
//! stream into the scanner and writes the activity objects; the provisioner
//! reads them back (ListObjectsV2 under one share's day folder, GetObject
//! of what it lists) and never writes. See `crate::activity`.

use std::io::Read;

use aws_config::SdkConfig;
use aws_sdk_s3::Client;
use tokio::sync::mpsc;

use super::{classify, get_if_present, put_error, read_body, s3_client};
use crate::activity::read::{ActivityObjects, Fetched};
use crate::activity::{scan, Extracted, Limits, ScanError, ShareRoles};
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
        let Some(out) = get_if_present(&self.s3, &self.bucket, key).await? else {
            return Ok(Fetched::Gone);
        };
        // Bounded before a byte is read: whoever wrote the object, it
        // cannot make the function hold more than the caller allows.
        let length = out.content_length.unwrap_or(i64::MAX);
        if u64::try_from(length).map_or(true, |length| length > max_bytes) {
            return Ok(Fetched::TooLarge);
        }
        let bytes = read_body(out.body).await?;
        Ok(Fetched::Body(bytes))
    }
}

// The forwarder's side: scanning a log file of A, writing activity.

/// Chunks of the body in flight between the download and the scanner: the
/// download waits when the scanner is behind, so memory stays a few chunks.
const CHUNKS_IN_FLIGHT: usize = 4;

/// `GetObject` of the log file, its body handed chunk by chunk to the
/// scanner on a blocking thread (gunzip and JSON parsing are CPU work);
/// `None` if the object is gone.
pub(super) async fn scan_log(
    client: &Client,
    bucket: &str,
    key: &str,
    roles: &ShareRoles,
    limits: Limits,
) -> Result<Option<Extracted>, AwsError> {
    let Some(object) = get_if_present(client, bucket, key).await? else {
        return Ok(None);
    };
    let mut body = object.body;
    let (sender, receiver) = mpsc::channel(CHUNKS_IN_FLIGHT);
    let gzip = key.ends_with(".gz");
    let roles = roles.clone();
    let scanner =
        tokio::task::spawn_blocking(move || scan(ChunkReader::new(receiver), gzip, &roles, limits));
    let mut download = Ok(());
    while let Some(chunk) = body.next().await {
        match chunk {
            // The scanner stopped (an error, or the file is done): stop too.
            Ok(chunk) => {
                if sender.send(chunk).await.is_err() {
                    break;
                }
            }
            Err(error) => {
                download = Err(AwsError::Failed {
                    call: "s3:GetObject",
                    message: format!("reading the body: {error}"),
                });
                break;
            }
        }
    }
    drop(sender);
    let scanned = scanner.await.map_err(|error| AwsError::Failed {
        call: "s3:GetObject",
        message: format!("the scanner stopped: {error}"),
    })?;
    // A broken download shows as a truncated file to the scanner: the
    // download's own error is the one that says what happened.
    download?;
    scanned.map(Some).map_err(|error| match error {
        ScanError::TooLarge(_) | ScanError::Malformed(_) => AwsError::Rejected {
            call: "s3:GetObject",
            message: error.to_string(),
        },
    })
}

/// `PutObject` of one activity object.
pub(super) async fn put(
    client: &Client,
    bucket: &str,
    key: &str,
    body: String,
    owner: Option<&str>,
) -> Result<(), AwsError> {
    client
        .put_object()
        .bucket(bucket)
        .set_expected_bucket_owner(owner.map(str::to_string))
        .key(key)
        .content_type("application/x-ndjson")
        .body(body.into_bytes().into())
        .send()
        .await
        .map_err(put_error)?;
    Ok(())
}

/// A blocking `Read` over the chunks the download sends.
struct ChunkReader<B> {
    receiver: mpsc::Receiver<B>,
    chunk: Option<B>,
    at: usize,
}

impl<B> ChunkReader<B> {
    fn new(receiver: mpsc::Receiver<B>) -> Self {
        ChunkReader {
            receiver,
            chunk: None,
            at: 0,
        }
    }
}

impl<B: AsRef<[u8]>> Read for ChunkReader<B> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if let Some(chunk) = &self.chunk {
                let rest = &chunk.as_ref()[self.at..];
                if !rest.is_empty() {
                    let n = rest.len().min(buf.len());
                    buf[..n].copy_from_slice(&rest[..n]);
                    self.at += n;
                    return Ok(n);
                }
            }
            match self.receiver.blocking_recv() {
                Some(chunk) => {
                    self.chunk = Some(chunk);
                    self.at = 0;
                }
                None => return Ok(0),
            }
        }
    }
}

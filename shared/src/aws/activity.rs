//! Activity over S3: a log file read as a stream into the scanner, and
//! the activity objects written. See `crate::activity`.

use std::io::Read;

use aws_sdk_s3::Client;
use tokio::sync::mpsc;

use super::classify;
use crate::activity::{scan, Extracted, Limits, ScanError, ShareRoles};
use crate::ports::AwsError;

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
    let object = match client.get_object().bucket(bucket).key(key).send().await {
        Ok(object) => object,
        Err(error) => {
            return match classify("s3:GetObject", error) {
                AwsError::NotFound { .. } => Ok(None),
                other => Err(other),
            }
        }
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
) -> Result<(), AwsError> {
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type("application/x-ndjson")
        .body(body.into_bytes().into())
        .send()
        .await
        .map_err(|e| match classify("s3:PutObject", e) {
            // A 404 on a write is the bucket, never a source that is gone.
            AwsError::NotFound { call } => AwsError::Rejected {
                call,
                message: "NoSuchBucket".into(),
            },
            other => other,
        })?;
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

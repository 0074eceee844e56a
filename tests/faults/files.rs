//! The suite's log files: what is uploaded, and what is checked of each
//! one's delivery.

use std::collections::HashMap;

use aws_config::SdkConfig;
use futures_util::stream::{self, StreamExt};
use stand_in::world::World;
use stand_in::{log_file, s3, B, C};

use super::{COPY_ETAG, PREFIX};

/// One log file of the suite.
pub(crate) struct LogObject {
    pub(crate) account: &'static str,
    pub(crate) key: String,
    pub(crate) body: Vec<u8>,
    /// Tags it had before the forwarder ran.
    pub(crate) tags: Vec<(String, String)>,
    pub(crate) metadata: HashMap<String, String>,
}

/// `n` log files, alternating between B and C; every tenth is a digest file
/// with its signature in user metadata; every fifth of B's has a tag of its own.
pub(crate) fn objects(n: usize) -> Vec<LogObject> {
    (0..n)
        .map(|i| {
            let account = if i % 2 == 0 { B } else { C };
            let day = 1 + i / 100;
            let hhmm = format!("{:02}{:02}", (i / 60) % 24, i % 60);
            let digest = i % 10 == 9;
            let key = if digest {
                format!("{PREFIX}/AWSLogs/{account}/CloudTrail-Digest/us-east-1/2024/05/{day:02}/{account}_CloudTrail-Digest_us-east-1_main_us-east-1_202405{day:02}T{hhmm}00Z.json.gz")
            } else {
                format!("{PREFIX}/AWSLogs/{account}/CloudTrail/us-east-1/2024/05/{day:02}/{account}_CloudTrail_us-east-1_202405{day:02}T{hhmm}Z_F{i:04}x.json.gz")
            };
            let mut metadata = HashMap::new();
            if digest {
                metadata.insert("signature".to_string(), format!("{i:04}3a5d1e9f"));
                metadata.insert("signing-algorithm".to_string(), "SHA256withRSA".to_string());
            }
            let tags = if account == B && i % 5 == 0 {
                vec![("team".to_string(), format!("blue-{i}"))]
            } else {
                Vec::new()
            };
            LogObject {
                account,
                key,
                body: log_file(account, &format!("Event{i}")),
                tags,
                metadata,
            }
        })
        .collect()
}

/// Puts the log files as CloudTrail does (straight to the stand-in).
pub(crate) async fn upload(w: &World, objects: &[LogObject]) {
    let client = s3(&w.admin);
    stream::iter(objects)
        .map(|o| {
            let client = client.clone();
            async move {
                let tagging = o
                    .tags
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("&");
                client
                    .put_object()
                    .bucket(&w.bucket)
                    .key(&o.key)
                    .body(o.body.clone().into())
                    .content_type("application/json")
                    .content_encoding("gzip")
                    .set_metadata(Some(o.metadata.clone()))
                    .set_tagging((!tagging.is_empty()).then_some(tagging))
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("put {}: {e:?}", o.key));
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<()>>()
        .await;
}

/// What is wrong with the delivery of `object`: its tags (when `tagged`, our
/// tag added and its own kept; otherwise untouched) and each copy in
/// `copies` (bucket, key prefix): identical bytes, content type and encoding,
/// the source's user metadata plus the source's ETag as the done-mark.
pub(crate) async fn check(
    w: &World,
    object: &LogObject,
    tagged: bool,
    copies: &[(&SdkConfig, &str, &str)],
) -> Vec<String> {
    let mut problems = Vec::new();
    let trail = s3(&w.admin);
    let source_etag = trail
        .head_object()
        .bucket(&w.bucket)
        .key(&object.key)
        .send()
        .await
        .expect("the source is still there")
        .e_tag
        .unwrap_or_default()
        .trim_matches('"')
        .to_string();
    let mut tags: Vec<(String, String)> = trail
        .get_object_tagging()
        .bucket(&w.bucket)
        .key(&object.key)
        .send()
        .await
        .expect("source tags")
        .tag_set
        .into_iter()
        .map(|t| (t.key, t.value))
        .collect();
    tags.sort();
    let mut want = object.tags.clone();
    if tagged {
        want.push(("trailshare:account".to_string(), object.account.to_string()));
    }
    want.sort();
    if tags != want {
        problems.push(format!("{}: tags {tags:?}, want {want:?}", object.key));
    }
    for (owner, bucket, prefix) in copies {
        let key = format!("{prefix}{}", object.key);
        let copy = match s3(owner)
            .get_object()
            .bucket(*bucket)
            .key(&key)
            .send()
            .await
        {
            Ok(copy) => copy,
            Err(e) => {
                problems.push(format!("s3://{bucket}/{key}: {:?}", e.into_service_error()));
                continue;
            }
        };
        let mut metadata = copy.metadata.clone().unwrap_or_default();
        // Marked with the source's ETag, or unmarked (kept as is by a
        // server-side copy) with the source's ETag as its own.
        let of_source = match metadata.remove(COPY_ETAG) {
            Some(mark) => mark == source_etag,
            None => {
                copy.e_tag.as_deref().map(|e| e.trim_matches('"')) == Some(source_etag.as_str())
            }
        };
        if copy.content_type.as_deref() != Some("application/json")
            || copy.content_encoding.as_deref() != Some("gzip")
            || metadata != object.metadata
            || !of_source
        {
            problems.push(format!(
                "s3://{bucket}/{key}: type {:?}, encoding {:?}, metadata {:?}, ETag {:?} (want {:?} and {COPY_ETAG} or ETag {source_etag})",
                copy.content_type, copy.content_encoding, copy.metadata, copy.e_tag, object.metadata
            ));
        }
        let bytes = copy.body.collect().await.expect("copy body").into_bytes();
        if bytes.as_ref() != object.body.as_slice() {
            problems.push(format!(
                "s3://{bucket}/{key}: {} bytes differ from the source's {}",
                bytes.len(),
                object.body.len()
            ));
        }
    }
    problems
}

pub(crate) async fn count_objects(owner: &SdkConfig, bucket: &str) -> usize {
    let mut pages = s3(owner)
        .list_objects_v2()
        .bucket(bucket)
        .into_paginator()
        .send();
    let mut n = 0;
    while let Some(page) = pages.next().await {
        n += page.expect("list").contents().len();
    }
    n
}

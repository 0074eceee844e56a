//! Fetching one file: to a `.part` beside it, renamed when whole.

use super::remote::sdk_error_text;
use super::*;
use aws_sdk_s3::Client;
use std::path::{Component, Path, PathBuf};
use tokio::io::AsyncWriteExt;

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Downloaded,
    Skipped,
}

/// Where `key` lands under `dir`; refuses keys that would leave it.
pub fn local_path(dir: &Path, key: &str) -> Result<PathBuf, String> {
    let relative = Path::new(key);
    let safe = !key.is_empty()
        && !key.contains('\\')
        && relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
        && !key
            .split('/')
            .any(|part| part.is_empty() || part == "." || part == "..");
    if !safe {
        return Err("the key is not a safe relative path; not written".to_string());
    }
    Ok(dir.join(relative))
}

/// Downloads one file unless it is already there with the same size. The
/// body streams into `<file>.part`, renamed only when complete, so an
/// interrupted file is never taken for a finished one.
pub(crate) async fn fetch(
    s3: &Client,
    bucket: &str,
    dir: &Path,
    file: &Remote,
) -> Result<Outcome, String> {
    let path = local_path(dir, &file.key)?;
    let is_digest = file.key.contains("/CloudTrail-Digest/");
    let sig = sidecar(&path, ".sig");
    let present = match tokio::fs::metadata(&path).await {
        Ok(meta) => meta.is_file() && meta.len() == file.size,
        Err(_) => false,
    };
    if present && (!is_digest || tokio::fs::metadata(&sig).await.is_ok()) {
        return Ok(Outcome::Skipped);
    }
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|e| format!("creating {}: {e}", parent.display()))?;
    }
    let object = s3
        .get_object()
        .bucket(bucket)
        .key(&file.key)
        .send()
        .await
        .map_err(|e| sdk_error_text(&e))?;
    let signature = object.metadata().and_then(|m| m.get("signature")).cloned();
    let part = sidecar(&path, ".part");
    let written = write_stream(&part, object.body).await;
    let written = match written {
        Ok(n) => n,
        Err(error) => {
            let _ = tokio::fs::remove_file(&part).await;
            return Err(error);
        }
    };
    if written != file.size {
        let _ = tokio::fs::remove_file(&part).await;
        return Err(format!(
            "got {written} bytes, the listing said {}; not kept",
            file.size
        ));
    }
    if is_digest {
        let signature = signature.ok_or("the digest file has no 'signature' metadata; not kept")?;
        let sig_part = sidecar(&path, ".sig.part");
        tokio::fs::write(&sig_part, signature.as_bytes())
            .await
            .map_err(|e| format!("writing {}: {e}", sig_part.display()))?;
        tokio::fs::rename(&sig_part, &sig)
            .await
            .map_err(|e| format!("renaming {}: {e}", sig_part.display()))?;
    }
    tokio::fs::rename(&part, &path)
        .await
        .map_err(|e| format!("renaming {}: {e}", part.display()))?;
    Ok(Outcome::Downloaded)
}

pub(crate) async fn write_stream(
    path: &Path,
    mut body: aws_sdk_s3::primitives::ByteStream,
) -> Result<u64, String> {
    let mut out = tokio::fs::File::create(path)
        .await
        .map_err(|e| format!("creating {}: {e}", path.display()))?;
    let mut written = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| format!("reading the body: {e}"))?;
        out.write_all(&chunk)
            .await
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
        written += chunk.len() as u64;
    }
    out.flush()
        .await
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(written)
}

/// `<path><suffix>`, e.g. `x.json.gz.sig`.
pub(crate) fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

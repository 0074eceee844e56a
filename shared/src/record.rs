//! How a share is stored: IAM is the only store, so a share is recorded in
//! its role's tags, and `GET` rebuilds every field from them.
//!
//! Tag values allow only `\p{L}\p{Z}\p{N}_.:/=+-@` and 256 characters, which
//! rules out JSON (and the `,` that ARNs and external ids may hold), so the
//! record is canonical JSON in base64, split over numbered tags.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::seal::{Distrust, Part, RoleIdentity, ShareKey};
use crate::share::ShareSpec;

/// Every share role is named `trailshare-<share name>`.
pub const ROLE_NAME_PREFIX: &str = "trailshare-";
/// Marks a role as a trailshare share and the record format's version.
pub const FORMAT_TAG: &str = "trailshare:format";
const FORMAT_VERSION: &str = "1";
/// Readable for people looking at the role in the console; not read back.
const GRANTEE_TAG: &str = "trailshare:grantee-account";
const CHUNK_TAG: &str = "trailshare:record:";
/// How many chunks make the record. Written in the same TagRole call as the
/// chunks, so chunks left over from a longer record (an UntagRole that
/// failed after a replace) are ignored instead of corrupting it. Records of
/// the first version have no count: all their chunks are the record.
const CHUNK_COUNT_TAG: &str = "trailshare:record-chunks";
const CHUNK_LEN: usize = 256;
/// How the chunks encode the record's JSON: base64 of the JSON (`json`),
/// or of its deflated bytes (`deflate`), for a record that would not fit
/// in [`MAX_CHUNKS`] otherwise (an organization share excluding hundreds
/// of accounts). Written in the same TagRole call as the chunks; a record
/// without it (earlier versions) is `json`.
const ENCODING_TAG: &str = "trailshare:record-encoding";
/// The largest record JSON a `deflate` record may inflate to.
const MAX_RECORD_BYTES: u64 = 64 * 1024;
/// The provisioner's seal over the record's JSON (see `crate::seal`).
const SEAL_TAG: &str = "trailshare:record-seal";
/// IAM allows 50 tags per role; leave room for the others and the owner's own.
const MAX_CHUNKS: usize = 40;

/// A share as stored: the spec plus who created and last changed it, and
/// when sessions were last revoked. The optional fields are absent from
/// records of the first version, which stay readable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareRecord {
    pub spec: ShareSpec,
    pub created_by: String,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// RFC 3339: sessions issued before this are denied (`aws:TokenIssueTime`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions_valid_after: Option<String>,
}

/// A role's tags could not be read as a share.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("the role is not a trailshare share (no {FORMAT_TAG} tag)")]
    NotAShare,
    #[error("the share record is damaged: {0}")]
    Damaged(String),
    #[error("the share is too large to record in the role's tags")]
    TooLarge,
}

pub fn role_name(share_name: &str) -> String {
    format!("{ROLE_NAME_PREFIX}{share_name}")
}

/// The share name of a trailshare role name, if it is one.
pub fn share_name(role_name: &str) -> Option<&str> {
    role_name
        .strip_prefix(ROLE_NAME_PREFIX)
        .filter(|name| !name.is_empty())
}

impl ShareRecord {
    /// The record's JSON: what its tags encode and its seal covers.
    fn json(&self) -> String {
        serde_json::to_string(self).expect("a share record serialises")
    }

    /// The tag that seals this record to `role` (written with the chunks).
    pub fn seal_tag(&self, key: &ShareKey, role: RoleIdentity<'_>) -> (String, String) {
        (
            SEAL_TAG.to_string(),
            key.seal(Part::Record, role, &self.json()),
        )
    }

    /// The tags that record this share and its seal, for one TagRole call.
    pub fn to_sealed_tags(
        &self,
        key: &ShareKey,
        role: RoleIdentity<'_>,
    ) -> Result<Vec<(String, String)>, RecordError> {
        let mut tags = self.to_tags()?;
        tags.push(self.seal_tag(key, role));
        Ok(tags)
    }

    /// The tags that record this share, in a stable order, without a seal
    /// (a new role has no RoleId to seal to until IAM creates it).
    pub fn to_tags(&self) -> Result<Vec<(String, String)>, RecordError> {
        let json = self.json();
        let (mut encoding, mut encoded) = ("json", STANDARD.encode(&json));
        if encoded.len() > MAX_CHUNKS * CHUNK_LEN {
            (encoding, encoded) = ("deflate", STANDARD.encode(deflate(&json)));
        }
        let chunks: Vec<&str> = encoded
            .as_bytes()
            .chunks(CHUNK_LEN)
            .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
            .collect();
        if chunks.len() > MAX_CHUNKS {
            return Err(RecordError::TooLarge);
        }
        // An organization share's grantees: the organization's members.
        let grantee = match &self.spec.organization {
            Some(organization) => organization.id.clone(),
            None => self.spec.grantee_account.clone(),
        };
        let mut tags = vec![
            (FORMAT_TAG.to_string(), FORMAT_VERSION.to_string()),
            (GRANTEE_TAG.to_string(), grantee),
            (CHUNK_COUNT_TAG.to_string(), chunks.len().to_string()),
            (ENCODING_TAG.to_string(), encoding.to_string()),
        ];
        tags.extend(
            chunks
                .iter()
                .enumerate()
                .map(|(i, chunk)| (format!("{CHUNK_TAG}{i:02}"), chunk.to_string())),
        );
        Ok(tags)
    }

    /// Rebuilds a share from its role's tags; `role_name` must agree. The
    /// seal is not checked: see [`read_tags`] for a record to believe.
    pub fn from_tags<'a>(
        role_name: &str,
        tags: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<ShareRecord, RecordError> {
        read_tags(role_name, tags).map(|read| read.record)
    }

    /// The tag keys this record does not use any more (after a replace).
    pub fn stale_tag_keys<'a>(
        current: impl IntoIterator<Item = &'a str>,
        wanted: &[(String, String)],
    ) -> Vec<String> {
        current
            .into_iter()
            .filter(|key| key.starts_with("trailshare:") && !wanted.iter().any(|(k, _)| k == key))
            .map(str::to_string)
            .collect()
    }
}

/// A record as its tags hold it, with the seal they carry (unchecked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadRecord {
    pub record: ShareRecord,
    json: String,
    seal: Option<String>,
}

impl ReadRecord {
    /// Whether the provisioner wrote this record for `role` with `key`.
    pub fn check(&self, key: &ShareKey, role: RoleIdentity<'_>) -> Result<(), Distrust> {
        key.check(Part::Record, role, &self.json, self.seal.as_deref())
    }
}

/// Reads the record a role's tags hold, and its seal; `role_name` must agree.
pub fn read_tags<'a>(
    role_name: &str,
    tags: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<ReadRecord, RecordError> {
    let mut format = None;
    let mut encoding = "json";
    let mut seal = None;
    let mut count = None;
    let mut chunks: Vec<(usize, &str)> = Vec::new();
    for (key, value) in tags {
        if key == SEAL_TAG {
            seal = Some(value.to_string());
        } else if key == FORMAT_TAG {
            format = Some(value);
        } else if key == ENCODING_TAG {
            encoding = value;
        } else if key == CHUNK_COUNT_TAG {
            count =
                Some(value.parse::<usize>().map_err(|_| {
                    RecordError::Damaged(format!("bad tag {CHUNK_COUNT_TAG}={value}"))
                })?);
        } else if let Some(index) = key.strip_prefix(CHUNK_TAG) {
            let index = index
                .parse()
                .map_err(|_| RecordError::Damaged(format!("bad tag {key}")))?;
            chunks.push((index, value));
        }
    }
    match format {
        None => return Err(RecordError::NotAShare),
        Some(FORMAT_VERSION) => {}
        Some(other) => {
            return Err(RecordError::Damaged(format!(
                "unknown record format {other}"
            )))
        }
    }
    chunks.sort_unstable();
    if let Some(count) = count {
        chunks.retain(|(index, _)| *index < count);
        if chunks.len() != count {
            return Err(RecordError::Damaged("record tags are missing".into()));
        }
    }
    if chunks.is_empty() || chunks.iter().enumerate().any(|(i, (index, _))| i != *index) {
        return Err(RecordError::Damaged("record tags are missing".into()));
    }
    let encoded: String = chunks.iter().map(|(_, chunk)| *chunk).collect();
    let bytes = STANDARD
        .decode(encoded)
        .map_err(|e| RecordError::Damaged(e.to_string()))?;
    let json = match encoding {
        "json" => bytes,
        "deflate" => inflate(&bytes)?,
        other => {
            return Err(RecordError::Damaged(format!(
                "unknown record encoding {other}"
            )))
        }
    };
    let json = String::from_utf8(json).map_err(|e| RecordError::Damaged(e.to_string()))?;
    let record: ShareRecord =
        serde_json::from_str(&json).map_err(|e| RecordError::Damaged(e.to_string()))?;
    if share_name(role_name) != Some(record.spec.name.as_str()) {
        return Err(RecordError::Damaged(format!(
            "role {role_name} records share {}",
            record.spec.name
        )));
    }
    Ok(ReadRecord { record, json, seal })
}

fn deflate(json: &str) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    encoder
        .write_all(json.as_bytes())
        .expect("deflating to memory");
    encoder.finish().expect("deflating to memory")
}

/// Inflates a `deflate` record, refusing one that grows past
/// [`MAX_RECORD_BYTES`] (tags anyone with `iam:TagRole` can write).
fn inflate(bytes: &[u8]) -> Result<Vec<u8>, RecordError> {
    use std::io::Read;
    let mut json = Vec::new();
    flate2::read::DeflateDecoder::new(bytes)
        .take(MAX_RECORD_BYTES + 1)
        .read_to_end(&mut json)
        .map_err(|e| RecordError::Damaged(e.to_string()))?;
    if json.len() as u64 > MAX_RECORD_BYTES {
        return Err(RecordError::Damaged("the record inflates too large".into()));
    }
    Ok(json)
}

#[cfg(test)]
mod tests;

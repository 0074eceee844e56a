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
        let encoded = STANDARD.encode(self.json());
        let chunks: Vec<&str> = encoded
            .as_bytes()
            .chunks(CHUNK_LEN)
            .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
            .collect();
        if chunks.len() > MAX_CHUNKS {
            return Err(RecordError::TooLarge);
        }
        let mut tags = vec![
            (FORMAT_TAG.to_string(), FORMAT_VERSION.to_string()),
            (GRANTEE_TAG.to_string(), self.spec.grantee_account.clone()),
            (CHUNK_COUNT_TAG.to_string(), chunks.len().to_string()),
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
    let mut seal = None;
    let mut count = None;
    let mut chunks: Vec<(usize, &str)> = Vec::new();
    for (key, value) in tags {
        if key == SEAL_TAG {
            seal = Some(value.to_string());
        } else if key == FORMAT_TAG {
            format = Some(value);
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
    let json = STANDARD
        .decode(encoded)
        .map_err(|e| RecordError::Damaged(e.to_string()))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::share::validate;
    use serde_json::json;

    fn record(body: serde_json::Value) -> ShareRecord {
        ShareRecord {
            spec: validate(&body, None, "trail-bucket").unwrap(),
            created_by: "arn:aws:iam::111111111111:user/ops,team".into(),
            created_at: "2026-11-24T03:00:00Z".into(),
            updated_by: None,
            updated_at: None,
            sessions_valid_after: None,
        }
    }

    #[test]
    fn stale_tails_of_a_longer_record_are_ignored() {
        let principals: Vec<String> = (0..20)
            .map(|i| format!("arn:aws:iam::222222222222:role/reader-{i:03}"))
            .collect();
        let long = record(
            json!({"name": "b", "grantee_account": "222222222222", "grantee_principals": principals}),
        );
        let mut short = record(json!({"name": "b", "grantee_account": "222222222222"}));
        short.updated_by = Some("arn:aws:iam::111111111111:user/ops".into());
        short.updated_at = Some("2026-11-25T00:00:00Z".into());
        short.sessions_valid_after = Some("2026-11-25T00:00:01Z".into());
        let long_tags = long.to_tags().unwrap();
        let short_tags = short.to_tags().unwrap();
        assert!(long_tags.len() > short_tags.len() + 1);
        // TagRole of the short record succeeded, UntagRole of the tail did not.
        let mut merged: Vec<(String, String)> = long_tags
            .into_iter()
            .filter(|(k, _)| !short_tags.iter().any(|(s, _)| s == k))
            .collect();
        merged.extend(short_tags.iter().cloned());
        assert_eq!(
            ShareRecord::from_tags("trailshare-b", pairs(&merged)),
            Ok(short)
        );
    }

    #[test]
    fn records_of_the_first_version_stay_readable() {
        // As the first version wrote them: no chunk count, no update fields.
        let v1 = json!({"spec": {"name": "legacy", "grantee_account": "222222222222",
            "grantee_principals": ["arn:aws:iam::222222222222:root"], "log_accounts": ["222222222222"],
            "max_session_seconds": 3600, "delivery": {"mode": "none"}},
            "created_by": "arn:aws:iam::111111111111:user/ops", "created_at": "2026-11-01T00:00:00Z"});
        let encoded = STANDARD.encode(v1.to_string());
        let tags = vec![
            ("trailshare:format", "1"),
            ("trailshare:grantee-account", "222222222222"),
            ("trailshare:record:00", encoded.as_str()),
        ];
        let rec = ShareRecord::from_tags("trailshare-legacy", tags).unwrap();
        assert_eq!(rec.spec.name, "legacy");
        assert_eq!(rec.updated_by, None);
    }

    fn pairs(tags: &[(String, String)]) -> Vec<(&str, &str)> {
        tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
    }

    fn is_valid_tag_value(value: &str) -> bool {
        value.chars().count() <= 256
            && value
                .chars()
                .all(|c| c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c))
    }

    #[test]
    fn a_record_round_trips_through_valid_tags() {
        let rec = record(
            json!({"name": "z", "grantee_account": "444444444444", "log_accounts": ["*"],
            "external_id": "a,b=c", "grantee_principals": ["arn:aws:iam::444444444444:role/a,b"],
            "delivery": {"mode": "copy", "bucket": "z-logs", "prefix": "x/"}}),
        );
        let tags = rec.to_tags().unwrap();
        assert!(
            tags.iter()
                .all(|(k, v)| k.len() <= 128 && is_valid_tag_value(v)),
            "{tags:?}"
        );
        assert_eq!(
            ShareRecord::from_tags("trailshare-z", pairs(&tags)),
            Ok(rec)
        );
    }

    #[test]
    fn large_records_span_several_tags_and_too_large_ones_are_refused() {
        let principals: Vec<String> = (0..20)
            .map(|i| format!("arn:aws:iam::222222222222:role/reader-{i:03}"))
            .collect();
        let rec = record(
            json!({"name": "big", "grantee_account": "222222222222", "grantee_principals": principals}),
        );
        let tags = rec.to_tags().unwrap();
        assert!(tags.len() > 4);
        assert_eq!(
            ShareRecord::from_tags("trailshare-big", pairs(&tags)).unwrap(),
            rec
        );

        let huge: Vec<String> = (0..400)
            .map(|i| format!("arn:aws:iam::222222222222:role/reader-{i:05}"))
            .collect();
        let rec = record(
            json!({"name": "huge", "grantee_account": "222222222222", "grantee_principals": huge}),
        );
        assert_eq!(rec.to_tags(), Err(RecordError::TooLarge));
    }

    #[test]
    fn foreign_or_damaged_tags_are_not_shares() {
        let rec = record(json!({"name": "b", "grantee_account": "222222222222"}));
        let tags = rec.to_tags().unwrap();
        assert_eq!(
            ShareRecord::from_tags("trailshare-b", vec![("owner", "me")]),
            Err(RecordError::NotAShare)
        );
        assert!(matches!(
            ShareRecord::from_tags("trailshare-other", pairs(&tags)),
            Err(RecordError::Damaged(_))
        ));
        let missing_chunk: Vec<(&str, &str)> = pairs(&tags)
            .into_iter()
            .filter(|(k, _)| !k.ends_with(":00"))
            .collect();
        assert!(matches!(
            ShareRecord::from_tags("trailshare-b", missing_chunk),
            Err(RecordError::Damaged(_))
        ));
        let mut corrupt = pairs(&tags);
        corrupt
            .iter_mut()
            .find(|(k, _)| k.ends_with(":00"))
            .unwrap()
            .1 = "!!!";
        assert!(matches!(
            ShareRecord::from_tags("trailshare-b", corrupt),
            Err(RecordError::Damaged(_))
        ));
    }

    #[test]
    fn a_sealed_record_is_believed_only_as_written_for_its_role() {
        let key = ShareKey::new(*b"record tests' share key, 32 B!!!").unwrap();
        let role = RoleIdentity {
            arn: "arn:aws:iam::111111111111:role/trailshare/trailshare-b",
            role_id: "AROAEXAMPLE1111111111",
        };
        let b = record(json!({"name": "b", "grantee_account": "222222222222"}));
        let tags = b.to_sealed_tags(&key, role).unwrap();
        let read = read_tags("trailshare-b", pairs(&tags)).unwrap();
        assert_eq!((read.record.clone(), read.check(&key, role)), (b, Ok(())));
        // iam:TagRole rewrites the chunks with a wider record, keeping the seal.
        let wide = record(
            json!({"name": "b", "grantee_account": "222222222222", "log_accounts": ["*"], "external_id": "e-1"}),
        );
        let mut forged = wide.to_tags().unwrap();
        forged.push(tags.last().unwrap().clone());
        let read = read_tags("trailshare-b", pairs(&forged)).unwrap();
        assert_eq!(read.check(&key, role), Err(Distrust::Unauthenticated));
        // Without a seal (an earlier version): unsigned.
        let read = read_tags("trailshare-b", pairs(&wide.to_tags().unwrap())).unwrap();
        assert_eq!(read.check(&key, role), Err(Distrust::Unsigned));
    }

    #[test]
    fn names_and_stale_keys() {
        assert_eq!(role_name("bu-b"), "trailshare-bu-b");
        assert_eq!(share_name("trailshare-bu-b"), Some("bu-b"));
        assert_eq!(share_name("trailshare-"), None);
        assert_eq!(share_name("other-role"), None);
        let wanted = vec![("trailshare:record:00".to_string(), "x".to_string())];
        assert_eq!(
            ShareRecord::stale_tag_keys(
                ["trailshare:record:00", "trailshare:record:01", "team"],
                &wanted
            ),
            vec!["trailshare:record:01".to_string()]
        );
    }
}

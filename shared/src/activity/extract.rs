//! Which CloudTrail records concern a share role, and the activity line
//! each one becomes. Pure: a record is JSON in, a line out.
//!
//! A record is read from account A's own log file, but its fields are
//! partly the caller's say-so (a denied `AssumeRole` names whatever
//! `roleArn` the caller typed). So a share name is taken only when it is
//! a valid share name on the stack's path, a day only when it is a date,
//! and every kept string is clipped: they become object keys and lines.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{ActivityLine, Assumption, Read};
use crate::record::ROLE_NAME_PREFIX;

/// The longest string a line keeps of any one field (longer: clipped), so
/// a hostile record cannot make a line, or the memory holding it, large.
pub const MAX_FIELD_CHARS: usize = 1024;
/// At most this many session tags are kept of one assumption (STS allows 50).
const MAX_TAGS: usize = 50;

/// What makes a role a share role of this stack, and which bucket's reads
/// count: account A, the share roles' IAM path, the trail bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareRoles {
    /// Account A: the share roles' account (`OWNER_ACCOUNT`).
    pub account: String,
    /// `SHARE_ROLE_PATH`, `/…/`.
    pub path: String,
    /// `TRAIL_BUCKET`: only reads of it are activity.
    pub trail_bucket: String,
    /// The shares that exist (the forwarder's share table), if known: a
    /// role name anyone can put in a denied `AssumeRole` must not take the
    /// room of real shares' lines. `None`: every valid share name.
    pub known: Option<std::collections::BTreeSet<String>>,
}

/// One kept record: the share it concerns, its day (`YYYY-MM-DD`), its line.
pub type Found = (String, String, ActivityLine);

impl ShareRoles {
    /// The share whose role `arn` is (`arn:<partition>:iam::<A>:role<path>trailshare-<name>`).
    pub fn share_of_role(&self, arn: &str) -> Option<String> {
        let (account, resource) = arn_parts(arn, "iam")?;
        let name = resource
            .strip_prefix("role")?
            .strip_prefix(self.path.as_str())?
            .strip_prefix(ROLE_NAME_PREFIX)?;
        (account == self.account && self.is_share(name)).then(|| name.to_string())
    }

    fn is_share(&self, name: &str) -> bool {
        is_share_name(name) && self.known.as_ref().is_none_or(|k| k.contains(name))
    }

    /// The share and session name of a session of a share role
    /// (`arn:<partition>:sts::<A>:assumed-role/trailshare-<name>/<session>`).
    /// A session ARN carries no path, so when the record names the session's
    /// issuer (`sessionContext.sessionIssuer.arn`) that role must be a share
    /// role too: a `trailshare-x` role elsewhere in A is not a share.
    pub fn share_of_session(&self, identity: &Value) -> Option<(String, String)> {
        let arn = identity.get("arn")?.as_str()?;
        let (account, resource) = arn_parts(arn, "sts")?;
        let rest = resource.strip_prefix("assumed-role/")?;
        let (role, session) = rest.split_once('/')?;
        let name = role.strip_prefix(ROLE_NAME_PREFIX)?;
        if account != self.account || !self.is_share(name) || session.is_empty() {
            return None;
        }
        let issuer = identity
            .pointer("/sessionContext/sessionIssuer/arn")
            .and_then(Value::as_str);
        if issuer.is_some_and(|issuer| self.share_of_role(issuer).as_deref() != Some(name)) {
            return None;
        }
        Some((name.to_string(), clip(session)))
    }
}

/// `(account, resource)` of an ARN of `service` (any partition).
fn arn_parts<'a>(arn: &'a str, service: &str) -> Option<(&'a str, &'a str)> {
    let mut parts = arn.splitn(6, ':');
    let (scheme, partition, svc, _region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    (scheme == "arn" && partition.starts_with("aws") && svc == service)
        .then_some((account, resource))
}

/// A share name as the provisioner allows it (`[a-z0-9+=,.@_-]{1,48}`):
/// it becomes the `share=` partition of an object key.
pub fn is_share_name(name: &str) -> bool {
    (1..=48).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+=,.@_-".contains(c))
}

/// The day of an `eventTime` (`YYYY-MM-DDThh:mm:ssZ`), if it is one.
pub fn day_of(time: &str) -> Option<String> {
    let day = time.get(..10)?;
    let b = day.as_bytes();
    let digits = [0, 1, 2, 3, 5, 6, 8, 9]
        .iter()
        .all(|&i| b[i].is_ascii_digit());
    (digits && b[4] == b'-' && b[7] == b'-' && time.as_bytes().get(10) == Some(&b'T'))
        .then(|| day.to_string())
}

/// What `record` says about a share role, if anything.
pub fn extract(record: &Value, roles: &ShareRoles) -> Option<Found> {
    let source = text(record, "/eventSource");
    match (source.as_str(), text(record, "/eventName").as_str()) {
        (
            "sts.amazonaws.com",
            "AssumeRole" | "AssumeRoleWithWebIdentity" | "AssumeRoleWithSAML",
        ) => assumption(record, roles),
        ("s3.amazonaws.com", _) => read(record, roles),
        _ => None,
    }
}

fn assumption(record: &Value, roles: &ShareRoles) -> Option<Found> {
    let share = role_arns(record).find_map(|arn| roles.share_of_role(arn))?;
    let time = text(record, "/eventTime");
    let day = day_of(&time)?;
    let identity = record.get("userIdentity");
    let field = |name: &str| identity.and_then(|i| i.get(name)).and_then(Value::as_str);
    let line = Assumption {
        account: field("accountId").map(clip).unwrap_or_default(),
        principal: field("principalId").map(clip).unwrap_or_default(),
        arn: field("arn").map(clip),
        session_name: text(record, "/requestParameters/roleSessionName"),
        session_tags: session_tags(record.get("requestParameters")),
        source_ip: text(record, "/sourceIPAddress"),
        user_agent: text(record, "/userAgent"),
        error_code: optional(record, "/errorCode"),
        access_key_id: optional(record, "/responseElements/credentials/accessKeyId"),
        time,
    };
    Some((share, day, ActivityLine::Assume(line)))
}

/// `requestParameters.roleArn`, then every `resources[].ARN`.
fn role_arns(record: &Value) -> impl Iterator<Item = &str> {
    let asked = record
        .pointer("/requestParameters/roleArn")
        .and_then(Value::as_str);
    let resources = record
        .get("resources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r.get("ARN").and_then(Value::as_str));
    asked.into_iter().chain(resources)
}

/// Session tags as CloudTrail logs them: `tags: [{key, value}]` for
/// `AssumeRole`, `principalTags: {k: v}` for the SAML and web identity calls.
fn session_tags(parameters: Option<&Value>) -> BTreeMap<String, String> {
    let mut tags = BTreeMap::new();
    let Some(parameters) = parameters else {
        return tags;
    };
    for tag in parameters
        .get("tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let (Some(k), Some(v)) = (tag.get("key"), tag.get("value")) {
            if let (Some(k), Some(v)) = (k.as_str(), v.as_str()) {
                tags.insert(clip(k), clip(v));
            }
        }
    }
    if let Some(map) = parameters.get("principalTags").and_then(Value::as_object) {
        for (k, v) in map {
            if let Some(v) = v.as_str() {
                tags.insert(clip(k), clip(v));
            }
        }
    }
    while tags.len() > MAX_TAGS {
        tags.pop_last();
    }
    tags
}

/// An S3 data event on the trail bucket made with a share role's session.
fn read(record: &Value, roles: &ShareRoles) -> Option<Found> {
    if record
        .pointer("/requestParameters/bucketName")
        .and_then(Value::as_str)
        != Some(roles.trail_bucket.as_str())
    {
        return None;
    }
    let (share, session_name) = roles.share_of_session(record.get("userIdentity")?)?;
    let time = text(record, "/eventTime");
    let day = day_of(&time)?;
    let key = match record.pointer("/requestParameters/key") {
        Some(Value::String(key)) => clip(key),
        _ => text(record, "/requestParameters/prefix"),
    };
    let line = Read {
        action: text(record, "/eventName"),
        key,
        bytes: record
            .pointer("/additionalEventData/bytesTransferredOut")
            .and_then(Value::as_u64),
        session_name,
        // CloudTrail's data events do not carry session tags; the
        // session's assumption (its `session_tags`), found by the access
        // key both carry, names the member.
        account: None,
        source_ip: text(record, "/sourceIPAddress"),
        error_code: optional(record, "/errorCode"),
        access_key_id: optional(record, "/userIdentity/accessKeyId"),
        time,
    };
    Some((share, day, ActivityLine::Read(line)))
}

/// The string at `pointer`, clipped; empty when absent or not a string.
fn text(record: &Value, pointer: &str) -> String {
    optional(record, pointer).unwrap_or_default()
}

/// The string at `pointer`, clipped, if there is one.
fn optional(record: &Value, pointer: &str) -> Option<String> {
    record.pointer(pointer).and_then(Value::as_str).map(clip)
}

/// At most [`MAX_FIELD_CHARS`] characters of `s`.
fn clip(s: &str) -> String {
    match s.char_indices().nth(MAX_FIELD_CHARS) {
        Some((end, _)) => s[..end].to_string(),
        None => s.to_string(),
    }
}

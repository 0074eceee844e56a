//! The CloudTrail log-file key grammar:
//! `[<prefix>/]AWSLogs/[<o-org>/]<acct>/CloudTrail|CloudTrail-Digest|CloudTrail-Insight/<region>/<yyyy>/<mm>/<dd>/<file>`.
//!
//! The owning account is the one thing the forwarder must get right, so the
//! parser is strict: the account in the file name must equal the one in the
//! path, and anything else is "not a CloudTrail file" rather than a guess.

use std::fmt;

use percent_encoding::percent_decode_str;

use crate::ids::{is_account_id, is_organization_id};

/// Which CloudTrail product wrote the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogKind {
    /// Event log files.
    Events,
    /// Digest files (integrity validation); they carry signatures in metadata.
    Digest,
    /// CloudTrail Insights files.
    Insight,
}

impl LogKind {
    /// The folder name CloudTrail uses for this kind.
    pub fn folder(self) -> &'static str {
        match self {
            LogKind::Events => "CloudTrail",
            LogKind::Digest => "CloudTrail-Digest",
            LogKind::Insight => "CloudTrail-Insight",
        }
    }

    fn from_folder(folder: &str) -> Option<Self> {
        [LogKind::Events, LogKind::Digest, LogKind::Insight]
            .into_iter()
            .find(|kind| kind.folder() == folder)
    }
}

/// A parsed CloudTrail object key. `to_string()` gives the key back exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogKey {
    /// The trail's prefix, without the `/` that joins it to `AWSLogs`.
    pub prefix: Option<String>,
    /// The organization id of an organization trail's layout.
    pub organization_id: Option<String>,
    /// The account that generated the file: whose log it is.
    pub account: String,
    pub kind: LogKind,
    pub region: String,
    pub year: u16,
    pub month: u8,
    pub day: u8,
    pub file: String,
}

/// Why a key is not a CloudTrail log file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("not a CloudTrail log file key: {0}")]
    NotCloudTrail(&'static str),
    #[error("the file name names account {file} but the path names account {path}")]
    AccountMismatch { path: String, file: String },
    #[error("the key is not valid URL encoding: {0}")]
    BadEncoding(String),
}

const ROOT: &str = "AWSLogs";

impl LogKey {
    /// Parses an S3 object key (already decoded).
    pub fn parse(key: &str) -> Result<LogKey, KeyError> {
        let segments: Vec<&str> = key.split('/').collect();
        // The part after `AWSLogs` has 7 segments, or 8 with an organization
        // id; search from the right so a prefix may itself contain "AWSLogs".
        let root = (0..segments.len())
            .rev()
            .find(|&i| segments[i] == ROOT && matches!(segments.len() - i - 1, 7 | 8))
            .ok_or(KeyError::NotCloudTrail(
                "no AWSLogs/<account>/CloudTrail…/ path",
            ))?;
        let prefix = match root {
            0 => None,
            _ => {
                let prefix = segments[..root].join("/");
                if prefix.is_empty() || prefix.starts_with('/') || prefix.ends_with('/') {
                    return Err(KeyError::NotCloudTrail("empty segment in the prefix"));
                }
                Some(prefix)
            }
        };
        let mut rest = &segments[root + 1..];
        let organization_id = if rest.len() == 8 {
            if !is_organization_id(rest[0]) {
                return Err(KeyError::NotCloudTrail(
                    "not an organization id after AWSLogs/",
                ));
            }
            let org = rest[0].to_string();
            rest = &rest[1..];
            Some(org)
        } else {
            None
        };
        let [account, folder, region, year, month, day, file] = rest else {
            return Err(KeyError::NotCloudTrail("wrong number of path segments"));
        };
        if !is_account_id(account) {
            return Err(KeyError::NotCloudTrail(
                "no 12-digit account id in the path",
            ));
        }
        let kind = LogKind::from_folder(folder)
            .ok_or(KeyError::NotCloudTrail("unknown CloudTrail folder"))?;
        if region.is_empty()
            || !region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(KeyError::NotCloudTrail("not a region"));
        }
        let year =
            parse_number(year, 4, 1970, 9999).ok_or(KeyError::NotCloudTrail("not a year"))?;
        let month = parse_number(month, 2, 1, 12).ok_or(KeyError::NotCloudTrail("not a month"))?;
        let day = parse_number(day, 2, 1, 31).ok_or(KeyError::NotCloudTrail("not a day"))?;
        let file_account = file_account(file, kind)?;
        if file_account != *account {
            return Err(KeyError::AccountMismatch {
                path: account.to_string(),
                file: file_account.to_string(),
            });
        }
        Ok(LogKey {
            prefix,
            organization_id,
            account: account.to_string(),
            kind,
            region: region.to_string(),
            year: year as u16,
            month: month as u8,
            day: day as u8,
            file: file.to_string(),
        })
    }
}

/// `<acct>_<Folder>_…`: the account id that starts a CloudTrail file name.
fn file_account(file: &str, kind: LogKind) -> Result<&str, KeyError> {
    let (account, rest) = file.split_once('_').ok_or(KeyError::NotCloudTrail(
        "file name has no <account>_ prefix",
    ))?;
    if !is_account_id(account) {
        return Err(KeyError::NotCloudTrail(
            "file name does not start with an account id",
        ));
    }
    let marker = rest.split('_').next().unwrap_or_default();
    if marker != kind.folder() {
        return Err(KeyError::NotCloudTrail(
            "file name does not match its folder",
        ));
    }
    if !file.ends_with(".json.gz") {
        return Err(KeyError::NotCloudTrail(
            "file name does not end in .json.gz",
        ));
    }
    Ok(account)
}

fn parse_number(text: &str, width: usize, min: u32, max: u32) -> Option<u32> {
    if text.len() != width || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: u32 = text.parse().ok()?;
    (min..=max).contains(&value).then_some(value)
}

impl fmt::Display for LogKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(prefix) = &self.prefix {
            write!(f, "{prefix}/")?;
        }
        write!(f, "{ROOT}/")?;
        if let Some(org) = &self.organization_id {
            write!(f, "{org}/")?;
        }
        write!(
            f,
            "{}/{}/{}/{:04}/{:02}/{:02}/{}",
            self.account,
            self.kind.folder(),
            self.region,
            self.year,
            self.month,
            self.day,
            self.file
        )
    }
}

/// Encodes a key as S3 writes it in an event notification: form-URL
/// encoding (a space is `+`, everything but `A-Za-z0-9-_.*` as `%XX`), with
/// `/` kept. The inverse of [`decode_notification_key`].
pub fn encode_notification_key(key: &str) -> String {
    const S3_EVENT_KEY: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'*')
        .remove(b'/')
        .remove(b' ');
    percent_encoding::utf8_percent_encode(key, S3_EVENT_KEY)
        .to_string()
        .replace(' ', "+")
}

/// Decodes a key from an S3 event notification, where S3 writes a space as
/// `+` and other reserved bytes as `%XX` (EventBridge keys are not encoded:
/// never pass them through here).
pub fn decode_notification_key(raw: &str) -> Result<String, KeyError> {
    let spaced = raw.replace('+', " ");
    percent_decode_str(&spaced)
        .decode_utf8()
        .map(|key| key.into_owned())
        .map_err(|_| KeyError::BadEncoding(raw.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: &str = "222222222222";

    fn events_file(account: &str) -> String {
        format!("{account}_CloudTrail_us-east-1_20240501T1205Z_AbCdEfGh12345678.json.gz")
    }

    #[test]
    fn real_layouts_parse_to_their_owner() {
        let plain = format!(
            "AWSLogs/{B}/CloudTrail/us-east-1/2024/05/01/{}",
            events_file(B)
        );
        let org = format!(
            "AWSLogs/o-a1b2c3d4e5/{B}/CloudTrail/eu-west-1/2024/12/31/{}",
            events_file(B)
        );
        let prefixed = format!(
            "my logs+archive/ünïcode/AWSLogs/{B}/CloudTrail/us-east-1/2024/05/01/{}",
            events_file(B)
        );
        let digest = format!(
            "AWSLogs/{B}/CloudTrail-Digest/us-east-1/2024/05/01/{B}_CloudTrail-Digest_us-east-1_main-trail_us-east-1_20240501T120500Z.json.gz"
        );
        let insight = format!(
            "logs/AWSLogs/{B}/CloudTrail-Insight/ap-southeast-2/2024/02/29/{B}_CloudTrail-Insight_ap-southeast-2_20240229T0000Z_x.json.gz"
        );
        let table = [
            (plain, None, None, LogKind::Events),
            (org, None, Some("o-a1b2c3d4e5"), LogKind::Events),
            (
                prefixed,
                Some("my logs+archive/ünïcode"),
                None,
                LogKind::Events,
            ),
            (digest, None, None, LogKind::Digest),
            (insight, Some("logs"), None, LogKind::Insight),
        ];
        for (key, prefix, org, kind) in table {
            let parsed = LogKey::parse(&key).unwrap_or_else(|e| panic!("{key}: {e}"));
            assert_eq!(parsed.account, B, "{key}");
            assert_eq!(parsed.prefix.as_deref(), prefix, "{key}");
            assert_eq!(parsed.organization_id.as_deref(), org, "{key}");
            assert_eq!(parsed.kind, kind, "{key}");
            assert_eq!(parsed.to_string(), key, "format must give the key back");
        }
    }

    #[test]
    fn a_prefix_may_contain_awslogs_itself() {
        let key = format!(
            "AWSLogs/AWSLogs/{B}/CloudTrail/us-east-1/2024/05/01/{}",
            events_file(B)
        );
        let parsed = LogKey::parse(&key).unwrap();
        assert_eq!(parsed.prefix.as_deref(), Some("AWSLogs"));
        assert_eq!(parsed.account, B);
    }

    #[test]
    fn mismatched_accounts_are_rejected() {
        let key = format!(
            "AWSLogs/{B}/CloudTrail/us-east-1/2024/05/01/{}",
            events_file("333333333333")
        );
        assert_eq!(
            LogKey::parse(&key),
            Err(KeyError::AccountMismatch {
                path: B.into(),
                file: "333333333333".into()
            })
        );
    }

    #[test]
    fn non_cloudtrail_keys_are_rejected() {
        let f = events_file(B);
        let not_logs = [
            String::new(),
            "README.md".to_string(),
            format!("AWSLogs/{B}/CloudTrail/us-east-1/2024/05/01/"),
            format!("AWSLogs/{B}/Config/us-east-1/2024/05/01/{f}"),
            format!("AWSLogs/{B}/CloudTrail/us-east-1/2024/05/{f}"),
            format!(
                "AWSLogs/12345/CloudTrail/us-east-1/2024/05/01/{}",
                events_file("12345")
            ),
            format!("AWSLogs/{B}/CloudTrail/US-EAST-1/2024/05/01/{f}"),
            format!("AWSLogs/{B}/CloudTrail/us-east-1/2024/13/01/{f}"),
            format!("AWSLogs/{B}/CloudTrail/us-east-1/2024/05/32/{f}"),
            format!("AWSLogs/{B}/CloudTrail/us-east-1/24/05/01/{f}"),
            format!("AWSLogs/{B}/CloudTrail/us-east-1/2024/05/01/{B}_CloudTrail_x.json"),
            format!("AWSLogs/{B}/CloudTrail/us-east-1/2024/05/01/{B}_CloudTrail-Digest_x.json.gz"),
            format!("AWSLogs/{B}/CloudTrail/us-east-1/2024/05/01/notes.json.gz"),
            format!("AWSLogs/not-an-org/{B}/CloudTrail/us-east-1/2024/05/01/{f}"),
            format!("/AWSLogs/{B}/CloudTrail/us-east-1/2024/05/01/{f}"),
            format!("a//AWSLogs/{B}/CloudTrail/us-east-1/2024/05/01/{f}"),
            format!("AWSLogs/{B}/CloudTrail/us-east-1/2024/05/01/{f}/extra"),
        ];
        for key in not_logs {
            assert!(
                matches!(LogKey::parse(&key), Err(KeyError::NotCloudTrail(_))),
                "{key:?} must not parse"
            );
        }
    }

    #[test]
    fn notification_keys_encode_as_s3_does() {
        let key = "my logs+archive/AWSLogs/a=b/ünï.json.gz";
        let encoded = encode_notification_key(key);
        assert_eq!(
            encoded,
            "my+logs%2Barchive/AWSLogs/a%3Db/%C3%BCn%C3%AF.json.gz"
        );
        assert_eq!(decode_notification_key(&encoded).unwrap(), key);
    }

    #[test]
    fn notification_keys_decode_plus_then_percent() {
        assert_eq!(
            decode_notification_key("my+logs%2Barchive/a%3Db").unwrap(),
            "my logs+archive/a=b"
        );
        assert_eq!(
            decode_notification_key("%C3%BCn%C3%AFcode").unwrap(),
            "ünïcode"
        );
        assert_eq!(
            decode_notification_key("AWSLogs%2F2222").unwrap(),
            "AWSLogs/2222"
        );
        assert_eq!(decode_notification_key("plain/key").unwrap(), "plain/key");
        assert!(matches!(
            decode_notification_key("%FF%FE"),
            Err(KeyError::BadEncoding(_))
        ));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn log_keys() -> impl Strategy<Value = LogKey> {
            let prefix =
                proptest::option::of("[a-zA-Z0-9 +=._ü-]{1,12}(/[a-zA-Z0-9 +._-]{1,8}){0,2}");
            let org = proptest::option::of("o-[a-z0-9]{10,32}");
            let kind = prop_oneof![
                Just(LogKind::Events),
                Just(LogKind::Digest),
                Just(LogKind::Insight)
            ];
            (
                prefix,
                org,
                "[0-9]{12}",
                kind,
                "[a-z]{2}-[a-z]{4,9}-[1-9]",
                1970u16..=2099,
                1u8..=12,
                1u8..=31,
                "[A-Za-z0-9]{4,16}",
            )
                .prop_map(
                    |(prefix, org, account, kind, region, year, month, day, tail)| LogKey {
                        prefix,
                        organization_id: org,
                        file: format!("{account}_{}_{region}_{tail}.json.gz", kind.folder()),
                        account,
                        kind,
                        region,
                        year,
                        month,
                        day,
                    },
                )
        }

        proptest! {
            #[test]
            fn format_then_parse_round_trips(key in log_keys()) {
                let text = key.to_string();
                prop_assert_eq!(LogKey::parse(&text), Ok(key));
            }

            #[test]
            fn notification_encoding_round_trips(key in log_keys()) {
                // Encode as S3 does: reserved bytes as %XX, then space as '+'.
                let text = key.to_string();
                let encoded: String = percent_encoding::utf8_percent_encode(&text, NOTIFICATION_SET)
                    .to_string()
                    .replace("%20", "+");
                prop_assert_eq!(decode_notification_key(&encoded), Ok(text));
            }
        }

        const NOTIFICATION_SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
            .remove(b'/')
            .remove(b'-')
            .remove(b'_')
            .remove(b'.');
    }
}

//! Shapes of AWS identifiers, checked without calling AWS.

/// Exactly 12 ASCII digits: no sign, no padding, no whitespace.
pub fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

/// `o-` followed by 10 to 32 lowercase letters or digits.
pub fn is_organization_id(text: &str) -> bool {
    text.strip_prefix("o-").is_some_and(|rest| {
        (10..=32).contains(&rest.len())
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    })
}

/// S3's general-purpose bucket naming rules (3–63 chars of `a-z0-9.-`,
/// starting and ending with a letter or digit, no `..`, not an IP address).
pub fn is_bucket_name(text: &str) -> bool {
    let bytes = text.as_bytes();
    (3..=63).contains(&bytes.len())
        && bytes
            .iter()
            .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && !text.contains("..")
        && text.parse::<std::net::Ipv4Addr>().is_err()
}

/// Characters IAM allows in role, user and session names.
pub fn is_iam_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "+=,.@_-".contains(c)
}

/// An IAM path: `/`, or `/segment/…/` of name characters.
pub fn is_iam_path(text: &str) -> bool {
    text.len() <= 512
        && text.starts_with('/')
        && text.ends_with('/')
        && !text.contains("//")
        && text.chars().all(|c| c == '/' || is_iam_name_char(c))
}

/// The account of an ARN (`arn:aws:<service>:<region>:<account>:…`), if any.
pub fn arn_account(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    let (arn_, partition) = (parts.next()?, parts.next()?);
    let (_service, _region, account) = (parts.next()?, parts.next()?, parts.next()?);
    parts.next()?;
    (arn_ == "arn" && partition == "aws").then_some(account)
}

/// A notification target: an SQS queue (`service = "sqs"`) or SNS topic
/// (`"sns"`) ARN, `arn:aws:<service>:<region>:<account>:<name>`, standard
/// (not FIFO: S3's own notifications cannot target FIFO either, and a SIEM's
/// S3 input reads a standard queue). Returns its account.
pub fn notify_target_account<'a>(arn: &'a str, service: &str) -> Option<&'a str> {
    let rest = arn.strip_prefix("arn:aws:")?.strip_prefix(service)?;
    let mut parts = rest.strip_prefix(':')?.splitn(3, ':');
    let (region, account, name) = (parts.next()?, parts.next()?, parts.next()?);
    let max_name = if service == "sqs" { 80 } else { 256 };
    let valid_region = region.len() <= 32
        && region.split('-').count() >= 3
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    let valid_name = !name.is_empty()
        && name.len() <= max_name
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    (valid_region && is_account_id(account) && valid_name).then_some(account)
}

/// An IAM principal ARN that a trust policy may name: the account root, a
/// user or a role, with no wildcards. Returns its account.
pub fn principal_account(arn: &str) -> Option<&str> {
    let rest = arn.strip_prefix("arn:aws:iam::")?;
    let (account, resource) = rest.split_once(':')?;
    if !is_account_id(account) {
        return None;
    }
    let valid = resource == "root"
        || ["user/", "role/"].iter().any(|kind| {
            resource.strip_prefix(kind).is_some_and(|path_and_name| {
                let name = path_and_name.rsplit('/').next().unwrap_or_default();
                !name.is_empty()
                    && name.len() <= 64
                    && path_and_name
                        .chars()
                        .all(|c| c == '/' || is_iam_name_char(c))
                    && !path_and_name.starts_with('/')
                    && !path_and_name.contains("//")
            })
        });
    valid.then_some(account)
}

/// A role ARN (`arn:aws:iam::<account>:role/[path/]name`). Returns its account.
pub fn role_account(arn: &str) -> Option<&str> {
    principal_account(arn).filter(|_| {
        arn.split(':')
            .nth(5)
            .is_some_and(|r| r.starts_with("role/"))
    })
}

/// An `ADMIN_PRINCIPALS` entry: a user or role ARN (or the account root),
/// optionally ending in `*` inside the last name segment (Identity Center
/// roles carry generated suffixes). A `*` anywhere else would let a path or
/// an account be a wildcard, so it is refused.
pub fn is_admin_entry(entry: &str) -> bool {
    let (body, star) = match entry.strip_suffix('*') {
        Some(body) => (body, true),
        None => (entry, false),
    };
    if body.contains('*') {
        return false;
    }
    if !star {
        return principal_account(body).is_some();
    }
    // `…:role/path/Prefix*`: the prefix of a name, never a bare path.
    let Some(rest) = body.strip_prefix("arn:aws:iam::") else {
        return false;
    };
    let Some((account, resource)) = rest.split_once(':') else {
        return false;
    };
    let name_prefix = resource.rsplit('/').next().unwrap_or_default();
    is_account_id(account)
        && (resource.starts_with("role/") || resource.starts_with("user/"))
        && !name_prefix.is_empty()
        && principal_account(&format!("{body}x")).is_some()
}

/// IAM's `StringLike` and resource-ARN matching: `*` any run of characters
/// (`/` included), `?` exactly one. For tests that judge the documents the
/// provisioner writes (the independent evaluator judges them too).
#[cfg(any(test, feature = "testkit"))]
pub fn iam_like(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// A CloudTrail trail ARN: `arn:aws:cloudtrail:<region>:<account>:trail/<name>`.
pub fn is_trail_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    matches!(parts.as_slice(), ["arn", "aws", "cloudtrail", region, account, resource]
        if !region.is_empty()
            && is_account_id(account)
            && resource.strip_prefix("trail/").is_some_and(|name| !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))))
}

/// A KMS key ARN (not an alias): `arn:aws:kms:<region>:<account>:key/<id>`.
pub fn is_kms_key_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    matches!(parts.as_slice(), ["arn", "aws", "kms", region, account, resource]
        if !region.is_empty()
            && is_account_id(account)
            && resource.strip_prefix("key/").is_some_and(|id| !id.is_empty() && !id.contains('*')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_entries_and_callers() {
        let user = "arn:aws:iam::111111111111:user/ops/alice";
        let role = "arn:aws:iam::111111111111:role/platform/Admin";
        let sso =
            "arn:aws:iam::111111111111:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_*";
        for good in [user, role, sso, "arn:aws:iam::111111111111:root"] {
            assert!(is_admin_entry(good), "{good}");
        }
        for bad in [
            "*",
            "arn:aws:iam::*:role/Admin",
            "arn:aws:iam::111111111111:role/*",
            "arn:aws:iam::111111111111:role/aws-reserved/*",
            "arn:aws:iam::111111111111:role/a*/Admin",
            "arn:aws:iam::111111111111:group/admins",
            "arn:aws:sts::111111111111:assumed-role/Admin/x",
            "arn:aws:iam::111111111111:role/Admin**",
        ] {
            assert!(!is_admin_entry(bad), "{bad}");
        }
        // What an entry admits: crate::admin::tests.
    }

    #[test]
    fn account_ids_are_exactly_twelve_digits() {
        assert!(is_account_id("222222222222"));
        for bad in [
            "",
            "22222222222",
            "2222222222222",
            " 22222222222",
            "22222222222 ",
            "+22222222222",
            "22222222222a",
            "２２２２２２２２２２２２",
        ] {
            assert!(!is_account_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn organization_ids() {
        assert!(is_organization_id("o-a1b2c3d4e5"));
        assert!(is_organization_id(&format!("o-{}", "a".repeat(32))));
        for bad in [
            "o-a1b2c3d4e",
            "o-A1B2C3D4E5",
            "a1b2c3d4e5",
            &format!("o-{}", "a".repeat(33)),
            "o-a1b2c3d4e5/",
        ] {
            assert!(!is_organization_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn bucket_names() {
        for good in ["trail-bucket", "a.b.c", "abc", "0bucket9"] {
            assert!(is_bucket_name(good), "{good}");
        }
        for bad in [
            "ab",
            "Trail",
            "-abc",
            "abc-",
            "a..b",
            "192.168.1.1",
            "a_b",
            &"a".repeat(64),
        ] {
            assert!(!is_bucket_name(bad), "{bad}");
        }
    }

    #[test]
    fn iam_paths() {
        for good in ["/", "/trailshare/", "/a/b-c/"] {
            assert!(is_iam_path(good), "{good}");
        }
        for bad in ["", "trailshare/", "/trailshare", "//", "/a b/", "/a*/"] {
            assert!(!is_iam_path(bad), "{bad}");
        }
    }

    #[test]
    fn principals() {
        assert_eq!(
            principal_account("arn:aws:iam::222222222222:root"),
            Some("222222222222")
        );
        assert_eq!(
            principal_account("arn:aws:iam::222222222222:role/LogReaders"),
            Some("222222222222")
        );
        assert_eq!(
            principal_account("arn:aws:iam::222222222222:user/ops/alice"),
            Some("222222222222")
        );
        for bad in [
            "arn:aws:iam::222222222222:role/*",
            "arn:aws:iam::222222222222:role/",
            "arn:aws:iam::222222222222:group/admins",
            "arn:aws:iam::22222222222:root",
            "arn:aws:sts::222222222222:assumed-role/x/y",
            "arn:aws-cn:iam::222222222222:root",
            "222222222222",
            "*",
        ] {
            assert_eq!(principal_account(bad), None, "{bad}");
        }
        assert_eq!(
            role_account("arn:aws:iam::222222222222:role/w"),
            Some("222222222222")
        );
        assert_eq!(role_account("arn:aws:iam::222222222222:user/w"), None);
    }

    #[test]
    fn arn_accounts() {
        assert_eq!(
            arn_account("arn:aws:kms:us-east-1:111111111111:key/abc"),
            Some("111111111111")
        );
        assert_eq!(
            arn_account("arn:aws:iam::111111111111:policy/p"),
            Some("111111111111")
        );
        assert_eq!(arn_account("arn:aws:s3:::bucket"), Some(""));
        assert_eq!(arn_account("nope"), None);
    }
}

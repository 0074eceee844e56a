//! Who `ADMIN_PRINCIPALS` admits. An entry's `*` matches within the last
//! name segment only, never across a `/`; an entry's path must be the
//! caller's. A user ARN carries its path, so a user is judged by its ARN
//! alone. An assumed-role session's ARN carries no path
//! (`arn:aws:sts::<acct>:assumed-role/<Name>/<session>`), so a role entry
//! can only say which paths would admit the caller: the provisioner looks
//! the role's path up (one `iam:GetRole`) before admitting it.

use crate::ids::is_admin_entry;

/// What `ADMIN_PRINCIPALS` says of one caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminMatch {
    /// Not an administrator.
    No,
    /// An administrator by its ARN alone (a user or the account root).
    Yes,
    /// An administrator only if its role `role_name` (in `account`) lies at
    /// one of `paths` (each `/…/`): the caller is an assumed-role session.
    IfRolePath {
        account: String,
        role_name: String,
        paths: Vec<String>,
    },
}

/// An IAM principal ARN taken apart: `arn:aws:iam::<account>:<kind>/<path…>/<name>`
/// (`kind` "user" or "role"; `path` like `/ops/`), or the root (`kind` "root").
struct Principal<'a> {
    account: &'a str,
    kind: &'a str,
    path: String,
    name: &'a str,
}

fn principal(arn: &str) -> Option<Principal<'_>> {
    let (account, resource) = arn.strip_prefix("arn:aws:iam::")?.split_once(':')?;
    if resource == "root" {
        return Some(Principal {
            account,
            kind: "root",
            path: String::new(),
            name: "",
        });
    }
    let (kind, rest) = resource.split_once('/')?;
    let (path, name) = match rest.rsplit_once('/') {
        Some((path, name)) => (format!("/{path}/"), name),
        None => ("/".to_string(), rest),
    };
    Some(Principal {
        account,
        kind,
        path,
        name,
    })
}

/// `pattern` (a name, or a name prefix ending in `*`) against one name.
fn name_matches(pattern: &str, name: &str) -> bool {
    !name.is_empty()
        && !name.contains('/')
        && match pattern.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => pattern == name,
        }
}

/// Judges `caller` (API Gateway's IAM `userArn`) against the entries.
pub fn admin_match(entries: &[String], caller: &str) -> AdminMatch {
    let entries: Vec<Principal> = entries
        .iter()
        .filter(|entry| is_admin_entry(entry))
        .filter_map(|entry| principal(entry))
        .collect();
    if let Some(session) = caller.strip_prefix("arn:aws:sts::") {
        let Some((account, rest)) = session.split_once(":assumed-role/") else {
            return AdminMatch::No;
        };
        let Some((role_name, session_name)) = rest.split_once('/') else {
            return AdminMatch::No;
        };
        if !crate::ids::is_account_id(account) || session_name.is_empty() {
            return AdminMatch::No;
        }
        let mut paths: Vec<String> = entries
            .iter()
            .filter(|e| e.kind == "role" && e.account == account && name_matches(e.name, role_name))
            .map(|e| e.path.clone())
            .collect();
        paths.sort();
        paths.dedup();
        return if paths.is_empty() {
            AdminMatch::No
        } else {
            AdminMatch::IfRolePath {
                account: account.to_string(),
                role_name: role_name.to_string(),
                paths,
            }
        };
    }
    if crate::ids::principal_account(caller).is_none() {
        return AdminMatch::No;
    }
    let Some(who) = principal(caller) else {
        return AdminMatch::No;
    };
    let admitted = entries.iter().any(|e| {
        e.account == who.account
            && e.kind == who.kind
            && e.path == who.path
            && (who.kind == "root" || name_matches(e.name, who.name))
    });
    if admitted {
        AdminMatch::Yes
    } else {
        AdminMatch::No
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SSO: &str =
        "arn:aws:iam::111111111111:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_*";

    fn judge(entries: &[&str], caller: &str) -> AdminMatch {
        let entries: Vec<String> = entries.iter().map(|e| e.to_string()).collect();
        admin_match(&entries, caller)
    }

    fn if_path(role: &str, paths: &[&str]) -> AdminMatch {
        AdminMatch::IfRolePath {
            account: "111111111111".into(),
            role_name: role.into(),
            paths: paths.iter().map(|p| p.to_string()).collect(),
        }
    }

    /// Failed before the fix: `user/ops/a*` admitted `user/ops/ab/x`, and
    /// the SSO entry admitted a role of that name at any path.
    #[test]
    fn a_wildcard_matches_within_the_name_and_a_path_must_be_the_callers() {
        let ops = "arn:aws:iam::111111111111:user/ops/a*";
        assert_eq!(
            judge(&[ops], "arn:aws:iam::111111111111:user/ops/alice"),
            AdminMatch::Yes
        );
        for not in [
            "arn:aws:iam::111111111111:user/ops/ab/x",
            "arn:aws:iam::111111111111:user/ops/b",
            "arn:aws:iam::111111111111:user/alice",
            "arn:aws:iam::111111111111:user/other/ops/alice",
            "arn:aws:iam::222222222222:user/ops/alice",
            "arn:aws:sts::111111111111:assumed-role/alice/x",
        ] {
            assert_eq!(judge(&[ops], not), AdminMatch::No, "{not}");
        }
        // A session names no path: the role's path decides, looked up.
        assert_eq!(
            judge(&[SSO], "arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_Admin_0a1b/alice@example.com"),
            if_path("AWSReservedSSO_Admin_0a1b", &["/aws-reserved/sso.amazonaws.com/"])
        );
        assert_eq!(
            judge(
                &[SSO],
                "arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_ReadOnly_0a1b/alice"
            ),
            AdminMatch::No
        );
        // A role ARN as the caller carries its path.
        assert_eq!(
            judge(&[SSO], "arn:aws:iam::111111111111:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_1"),
            AdminMatch::Yes
        );
        assert_eq!(
            judge(
                &[SSO],
                "arn:aws:iam::111111111111:role/evil/AWSReservedSSO_Admin_1"
            ),
            AdminMatch::No
        );
        let plain = "arn:aws:iam::111111111111:role/Admin";
        let pathed = "arn:aws:iam::111111111111:role/platform/Admin";
        assert_eq!(
            judge(
                &[plain, pathed],
                "arn:aws:sts::111111111111:assumed-role/Admin/s"
            ),
            if_path("Admin", &["/", "/platform/"])
        );
        assert_eq!(
            judge(&[plain], "arn:aws:sts::222222222222:assumed-role/Admin/s"),
            AdminMatch::No
        );
        assert_eq!(
            judge(&[plain], "arn:aws:sts::111111111111:assumed-role/Admins/s"),
            AdminMatch::No
        );
        assert_eq!(
            judge(&[plain], "arn:aws:sts::111111111111:assumed-role/Admin"),
            AdminMatch::No
        );
        assert_eq!(
            judge(&[plain], "arn:aws:iam::111111111111:user/Admin"),
            AdminMatch::No
        );
        let root = "arn:aws:iam::111111111111:root";
        assert_eq!(judge(&[root], root), AdminMatch::Yes);
        assert_eq!(
            judge(&[root], "arn:aws:iam::222222222222:root"),
            AdminMatch::No
        );
        assert_eq!(
            judge(&["*"], "arn:aws:iam::111111111111:user/ops/alice"),
            AdminMatch::No
        );
        assert_eq!(judge(&[plain], "unknown"), AdminMatch::No);
    }

    proptest! {
        /// Whatever the names and paths, a wildcard entry never admits a
        /// caller at another path, nor one whose name is deeper than the
        /// entry's last segment; and a matching session always asks for
        /// exactly the entry's path.
        #[test]
        fn wildcards_never_cross_a_path(
            entry_path in proptest::collection::vec("[a-z]{1,4}", 0..3),
            caller_path in proptest::collection::vec("[a-z]{1,4}", 0..3),
            prefix in "[a-z]{1,3}",
            rest in "[a-z]{0,3}",
            deeper in proptest::option::of("[a-z]{1,3}"),
            kind in prop_oneof![Just("user"), Just("role")],
        ) {
            let path = |segments: &[String]| segments.iter().map(|s| format!("{s}/")).collect::<String>();
            let entry = format!("arn:aws:iam::111111111111:{kind}/{}{prefix}*", path(&entry_path));
            let mut name = format!("{prefix}{rest}");
            if let Some(more) = &deeper {
                name = format!("{name}/{more}");
            }
            let caller = format!("arn:aws:iam::111111111111:{kind}/{}{name}", path(&caller_path));
            let verdict = judge(&[&entry], &caller);
            let expected = entry_path == caller_path && deeper.is_none();
            prop_assert_eq!(verdict == AdminMatch::Yes, expected, "{} vs {}", entry, caller);
            if kind == "role" && deeper.is_none() {
                let session = format!("arn:aws:sts::111111111111:assumed-role/{name}/s");
                let want = format!("/{}", path(&entry_path));
                prop_assert_eq!(judge(&[&entry], &session), if_path(&name, &[&want]));
            }
        }
    }
}

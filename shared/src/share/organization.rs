//! Organization shares: one role for every member account of the
//! deployment's organization (`ORGANIZATION_ID`), accounts that join later
//! included, each member reading only its own account's log files through
//! a session tagged with its own account (see `policy::organization`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::validate::{
    account_id, delivery, expires_at, fields, no_duplicate, session_seconds, share_name,
    string_array, ShareRequest,
};
use super::{Delivery, Invalid, ShareSpec, MIN_SESSION_SECONDS};
use crate::config::Config;
use crate::ids::{is_iam_name_char, is_organization_id};

/// The session tag every member sets to its own account when it assumes
/// an organization share's role; the role reads the folders it names.
pub const ACCOUNT_TAG: &str = "trailshare:account";

/// IAM's longest role name.
const MAX_ROLE_NAME: usize = 64;

/// What an organization share grants beyond the organization itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Organization {
    /// The organization (`aws:PrincipalOrgID`): the deployment's
    /// `ORGANIZATION_ID` when the share was admitted, never the request's.
    pub id: String,
    /// Only principals of accounts under these OU paths
    /// (`aws:PrincipalOrgPaths`, `ForAnyValue:StringLike`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub org_paths: Vec<String>,
    /// Only the role of this name (at path `/`) in each member account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_name: Option<String>,
    /// Members that read nothing, even with a session issued before.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_accounts: Vec<String>,
}

impl Organization {
    /// Whether `account` is excluded from the share.
    pub fn excludes(&self, account: &str) -> bool {
        self.exclude_accounts.iter().any(|a| a == account)
    }
}

/// `organization`'s fields.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrganizationRequest {
    org_paths: Option<Value>,
    principal_name: Option<Value>,
    exclude_accounts: Option<Value>,
}

/// Validates the request of an organization share (`organization` given):
/// a field that cannot go with it is refused, naming that field. The
/// organization's id is left empty: admission binds it to the
/// deployment's `ORGANIZATION_ID`.
pub(super) fn validate_share(
    request: &ShareRequest,
    organization: &Value,
    path_name: Option<&str>,
    trail_bucket: &str,
) -> Result<ShareSpec, Invalid> {
    let companions = [
        (&request.grantee_account, "grantee_account", "cannot go with organization: an organization share's grantees are the organization's member accounts"),
        (&request.grantee_principals, "grantee_principals", "cannot go with organization: use organization.principal_name to accept one role name in every member account"),
        (&request.log_accounts, "log_accounts", "cannot go with organization: each member account reads its own log files"),
        (&request.external_id, "external_id", "cannot go with organization: members are fenced by aws:PrincipalOrgID and a session tag of their own account, not by an external id"),
        (&request.notify, "notify", "is not available for an organization share in this version: one queue or topic cannot serve every account"),
    ];
    if let Some((_, field, message)) = companions.iter().find(|(value, ..)| value.is_some()) {
        return Err(Invalid::value(*field, *message));
    }
    // Refused before its other fields are read: no copy field matters here.
    let mode = request.delivery.as_ref().and_then(|d| d.get("mode"));
    if mode.and_then(Value::as_str) == Some("copy") {
        return Err(Invalid::value(
            "delivery.mode",
            "\"copy\" is not available for an organization share in this version: one destination cannot serve every account (use \"tag\" or \"none\")",
        ));
    }
    let delivery = match &request.delivery {
        None => Delivery::None,
        Some(value) => delivery(value, trail_bucket, "")?,
    };
    let mut spec = ShareSpec {
        name: String::new(),
        grantee_account: String::new(),
        grantee_principals: Vec::new(),
        log_accounts: Vec::new(),
        external_id: None,
        max_session_seconds: match &request.max_session_seconds {
            None => MIN_SESSION_SECONDS,
            Some(value) => session_seconds(value)?,
        },
        expires_at: request.expires_at.as_ref().map(expires_at).transpose()?,
        delivery,
        notify: None,
        organization: Some(fields_of(organization)?),
    };
    spec.name = share_name(request.name.as_ref(), path_name, &spec)?;
    Ok(spec)
}

/// `organization`: an object (`{}` for the whole organization).
fn fields_of(value: &Value) -> Result<Organization, Invalid> {
    let object = value.as_object().ok_or_else(|| {
        Invalid::value(
            "organization",
            "must be an object: {} or {\"org_paths\", \"principal_name\", \"exclude_accounts\"}",
        )
    })?;
    let request: OrganizationRequest = fields(object, "organization.")?;
    Ok(Organization {
        id: String::new(),
        org_paths: match &request.org_paths {
            None => Vec::new(),
            Some(value) => org_paths(value)?,
        },
        principal_name: request
            .principal_name
            .as_ref()
            .map(principal_name)
            .transpose()?,
        exclude_accounts: match &request.exclude_accounts {
            None => Vec::new(),
            Some(value) => exclude_accounts(value)?,
        },
    })
}

fn org_paths(value: &Value) -> Result<Vec<String>, Invalid> {
    let mut paths: Vec<String> = Vec::new();
    for (i, item) in string_array(value, "organization.org_paths")?
        .iter()
        .enumerate()
    {
        let field = format!("organization.org_paths[{i}]");
        match item.as_str() {
            Some(path) if is_org_path(path) => {
                no_duplicate(&paths, path, &field)?;
                paths.push(path.to_string());
            }
            _ => {
                return Err(Invalid::value(
                    &field,
                    "must be an organization path such as o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/ (accounts directly in that OU), optionally ending in * (and in the OUs under it)",
                ))
            }
        }
    }
    Ok(paths)
}

/// `o-…/r-…/[ou-…/]…`, optionally followed by one `*` (the OU and every
/// OU under it): an `aws:PrincipalOrgPaths` value, with no other wildcard
/// and no policy variable.
pub(crate) fn is_org_path(path: &str) -> bool {
    let path = path.strip_suffix('*').unwrap_or(path);
    let Some(path) = path.strip_suffix('/') else {
        return false;
    };
    let segments: Vec<&str> = path.split('/').collect();
    let lowercase = |text: &str, lengths: std::ops::RangeInclusive<usize>| {
        lengths.contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    let is_root = |s: &str| s.strip_prefix("r-").is_some_and(|r| lowercase(r, 4..=32));
    let is_ou = |s: &str| {
        s.strip_prefix("ou-")
            .and_then(|rest| rest.split_once('-'))
            .is_some_and(|(root, ou)| lowercase(root, 4..=32) && lowercase(ou, 8..=32))
    };
    segments.len() >= 2
        && is_organization_id(segments[0])
        && is_root(segments[1])
        && segments[2..].iter().all(|s| is_ou(s))
}

/// An IAM role name: the trust names `arn:aws:iam::<member>:role/<name>`.
fn principal_name(value: &Value) -> Result<String, Invalid> {
    match value.as_str() {
        Some(name)
            if !name.is_empty()
                && name.chars().count() <= MAX_ROLE_NAME
                && name.chars().all(is_iam_name_char) =>
        {
            Ok(name.to_string())
        }
        _ => Err(Invalid::value(
            "organization.principal_name",
            "must be an IAM role name: 1-64 characters of A-Z a-z 0-9 + = , . @ _ -",
        )),
    }
}

fn exclude_accounts(value: &Value) -> Result<Vec<String>, Invalid> {
    let mut accounts: Vec<String> = Vec::new();
    for (i, item) in string_array(value, "organization.exclude_accounts")?
        .iter()
        .enumerate()
    {
        let field = format!("organization.exclude_accounts[{i}]");
        let account = account_id(item, &field)?;
        no_duplicate(&accounts, &account, &field)?;
        accounts.push(account);
    }
    Ok(accounts)
}

/// Binds an organization share to the deployment's organization, or says
/// why it cannot be one here (no `ORGANIZATION_ID`; no known account of
/// its own, whose sessions the policy must cut; a path of another
/// organization). A share of no organization passes as it is.
pub(crate) fn bind(spec: &mut ShareSpec, config: &Config) -> Result<(), Invalid> {
    let Some(organization) = spec.organization.as_mut() else {
        return Ok(());
    };
    let Some(id) = config.organization_id.as_deref() else {
        return Err(Invalid::value(
            "organization",
            "needs ORGANIZATION_ID: this stack is not deployed for an organization trail",
        ));
    };
    if config.stack_account().is_none() {
        return Err(Invalid::value(
            "organization",
            "needs the stack's account (from SHARE_SECRET_ARN or PERMISSIONS_BOUNDARY_ARN)",
        ));
    }
    organization.id = id.to_string();
    check_paths(organization)
}

/// Every `org_paths` entry lies in the share's own organization.
pub(crate) fn check_paths(organization: &Organization) -> Result<(), Invalid> {
    let root = format!("{}/", organization.id);
    match organization
        .org_paths
        .iter()
        .position(|path| !path.starts_with(&root))
    {
        Some(i) => Err(Invalid::value(
            format!("organization.org_paths[{i}]"),
            format!("must lie in the organization {}", organization.id),
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests;

//! The member accounts' side of an organization share: a plain
//! CloudFormation template (no transform: a StackSet's execution role
//! cannot run macros) for a service-managed StackSet, so every member
//! account — and every account that joins the OUs later, by automatic
//! deployment — gets a reader role allowed to assume the share role with
//! its session tag. JSON, so no `${!…}` escaping is needed for IAM policy
//! variables as it would be inside YAML's `!Sub`.

use serde_json::{json, Value};

use crate::ids::is_iam_name_char;
use crate::share::Invalid;

/// The reader role's name when the share names no `principal_name`.
pub const DEFAULT_READER: &str = "trailshare-reader";

/// The template for `share_role_arn`, creating `reader` (the share's
/// `principal_name`, which its trust requires, with no path) in each account.
pub fn member_template(share_role_arn: &str, reader: &str) -> Result<Value, Invalid> {
    if reader.is_empty() || reader.len() > 64 || !reader.chars().all(is_iam_name_char) {
        return Err(Invalid::value(
            "principal_name",
            "must be an IAM role name (1-64 of A-Z a-z 0-9 + = , . @ _ -)",
        ));
    }
    if crate::ids::role_account(share_role_arn).is_none() {
        return Err(Invalid::value("role_arn", "must be an IAM role ARN"));
    }
    Ok(json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": format!("trailshare: the reader role {reader} of this member account, allowed to assume {share_role_arn} with its account as the session tag trailshare:account"),
        "Resources": {
            "ReaderRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "RoleName": reader,
                    "Description": "Reads this account's CloudTrail log files through the organization's trailshare share",
                    "MaxSessionDuration": 3600,
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [{
                            "Effect": "Allow",
                            "Principal": {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}},
                            "Action": "sts:AssumeRole"
                        }]
                    },
                    "Policies": [{
                        "PolicyName": "trailshare-assume-share-role",
                        "PolicyDocument": {
                            "Version": "2012-10-17",
                            "Statement": [{
                                "Sid": "AssumeTheShareRoleWithTheAccountTag",
                                "Effect": "Allow",
                                "Action": ["sts:AssumeRole", "sts:TagSession"],
                                "Resource": share_role_arn
                            }]
                        }
                    }]
                }
            }
        },
        "Outputs": {
            "ReaderRoleArn": {"Value": {"Fn::GetAtt": ["ReaderRole", "Arn"]}}
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLE: &str = "arn:aws:iam::111111111111:role/trailshare/trailshare-members";

    #[test]
    fn one_reader_role_that_may_assume_only_the_share_role_with_tags() {
        let template = member_template(ROLE, DEFAULT_READER).unwrap();
        assert!(
            template.get("Transform").is_none(),
            "StackSets run no macros"
        );
        let role = &template["Resources"]["ReaderRole"]["Properties"];
        assert_eq!(role["RoleName"], DEFAULT_READER);
        assert!(
            role.get("Path").is_none(),
            "the share's trust names the role without a path"
        );
        let grant = &role["Policies"][0]["PolicyDocument"]["Statement"][0];
        assert_eq!(grant["Resource"], ROLE);
        assert_eq!(grant["Action"], json!(["sts:AssumeRole", "sts:TagSession"]));
    }

    #[test]
    fn a_bad_name_or_arn_names_its_field() {
        assert_eq!(
            member_template(ROLE, "a/b").unwrap_err().field,
            "principal_name"
        );
        assert_eq!(
            member_template(ROLE, "").unwrap_err().field,
            "principal_name"
        );
        assert_eq!(
            member_template("arn:aws:s3:::b", "r").unwrap_err().field,
            "role_arn"
        );
    }
}

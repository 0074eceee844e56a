//! Who may assume an organization share's role, and what its sessions
//! read: the independent evaluator's decisions on the documents IAM holds
//! (trust, inline policy, boundary, read back from the stand-in), with the
//! request context AWS builds for each caller.

use serde_json::{json, Value};
use stand_in::{A, B, C, Z};

use super::*;

/// A member account excluded in these tests.
const D: &str = "555555555555";

fn object(w: &World, key: &str) -> String {
    format!("arn:aws:s3:::{}/{key}", w.bucket)
}

/// `account`'s log file in the organization layout (`org`) or its own.
fn log(account: &str, org: bool) -> String {
    let layout = if org {
        format!("{ORG}/")
    } else {
        String::new()
    };
    format!("AWSLogs/{layout}{account}/CloudTrail/us-east-1/2024/05/01/{account}_CloudTrail_us-east-1_20240501T1200Z_AbCdEf12.json.gz")
}

/// The share of these tests: one OU and everything under it, one role name.
async fn named_share(w: &World) -> Documents {
    let (name, _) = org_share(
        w,
        json!({"org_paths": [format!("{OU}*")], "principal_name": "LogReader"}),
    )
    .await;
    documents(w, &name).await
}

fn tags<'a>(tags: &'a [(&'a str, &'a str)]) -> Ask<'a> {
    Ask {
        tags,
        ..Ask::default()
    }
}

const OWN: &[(&str, &str)] = &[("trailshare:account", B)];

#[tokio::test]
async fn a_member_assumes_only_with_the_one_tag_of_its_own_account() {
    let w = org_world(&[]).await;
    let docs = named_share(&w).await;
    let b = Member::role(B, "LogReader");
    let c = Member::role(C, "LogReader");
    expect(vec![
        (docs.assume(&b, &tags(OWN)), true),
        (docs.assume(&c, &tags(&[("trailshare:account", C)])), true),
        // B asking for C's tag, for none, for two, for a transitive one,
        // for its own under a key of another case.
        (docs.assume(&b, &tags(&[("trailshare:account", C)])), false),
        (docs.assume(&b, &tags(&[])), false),
        (
            docs.assume(&b, &tags(&[("trailshare:account", B), ("team", "logs")])),
            false,
        ),
        (
            docs.assume(
                &b,
                &Ask {
                    tags: OWN,
                    transitive: &["trailshare:account"],
                    at: None,
                },
            ),
            false,
        ),
        (docs.assume(&b, &tags(&[("Trailshare:Account", B)])), false),
        (docs.assume(&b, &tags(&[("TRAILSHARE:ACCOUNT", B)])), false),
    ]);
}

#[tokio::test]
async fn only_principals_of_the_organization_its_paths_and_the_role_name_assume() {
    let w = org_world(&[]).await;
    let docs = named_share(&w).await;
    let b = Member::role(B, "LogReader");
    let member = |paths: &[&str]| Member {
        paths: paths.iter().map(|p| p.to_string()).collect(),
        ..b.clone()
    };
    let outsider = Member {
        org: None,
        ..Member::role(Z, "LogReader")
    };
    expect(vec![
        // In an OU under the share's.
        (
            docs.assume(&member(&[&format!("{OU}ou-ab12-22222222/")]), &tags(OWN)),
            true,
        ),
        // Outside the organization, or in none; outside its OU paths.
        (
            docs.assume(
                &Member {
                    org: Some("o-zzzzzzzzzz"),
                    ..b.clone()
                },
                &tags(OWN),
            ),
            false,
        ),
        (
            docs.assume(&outsider, &tags(&[("trailshare:account", Z)])),
            false,
        ),
        (docs.assume(&member(&[OTHER_OU]), &tags(OWN)), false),
        (docs.assume(&member(&[]), &tags(OWN)), false),
        // Not the role name the share accepts (nor at another path).
        (docs.assume(&Member::role(B, "Admin"), &tags(OWN)), false),
        (
            docs.assume(&Member::role(B, "team/LogReader"), &tags(OWN)),
            false,
        ),
        (
            docs.assume(
                &Member {
                    arn: format!("arn:aws:iam::{B}:user/LogReader"),
                    ..b.clone()
                },
                &tags(OWN),
            ),
            false,
        ),
    ]);
    // The whole organization: any principal of it, still only its own tag.
    let (whole, _) = org_share(&w, json!({})).await;
    let whole = documents(&w, &whole).await;
    let anyone = Member {
        arn: format!("arn:aws:iam::{B}:user/analyst"),
        ..member(&[OTHER_OU])
    };
    expect(vec![
        (whole.assume(&anyone, &tags(OWN)), true),
        (
            whole.assume(&anyone, &tags(&[("trailshare:account", C)])),
            false,
        ),
        (
            whole.assume(
                &Member {
                    org: Some("o-zzzzzzzzzz"),
                    ..anyone.clone()
                },
                &tags(OWN),
            ),
            false,
        ),
    ]);
}

#[tokio::test]
async fn a_session_reads_its_own_accounts_cloudtrail_files_in_both_layouts_and_nothing_else() {
    let w = org_world(&[]).await;
    let (name, _) = org_share(&w, json!({})).await;
    let docs = documents(&w, &name).await;
    let issued = from_now(-60);
    let get = |tag: Option<&str>, key: &str| {
        vec![docs.session(tag, &issued, "s3:GetObject", &object(&w, key), json!({}))]
    };
    let bucket = format!("arn:aws:s3:::{}", w.bucket);
    let list = |prefix: Option<&str>| {
        let context = prefix.map_or(json!({}), |p| json!({"s3:prefix": p}));
        vec![docs.session(Some(B), &issued, "s3:ListBucket", &bucket, context)]
    };
    let digest = format!("AWSLogs/{ORG}/{B}/CloudTrail-Digest/us-east-1/2024/05/01/{B}_CloudTrail-Digest_us-east-1_t_us-east-1_20240501T120500Z.json.gz");
    let insight = format!("AWSLogs/{B}/CloudTrail-Insight/us-east-1/2024/05/01/f.json.gz");
    let config_object =
        format!("AWSLogs/{ORG}/{B}/Config/us-east-1/2024/5/1/ConfigHistory/f.json.gz");
    expect(vec![
        (get(Some(B), &log(B, true)), true),
        (get(Some(B), &log(B, false)), true),
        (get(Some(B), &digest), true),
        (get(Some(B), &insight), true),
        (get(Some(C), &log(C, true)), true),
        // Another member's files, in either layout; B's Config data.
        (get(Some(B), &log(C, true)), false),
        (get(Some(B), &log(C, false)), false),
        (get(Some(B), &config_object), false),
        (
            get(
                Some(B),
                &format!("AWSLogs/{B}/Config/us-east-1/2024/5/1/f.json.gz"),
            ),
            false,
        ),
        // A session with no tag names no folder.
        (get(None, &log(B, true)), false),
        (
            vec![docs.session(
                Some(B),
                &issued,
                "s3:PutObject",
                &object(&w, &log(B, true)),
                json!({}),
            )],
            false,
        ),
        (
            vec![docs.session(
                Some(B),
                &issued,
                "s3:GetObject",
                &format!("arn:aws:s3:::other-bucket/{}", log(B, true)),
                json!({}),
            )],
            false,
        ),
        // Lists its own CloudTrail folders only.
        (list(Some(&format!("AWSLogs/{ORG}/{B}/CloudTrail/"))), true),
        (list(Some(&format!("AWSLogs/{B}/CloudTrail-Digest/"))), true),
        (list(Some(&format!("AWSLogs/{ORG}/{B}/"))), false),
        (list(Some(&format!("AWSLogs/{ORG}/{C}/CloudTrail/"))), false),
        (list(Some(&format!("AWSLogs/{ORG}/"))), false),
        (list(None), false),
        (
            vec![docs.session(Some(B), &issued, "s3:GetBucketLocation", &bucket, json!({}))],
            true,
        ),
    ]);
}

#[tokio::test]
async fn an_excluded_account_is_cut_even_with_a_session_issued_before_and_no_one_else_is() {
    let w = org_world(&[]).await;
    let (name, _) = org_share(&w, json!({})).await;
    let before = from_now(-60);
    let reads = |docs: &Documents, tag: &str, issued: &str| {
        vec![docs.session(
            Some(tag),
            issued,
            "s3:GetObject",
            &object(&w, &log(tag, true)),
            json!({}),
        )]
    };
    let docs = documents(&w, &name).await;
    expect(vec![
        (reads(&docs, D, &before), true),
        (reads(&docs, B, &before), true),
    ]);
    let (status, share) = w
        .call(
            "PUT",
            &format!("/shares/{name}"),
            Some(json!({"delivery": {"mode": "tag"}, "organization": {"exclude_accounts": [D]}})),
        )
        .await;
    assert_eq!(status, 200, "{share}");
    assert!(share.get("sessions_valid_after").is_none(), "{share}");
    let docs = documents(&w, &name).await;
    let own: &[(&str, &str)] = &[("trailshare:account", D)];
    expect(vec![
        // D's session from before, and any new one: nothing.
        (reads(&docs, D, &before), false),
        (reads(&docs, D, &from_now(5)), false),
        (
            vec![docs.session(
                Some(D),
                &before,
                "s3:ListBucket",
                &format!("arn:aws:s3:::{}", w.bucket),
                json!({"s3:prefix": format!("AWSLogs/{ORG}/{D}/CloudTrail/")}),
            )],
            false,
        ),
        // Everyone else's sessions from before still read.
        (reads(&docs, B, &before), true),
        (reads(&docs, C, &before), true),
        // The trust is unchanged: D may still assume, and reads nothing.
        (
            docs.assume(
                &Member::role(D, "LogReader"),
                &Ask {
                    tags: own,
                    ..Ask::default()
                },
            ),
            true,
        ),
    ]);
    // revoke-sessions works as for any share: B's old session ends.
    let (status, share) = w
        .call("POST", &format!("/shares/{name}/revoke-sessions"), None)
        .await;
    assert_eq!(status, 200, "{share}");
    let valid_after = share["sessions_valid_after"].as_str().unwrap().to_string();
    let docs = documents(&w, &name).await;
    let after =
        time::OffsetDateTime::parse(&valid_after, &time::format_description::well_known::Rfc3339)
            .unwrap()
            + time::Duration::SECOND;
    let after = after
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    expect(vec![
        (reads(&docs, B, &before), false),
        (reads(&docs, B, &after), true),
        (reads(&docs, D, &after), false),
    ]);
}

/// A trust naming `*` needs no grant from a principal of the role's own
/// account (A): any of them gets a session. So A's sessions read nothing;
/// A's own files go through an ordinary share. Another member's
/// principals need their own account's grant, as for any share.
#[tokio::test]
async fn the_stacks_own_account_reads_nothing_through_the_organization_share() {
    let w = org_world(&[]).await;
    let (name, _) = org_share(&w, json!({})).await;
    let docs = documents(&w, &name).await;
    let anyone_in_a = Member::role(A, "SomeAppRole");
    let own = |account| Ask {
        tags: match account {
            A => &[("trailshare:account", A)],
            _ => OWN,
        },
        ..Ask::default()
    };
    let read = |tag: &str| {
        vec![docs.session(
            Some(tag),
            &from_now(-60),
            "s3:GetObject",
            &object(&w, &log(tag, true)),
            json!({}),
        )]
    };
    expect(vec![
        (docs.assume_ungranted(&anyone_in_a, &own(A)), true),
        (read(A), false),
        (
            docs.assume_ungranted(&Member::role(B, "LogReader"), &own(B)),
            false,
        ),
        (docs.assume(&Member::role(B, "LogReader"), &own(B)), true),
        (read(B), true),
    ]);
}

#[tokio::test]
async fn an_expired_organization_share_neither_trusts_nor_reads() {
    let w = org_world(&[]).await;
    let name = unique("members");
    let expires = from_now(3600);
    let (status, share) = w
        .call(
            "PUT",
            &format!("/shares/{name}"),
            Some(json!({"expires_at": expires, "organization": {}})),
        )
        .await;
    assert_eq!(status, 201, "{share}");
    let docs = documents(&w, &name).await;
    let b = Member::role(B, "LogReader");
    let later = from_now(3601);
    let ask = |at| Ask {
        tags: &[("trailshare:account", B)],
        transitive: &[],
        at,
    };
    let read = |at: &str| {
        vec![docs.session(
            Some(B),
            &from_now(-60),
            "s3:GetObject",
            &object(&w, &log(B, true)),
            json!({"aws:CurrentTime": at}),
        )]
    };
    expect(vec![
        (docs.assume(&b, &ask(None)), true),
        (docs.assume(&b, &ask(Some(&later))), false),
        (read(&from_now(0)), true),
        (read(&later), false),
    ]);
}

#[tokio::test]
async fn five_hundred_excluded_accounts_fit_iams_limits_and_each_is_cut() {
    let w = org_world(&[]).await;
    let excluded: Vec<String> = (0..500)
        .map(|i| format!("{:012}", 700_000_000_000u64 + i * 7919))
        .collect();
    let (name, _) = org_share(&w, json!({"exclude_accounts": excluded})).await;
    let docs = documents(&w, &name).await;
    let size = |document: &Value| trailshare::policy::iam_size(document);
    assert!(
        size(&docs.inline) <= trailshare::policy::MAX_INLINE_POLICY_CHARS,
        "{}",
        size(&docs.inline)
    );
    assert!(size(&docs.trust) <= trailshare::policy::MAX_TRUST_POLICY_CHARS);
    let last = excluded.last().unwrap();
    let reads = |tag: &str| {
        vec![docs.session(
            Some(tag),
            &from_now(-60),
            "s3:GetObject",
            &object(&w, &log(tag, true)),
            json!({}),
        )]
    };
    expect(vec![
        (reads(&excluded[0]), false),
        (reads(last), false),
        (reads(B), true),
    ]);
    // Twice as many: a 400 naming the field, and no role made.
    let before = roles(&w).await.len();
    let many: Vec<String> = (0..1000)
        .map(|i| format!("{:012}", 800_000_000_000u64 + i))
        .collect();
    let (status, error) = w
        .call(
            "POST",
            "/shares",
            Some(json!({"name": unique("too-many"), "organization": {"exclude_accounts": many}})),
        )
        .await;
    assert_eq!(
        (status, &error["error"]["field"], &error["error"]["code"]),
        (
            400,
            &json!("organization.exclude_accounts"),
            &json!("too_large")
        ),
        "{error}"
    );
    assert_eq!(roles(&w).await.len(), before);
}

/// What `grantee_setup` hands the members: the StackSet template's reader
/// role (its own policy, nothing added) assumes the share role with its
/// account's tag, and with nothing else; the profile runs `trailshare
/// credentials`.
#[tokio::test]
async fn the_member_templates_reader_role_is_what_the_share_trusts() {
    let w = org_world(&[]).await;
    let (name, share) = org_share(
        &w,
        json!({"org_paths": [format!("{OU}*")], "principal_name": "LogReader"}),
    )
    .await;
    let setup = &share["grantee_setup"];
    let role_arn = share["role_arn"].as_str().unwrap();
    let profile = setup["cli_profile"].as_str().unwrap();
    assert!(
        profile.contains(&format!(
            "credential_process = trailshare credentials --role-arn {role_arn}"
        )),
        "{profile}"
    );
    let template = &setup["member_template"];
    assert!(template.get("Transform").is_none(), "{template}");
    let reader = &template["Resources"]["ReaderRole"]["Properties"];
    assert_eq!(reader["RoleName"], "LogReader");
    let policy = reader["Policies"][0]["PolicyDocument"].clone();
    let docs = documents(&w, &name).await;
    let with_template_policy = |cases: Vec<Value>| -> Vec<Value> {
        cases
            .into_iter()
            .map(|mut case| {
                case["identityPolicies"] = json!([policy.clone()]);
                case
            })
            .collect()
    };
    let member = Member {
        paths: vec![format!("{OU}ou-ab12-22222222/")],
        ..Member::role(B, "LogReader")
    };
    expect(vec![
        (with_template_policy(docs.assume(&member, &tags(OWN))), true),
        (
            with_template_policy(docs.assume(&member, &tags(&[("trailshare:account", C)]))),
            false,
        ),
        (
            with_template_policy(docs.assume(&member, &tags(&[]))),
            false,
        ),
    ]);
}

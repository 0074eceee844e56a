//! What the stand-in judges of an organization share, with
//! scripts/moto_server.py's fix 7: a session keeps the tags AssumeRole gave
//! it, and the inline policy's `${aws:PrincipalTag/trailshare:account}`
//! folders and its deny of excluded accounts are judged on that tag (AWS:
//! [session tags](https://docs.aws.amazon.com/IAM/latest/UserGuide/id_session-tags.html)
//! are the session's principal tags). The trust is not judged: moto issues
//! a session across accounts whatever tag is asked for, so who may get which
//! tag is the evaluator's (`evaluator`). If moto learns either, this says so.

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use serde_json::json;
use stand_in::{log_file, put_log, s3, s3_status, sdk_config, B, C};

use super::lifecycle::key;
use super::*;

/// `who` assumes `role` with `trailshare:account` = `tag` (`None`: no tag).
async fn session(w: &World, who: &SdkConfig, role: &str, tag: Option<&str>) -> Option<SdkConfig> {
    let tags = tag.map(|value| {
        vec![aws_sdk_sts::types::Tag::builder()
            .key("trailshare:account")
            .value(value)
            .build()
            .unwrap()]
    });
    let keys = aws_sdk_sts::Client::new(who)
        .assume_role()
        .role_arn(role)
        .role_session_name("member")
        .set_tags(tags)
        .send()
        .await
        .ok()?
        .credentials?;
    let keys = Credentials::new(
        keys.access_key_id,
        keys.secret_access_key,
        Some(keys.session_token),
        None,
        "member",
    );
    Some(sdk_config(&w.aws.url, keys).await)
}

/// The status of `session` reading `account`'s log file.
async fn read(w: &World, session: &SdkConfig, account: &str) -> u16 {
    let out = s3(session)
        .get_object()
        .bucket(&w.bucket)
        .key(key(account, true))
        .send()
        .await;
    s3_status(&out)
}

#[tokio::test]
async fn the_stand_in_judges_what_a_tagged_session_reads_not_who_may_get_the_tag() {
    let w = org_world(&[]).await;
    let (name, share) = org_share(&w, json!({})).await;
    let role = share["role_arn"].as_str().unwrap();
    for account in [B, C] {
        let file = log_file(account, "GetObject");
        put_log(&s3(&w.admin), &w.bucket, &key(account, true), file).await;
    }
    let policy = &share["grantee_setup"]["identity_policy"];
    let b = w.aws.user(B, &unique("member"), policy).await;
    let c = w.aws.user(C, &unique("member"), policy).await;

    let b_own = session(&w, &b, role, Some(B)).await.expect("B's session");
    let c_own = session(&w, &c, role, Some(C)).await.expect("C's session");
    assert_eq!(read(&w, &b_own, B).await, 200, "B reads B's file");
    assert_eq!(read(&w, &b_own, C).await, 403, "B is denied C's file");
    assert_eq!(read(&w, &c_own, C).await, 200, "C reads C's file");
    // A session without the tag resolves no folder (AWS would not issue it).
    let untagged = session(&w, &b, role, None).await.expect("issued here");
    assert_eq!(read(&w, &untagged, B).await, 403);
    // The trust is not judged: C asking for B's tag gets a session here
    // (IAM refuses it: `evaluator`), so no test relies on the stand-in
    // for who may assume.
    assert!(session(&w, &c, role, Some(B)).await.is_some());

    // Excluding B cuts B's session already issued; C's reads on.
    let body = json!({"delivery": {"mode": "tag"}, "organization": {"exclude_accounts": [B]}});
    let (status, _) = w.call("PUT", &format!("/shares/{name}"), Some(body)).await;
    assert_eq!(status, 200);
    assert_eq!(
        read(&w, &b_own, B).await,
        403,
        "B's old session after the exclusion"
    );
    let b_new = session(&w, &b, role, Some(B))
        .await
        .expect("the trust still admits B");
    assert_eq!(
        read(&w, &b_new, B).await,
        403,
        "B's new session after the exclusion"
    );
    assert_eq!(
        read(&w, &c_own, C).await,
        200,
        "C's session after B's exclusion"
    );
}

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

    // Too long for plain chunks, but regular: deflated, it fits.
    let regular: Vec<String> = (0..400)
        .map(|i| format!("arn:aws:iam::222222222222:role/reader-{i:05}"))
        .collect();
    let rec = record(
        json!({"name": "huge", "grantee_account": "222222222222", "grantee_principals": regular}),
    );
    let tags = rec.to_tags().unwrap();
    assert!(tags.contains(&(ENCODING_TAG.into(), "deflate".into())));
    assert_eq!(
        ShareRecord::from_tags("trailshare-huge", pairs(&tags)),
        Ok(rec)
    );
    // Names no compression shortens enough: refused.
    let mut seed = 7u64;
    let huge: Vec<String> = (0..400)
        .map(|_| {
            let name: String = (0..40)
                .map(|_| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[(seed >> 33) as usize % 36])
                })
                .collect();
            format!("arn:aws:iam::222222222222:role/{name}")
        })
        .collect();
    let rec = record(
        json!({"name": "huge", "grantee_account": "222222222222", "grantee_principals": huge}),
    );
    assert_eq!(rec.to_tags(), Err(RecordError::TooLarge));
}

#[test]
fn an_encoding_is_written_with_every_record_and_read_only_as_known() {
    let rec = record(json!({"name": "b", "grantee_account": "222222222222"}));
    let mut tags = rec.to_tags().unwrap();
    assert!(tags.contains(&(ENCODING_TAG.into(), "json".into())));
    // A stale `deflate` from an earlier, longer record cannot outlive the
    // TagRole that writes this one: the same call writes `json`.
    assert_eq!(
        ShareRecord::from_tags("trailshare-b", pairs(&tags)),
        Ok(rec.clone())
    );
    for (encoding, chunk) in [
        ("gzip", None),
        // A deflate bomb: this very record, then 1 MiB of (valid) spaces.
        (
            "deflate",
            Some(STANDARD.encode(deflate(&(rec.json() + &" ".repeat(1 << 20))))),
        ),
    ] {
        tags.retain(|(k, _)| k != ENCODING_TAG && k != CHUNK_COUNT_TAG);
        tags.push((ENCODING_TAG.into(), encoding.into()));
        if let Some(chunk) = chunk {
            assert!(chunk.len() <= CHUNK_LEN * 8, "{}", chunk.len());
            tags.retain(|(k, _)| !k.starts_with(CHUNK_TAG));
            let pieces: Vec<String> = chunk
                .as_bytes()
                .chunks(CHUNK_LEN)
                .map(|c| String::from_utf8(c.to_vec()).unwrap())
                .collect();
            tags.extend(
                pieces
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (format!("{CHUNK_TAG}{i:02}"), c.clone())),
            );
        }
        assert!(
            matches!(
                ShareRecord::from_tags("trailshare-b", pairs(&tags)),
                Err(RecordError::Damaged(_))
            ),
            "{encoding}"
        );
    }
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

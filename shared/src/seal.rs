//! Seals: the provisioner's HMAC-SHA256 over what steers a share (its
//! record in the role's tags, its route in the role's description).
//!
//! IAM lets anyone with `iam:TagRole` or `iam:UpdateRole` on a share role
//! rewrite both, so neither may be believed unless the provisioner wrote
//! it: a seal binds the content to the role's ARN and its RoleId (a role
//! deleted and re-created under the same name has a new RoleId, so an old
//! seal does not fit it), keyed by the stack's secret, which only the two
//! functions can read.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{KeyInit, Mac};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The shortest secret accepted: HMAC-SHA256's block of security.
pub const MIN_KEY_BYTES: usize = 32;

/// What a seal covers: the same bytes must never pass for the other part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Record,
    Route,
}

impl Part {
    fn label(self) -> &'static str {
        match self {
            Part::Record => "record",
            Part::Route => "route",
        }
    }
}

/// The role a seal is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoleIdentity<'a> {
    pub arn: &'a str,
    /// IAM's `RoleId` (`AROA…`): new for every role created.
    pub role_id: &'a str,
}

/// Why a stored part is not to be believed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Distrust {
    /// Written without a seal: by an earlier version, or by hand.
    Unsigned,
    /// A seal that does not fit the content, the role or the key.
    Unauthenticated,
}

impl Distrust {
    /// The `reason` a damaged share carries in the API.
    pub fn reason(self) -> &'static str {
        match self {
            Distrust::Unsigned => "unsigned",
            Distrust::Unauthenticated => "unauthenticated",
        }
    }
}

/// The stack's share secret, as bytes. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct ShareKey(Vec<u8>);

impl std::fmt::Debug for ShareKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ShareKey(…)")
    }
}

impl ShareKey {
    /// `None` for a secret shorter than [`MIN_KEY_BYTES`].
    pub fn new(secret: impl Into<Vec<u8>>) -> Option<ShareKey> {
        let secret = secret.into();
        (secret.len() >= MIN_KEY_BYTES).then_some(ShareKey(secret))
    }

    fn mac(&self, part: Part, role: RoleIdentity<'_>, content: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key length");
        // NUL never occurs in an ARN or a RoleId, so the fields cannot run
        // into each other; the content comes last.
        for field in ["trailshare-seal-v1", part.label(), role.arn, role.role_id] {
            mac.update(field.as_bytes());
            mac.update(b"\0");
        }
        mac.update(content.as_bytes());
        mac
    }

    /// The seal of `content` as `part` of `role`: 44 characters of base64,
    /// valid in a tag value and in a role description.
    pub fn seal(&self, part: Part, role: RoleIdentity<'_>, content: &str) -> String {
        STANDARD.encode(self.mac(part, role, content).finalize().into_bytes())
    }

    /// Whether `seal` is this key's seal of `content` as `part` of `role`
    /// (compared in constant time). A missing seal is [`Distrust::Unsigned`].
    pub fn check(
        &self,
        part: Part,
        role: RoleIdentity<'_>,
        content: &str,
        seal: Option<&str>,
    ) -> Result<(), Distrust> {
        let seal = seal.ok_or(Distrust::Unsigned)?;
        let bytes = STANDARD
            .decode(seal)
            .map_err(|_| Distrust::Unauthenticated)?;
        self.mac(part, role, content)
            .verify_slice(&bytes)
            .map_err(|_| Distrust::Unauthenticated)
    }

    fn state_mac(&self, purpose: &str, subject: &str, content: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key length");
        // Its own label, so a state seal never passes for a role's seal.
        for field in ["trailshare-state-seal-v1", purpose, subject] {
            mac.update(field.as_bytes());
            mac.update(b"\0");
        }
        mac.update(content.as_bytes());
        mac
    }

    /// The seal of state the stack keeps outside IAM (a backfill run's
    /// object): `purpose` says what it is, `subject` where it is kept (its
    /// key), so it passes neither for another kind nor at another place.
    pub fn seal_state(&self, purpose: &str, subject: &str, content: &str) -> String {
        STANDARD.encode(
            self.state_mac(purpose, subject, content)
                .finalize()
                .into_bytes(),
        )
    }

    /// Whether `seal` is this key's [`ShareKey::seal_state`] of `content`.
    pub fn check_state(
        &self,
        purpose: &str,
        subject: &str,
        content: &str,
        seal: Option<&str>,
    ) -> Result<(), Distrust> {
        let seal = seal.ok_or(Distrust::Unsigned)?;
        let bytes = STANDARD
            .decode(seal)
            .map_err(|_| Distrust::Unauthenticated)?;
        self.state_mac(purpose, subject, content)
            .verify_slice(&bytes)
            .map_err(|_| Distrust::Unauthenticated)
    }
}

/// Reads the stack's share secret into a key (once per process), or says
/// what is wrong with it, naming the variable.
pub async fn load(secret: &impl crate::ports::ShareSecret) -> Result<ShareKey, String> {
    let bytes = secret
        .read()
        .await
        .map_err(|error| format!("SHARE_SECRET_ARN: the share secret cannot be read: {error}"))?;
    ShareKey::new(bytes).ok_or_else(|| {
        format!("SHARE_SECRET_ARN: the share secret is shorter than {MIN_KEY_BYTES} bytes")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLE: RoleIdentity<'static> = RoleIdentity {
        arn: "arn:aws:iam::111111111111:role/trailshare/trailshare-b",
        role_id: "AROAEXAMPLE1111111111",
    };

    fn key(byte: u8) -> ShareKey {
        ShareKey::new(vec![byte; 32]).unwrap()
    }

    #[test]
    fn a_seal_holds_only_for_its_content_role_part_and_key() {
        let seal = key(1).seal(Part::Record, ROLE, "{\"a\":1}");
        assert_eq!(seal.len(), 44);
        assert_eq!(
            key(1).check(Part::Record, ROLE, "{\"a\":1}", Some(&seal)),
            Ok(())
        );
        let recreated = RoleIdentity {
            role_id: "AROAEXAMPLE2222222222",
            ..ROLE
        };
        let other_role = RoleIdentity {
            arn: "arn:aws:iam::111111111111:role/trailshare/trailshare-c",
            ..ROLE
        };
        for (k, part, role, content) in [
            (key(1), Part::Record, ROLE, "{\"a\":2}"),
            (key(1), Part::Route, ROLE, "{\"a\":1}"),
            (key(1), Part::Record, recreated, "{\"a\":1}"),
            (key(1), Part::Record, other_role, "{\"a\":1}"),
            (key(2), Part::Record, ROLE, "{\"a\":1}"),
        ] {
            assert_eq!(
                k.check(part, role, content, Some(&seal)),
                Err(Distrust::Unauthenticated)
            );
        }
        assert_eq!(
            key(1).check(Part::Record, ROLE, "x", Some("not base64!")),
            Err(Distrust::Unauthenticated)
        );
        assert_eq!(
            key(1).check(Part::Record, ROLE, "x", None),
            Err(Distrust::Unsigned)
        );
    }

    #[test]
    fn short_secrets_are_refused_and_never_printed() {
        assert!(ShareKey::new(vec![0u8; 31]).is_none());
        assert_eq!(format!("{:?}", key(7)), "ShareKey(…)");
    }
}

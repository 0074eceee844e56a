//! Builds directories of CloudTrail log and digest files signed the way
//! CloudTrail signs them, with a key the test generates: for tests (and
//! demos) of `verify`, since nobody but CloudTrail holds CloudTrail's keys.
//! Enabled by the `testkit` feature.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use base64::Engine;
use flate2::write::GzEncoder;
use flate2::Compression;
use rsa::pkcs1::EncodeRsaPublicKey;
use rsa::sha2::Sha256;
use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use super::digest::{sha256_hex, DigestFile, LogFileEntry, HASH_ALGORITHM, SIGNATURE_ALGORITHM};
use super::keys::fingerprint;

/// An RSA key pair standing in for CloudTrail's regional signing key.
pub struct TestKey {
    private: rsa::PrivateKey,
    /// PKCS#1 DER of the public key, as `ListPublicKeys` returns it.
    public_der: Vec<u8>,
}

impl TestKey {
    /// A fresh 2048-bit key (CloudTrail's keys are 2048-bit).
    pub fn generate() -> TestKey {
        let mut rng = getrandom::SysRng;
        let private = rsa::PrivateKey::new(&mut rng, 2048).expect("RSA key generation");
        let public_der = private
            .to_public_key()
            .to_pkcs1_der()
            .expect("PKCS#1 encoding")
            .as_bytes()
            .to_vec();
        TestKey {
            private,
            public_der,
        }
    }

    /// Hex MD5 of the public key's DER: what digests name.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.public_der)
    }

    pub fn public_der(&self) -> &[u8] {
        &self.public_der
    }

    /// Hex SHA256withRSA signature of `text`.
    pub fn sign_hex(&self, text: &str) -> String {
        hex::encode(
            self.private
                .pkcs1v15_sign::<Sha256>(text.as_bytes())
                .expect("RSA signing"),
        )
    }
}

/// The JSON `aws cloudtrail list-public-keys` prints for these keys.
pub fn list_public_keys_json(keys: &[&TestKey]) -> String {
    let list: Vec<_> = keys
        .iter()
        .map(|key| {
            json!({
                "Value": base64::engine::general_purpose::STANDARD.encode(&key.public_der),
                "ValidityStartTime": "2026-01-01T00:00:00+00:00",
                "ValidityEndTime": "2026-12-31T00:00:00+00:00",
                "Fingerprint": key.fingerprint(),
            })
        })
        .collect();
    serde_json::to_string_pretty(&json!({ "PublicKeyList": list })).expect("JSON")
}

/// Gzip, as CloudTrail stores its files.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).expect("gzip to memory");
    encoder.finish().expect("gzip to memory")
}

/// A digest written by [`Trail::seal`].
#[derive(Clone, Debug)]
pub struct Sealed {
    /// Relative path in the directory: `<dir prefix><digestS3Object>`.
    pub path: String,
    /// The S3 key CloudTrail wrote it to (`digestS3Object`).
    pub key: String,
    /// Hex signature: the S3 metadata `signature`, also in `<path>.sig`.
    pub signature: String,
    /// The log files it lists (relative paths).
    pub log_files: Vec<String>,
    uncompressed_sha256: String,
}

/// One trail's files in one account and region, written hour by hour into a
/// directory (optionally under a prefix, like a forwarded copy).
pub struct Trail<'k> {
    root: PathBuf,
    /// Prepended to every key in the directory (a copy's delivery prefix).
    pub dir_prefix: String,
    pub bucket: String,
    pub account: String,
    pub region: String,
    pub trail_name: String,
    key: &'k TestKey,
    /// Start of hour 0 (digest periods start here, hour by hour).
    pub start: OffsetDateTime,
    /// Log files written per hour, not sealed yet.
    pending: Vec<Vec<LogFileEntry>>,
    /// The last digest sealed: what the next one chains to.
    pub previous: Option<Sealed>,
    files_written: usize,
}

impl<'k> Trail<'k> {
    pub fn new(root: &Path, key: &'k TestKey) -> Trail<'k> {
        Trail {
            root: root.to_path_buf(),
            dir_prefix: String::new(),
            bucket: "central-trail-logs".into(),
            account: "222222222222".into(),
            region: "eu-west-1".into(),
            trail_name: "org-trail".into(),
            key,
            start: OffsetDateTime::parse("2026-03-02T09:01:31Z", &Rfc3339).expect("time"),
            pending: Vec::new(),
            previous: None,
            files_written: 0,
        }
    }

    fn hour_start(&self, hour: usize) -> OffsetDateTime {
        self.start + Duration::hours(hour as i64)
    }

    fn date_path(&self, at: OffsetDateTime) -> String {
        format!("{:04}/{:02}/{:02}", at.year(), at.month() as u8, at.day())
    }

    fn write(&self, key: &str, bytes: &[u8]) -> io::Result<String> {
        let rel = format!("{}{}", self.dir_prefix, key);
        let path = self.root.join(&rel);
        fs::create_dir_all(path.parent().expect("a key has a folder"))?;
        fs::write(path, bytes)?;
        Ok(rel)
    }

    /// Writes a gzip log file of `events` delivered in `hour`; returns its
    /// relative path.
    pub fn log_file(&mut self, hour: usize, events: usize) -> io::Result<String> {
        self.files_written += 1;
        let delivered =
            self.hour_start(hour) + Duration::minutes(5 + (self.files_written % 50) as i64);
        let stamp = format!(
            "{:04}{:02}{:02}T{:02}{:02}Z",
            delivered.year(),
            delivered.month() as u8,
            delivered.day(),
            delivered.hour(),
            delivered.minute()
        );
        let key = format!(
            "AWSLogs/{acct}/CloudTrail/{region}/{date}/{acct}_CloudTrail_{region}_{stamp}_{unique:016X}.json.gz",
            acct = self.account,
            region = self.region,
            date = self.date_path(delivered),
            unique = (self.files_written as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        let records: Vec<_> = (0..events)
            .map(|n| {
                json!({
                    "eventVersion": "1.10",
                    "userIdentity": {"type": "AssumedRole", "accountId": self.account,
                        "arn": format!("arn:aws:sts::{}:assumed-role/ops/session-{n}", self.account)},
                    "eventTime": (delivered - Duration::minutes(3)).format(&Rfc3339).expect("format"),
                    "eventSource": "s3.amazonaws.com",
                    "eventName": "GetObject",
                    "awsRegion": self.region,
                    "sourceIPAddress": "203.0.113.7",
                    "requestParameters": {"bucketName": "app-data", "key": format!("reports/{n}.csv")},
                    "eventID": format!("{:08x}-0000-4000-8000-{:012x}", self.files_written, n),
                    "readOnly": true,
                    "recipientAccountId": self.account,
                })
            })
            .collect();
        let content = serde_json::to_vec(&json!({ "Records": records })).expect("JSON");
        let rel = self.write(&key, &gzip(&content))?;
        if self.pending.len() <= hour {
            self.pending.resize(hour + 1, Vec::new());
        }
        self.pending[hour].push(LogFileEntry {
            s3_bucket: self.bucket.clone(),
            s3_object: key,
            hash_value: sha256_hex(&content),
            hash_algorithm: HASH_ALGORITHM.into(),
        });
        Ok(rel)
    }

    /// Writes the digest of `hour`, listing its log files, chained to the
    /// previous sealed digest and signed with `signer` (normally the trail's
    /// key), and its `.sig`. Sealing hours out of order makes a chain out
    /// of order, as only a holder of the key could.
    pub fn seal_with(&mut self, hour: usize, signer: &TestKey) -> io::Result<Sealed> {
        let start = self.hour_start(hour);
        let end = start + Duration::hours(1);
        let stamp = format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            end.year(),
            end.month() as u8,
            end.day(),
            end.hour(),
            end.minute(),
            end.second()
        );
        let key = format!(
            "AWSLogs/{acct}/CloudTrail-Digest/{region}/{date}/{acct}_CloudTrail-Digest_{region}_{trail}_{region}_{stamp}.json.gz",
            acct = self.account,
            region = self.region,
            date = self.date_path(end),
            trail = self.trail_name,
        );
        let log_files = self
            .pending
            .get_mut(hour)
            .map(std::mem::take)
            .unwrap_or_default();
        let previous = self.previous.as_ref();
        let digest = DigestFile {
            aws_account_id: self.account.clone(),
            digest_start_time: start.format(&Rfc3339).expect("format"),
            digest_end_time: end.format(&Rfc3339).expect("format"),
            digest_s3_bucket: self.bucket.clone(),
            digest_s3_object: key.clone(),
            digest_public_key_fingerprint: signer.fingerprint(),
            digest_signature_algorithm: SIGNATURE_ALGORITHM.into(),
            previous_digest_s3_bucket: previous.map(|_| self.bucket.clone()),
            previous_digest_s3_object: previous.map(|p| p.key.clone()),
            previous_digest_hash_value: previous.map(|p| p.uncompressed_sha256.clone()),
            previous_digest_hash_algorithm: previous.map(|_| HASH_ALGORITHM.into()),
            previous_digest_signature: previous.map(|p| p.signature.clone()),
            log_files,
        };
        let mut value = serde_json::to_value(&digest).expect("JSON");
        let (oldest, newest) = match digest.log_files.is_empty() {
            true => (serde_json::Value::Null, serde_json::Value::Null),
            false => (
                json!(start.format(&Rfc3339).expect("format")),
                json!((end - Duration::minutes(2))
                    .format(&Rfc3339)
                    .expect("format")),
            ),
        };
        value["oldestEventTime"] = oldest.clone();
        value["newestEventTime"] = newest.clone();
        for log in value["logFiles"].as_array_mut().expect("a list") {
            log["oldestEventTime"] = oldest.clone();
            log["newestEventTime"] = newest.clone();
        }
        let content = serde_json::to_vec(&value).expect("JSON");
        let uncompressed_sha256 = sha256_hex(&content);
        let signature = signer.sign_hex(&digest.signing_string(&uncompressed_sha256));
        let path = self.write(&key, &gzip(&content))?;
        fs::write(self.root.join(format!("{path}.sig")), &signature)?;
        let sealed = Sealed {
            path,
            key,
            signature,
            log_files: digest
                .log_files
                .iter()
                .map(|log| format!("{}{}", self.dir_prefix, log.s3_object))
                .collect(),
            uncompressed_sha256,
        };
        self.previous = Some(sealed.clone());
        Ok(sealed)
    }

    /// Replaces a sealed digest with the same fields signed by `signer`
    /// (what someone who can write the bucket, but lacks CloudTrail's key,
    /// can do); returns the signature, also written to its `.sig`.
    pub fn forge(&self, sealed: &Sealed, signer: &TestKey) -> io::Result<String> {
        let path = self.root.join(&sealed.path);
        let raw = super::digest::gunzip_digest(&fs::read(&path)?)?;
        let mut value: serde_json::Value = serde_json::from_slice(&raw)?;
        value["digestPublicKeyFingerprint"] = json!(signer.fingerprint());
        let content = serde_json::to_vec(&value)?;
        let file: DigestFile = serde_json::from_slice(&content)?;
        let signature = signer.sign_hex(&file.signing_string(&sha256_hex(&content)));
        fs::write(&path, gzip(&content))?;
        fs::write(self.root.join(format!("{}.sig", sealed.path)), &signature)?;
        Ok(signature)
    }

    /// [`Trail::seal_with`] the trail's own key.
    pub fn seal(&mut self, hour: usize) -> io::Result<Sealed> {
        self.seal_with(hour, self.key)
    }
}

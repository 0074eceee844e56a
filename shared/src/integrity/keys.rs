//! CloudTrail's public keys, as `ListPublicKeys` returns them.

use std::collections::HashMap;

use base64::Engine;
use md5::{Digest, Md5};
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs8::DecodePublicKey;
use serde::Deserialize;

/// Public keys by fingerprint: the hex MD5 of the key's DER bytes, the value
/// a digest names in `digestPublicKeyFingerprint`.
#[derive(Clone, Debug, Default)]
pub struct PublicKeys {
    keys: HashMap<String, rsa::PublicKey>,
}

/// Why a key list cannot be used. Each message names the entry.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("not the JSON of `aws cloudtrail list-public-keys`: {0}")]
    NotAKeyList(String),
    #[error("public key {index}: Value is not base64: {error}")]
    NotBase64 { index: usize, error: String },
    #[error("public key {fingerprint}: Value is not a DER RSA public key (PKCS#1 or SubjectPublicKeyInfo)")]
    NotRsa { fingerprint: String },
    #[error("public key {fingerprint}: the MD5 of its Value is {computed}, not its Fingerprint")]
    FingerprintMismatch {
        fingerprint: String,
        computed: String,
    },
}

/// `aws cloudtrail list-public-keys` prints `PublicKeyList`; the user guide's
/// older sample says `publicKeyList`. The validity times are not needed: the
/// fingerprint names the key.
#[derive(Deserialize)]
struct KeyList {
    #[serde(rename = "PublicKeyList", alias = "publicKeyList")]
    keys: Vec<KeyEntry>,
}

#[derive(Deserialize)]
struct KeyEntry {
    #[serde(rename = "Value")]
    value: String,
    #[serde(rename = "Fingerprint")]
    fingerprint: String,
}

/// The hex MD5 of a key's DER bytes: CloudTrail's fingerprint (checked on the
/// keys of the user guide's `list-public-keys` sample, both encodings).
pub fn fingerprint(der: &[u8]) -> String {
    hex::encode(Md5::digest(der))
}

impl PublicKeys {
    /// Reads the JSON of `aws cloudtrail list-public-keys` (the CLI prints
    /// each `Value` in base64).
    pub fn from_list_public_keys_json(json: &str) -> Result<Self, KeysError> {
        let list: KeyList = serde_json::from_str(json)
            .map_err(|error| KeysError::NotAKeyList(error.to_string()))?;
        let mut keys = PublicKeys::default();
        for (index, entry) in list.keys.iter().enumerate() {
            let der = base64::engine::general_purpose::STANDARD
                .decode(entry.value.trim())
                .map_err(|error| KeysError::NotBase64 {
                    index,
                    error: error.to_string(),
                })?;
            keys.insert_der(&entry.fingerprint, &der)?;
        }
        Ok(keys)
    }

    /// Adds one key as the `ListPublicKeys` API returns it: DER bytes, either
    /// PKCS#1 `RSAPublicKey` (what the user guide says) or
    /// `SubjectPublicKeyInfo` (what some of its keys are). The fingerprint
    /// must be the key's MD5, so a key list cannot name the wrong key.
    pub fn insert_der(&mut self, fingerprint: &str, der: &[u8]) -> Result<(), KeysError> {
        let fingerprint = fingerprint.trim().to_ascii_lowercase();
        let computed = self::fingerprint(der);
        if computed != fingerprint {
            return Err(KeysError::FingerprintMismatch {
                fingerprint,
                computed,
            });
        }
        let key = rsa::PublicKey::from_pkcs1_der(der)
            .or_else(|_| rsa::PublicKey::from_public_key_der(der))
            .map_err(|_| KeysError::NotRsa {
                fingerprint: fingerprint.clone(),
            })?;
        self.keys.insert(fingerprint, key);
        Ok(())
    }

    /// Adds every key of `other`.
    pub fn extend(&mut self, other: PublicKeys) {
        self.keys.extend(other.keys);
    }

    /// The key a digest's `digestPublicKeyFingerprint` names.
    pub fn get(&self, fingerprint: &str) -> Option<&rsa::PublicKey> {
        self.keys.get(&fingerprint.to_ascii_lowercase())
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

//! Tokens at rest: AES-256-GCM under a keyring. Each sealed value is `nonce (12 bytes) ||
//! ciphertext+tag`, bound by the associated data to the portal and the token's role, so a
//! sealed refresh token copied into another row (or into the access token's column) does not
//! open. The key id is stored beside the value, so keys can rotate: new values are sealed with
//! the current key, old ones still open with the key that sealed them.
//!
//! A keyring is written `id:BASE64KEY[,id:BASE64KEY...]`, the current key first; the same text
//! comes from `TOKEN_ENCRYPTION_KEYS` locally or from Secrets Manager in Lambda.

use std::collections::HashMap;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use secrecy::{ExposeSecret, SecretString};

const NONCE_LEN: usize = 12;

/// Which token a sealed value holds (part of the associated data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRole {
    Access,
    Refresh,
    /// A connect's PKCE verifier, waiting for the callback.
    PkceVerifier,
}

impl TokenRole {
    fn as_str(self) -> &'static str {
        match self {
            TokenRole::Access => "access",
            TokenRole::Refresh => "refresh",
            TokenRole::PkceVerifier => "pkce-verifier",
        }
    }
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum KeyringError {
    #[error("the token keyring is empty")]
    Empty,
    #[error("token key {0:?} is not written id:BASE64")]
    Malformed(String),
    #[error("token key {0:?} is not 32 bytes of base64")]
    BadKey(String),
    #[error("token key id {0:?} appears twice")]
    DuplicateId(String),
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum CipherError {
    #[error("no token key with id {0:?} (was it removed from the keyring?)")]
    UnknownKey(String),
    /// Wrong key, wrong portal or role, or altered bytes: GCM's tag does not verify.
    #[error("a sealed token does not open")]
    DoesNotOpen,
}

/// The keys tokens are sealed and opened with.
pub struct TokenKeyring {
    current_id: String,
    keys: HashMap<String, Aes256Gcm>,
}

impl std::fmt::Debug for TokenKeyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut ids: Vec<&String> = self.keys.keys().collect();
        ids.sort();
        f.debug_struct("TokenKeyring")
            .field("current_id", &self.current_id)
            .field("key_ids", &ids)
            .finish_non_exhaustive()
    }
}

impl TokenKeyring {
    /// Parses `id:BASE64KEY[,id:BASE64KEY...]`; the first key seals.
    pub fn parse(text: &SecretString) -> Result<Self, KeyringError> {
        let mut current_id = None;
        let mut keys = HashMap::new();
        for entry in text
            .expose_secret()
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            let (id, key) = entry
                .split_once(':')
                .filter(|(id, _)| !id.trim().is_empty())
                .ok_or_else(|| KeyringError::Malformed(redacted(entry)))?;
            let id = id.trim().to_owned();
            let bytes = STANDARD
                .decode(key.trim())
                .ok()
                .filter(|bytes| bytes.len() == 32)
                .ok_or_else(|| KeyringError::BadKey(id.clone()))?;
            let cipher =
                Aes256Gcm::new_from_slice(&bytes).map_err(|_| KeyringError::BadKey(id.clone()))?;
            if keys.insert(id.clone(), cipher).is_some() {
                return Err(KeyringError::DuplicateId(id));
            }
            current_id.get_or_insert(id);
        }
        Ok(Self {
            current_id: current_id.ok_or(KeyringError::Empty)?,
            keys,
        })
    }

    /// The id of the key new values are sealed with.
    pub fn current_id(&self) -> &str {
        &self.current_id
    }

    /// Seals `token` with the current key for `portal_id`'s `role`.
    pub fn seal(&self, portal_id: i64, role: TokenRole, token: &SecretString) -> Vec<u8> {
        let cipher = &self.keys[&self.current_id];
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let aad = associated_data(portal_id, role);
        let sealed = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: token.expose_secret().as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            // Encryption fails only past GCM's length limit (64 GB), never for a token.
            .expect("AES-GCM seals a token");
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Opens a value sealed by [`seal`](Self::seal) with key `key_id`.
    pub fn open(
        &self,
        key_id: &str,
        portal_id: i64,
        role: TokenRole,
        sealed: &[u8],
    ) -> Result<SecretString, CipherError> {
        let cipher = self
            .keys
            .get(key_id)
            .ok_or_else(|| CipherError::UnknownKey(key_id.to_owned()))?;
        if sealed.len() <= NONCE_LEN {
            return Err(CipherError::DoesNotOpen);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let aad = associated_data(portal_id, role);
        let plain = cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| CipherError::DoesNotOpen)?;
        String::from_utf8(plain)
            .map(SecretString::from)
            .map_err(|_| CipherError::DoesNotOpen)
    }
}

fn associated_data(portal_id: i64, role: TokenRole) -> String {
    format!("warp:hubspot-installation:{portal_id}:{}", role.as_str())
}

/// An entry's id only: a malformed entry may still hold key material.
fn redacted(entry: &str) -> String {
    entry
        .split_once(':')
        .map_or("(no id)", |(id, _)| id)
        .chars()
        .take(16)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> String {
        STANDARD.encode([byte; 32])
    }

    fn keyring(text: &str) -> TokenKeyring {
        TokenKeyring::parse(&SecretString::from(text.to_owned())).unwrap()
    }

    #[test]
    fn a_token_opens_only_for_its_portal_role_and_key() {
        let ring = keyring(&format!("k1:{}", key(1)));
        let token = SecretString::from("refresh-abc".to_owned());
        let sealed = ring.seal(7, TokenRole::Refresh, &token);
        assert!(!sealed.windows(11).any(|w| w == b"refresh-abc"));
        let opened = ring.open("k1", 7, TokenRole::Refresh, &sealed).unwrap();
        assert_eq!(opened.expose_secret(), "refresh-abc");
        assert_eq!(
            ring.open("k1", 8, TokenRole::Refresh, &sealed).unwrap_err(),
            CipherError::DoesNotOpen
        );
        assert_eq!(
            ring.open("k1", 7, TokenRole::Access, &sealed).unwrap_err(),
            CipherError::DoesNotOpen
        );
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert_eq!(
            ring.open("k1", 7, TokenRole::Refresh, &altered)
                .unwrap_err(),
            CipherError::DoesNotOpen
        );
        assert_eq!(
            ring.open("k9", 7, TokenRole::Refresh, &sealed).unwrap_err(),
            CipherError::UnknownKey("k9".into())
        );
        // A fresh nonce each time: the same token never seals to the same bytes.
        assert_ne!(ring.seal(7, TokenRole::Refresh, &token), sealed);
    }

    #[test]
    fn a_rotated_keyring_seals_with_the_new_key_and_opens_the_old_values() {
        let old = keyring(&format!("k1:{}", key(1)));
        let sealed = old.seal(7, TokenRole::Access, &SecretString::from("a".to_owned()));
        let rotated = keyring(&format!("k2:{}, k1:{}", key(2), key(1)));
        assert_eq!(rotated.current_id(), "k2");
        assert_eq!(
            rotated
                .open("k1", 7, TokenRole::Access, &sealed)
                .unwrap()
                .expose_secret(),
            "a"
        );
        assert!(
            old.open(
                "k1",
                7,
                TokenRole::Access,
                &rotated.seal(7, TokenRole::Access, &SecretString::from("b".to_owned()))
            )
            .is_err()
        );
    }

    #[test]
    fn a_bad_keyring_is_refused_without_echoing_key_material() {
        let parse = |text: &str| TokenKeyring::parse(&SecretString::from(text.to_owned()));
        assert_eq!(parse("").unwrap_err(), KeyringError::Empty);
        assert_eq!(
            parse("k1:c2hvcnQ=").unwrap_err(),
            KeyringError::BadKey("k1".into())
        );
        assert_eq!(
            parse("justakeywithoutid").unwrap_err(),
            KeyringError::Malformed("(no id)".into())
        );
        assert_eq!(
            parse(&format!("k1:{},k1:{}", key(1), key(2))).unwrap_err(),
            KeyringError::DuplicateId("k1".into())
        );
        let debug = format!("{:?}", keyring(&format!("k1:{}", key(1))));
        assert!(!debug.contains(&key(1)), "{debug}");
    }
}

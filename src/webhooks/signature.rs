//! Standard Webhooks signatures: `webhook-signature: v1,<base64 HMAC-SHA256>`
//! over `{webhook-id}.{webhook-timestamp}.{body}`, keyed with the bytes that
//! `WEBHOOK_SECRET` carries base64-encoded after its `whsec_` prefix
//! (<https://www.standardwebhooks.com/>).

use base64::{engine::general_purpose::STANDARD, Engine};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The prefix of a Standard Webhooks secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// Shortest key accepted: the Standard Webhooks specification asks for at
/// least 24 bytes (192 bits).
pub const MIN_KEY_BYTES: usize = 24;

/// The key webhook requests are signed with.
#[derive(Clone)]
pub struct SigningKey(Vec<u8>);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({} bytes)", self.0.len())
    }
}

impl SigningKey {
    /// Reads a `whsec_…` secret. The error says what is wrong, never the
    /// secret.
    pub fn from_secret(secret: &str) -> Result<Self, String> {
        let Some(encoded) = secret.strip_prefix(SECRET_PREFIX) else {
            return Err(format!("must start with `{SECRET_PREFIX}`"));
        };
        let key = STANDARD
            .decode(encoded)
            .map_err(|_| format!("the part after `{SECRET_PREFIX}` must be base64"))?;
        if key.len() < MIN_KEY_BYTES {
            return Err(format!(
                "the key must be at least {MIN_KEY_BYTES} bytes (it is {}; e.g. {SECRET_PREFIX}$(openssl rand -base64 32))",
                key.len()
            ));
        }
        Ok(Self(key))
    }

    /// The `webhook-signature` header value for one request.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.0) else {
            return String::new();
        };
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_like_the_standard_webhooks_reference_example() {
        // The example of the Standard Webhooks reference libraries.
        let key = SigningKey::from_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("key");
        let signature = key.sign(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn secrets_without_the_prefix_not_base64_or_too_short_are_refused() {
        assert!(SigningKey::from_secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_err());
        assert!(SigningKey::from_secret("whsec_not base64!").is_err());
        let short = SigningKey::from_secret("whsec_c2hvcnQ=").expect_err("5 bytes");
        assert!(short.contains("24"), "{short}");
        assert!(
            !short.contains("c2hvcnQ"),
            "the secret is not shown: {short}"
        );
    }
}

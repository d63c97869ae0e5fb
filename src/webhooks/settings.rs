//! The webhook configuration: `WEBHOOK_URLS`, `WEBHOOK_SECRET`, and the
//! advanced `WEBHOOK_RETRY_DELAYS_MS`.

use std::{collections::HashMap, time::Duration};

use super::signature::{SigningKey, SECRET_PREFIX};
use crate::{config_error::ConfigError, redact::redact_url_password};

/// The retry delays when `WEBHOOK_RETRY_DELAYS_MS` is not set: after the
/// first failed attempt 5 s, then growing to 10 h; 11 attempts over about
/// 30 h 43 min before a delivery is given up.
pub const DEFAULT_RETRY_DELAYS: [Duration; 10] = [
    Duration::from_secs(5),
    Duration::from_secs(30),
    Duration::from_secs(2 * 60),
    Duration::from_secs(10 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(60 * 60),
    Duration::from_secs(3 * 60 * 60),
    Duration::from_secs(6 * 60 * 60),
    Duration::from_secs(10 * 60 * 60),
    Duration::from_secs(10 * 60 * 60),
];

/// How long a receiver has to answer (the contract's 10 s).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where events go and how they are signed and retried.
#[derive(Clone)]
pub struct WebhookSettings {
    /// `WEBHOOK_URLS`: every event is POSTed to each (http or https).
    pub urls: Vec<reqwest::Url>,
    /// `WEBHOOK_SECRET`: the signing key.
    pub key: SigningKey,
    /// `WEBHOOK_RETRY_DELAYS_MS`: the wait after each failed attempt, in
    /// order; a delivery is given up after one failure more than there are
    /// delays.
    pub retry_delays: Vec<Duration>,
    /// How long a receiver has to answer (not configurable by environment;
    /// tests shorten it).
    pub attempt_timeout: Duration,
}

impl std::fmt::Debug for WebhookSettings {
    /// Without the key, and without passwords in the URLs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let urls: Vec<String> = self
            .urls
            .iter()
            .map(|url| redact_url_password(url.as_str()))
            .collect();
        f.debug_struct("WebhookSettings")
            .field("urls", &urls)
            .field("key", &self.key)
            .field("retry_delays", &self.retry_delays)
            .field("attempt_timeout", &self.attempt_timeout)
            .finish()
    }
}

impl WebhookSettings {
    /// Settings for `urls` signed with `key`, with the default schedule.
    pub fn new(urls: Vec<reqwest::Url>, key: SigningKey) -> Self {
        Self {
            urls,
            key,
            retry_delays: DEFAULT_RETRY_DELAYS.to_vec(),
            attempt_timeout: ATTEMPT_TIMEOUT,
        }
    }
}

/// Reads the webhook variables; `None` when `WEBHOOK_URLS` is empty.
pub(crate) fn from_vars(
    vars: &HashMap<String, String>,
) -> Result<Option<WebhookSettings>, ConfigError> {
    let get = |name: &str| vars.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let secret = get("WEBHOOK_SECRET");
    // A malformed secret is refused even without URLs: it was meant for use.
    let key = secret
        .map(|secret| {
            SigningKey::from_secret(secret).map_err(|reason| ConfigError::Invalid {
                name: "WEBHOOK_SECRET",
                value: format!("{} characters", secret.len()),
                reason,
            })
        })
        .transpose()?;
    let Some(urls) = get("WEBHOOK_URLS") else {
        return Ok(None);
    };
    let urls = urls
        .split(',')
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .map(parse_url)
        .collect::<Result<Vec<_>, _>>()?;
    if urls.is_empty() {
        return Ok(None);
    }
    let Some(key) = key else {
        return Err(ConfigError::Invalid {
            name: "WEBHOOK_SECRET",
            value: String::new(),
            reason: format!(
                "required when WEBHOOK_URLS is set: `{SECRET_PREFIX}` followed by the base64 signing key"
            ),
        });
    };
    let mut settings = WebhookSettings::new(urls, key);
    if let Some(value) = get("WEBHOOK_RETRY_DELAYS_MS") {
        settings.retry_delays = retry_delays(value)?;
    }
    Ok(Some(settings))
}

fn parse_url(value: &str) -> Result<reqwest::Url, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid {
        name: "WEBHOOK_URLS",
        value: redact_url_password(value),
        reason,
    };
    let url = reqwest::Url::parse(value).map_err(|err| invalid(err.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(invalid("expected an http:// or https:// URL".to_owned()));
    }
    Ok(url)
}

fn retry_delays(value: &str) -> Result<Vec<Duration>, ConfigError> {
    let invalid = || ConfigError::Invalid {
        name: "WEBHOOK_RETRY_DELAYS_MS",
        value: value.to_owned(),
        reason: "expected comma-separated delays in milliseconds, each above 0".to_owned(),
    };
    value
        .split(',')
        .map(|delay| match delay.trim().parse::<u64>() {
            Ok(ms) if ms > 0 => Ok(Duration::from_millis(ms)),
            _ => Err(invalid()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_default_schedule_retries_within_10_s_then_for_at_least_24_h() {
        assert!(DEFAULT_RETRY_DELAYS[0] <= Duration::from_secs(10));
        assert!(DEFAULT_RETRY_DELAYS.windows(2).all(|w| w[0] <= w[1]));
        let total: Duration = DEFAULT_RETRY_DELAYS.iter().sum();
        assert!(total >= Duration::from_secs(24 * 60 * 60), "{total:?}");
    }

    #[test]
    fn urls_and_secret_are_read_and_the_schedule_may_be_shortened() {
        let settings = from_vars(&vars(&[
            (
                "WEBHOOK_URLS",
                "https://a.example/hook, http://127.0.0.1:9000/b",
            ),
            ("WEBHOOK_SECRET", SECRET),
            ("WEBHOOK_RETRY_DELAYS_MS", "10,20"),
        ]))
        .expect("valid")
        .expect("on");
        assert_eq!(settings.urls.len(), 2);
        assert_eq!(settings.urls[0].as_str(), "https://a.example/hook");
        assert_eq!(
            settings.retry_delays,
            [Duration::from_millis(10), Duration::from_millis(20)]
        );
        assert_eq!(settings.attempt_timeout, Duration::from_secs(10));
        let with_password = from_vars(&vars(&[
            ("WEBHOOK_URLS", "https://hook:hunter2@a.example/x"),
            ("WEBHOOK_SECRET", SECRET),
        ]))
        .expect("valid");
        let shown = format!("{with_password:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains(SECRET),
            "{shown}"
        );
        assert!(from_vars(&HashMap::new()).expect("valid").is_none());
    }

    #[test]
    fn urls_without_a_secret_are_refused_naming_webhook_secret() {
        let err =
            from_vars(&vars(&[("WEBHOOK_URLS", "https://a.example/hook")])).expect_err("no secret");
        assert!(err.to_string().contains("WEBHOOK_SECRET"), "{err}");
    }

    #[test]
    fn a_malformed_secret_or_url_is_refused_naming_its_variable() {
        for secret in ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_%%%not-base64%%%"] {
            let err = from_vars(&vars(&[
                ("WEBHOOK_URLS", "https://a.example/hook"),
                ("WEBHOOK_SECRET", secret),
            ]))
            .expect_err("bad secret");
            let shown = err.to_string();
            assert!(shown.contains("WEBHOOK_SECRET"), "{shown}");
            assert!(!shown.contains(secret), "the secret is not shown: {shown}");
        }
        for url in [
            "ftp://a.example/x",
            "not a url",
            "https://user:hunter2@[bad",
        ] {
            let err = from_vars(&vars(&[("WEBHOOK_URLS", url), ("WEBHOOK_SECRET", SECRET)]))
                .expect_err("bad url");
            let shown = err.to_string();
            assert!(shown.contains("WEBHOOK_URLS"), "{shown}");
            assert!(!shown.contains("hunter2"), "{shown}");
        }
        let err = from_vars(&vars(&[
            ("WEBHOOK_URLS", "https://a.example/hook"),
            ("WEBHOOK_SECRET", SECRET),
            ("WEBHOOK_RETRY_DELAYS_MS", "5,0"),
        ]))
        .expect_err("a zero delay");
        assert!(err.to_string().contains("WEBHOOK_RETRY_DELAYS_MS"), "{err}");
    }
}

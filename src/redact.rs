//! Secrets kept out of logs and error messages.

/// A database or Redis URL fit for logs and errors:
/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`. Credentials
/// without a `:` may be a bare password (`redis://secret@host`): all hidden.
pub fn redact_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((credentials, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match credentials.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => format!("{scheme}://***@{host}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden_and_the_rest_kept() {
        assert_eq!(
            redact_url_password("postgres://user:secret@host/db"),
            "postgres://user:***@host/db"
        );
        assert_eq!(
            redact_url_password("redis://secret@host:6379"),
            "redis://***@host:6379"
        );
        assert_eq!(
            redact_url_password("sqlite://canvas.db"),
            "sqlite://canvas.db"
        );
    }
}

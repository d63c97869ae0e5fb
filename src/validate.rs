//! Input rules shared by handlers; each failure is a 422 naming the field.

use crate::error::AppError;

/// Longest accepted email (RFC 5321 path limit).
const MAX_EMAIL_CHARS: usize = 254;
/// Shortest accepted password.
const MIN_PASSWORD_CHARS: usize = 8;
/// Longest accepted password (hashing cost grows with length).
const MAX_PASSWORD_CHARS: usize = 1024;
/// Longest display name.
const MAX_DISPLAY_NAME_CHARS: usize = 100;
/// Longest board name.
const MAX_BOARD_NAME_CHARS: usize = 200;

/// Trims and lowercases an email (how emails are stored and looked up).
pub fn normalize_email(raw: &str) -> String {
    raw.trim().to_lowercase()
}

/// A normalized email that looks like one: `local@domain.tld`, no spaces.
pub fn email(raw: &str) -> Result<String, AppError> {
    let email = normalize_email(raw);
    let looks_valid = email.chars().count() <= MAX_EMAIL_CHARS
        && !email.chars().any(char::is_whitespace)
        && match email.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains("..")
            }
            None => false,
        };
    if looks_valid {
        Ok(email)
    } else {
        Err(AppError::validation("email: must be an email address"))
    }
}

/// A password of acceptable length.
pub fn password(raw: &str) -> Result<(), AppError> {
    let chars = raw.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        Err(AppError::validation(format!(
            "password: must be at least {MIN_PASSWORD_CHARS} characters"
        )))
    } else if chars > MAX_PASSWORD_CHARS {
        Err(AppError::validation(format!(
            "password: must be at most {MAX_PASSWORD_CHARS} characters"
        )))
    } else {
        Ok(())
    }
}

/// A trimmed display name of 1–100 characters.
pub fn display_name(raw: &str) -> Result<String, AppError> {
    trimmed_text("display_name", raw, MAX_DISPLAY_NAME_CHARS)
}

/// A trimmed board name of 1–200 characters.
pub fn board_name(raw: &str) -> Result<String, AppError> {
    trimmed_text("name", raw, MAX_BOARD_NAME_CHARS)
}

fn trimmed_text(field: &str, raw: &str, max_chars: usize) -> Result<String, AppError> {
    let text = raw.trim();
    let chars = text.chars().count();
    if chars == 0 || chars > max_chars {
        return Err(AppError::validation(format!(
            "{field}: must be 1 to {max_chars} characters after trimming"
        )));
    }
    if text.chars().any(char::is_control) {
        return Err(AppError::validation(format!(
            "{field}: must not contain control characters"
        )));
    }
    Ok(text.to_owned())
}

/// `limit`/`offset` paging: limit 1–100 (default 50), offset ≥ 0 (default 0).
pub fn page(limit: Option<i64>, offset: Option<i64>) -> Result<(i64, i64), AppError> {
    let limit = limit.unwrap_or(50);
    let offset = offset.unwrap_or(0);
    if !(1..=100).contains(&limit) {
        return Err(AppError::validation("limit: must be between 1 and 100"));
    }
    if offset < 0 {
        return Err(AppError::validation("offset: must not be negative"));
    }
    Ok((limit, offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized_and_checked() {
        assert_eq!(
            email("  Ada@Example.COM ").expect("valid"),
            "ada@example.com"
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a b@example.com",
            "ada@@example.com",
            "ada@.com",
            "ada@example.",
        ] {
            assert!(email(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn passwords_need_eight_characters() {
        assert!(password("1234567").is_err());
        assert!(password("12345678").is_ok());
        assert!(password("ééééééé").is_err(), "counts characters, not bytes");
        assert!(password(&"x".repeat(MAX_PASSWORD_CHARS + 1)).is_err());
    }

    #[test]
    fn board_names_are_trimmed_and_bounded() {
        assert_eq!(board_name("  Plan  ").expect("valid"), "Plan");
        assert!(board_name("   ").is_err());
        assert!(board_name(&"x".repeat(200)).is_ok());
        assert!(board_name(&"x".repeat(201)).is_err());
        assert!(board_name("a\u{0}b").is_err());
    }

    #[test]
    fn paging_defaults_and_bounds() {
        assert_eq!(page(None, None).expect("defaults"), (50, 0));
        assert!(page(Some(0), None).is_err());
        assert!(page(Some(101), None).is_err());
        assert!(page(Some(100), Some(-1)).is_err());
        assert_eq!(page(Some(1), Some(7)).expect("valid"), (1, 7));
    }
}

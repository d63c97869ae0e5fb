//! Input rules shared by handlers; each failure is a 422 naming the field.

use unicode_normalization::UnicodeNormalization;

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

/// An email in the form it is stored and looked up in: NFKC-normalized,
/// trimmed and lowercased, so that look-alike spellings (full-width letters,
/// ligatures, any case) of one address are one account.
pub fn normalize_email(raw: &str) -> String {
    // NFKC folds compatibility forms (`ｏ` → `o`); lowercasing may leave a
    // string that is not NFKC any more, so it is normalized once again.
    let compatible: String = raw.nfkc().collect();
    compatible.trim().to_lowercase().nfkc().collect()
}

/// A normalized email that looks like one: `local@domain.tld`, no spaces, no
/// invisible or control characters (which would make a second account that
/// reads like an existing one).
pub fn email(raw: &str) -> Result<String, AppError> {
    let email = normalize_email(raw);
    if email.chars().any(|c| c.is_control() || is_invisible(c)) {
        return Err(AppError::validation(
            "email: must not contain invisible or control characters",
        ));
    }
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
    // Invisible characters stay (emoji sequences need joiners and variation
    // selectors), but a name of nothing else would show as blank.
    if text.chars().all(|c| c.is_whitespace() || is_invisible(c)) {
        return Err(AppError::validation(format!(
            "{field}: must contain a visible character"
        )));
    }
    Ok(text.to_owned())
}

/// Whether `c` renders as nothing: a format character (Unicode category Cf:
/// zero-width space and joiners, bidirectional controls, the byte-order mark,
/// tags…) or one of the fillers and selectors that are drawn blank.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        // Format characters (general category Cf).
        '\u{00AD}'
            | '\u{0600}'..='\u{0605}'
            | '\u{061C}'
            | '\u{06DD}'
            | '\u{070F}'
            | '\u{0890}'..='\u{0891}'
            | '\u{08E2}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{110BD}'
            | '\u{110CD}'
            | '\u{13430}'..='\u{1343F}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0001}'
            | '\u{E0020}'..='\u{E007F}'
            // Blank letters, fillers and selectors of other categories.
            | '\u{034F}'
            | '\u{115F}'..='\u{1160}'
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180D}'
            | '\u{180F}'
            | '\u{2800}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FFA0}'
            | '\u{E0100}'..='\u{E01EF}'
    )
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
    fn look_alike_emails_normalize_to_one_address() {
        assert_eq!(email("ｏwner@x.io").expect("valid"), "owner@x.io");
        assert_eq!(email("ＯＷＮＥＲ@Ｘ.ＩＯ").expect("valid"), "owner@x.io");
        assert_eq!(normalize_email(" ｏwner@x.io "), "owner@x.io");
    }

    #[test]
    fn emails_with_invisible_or_control_characters_are_rejected() {
        for bad in [
            "own\u{200B}er@x.io",
            "\u{FEFF}owner@x.io",
            "owner@x\u{2060}.io",
            "own\u{200D}er@x.io",
            "own\u{202E}er@x.io",
            "own\u{00AD}er@x.io",
            "own\u{0007}er@x.io",
            "own\u{3164}er@x.io",
        ] {
            let err = email(bad).expect_err(bad);
            assert!(err.to_string().starts_with("email:"), "{err}");
        }
    }

    #[test]
    fn names_of_invisible_characters_only_are_rejected() {
        for blank in [
            "\u{200B}",
            "\u{FEFF}",
            "\u{200B}\u{FEFF} \u{200B}",
            "\u{3164}",
        ] {
            assert!(board_name(blank).is_err(), "{blank:?} accepted");
            assert!(display_name(blank).is_err(), "{blank:?} accepted");
        }
        // Joiners and selectors inside visible text are part of it (emoji).
        let family = "\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}";
        assert_eq!(board_name(family).expect("visible"), family);
        assert_eq!(
            board_name("\u{2764}\u{FE0F}").expect("visible"),
            "\u{2764}\u{FE0F}"
        );
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

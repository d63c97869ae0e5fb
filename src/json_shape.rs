//! The 422 message for a JSON body that parses but has the wrong shape, in
//! JSON's terms rather than serde's.

use axum::extract::rejection::JsonDataError;

/// What serde reports when a JSON body is well-formed but of the wrong shape.
type ShapeError = serde_path_to_error::Error<serde_json::Error>;

/// The 422 message for a JSON body of the wrong shape: the field it is about
/// and what was expected, in JSON's words. serde's own text names the Rust
/// type it was filling (`expected struct RegisterRequest`, `expected u64`),
/// which tells a client nothing and a prober how the server is built.
pub fn json_shape_message(rejection: &JsonDataError) -> String {
    // axum keeps serde's error, with the path to the field, as the source of
    // its own: `JsonDataError` → `axum::Error` → the error it wraps.
    let shape = std::error::Error::source(rejection)
        .and_then(std::error::Error::source)
        .and_then(|source| source.downcast_ref::<ShapeError>());
    match shape {
        Some(shape) => describe(&shape.path().to_string(), shape.inner()),
        None => "body does not have the documented fields and types".to_owned(),
    }
}

/// `path: problem`, or for the body itself `body must be a JSON object` when
/// it is not one.
fn describe(path: &str, error: &serde_json::Error) -> String {
    let full = error.to_string();
    let location = format!(" at line {} column {}", error.line(), error.column());
    let message = full.strip_suffix(&location).unwrap_or(&full);
    let message = match message.rsplit_once(", expected ") {
        Some((problem, expected)) => format!("{problem}, expected {}", in_json_terms(expected)),
        None => message.to_owned(),
    };
    // serde reports a missing or unknown field at the object holding it, and
    // names the field in the message.
    let names_field = ["missing field", "unknown field", "duplicate field"]
        .iter()
        .any(|start| message.starts_with(start));
    // serde also fills a struct from an array (by position); every body here
    // is an object, so an array at the root is reported as what it is.
    if path.starts_with('[') {
        return "body must be a JSON object".to_owned();
    }
    match path {
        "." if names_field => message,
        "." if message.ends_with("expected a JSON object") => {
            "body must be a JSON object".to_owned()
        }
        "." => format!("body: {message}"),
        field => format!("{field}: {message}"),
    }
}

/// What serde expected, in words that name no Rust type.
fn in_json_terms(expected: &str) -> &str {
    let rust_type = |prefix: &str| expected.starts_with(prefix);
    if rust_type("struct ") || rust_type("unit struct ") || expected == "a map" {
        "a JSON object"
    } else if rust_type("tuple struct ") || rust_type("tuple ") {
        "an array"
    } else if rust_type("enum ") || expected.contains(" variant ") {
        "one of the documented values"
    } else if matches!(expected, "f32" | "f64") {
        "a number"
    } else if matches!(
        expected,
        "u8" | "u16"
            | "u32"
            | "u64"
            | "u128"
            | "usize"
            | "i8"
            | "i16"
            | "i32"
            | "i64"
            | "i128"
            | "isize"
    ) {
        "an integer in range"
    } else if expected == "char" {
        "a single character"
    } else {
        expected
    }
}

#[cfg(test)]
mod tests {
    use axum::{
        body::Body,
        extract::{rejection::JsonRejection, FromRequest},
        http::Request,
    };
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[expect(dead_code, reason = "only deserialized")]
    struct Signup {
        email: String,
        age: u64,
        profile: Option<Profile>,
    }

    #[derive(Debug, Deserialize)]
    #[expect(dead_code, reason = "only deserialized")]
    struct Profile {
        colour: String,
    }

    /// The 422 message for `body`, through the real extractor.
    async fn message(body: &str) -> String {
        let request = Request::post("/")
            .header("content-type", "application/json")
            .body(Body::from(body.to_owned()))
            .expect("request");
        match axum::Json::<Signup>::from_request(request, &()).await {
            Err(JsonRejection::JsonDataError(rejection)) => json_shape_message(&rejection),
            other => panic!("{body}: not a shape error: {other:?}"),
        }
    }

    #[tokio::test]
    async fn shape_errors_name_the_field_and_no_rust_type() {
        let cases = [
            ("[]", "body must be a JSON object"),
            ("[\"ada\", 1]", "body must be a JSON object"),
            ("null", "body must be a JSON object"),
            ("\"ada\"", "body must be a JSON object"),
            (r#"{"age": 1}"#, "missing field `email`"),
            (
                r#"{"email": 5, "age": 1}"#,
                "email: invalid type: integer `5`, expected a string",
            ),
            (
                r#"{"email": "a", "age": -1}"#,
                "age: invalid value: integer `-1`, expected an integer in range",
            ),
            (
                r#"{"email": "a", "age": 1, "profile": 5}"#,
                "profile: invalid type: integer `5`, expected a JSON object",
            ),
            (
                r#"{"email": "a", "age": 1, "profile": {}}"#,
                "profile: missing field `colour`",
            ),
        ];
        for (body, expected) in cases {
            let shown = message(body).await;
            assert_eq!(shown, expected, "{body}");
            for rust in ["Signup", "Profile", "u64", "struct"] {
                assert!(!shown.contains(rust), "{body}: {shown}");
            }
        }
    }
}

//! The error a setting that does not parse gives: shared by the
//! configuration and the modules that parse their own settings' values.

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A variable is set but its value does not parse.
    #[error("{name}: {reason} (got {value:?})")]
    Invalid {
        name: &'static str,
        value: String,
        reason: String,
    },
}

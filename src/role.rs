//! A user's role on a board: what the REST handlers check, what the board
//! core enforces on live sockets, and what the database stores as text.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What a user may do on a board.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Created the board: everything, including sharing and deleting it.
    Owner,
    /// May read, edit content and rename.
    Editor,
    /// May read only.
    Viewer,
}

impl Role {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Editor => "editor",
            Self::Viewer => "viewer",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "owner" => Some(Self::Owner),
            "editor" => Some(Self::Editor),
            "viewer" => Some(Self::Viewer),
            _ => None,
        }
    }

    /// Whether this role may change a board's content and name.
    pub fn can_edit(self) -> bool {
        matches!(self, Self::Owner | Self::Editor)
    }
}

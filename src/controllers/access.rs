//! [`BoardAccess`]: the one place that decides what a caller may do on a board.

use uuid::Uuid;

use crate::{
    app::AppState,
    auth::AuthUser,
    db::{Board, Role},
    error::AppError,
};

/// A board the caller is a member of, with the caller's role.
#[derive(Debug)]
pub struct BoardAccess {
    /// The board as the caller sees it.
    pub board: Board,
}

impl BoardAccess {
    /// Looks the board up for `user`. A board that does not exist and one the
    /// caller is not a member of both answer 404, so ids cannot be probed.
    pub async fn check(state: &AppState, board_id: Uuid, user: AuthUser) -> Result<Self, AppError> {
        state
            .db
            .find_board_for(board_id, user.id)
            .await?
            .map(|board| Self { board })
            .ok_or(AppError::NotFound("board not found"))
    }

    /// The caller's role.
    pub fn role(&self) -> Role {
        self.board.role
    }

    /// 403 unless the caller may edit (owner or editor).
    pub fn require_editor(self) -> Result<Self, AppError> {
        if self.role().can_edit() {
            Ok(self)
        } else {
            Err(AppError::Forbidden("viewers cannot change this board"))
        }
    }

    /// 403 unless the caller owns the board.
    pub fn require_owner(self) -> Result<Self, AppError> {
        if self.role() == Role::Owner {
            Ok(self)
        } else {
            Err(AppError::Forbidden("only the board's owner can do this"))
        }
    }
}

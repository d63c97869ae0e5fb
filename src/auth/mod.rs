//! Authentication: password hashing, JWT issue/verify, and the [`AuthUser`]
//! extractor that every protected handler takes.

mod extractor;
mod jwt;
mod password;

pub use extractor::{
    account_exists, authenticate_token, bearer_token, verify_token, AuthContext, AuthUser,
};
pub use jwt::{Claims, JwtKeys};
pub use password::{hash_password, verify_password, HashingBusy, HashingSlot, HashingSlots};

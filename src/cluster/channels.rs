//! Redis names: the channels `{prefix}:board:{board_uuid}` per board and
//! `{prefix}:control` for access changes, and the save lease keys
//! `{prefix}:lease:{board_uuid}`.

use uuid::Uuid;

/// Where a received message was addressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A board's channel.
    Board(Uuid),
    /// The control channel.
    Control,
}

/// Builds and parses the channel names of one prefix.
#[derive(Debug, Clone)]
pub struct Channels {
    /// `{prefix}:board:`
    board_prefix: String,
    control: String,
    /// `{prefix}:lease:`
    lease_prefix: String,
}

impl Channels {
    /// The names under `prefix` (instances sharing boards must use the same).
    pub fn new(prefix: &str) -> Self {
        Self {
            board_prefix: format!("{prefix}:board:"),
            control: format!("{prefix}:control"),
            lease_prefix: format!("{prefix}:lease:"),
        }
    }

    /// The channel of a board.
    pub fn board(&self, board_id: Uuid) -> String {
        let mut name = String::with_capacity(self.board_prefix.len() + 36);
        name.push_str(&self.board_prefix);
        name.push_str(
            board_id
                .as_hyphenated()
                .encode_lower(&mut Uuid::encode_buffer()),
        );
        name
    }

    /// The key of a board's save lease.
    pub fn lease(&self, board_id: Uuid) -> String {
        format!("{}{board_id}", self.lease_prefix)
    }

    /// The control channel.
    pub fn control(&self) -> &str {
        &self.control
    }

    /// What a channel name addresses; `None` for names that are not ours.
    pub fn parse(&self, name: &str) -> Option<Target> {
        if name == self.control {
            return Some(Target::Control);
        }
        let id = name.strip_prefix(&self.board_prefix)?;
        Uuid::try_parse(id).ok().map(Target::Board)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_strangers_are_ignored() {
        let channels = Channels::new("canvas");
        let id = Uuid::new_v4();
        assert_eq!(channels.board(id), format!("canvas:board:{id}"));
        assert_eq!(channels.parse(&channels.board(id)), Some(Target::Board(id)));
        assert_eq!(channels.parse("canvas:control"), Some(Target::Control));
        assert_eq!(channels.lease(id), format!("canvas:lease:{id}"));
        assert_eq!(channels.parse(&channels.lease(id)), None);
        assert_eq!(channels.parse("canvas:board:nope"), None);
        assert_eq!(channels.parse(&format!("other:board:{id}")), None);
    }
}

//! Identifiers that travel between the room's parts. Each is a distinct type, so a call such as
//! `media.join(&room, &peer, …)` cannot take its two ids swapped. On the wire and in the
//! database they are plain strings (`serde(transparent)`; bind them with `.as_str()`).

use std::borrow::Borrow;
use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(id: impl Into<String>) -> $name {
                $name(id.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
    };
}

id!(
    /// A consultation room (an appointment's, a case review's or an ad-hoc one).
    RoomId
);
id!(
    /// One connection of a participant in a room: a browser tab or a device stream. A user who
    /// joins from two tabs is two peers.
    PeerId
);
id!(
    /// An account (a guest's too).
    UserId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_plain_strings_on_the_wire() {
        let peer = PeerId::new("p-1");
        assert_eq!(serde_json::to_string(&peer).unwrap(), "\"p-1\"");
        assert_eq!(serde_json::from_str::<PeerId>("\"p-1\"").unwrap(), peer);
        let mut by_peer = std::collections::HashMap::new();
        by_peer.insert(peer.clone(), 1);
        assert_eq!(by_peer.get("p-1"), Some(&1));
    }
}

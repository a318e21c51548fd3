//! Message tags: the `u16` in every frame's `"t"` field.
//!
//! A tag is an integer newtype rather than a Rust enum so that a tag this build
//! does not know (sent by a newer peer) is still representable: the decoder
//! reports it as [`Decoded::Unknown`](crate::codec::Decoded::Unknown) and the
//! caller skips the frame.
//!
//! The two tables, [`ServerTag::ALL`] and [`ClientTag::ALL`], are the single
//! source of truth for numbers, names and descriptions. `spec/PROTOCOL.md`'s tag
//! tables are checked against them by a test.

use std::fmt;

/// One row of a tag table: the number, the variant's name and what it means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TagInfo {
    /// The wire value of `"t"`.
    pub tag: u16,
    /// The variant's name, as used in the spec, the vectors and the inspector.
    pub name: &'static str,
    /// One line saying what the message is for.
    pub description: &'static str,
}

/// The category a tag's range belongs to (the thousands digit).
///
/// Ranges let a reader of a raw frame tell what kind of message an unknown tag
/// is likely to be.
pub fn range_name(tag: u16) -> &'static str {
    match tag {
        0..=999 => "core",
        1000..=1999 => "state sync",
        2000..=2999 => "presence / subscriptions",
        3000..=3999 => "signalling",
        4000..=4999 => "notifications",
        5000..=5999 => "action feedback",
        _ => "reserved",
    }
}

macro_rules! tag_table {
    (
        $(#[$meta:meta])*
        $ty:ident {
            $( $(#[$vmeta:meta])* $konst:ident = $num:literal, $name:literal, $desc:literal; )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $ty(pub u16);

        impl $ty {
            $( $(#[$vmeta])* pub const $konst: $ty = $ty($num); )*

            /// Every tag this build knows, in ascending order.
            pub const ALL: &'static [TagInfo] = &[
                $( TagInfo { tag: $num, name: $name, description: $desc }, )*
            ];

            /// The table row for this tag, if this build knows it.
            pub fn info(self) -> Option<&'static TagInfo> {
                Self::ALL.iter().find(|row| row.tag == self.0)
            }

            /// The variant's name, or `None` for a tag this build does not know.
            pub fn name(self) -> Option<&'static str> {
                // A match rather than a look-up in `ALL`, so that a decoder
                // (which names messages in its errors) does not link the
                // descriptions into a browser client.
                match self.0 {
                    $( $num => Some($name), )*
                    _ => None,
                }
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(name) => write!(f, "{}({})", name, self.0),
                    None => write!(f, "{}({})", stringify!($ty), self.0),
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(self, f)
            }
        }
    };
}

tag_table! {
    /// The tag of a server → client message.
    ServerTag {
        /// The connection is authenticated and ready.
        CONNECTED = 0, "Connected", "connection accepted: protocol version, connection id, authenticated user";
        /// Reply to a `Ping`.
        PONG = 1, "Pong", "reply to Ping, echoing the client's timestamp beside the server's";
        /// A server-side error, fatal or not.
        ERROR = 2, "Error", "an error with a documented code; fatal errors are followed by a close";
        /// A `Join` succeeded.
        JOINED = 3, "Joined", "the Join on this channel succeeded; the resource's snapshot and presence follow on it";
        /// A channel's resource is no longer joined.
        LEFT = 4, "Left", "the resource on this channel is no longer joined: Leave answered, Join refused or removed";
        /// The full state.
        SNAPSHOT = 1000, "Snapshot", "the full state at a sequence number, replacing whatever the client held";
        /// One change to the state.
        DELTA = 1001, "Delta", "one change that moves the state from seq - 1 to seq";
        /// Several changes in order.
        DELTAS = 1002, "Deltas", "contiguous changes in order, ending at seq (resync catch-up and batches)";
        /// The full presence list.
        PRESENCE = 2000, "Presence", "the full list of users connected to the resource";
        /// A change to the presence list.
        PRESENCE_DIFF = 2001, "PresenceDiff", "users who joined, changed status or left since the last presence message";
        /// A WebRTC signalling message relayed from another user.
        SIGNAL = 3000, "Signal", "a WebRTC signalling payload relayed from another user of the resource";
        /// An application event.
        NOTIFY = 4000, "Notify", "an application event in a subscribed domain";
        /// Progress of an action.
        PROGRESS = 5000, "Progress", "progress of an action still running on the server";
        /// An action succeeded.
        ACTION_OK = 5001, "ActionOk", "an action succeeded, with an optional result value";
        /// An action failed.
        ACTION_ERR = 5002, "ActionErr", "an action failed; its optimistic change must be rolled back";
    }
}

tag_table! {
    /// The tag of a client → server message.
    ClientTag {
        /// Keepalive and latency probe.
        PING = 0, "Ping", "keepalive and latency probe carrying the client's timestamp";
        /// Ask to catch up.
        RESYNC = 1, "Resync", "ask for the deltas after last_seq, or a snapshot when those cannot be served";
        /// Join another resource on this connection.
        JOIN = 2, "Join", "join another resource on this connection, on the channel the frame names";
        /// Leave a joined resource.
        LEAVE = 3, "Leave", "leave the resource on the channel the frame names";
        /// An application action.
        ACTION = 1000, "Action", "an application action, identified by its operation id";
        /// Subscribe to notification domains.
        SUBSCRIBE = 2000, "Subscribe", "start receiving notifications in these domains";
        /// Unsubscribe from notification domains.
        UNSUBSCRIBE = 2001, "Unsubscribe", "stop receiving notifications in these domains";
        /// A WebRTC signalling message for another user.
        SIGNAL = 3000, "Signal", "a WebRTC signalling payload for another user of the same resource";
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_sorted_and_unique() {
        for table in [ServerTag::ALL, ClientTag::ALL] {
            for pair in table.windows(2) {
                assert!(
                    pair[0].tag < pair[1].tag,
                    "{:?} then {:?}",
                    pair[0],
                    pair[1]
                );
            }
        }
    }

    #[test]
    fn unknown_tags_stay_representable() {
        let tag = ServerTag(4321);
        assert_eq!(tag.name(), None);
        assert_eq!(format!("{tag:?}"), "ServerTag(4321)");
        assert_eq!(format!("{:?}", ServerTag::DELTA), "Delta(1001)");
        assert_eq!(range_name(4321), "notifications");
    }

    #[test]
    fn names_are_the_tables_names() {
        for row in ServerTag::ALL {
            assert_eq!(ServerTag(row.tag).name(), Some(row.name));
        }
        for row in ClientTag::ALL {
            assert_eq!(ClientTag(row.tag).name(), Some(row.name));
        }
        assert_eq!(ClientTag(4).name(), None);
    }
}

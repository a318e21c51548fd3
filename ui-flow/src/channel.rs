//! Channels: several resources on one connection.
//!
//! A connection is opened for one resource, the one its URL names. A client
//! may join further resources on the same connection (`Join`), and each
//! joined resource gets a **channel**: a `u16` the client picks, carried as
//! the `"c"` field of every frame about that resource, in both directions.
//! Channel 0 is the URL's resource, and a frame without `"c"` is on channel
//! 0, so a client that never joins anything sends and receives exactly the
//! frames it would without channels.
//!
//! A `Channel` is only a routing number: it says nothing about which
//! resource it names (the `Join` that opened it does) and it is not an
//! authorization. See `spec/PROTOCOL.md`, "Channels".

use std::fmt;

/// The channel a frame belongs to: 0 for the URL's resource, 1 to 65535 for
/// a resource the client joined on the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Channel(pub u16);

impl Channel {
    /// The resource named by the connection's URL. Frames on it carry no
    /// `"c"` field.
    pub const URL: Channel = Channel(0);

    /// Whether this is the URL's resource (channel 0).
    pub const fn is_url(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // As `u32`: see `ChannelError::Limit`.
        write!(f, "channel {}", u32::from(self.0))
    }
}

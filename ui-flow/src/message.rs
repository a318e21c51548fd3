//! The protocol's messages, in both directions.
//!
//! These are plain data. Turning them into bytes and back is the
//! [`codec`](crate::codec)'s job; the tag of each variant is in
//! [`ServerTag`](crate::ServerTag) / [`ClientTag`](crate::ClientTag).
//! Optional fields marked "additive" are not in the original design; peers
//! that do not know them ignore them.

use crate::code::ErrorCode;
use crate::op::OpId;
use crate::presence::{PresenceDiff, PresenceInfo};
use crate::raw::RawValue;
use crate::signal::SignalPayload;
use crate::tag::{ClientTag, ServerTag};

/// A server → client message.
///
/// Generic over the application's `State` (snapshots), `Delta` (changes) and
/// `Event` (notifications). Any serde types work, including a dynamic value
/// type such as `rmpv::Value` for tools that do not know the app's types.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerMessage<State, Delta, Event> {
    /// Tag 0: the connection is authenticated and ready.
    Connected {
        /// The server's [`PROTOCOL_VERSION`](crate::PROTOCOL_VERSION).
        protocol_version: u8,
        /// The server's id for this connection, for logs and debugging.
        connection_id: String,
        /// Additive: the authenticated user id, so a client knows itself in
        /// presence lists and signals.
        user_id: Option<String>,
        /// Additive: how many resources besides the URL's this connection
        /// may join (see the spec, "Channels"). Absent means the server does
        /// not support channels: a client must not send `Join` to it.
        channels: Option<u16>,
    },
    /// Tag 1: the reply to a `Ping`.
    Pong {
        /// The `ts` of the ping, echoed.
        client_ts: u64,
        /// The server's clock, Unix milliseconds.
        server_ts: u64,
    },
    /// Tag 2: something went wrong on the server's side of this connection.
    Error {
        /// A code from [`ErrorCode::ALL`] (or a newer one).
        code: Option<ErrorCode>,
        /// A human-readable explanation.
        message: String,
        /// When true the server closes the connection after this message.
        fatal: bool,
        /// Additive: the `op_id` of the one client frame this error is about,
        /// when that frame carried one the server could read. It only tells
        /// which frame was refused: an action's outcome is always an
        /// `ActionOk` or `ActionErr`, never an `Error`.
        op_id: Option<OpId>,
    },
    /// Tag 3 (additive): the `Join` on this frame's channel succeeded; the
    /// resource's `Snapshot` (or resume `Deltas`) and `Presence` follow on
    /// the same channel.
    Joined,
    /// Tag 4 (additive): the resource on this frame's channel is no longer
    /// joined: the answer to `Leave`, a refused `Join`, or a removal by the
    /// server. The channel number is free again.
    Left {
        /// Why, when the server refused or removed it; absent after a
        /// `Leave`.
        code: Option<ErrorCode>,
        /// A human-readable explanation, when there is one.
        message: Option<String>,
    },
    /// Tag 1000: the full state at `seq`.
    Snapshot {
        /// The state.
        state: State,
        /// The seq this state is at.
        seq: u64,
        /// When it was taken, Unix milliseconds.
        timestamp: u64,
        /// Additive: the seq lineage (see the spec, "Epochs").
        epoch: Option<u32>,
    },
    /// Tag 1001: one change that moves the state from `seq - 1` to `seq`.
    Delta {
        /// The change.
        delta: Delta,
        /// The seq after applying it.
        seq: u64,
        /// When it happened, Unix milliseconds.
        timestamp: u64,
        /// Additive: the seq lineage, when the server chooses to repeat it.
        epoch: Option<u32>,
        /// Additive: the seq the change starts from, when it is not
        /// `seq - 1` because the connection's view skipped seqs (see the
        /// spec, "Views and skipped seqs").
        prev: Option<u64>,
    },
    /// Tag 1002: contiguous changes ending at `seq`; the first one moves the
    /// state from `seq - deltas.len()`.
    Deltas {
        /// The changes, oldest first.
        deltas: Vec<Delta>,
        /// The seq after applying all of them.
        seq: u64,
        /// When the batch was sent, Unix milliseconds.
        timestamp: u64,
        /// Additive: the seq lineage.
        epoch: Option<u32>,
        /// Additive: the seq the changes together start from, when the
        /// connection's view skipped seqs; the entries then have no seq of
        /// their own (see the spec, "Views and skipped seqs").
        prev: Option<u64>,
    },
    /// Tag 2000: everyone connected to the resource.
    Presence {
        /// One entry per user.
        users: Vec<PresenceInfo>,
    },
    /// Tag 2001 (additive): changes to the presence list since the last
    /// presence message.
    PresenceDiff(PresenceDiff),
    /// Tag 3000: a signalling message from another user.
    Signal {
        /// The authenticated sender.
        from_user_id: String,
        /// The payload, as the sender gave it.
        signal: SignalPayload,
    },
    /// Tag 4000: an application event in a domain the client subscribed to.
    Notify {
        /// The domain, such as `"world"` or `"rewards"`.
        domain: String,
        /// The event.
        event: Event,
        /// The action that caused it, if any.
        correlation_id: Option<OpId>,
    },
    /// Tag 5000: progress of a running action.
    Progress {
        /// The action.
        op_id: OpId,
        /// Percent done, 0 to 100, when known.
        percent: Option<u8>,
        /// What is happening now.
        message: Option<String>,
    },
    /// Tag 5001: the action succeeded.
    ActionOk {
        /// The action.
        op_id: OpId,
        /// Any MessagePack value the handler returned.
        result: Option<RawValue>,
    },
    /// Tag 5002: the action failed and changed nothing.
    ActionErr {
        /// The action.
        op_id: OpId,
        /// An application error code.
        code: Option<String>,
        /// A human-readable explanation.
        message: String,
    },
}

impl<S, D, E> ServerMessage<S, D, E> {
    /// Whether the message belongs to a resource and so may travel on a
    /// channel other than 0. `Connected` and `Pong` belong to the
    /// connection; `Joined` and `Left` need a channel other than 0.
    pub fn is_resource_scoped(&self) -> bool {
        !matches!(
            self,
            ServerMessage::Connected { .. } | ServerMessage::Pong { .. }
        )
    }

    /// The message's tag.
    pub fn tag(&self) -> ServerTag {
        match self {
            ServerMessage::Connected { .. } => ServerTag::CONNECTED,
            ServerMessage::Pong { .. } => ServerTag::PONG,
            ServerMessage::Error { .. } => ServerTag::ERROR,
            ServerMessage::Joined => ServerTag::JOINED,
            ServerMessage::Left { .. } => ServerTag::LEFT,
            ServerMessage::Snapshot { .. } => ServerTag::SNAPSHOT,
            ServerMessage::Delta { .. } => ServerTag::DELTA,
            ServerMessage::Deltas { .. } => ServerTag::DELTAS,
            ServerMessage::Presence { .. } => ServerTag::PRESENCE,
            ServerMessage::PresenceDiff(_) => ServerTag::PRESENCE_DIFF,
            ServerMessage::Signal { .. } => ServerTag::SIGNAL,
            ServerMessage::Notify { .. } => ServerTag::NOTIFY,
            ServerMessage::Progress { .. } => ServerTag::PROGRESS,
            ServerMessage::ActionOk { .. } => ServerTag::ACTION_OK,
            ServerMessage::ActionErr { .. } => ServerTag::ACTION_ERR,
        }
    }
}

/// A client → server message, generic over the application's `Action`.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientMessage<Action> {
    /// Tag 0: keepalive and latency probe.
    Ping {
        /// The client's clock, milliseconds; echoed in `Pong.client_ts`.
        ts: u64,
        /// Additive: the connection's own presence report (`active` = the user
        /// interacted since the last ping, `idle` = visible but untouched,
        /// `away` = the page is hidden). The server derives the user's
        /// [`PresenceStatus`](crate::PresenceStatus) from these; absent
        /// reports nothing.
        presence: Option<crate::PresenceStatus>,
    },
    /// Tag 1: catch up from `last_seq`, or send a snapshot.
    Resync {
        /// The last seq the client applied; absent asks for a snapshot.
        last_seq: Option<u64>,
        /// Additive: the epoch `last_seq` belongs to.
        epoch: Option<u32>,
    },
    /// Tag 2 (additive): join another resource on this connection, on this
    /// frame's channel (1 to 65535, chosen by the client). Only sent to a
    /// server whose `Connected` announced `channels`.
    Join {
        /// The resource id, as in a connection URL's path.
        resource: String,
        /// The resume point: the last seq the client holds of this resource.
        last_seq: Option<u64>,
        /// The epoch `last_seq` belongs to.
        epoch: Option<u32>,
    },
    /// Tag 3 (additive): leave the resource on this frame's channel.
    Leave,
    /// Tag 1000: an application action.
    Action {
        /// The id the feedback will carry.
        op_id: OpId,
        /// The action.
        action: Action,
    },
    /// Tag 2000: receive notifications in these domains.
    Subscribe {
        /// Domain names.
        domains: Vec<String>,
    },
    /// Tag 2001: stop receiving notifications in these domains.
    Unsubscribe {
        /// Domain names.
        domains: Vec<String>,
    },
    /// Tag 3000: relay a signalling message to another user of the resource.
    Signal {
        /// Who should receive it.
        target_user_id: String,
        /// The payload.
        signal: SignalPayload,
    },
}

impl<A> ClientMessage<A> {
    /// Whether the message belongs to a resource and so may travel on a
    /// channel other than 0. `Ping` belongs to the connection; `Join` and
    /// `Leave` need a channel other than 0.
    pub fn is_resource_scoped(&self) -> bool {
        !matches!(self, ClientMessage::Ping { .. })
    }

    /// The message's tag.
    pub fn tag(&self) -> ClientTag {
        match self {
            ClientMessage::Ping { .. } => ClientTag::PING,
            ClientMessage::Resync { .. } => ClientTag::RESYNC,
            ClientMessage::Join { .. } => ClientTag::JOIN,
            ClientMessage::Leave => ClientTag::LEAVE,
            ClientMessage::Action { .. } => ClientTag::ACTION,
            ClientMessage::Subscribe { .. } => ClientTag::SUBSCRIBE,
            ClientMessage::Unsubscribe { .. } => ClientTag::UNSUBSCRIBE,
            ClientMessage::Signal { .. } => ClientTag::SIGNAL,
        }
    }
}

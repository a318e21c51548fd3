//! The application's four types in one place: [`Model`], and aliases that
//! name one of them (`DeltaOf<M>`) where `<M as Model>::Delta` would not read well.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::state::FlowState;

/// The types one ui-flow application speaks: the state clients mirror, the
/// delta that changes it, the action clients ask for and the event the
/// server notifies with.
///
/// A model is usually a unit struct in a crate both sides depend on. The
/// client is built from it (`Client<M>`, `FlowConnection<M>`, the adapters'
/// `use_flow::<M>`), and so is the server (`FlowHandler::Model` in
/// `ui-flow-server`), so a client and a server built from the same model
/// agree on every payload type at compile time.
///
/// The bounds are what both sides need together, stated once: every type is
/// serde in both directions (the server encodes what the client decodes and
/// the other way round), and [`MaybeSendSync`] + `'static`: `Send + Sync` on
/// native targets, where the server and the tokio driver share them between
/// tasks, and nothing on wasm32, where a browser app's types may hold
/// JavaScript values. Deltas and events are `Clone` because the client hands
/// out copies (an optimistic change is re-applied on every rebase).
///
/// A model is only types: it holds no data, does no IO and is never
/// instantiated by ui-flow. How a delta changes the state is
/// [`FlowState::apply_delta`], which runs on the server and on every client.
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use ui_flow::client::{Client, ClientConfig, Instant};
/// use ui_flow::{FlowState, Model};
///
/// #[derive(Clone, Default, Debug, PartialEq, Serialize, Deserialize)]
/// struct Tally(i64);
///
/// impl FlowState for Tally {
///     type Delta = i64;
///     fn apply_delta(&mut self, amount: i64) {
///         self.0 += amount;
///     }
/// }
///
/// /// The tally application: a shared counter, actions that add to it and
/// /// notifications as text.
/// struct Tallies;
///
/// impl Model for Tallies {
///     type State = Tally;
///     type Delta = i64;
///     type Action = i64;
///     type Event = String;
/// }
///
/// // The client core (and the drivers and adapters) take the model alone.
/// let mut client: Client<Tallies> = Client::new(ClientConfig::default(), Instant::now())?;
/// let op = client.send_optimistic(5, 5)?; // an action and its optimistic delta
/// assert_eq!(client.state(), &Tally(5));
/// # let _ = op;
/// # Ok::<(), ui_flow::Error>(())
/// ```
pub trait Model: MaybeSendSync + 'static {
    /// The full state a client mirrors and the server keeps.
    type State: FlowState<Delta = Self::Delta>
        + Serialize
        + DeserializeOwned
        + MaybeSendSync
        + 'static;
    /// One change to the state.
    type Delta: Clone + Serialize + DeserializeOwned + MaybeSendSync + 'static;
    /// What a client asks the server to do.
    type Action: Serialize + DeserializeOwned + MaybeSendSync + 'static;
    /// An application event the server sends with `Notify`.
    type Event: Clone + Serialize + DeserializeOwned + MaybeSendSync + 'static;
}

/// `Send + Sync` on native targets (threads share a model's values there),
/// nothing on wasm32 (one thread; values may hold JavaScript objects).
/// Every type implements it that can: it is a bound, never implemented by
/// hand.
#[cfg(not(target_arch = "wasm32"))]
pub trait MaybeSendSync: Send + Sync {}
#[cfg(not(target_arch = "wasm32"))]
impl<T: Send + Sync + ?Sized> MaybeSendSync for T {}

/// `Send + Sync` on native targets (threads share a model's values there),
/// nothing on wasm32 (one thread; values may hold JavaScript objects).
/// Every type implements it that can: it is a bound, never implemented by
/// hand.
#[cfg(target_arch = "wasm32")]
pub trait MaybeSendSync {}
#[cfg(target_arch = "wasm32")]
impl<T: ?Sized> MaybeSendSync for T {}

/// A model's state type: `StateOf<M>` is `<M as Model>::State`.
pub type StateOf<M> = <M as Model>::State;
/// A model's delta type: `DeltaOf<M>` is `<M as Model>::Delta`.
pub type DeltaOf<M> = <M as Model>::Delta;
/// A model's action type: `ActionOf<M>` is `<M as Model>::Action`.
pub type ActionOf<M> = <M as Model>::Action;
/// A model's event type: `EventOf<M>` is `<M as Model>::Event`.
pub type EventOf<M> = <M as Model>::Event;

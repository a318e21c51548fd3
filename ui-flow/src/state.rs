//! The state a client mirrors, and how changes apply to it.

/// A state that the server owns and clients mirror through snapshots and deltas.
///
/// `apply_delta` must be deterministic: the same state and delta give the same
/// result on the server and on every client, which is what makes a client's
/// copy equal to the server's after it has applied the same seq range.
///
/// The trait puts no serde bounds on its types; the codec and the client add
/// the bounds they need where they need them.
///
/// ```
/// use ui_flow::FlowState;
///
/// #[derive(Clone, Default, Debug, PartialEq)]
/// struct Counter(i64);
///
/// enum CounterDelta { Add(i64), Reset }
///
/// impl FlowState for Counter {
///     type Delta = CounterDelta;
///     fn apply_delta(&mut self, delta: CounterDelta) {
///         match delta {
///             CounterDelta::Add(n) => self.0 += n,
///             CounterDelta::Reset => self.0 = 0,
///         }
///     }
/// }
///
/// let mut c = Counter::default();
/// c.apply_delta(CounterDelta::Add(3));
/// assert_eq!(c, Counter(3));
/// ```
pub trait FlowState: Clone + Default {
    /// One change to the state.
    type Delta;

    /// Applies one change in place.
    fn apply_delta(&mut self, delta: Self::Delta);
}

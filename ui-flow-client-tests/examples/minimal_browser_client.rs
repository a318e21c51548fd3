//! The smallest useful browser client, built to measure what ui-flow adds
//! to a page: connect, mirror a counter, send an optimistic action, report
//! the connection status. Exported to JavaScript with wasm-bindgen; see the
//! "Client wasm size" section of BENCHMARKS.md for the build command.
//!
//! The wire shapes are those of ui-flow-server's `counter` example, so this
//! client works against `cargo run -p ui-flow-server --example counter`.

#[cfg(target_arch = "wasm32")]
mod app {
    use serde::{Deserialize, Serialize};
    use ui_flow::{ConnectionStatus, FlowConnection, FlowState};
    use wasm_bindgen::prelude::*;

    #[derive(Clone, Default, Serialize, Deserialize)]
    struct Counter {
        value: i64,
    }

    #[derive(Clone, Serialize, Deserialize)]
    struct Add {
        add: i64,
    }

    impl FlowState for Counter {
        type Delta = Add;
        fn apply_delta(&mut self, delta: Add) {
            self.value += delta.add;
        }
    }

    #[derive(Serialize, Deserialize)]
    #[serde(tag = "type", rename_all = "snake_case")]
    enum Action {
        Add { amount: i64 },
    }

    #[derive(Clone, Serialize, Deserialize)]
    struct Changed {
        value: i64,
    }

    /// The counter application's types.
    struct Counting;

    impl ui_flow::Model for Counting {
        type State = Counter;
        type Delta = Add;
        type Action = Action;
        type Event = Changed;
    }

    /// A counter mirrored from a ui-flow server.
    #[wasm_bindgen]
    pub struct CounterClient {
        conn: FlowConnection<Counting>,
    }

    #[wasm_bindgen]
    impl CounterClient {
        /// Connects to `url`; `on_change(value, status)` runs whenever the
        /// value shown or the connection status changes.
        #[wasm_bindgen(constructor)]
        pub fn new(url: &str, on_change: js_sys::Function) -> Result<CounterClient, JsError> {
            let status_change = on_change.clone();
            let conn = FlowConnection::builder()
                .url(url)
                .subscribe(["counter"])
                .on_state(move |state: &Counter| {
                    let _ = on_change.call1(&JsValue::NULL, &JsValue::from(state.value as f64));
                })
                .on_status(move |status| {
                    let text = match status {
                        ConnectionStatus::Connecting => "connecting",
                        ConnectionStatus::Open => "open",
                        ConnectionStatus::Reconnecting { .. } => "reconnecting",
                        ConnectionStatus::Closed { .. } => "closed",
                    };
                    let _ = status_change.call2(&JsValue::NULL, &JsValue::NULL, &text.into());
                })
                .on_notify(|_domain, event: Changed, _op| {
                    let _ = event.value;
                })
                .connect()
                .map_err(|e| JsError::new(&e.to_string()))?;
            Ok(CounterClient { conn })
        }

        /// Adds `amount`, shown at once and confirmed by the server.
        pub fn add(&self, amount: i64) -> Result<(), JsError> {
            self.conn
                .send_optimistic(Action::Add { amount }, Add { add: amount })
                .map(|_op| ())
                .map_err(|e| JsError::new(&e.to_string()))
        }

        /// The value shown now.
        pub fn value(&self) -> f64 {
            self.conn.with_state(|s| s.value as f64)
        }

        /// Closes the connection for good.
        pub fn close(&self) {
            self.conn.close();
        }
    }
}

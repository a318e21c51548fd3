// The package's entry: the classes wasm-bindgen generated in
// dist/ui_flow_js.js, with `FlowClient` declared here as what it is, the
// resource a connection's URL names: a `FlowResource` that opened its own
// connection. One exported class so serves both (each exported method costs
// the WebAssembly module a wrapper). index.d.ts declares each class with its
// own members.
import init, { initSync, FlowResource, FlowSocket } from "./dist/ui_flow_js.js";

/** One ui-flow connection and the resource its URL names (see index.d.ts). */
export class FlowClient extends FlowResource {
  /** Opens a connection to `url` and returns at once (see index.d.ts). */
  static connect(url, options) {
    return new FlowClient(url, options);
  }
}

export { init as default, initSync, FlowResource, FlowSocket };

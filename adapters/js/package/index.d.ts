/**
 * ui-flow for plain JavaScript: real-time UI state over one WebSocket.
 *
 * A {@link FlowClient} mirrors one resource of a ui-flow server: it receives
 * the server's state as a snapshot and then numbered deltas, reconnects and
 * resyncs by itself, sends actions (optionally shown at once as an
 * optimistic change, rolled back if the server rejects them), and reports
 * presence, notifications and WebRTC signals. All connection policy runs in
 * the ui-flow client compiled to WebAssembly; this package only maps it to
 * callbacks and Promises.
 *
 * ```js
 * import init, { FlowClient } from "ui-flow-js";
 * await init(); // loads dist/ui_flow_js_bg.wasm next to the module
 * const client = FlowClient.connect("wss://host/realtime/list-1", {
 *   token: session.jwt, // sent in Sec-WebSocket-Protocol, never in the URL
 *   applyDelta: (state, delta) => reduce(state, delta),
 *   onState: (state) => render(state),
 *   onStatus: (status) => showBadge(status.kind),
 * });
 * await client.sendAction({ type: "add", id: 3, title: "Milk" }, { optimistic: addedDelta });
 * ```
 *
 * ## How values cross
 *
 * States, deltas, actions, notification events and action results travel
 * as MessagePack and reach JavaScript as plain values:
 *
 * - nil is `null`; `null` and `undefined` are sent as nil, and object
 *   properties whose value is `undefined` are left out;
 * - **integers: a number when within ±(2^53 − 1) (`Number.MAX_SAFE_INTEGER`),
 *   a `BigInt` beyond that, in both directions.** A `BigInt` is always sent
 *   as an integer (outside the 64-bit range it is an error); a number that
 *   is not a safe integer (fractional, or too large) is sent as a float64.
 *   So a `u64` id of 2^60 arrives as `1152921504606846976n`, and `42` as `42`;
 * - strings, booleans and arrays as themselves; binary as `Uint8Array`;
 * - maps whose keys are all strings as plain objects (each key an own
 *   property, so a `"__proto__"` key is data, not the prototype), any other
 *   map as a `Map` (and a `Map` is always sent as a map);
 * - received only: a str whose bytes are not UTF-8 as a `Uint8Array` of
 *   them, and a MessagePack extension value as `[type, Uint8Array]`.
 *
 * Functions, symbols and cyclic objects cannot be sent.
 *
 * ## Where the state lives
 *
 * The app's state is a JavaScript value, changed by a delta only through
 * the app's own `applyDelta(state, delta)`:
 *
 * - with `applyDelta`, the client keeps the state to show (the server's
 *   confirmed state with pending optimistic changes on top) in
 *   {@link FlowClient.state} and reports it through `onState`, and
 *   `sendAction` accepts an `optimistic` delta;
 * - without it, the app keeps its own copy from `onSnapshot` (replace) and
 *   `onDelta` (apply, in order); `state` is `undefined` and optimistic
 *   changes are refused.
 *
 * `applyDelta` must return the new state and leave its arguments untouched
 * (like a reducer): the client applies the same deltas to the confirmed
 * state and again to the state it shows. It belongs to its client: clients
 * on one page may pass different functions, each is called only for its own
 * client's state, and a client lets go of it when its connection closes
 * (`close()`), so a component that closes on unmount may connect again with
 * a new function on remount.
 *
 * ## Several resources on one socket
 *
 * A {@link FlowSocket} (`new FlowSocket(url, options)`, or
 * `client.socket()`) joins further resources on the same WebSocket:
 * `socket.join("chat-7", { applyDelta, onState })` returns a
 * {@link FlowResource} with a client's surface for that resource and its
 * own `applyDelta`, released at `resource.close()` (which leaves the
 * resource) or `socket.close()` (which closes everything). A server that
 * does not serve channels leaves such a resource `left` with code
 * `channel_limit`; the URL's resource is unaffected.
 */

/** Loads and instantiates the WebAssembly module; call once before anything else. */
export default function init(
  moduleOrPath?:
    | { module_or_path: RequestInfo | URL | Response | BufferSource | WebAssembly.Module }
    | RequestInfo
    | URL
    | Response
    | BufferSource
    | WebAssembly.Module
    | Promise<Response>,
): Promise<unknown>;

/** Instantiates the module from bytes already loaded, synchronously. */
export function initSync(module: { module: BufferSource | WebAssembly.Module } | BufferSource | WebAssembly.Module): unknown;

/** An integer as it crosses: see "How values cross". */
export type Int = number | bigint;

/** An action's id: a UUID string. */
export type OpId = string;

/** Where a connection stands. */
export type FlowStatus =
  /** The first socket is opening. */
  | { kind: "connecting" }
  /** Connected and in sync. */
  | { kind: "open" }
  /** The socket was lost; attempt `attempt` starts at `retryAt` (`Date.now()` milliseconds). */
  | { kind: "reconnecting"; attempt: number; retryAt: number }
  /** Closed for good; nothing more will be tried. */
  | { kind: "closed"; reason: CloseReason };

/** Why a connection closed for good. */
export type CloseReason =
  /** `close()` was called. */
  | { kind: "requested" }
  /** The server sent a fatal error whose code says not to reconnect. */
  | { kind: "fatal"; code?: string; message: string }
  /** The server closed the socket with a code that says not to reconnect. */
  | { kind: "final"; code: number; reason: string }
  /**
   * The upgrade was refused with an HTTP 4xx other than 408, 426 and 429
   * (404 no such endpoint, 403 origin, 401 the app's own auth, 400 bad
   * resource id). The browser hides that status; after a socket fails to
   * open the client reads it from a plain `GET` of the same URL (same
   * origin always; another origin only if its answer carries
   * `Access-Control-Allow-Origin`, as ui-flow-server's do). Final: no retry.
   */
  | { kind: "refused"; status: number }
  /** The server speaks another protocol version. */
  | { kind: "incompatible"; serverVersion: number }
  /**
   * Nothing was dialled: `connect` was given a URL that is not `ws://` or
   * `wss://`, or a token that is not a header token. Set before `connect`
   * returns (and told to `onStatus` then); every command fails as closed.
   */
  | { kind: "misconfigured"; message: string }
  /** A reason this build does not name. */
  | { kind: "other"; message: string };

/** Where one action stands. */
export type OpState =
  /** Sent (or waiting for a connection), no feedback yet. */
  | { kind: "pending" }
  /** The server reported progress. */
  | { kind: "progress"; percent?: number; message?: string }
  /** Final: it succeeded, with the handler's result if it returned one. */
  | { kind: "ok"; result?: unknown }
  /** Final: it failed and changed nothing. */
  | { kind: "err"; code?: string; message: string };

/** One user connected to the resource. */
export interface PresenceInfo {
  userId: string;
  name?: string;
  status: "active" | "idle" | "away";
  /** When the user's earliest live connection opened, Unix milliseconds. */
  connectedAt: Int;
}

/** A change to the presence list. */
export interface PresenceDiff {
  joined: PresenceInfo[];
  updated: PresenceInfo[];
  /** User ids. */
  left: string[];
}

/** A WebRTC signalling message, in the shapes `RTCPeerConnection` takes. */
export type SignalPayload =
  | { type: "offer" | "answer"; sdp: string }
  | {
      type: "candidate";
      candidate: string;
      sdpMid?: string;
      sdpMLineIndex?: number;
      usernameFragment?: string;
    };

/** An `Error` message from the server (the client already acted on it). */
export interface ServerError {
  code?: string;
  message: string;
  /** Whether the server closed the connection after it. */
  fatal: boolean;
}

/** What `sendAction` resolves with on `ActionOk`. */
export interface ActionOk {
  opId: OpId;
  /** The handler's result, if it returned one. */
  result?: unknown;
}

/** What `sendAction` rejects with on `ActionErr` (`name` is `"ActionError"`). */
export interface ActionError extends Error {
  name: "ActionError";
  /** The application's error code, if any. */
  code?: string;
  opId: OpId;
}

/**
 * What the client throws or rejects with when it cannot do what was asked
 * (`name` is `"FlowError"`): `code` is `"closed"` (closed for good, or it
 * closed before the action's outcome arrived), `"queue_full"` (too many
 * unresolved actions) or `"encode"` (the value cannot be sent).
 */
export interface FlowError extends Error {
  name: "FlowError";
  code: "closed" | "queue_full" | "encode" | "misuse" | "error";
  opId?: OpId;
}

/** Connection policy; every field optional, defaults in parentheses. */
export interface FlowConfig {
  /** Ceiling of the first retry delay after a loss (500); doubles per attempt, with full jitter. */
  backoffMinMs?: number;
  /** Largest delay between attempts (20000). */
  backoffMaxMs?: number;
  /** How often a ping is sent (15000). */
  pingIntervalMs?: number;
  /** How much longer than the ping interval the server may stay silent before the socket is replaced (10000). */
  livenessGraceMs?: number;
  /** How many actions may be unresolved at once; one more rejects with `queue_full` (256). */
  queueBound?: number;
  /** How many settled actions `op()` still knows (64). */
  settledOpsKept?: number;
}

/**
 * Options of {@link FlowClient.connect}. `S` is the state, `D` a delta and
 * `E` a notification event. Callbacks run on the page's event loop, never
 * inside a call to the client; an exception in one is logged and ignored.
 */
export interface FlowOptions<S = unknown, D = unknown, E = unknown> {
  /** The page's reducer: the state after `delta`. See "Where the state lives". */
  applyDelta?: (state: S, delta: D) => S;
  /**
   * The token to authenticate with, sent in the `Sec-WebSocket-Protocol`
   * header (not the URL) on every (re)connect. Letters, digits and
   * `!#$%&'*+-.^_\`|~` only (a JWT qualifies); otherwise `connect` throws.
   */
  token?: string;
  /**
   * Called before every (re)connect for the token to send, so an expiring
   * token can be refreshed; return `null` for none. Replaces `token`.
   */
  tokenProvider?: () => string | null | undefined;
  /** Notification domains to receive from the start (and after every reconnect). */
  subscribe?: string[];
  /** Connection policy. */
  config?: FlowConfig;
  /** The confirmed state was replaced by the server's state at `seq`. */
  onSnapshot?: (state: S, seq: Int) => void;
  /** One server delta, in seq order after its snapshot. */
  onDelta?: (delta: D, seq: Int) => void;
  /** The state to show changed (confirmed plus optimistic); needs `applyDelta`. */
  onState?: (state: S) => void;
  /** A notification in a subscribed domain, with the action that caused it. */
  onNotify?: (domain: string, event: E, correlationId?: OpId) => void;
  /** The connection status changed. */
  onStatus?: (status: FlowStatus) => void;
  /** Everyone connected now, and what changed. */
  onPresence?: (members: PresenceInfo[], diff: PresenceDiff) => void;
  /** A WebRTC signal from another user. */
  onSignal?: (fromUserId: string, signal: SignalPayload) => void;
  /** An action reported progress or its outcome. */
  onAction?: (opId: OpId, state: OpState) => void;
  /** The server sent an `Error` message. */
  onServerError?: (error: ServerError) => void;
}

/**
 * One ui-flow connection. `S` is the state, `D` a delta, `A` an action and
 * `E` a notification event. At run time it is a subclass of
 * {@link FlowResource} (the resource its URL names, with a connection of its
 * own), so a client is also `instanceof FlowResource`; the members declared
 * here are its API.
 */
export class FlowClient<S = unknown, D = unknown, A = unknown, E = unknown> {
  private constructor();
  /**
   * Opens a connection to `url` (`ws://` or `wss://host/realtime/{resource}`)
   * and returns at once; the socket opens in the background. Throws a
   * `TypeError` for a malformed option. A URL that is not `ws://` or
   * `wss://` (or a token that is not a header token) does not throw: the
   * client is closed at once, with status `closed` for the reason
   * `misconfigured`, as in the Rust adapters.
   */
  static connect<S = unknown, D = unknown, A = unknown, E = unknown>(
    url: string,
    options?: FlowOptions<S, D, E>,
  ): FlowClient<S, D, A, E>;
  /**
   * Sends an action. Resolves on `ActionOk`; rejects with an
   * {@link ActionError} on `ActionErr`, or a {@link FlowError} when it cannot
   * be sent or the connection closes before the outcome. Sent while
   * disconnected, it waits and goes out after the reconnect. `optimistic`
   * is shown in `state` until the outcome (needs `applyDelta`).
   */
  sendAction(action: A, options?: { optimistic?: D }): Promise<ActionOk>;
  /** Receives notifications in these domains from now on. Throws a {@link FlowError} once closed. */
  subscribe(domains: string[]): void;
  /** Stops notifications in these domains. */
  unsubscribe(domains: string[]): void;
  /** Sends a WebRTC signal to another user of the resource. */
  sendSignal(targetUserId: string, signal: SignalPayload): void;
  /**
   * Sets the presence this connection reports: `"idle"` after a quiet spell,
   * `"active"` again on input; `null` reports nothing. The client reports
   * `"away"` and `"active"` by itself when the page is hidden or shown.
   */
  setPresence(status: PresenceInfo["status"] | null): void;
  /** Asks the server to catch up now. */
  resync(): void;
  /**
   * This client's connection as a {@link FlowSocket}, to join further
   * resources on the same WebSocket. Closing the socket closes this client.
   */
  socket(): FlowSocket;
  /**
   * Closes the connection for good, with every resource joined on it;
   * waiting `sendAction` promises reject with `closed`, and `applyDelta` is
   * let go of.
   */
  close(): void;
  /** Releases the WebAssembly memory of a closed client (it also closes it). */
  free(): void;
  /** The state to show; `undefined` without `applyDelta` or before the first snapshot. */
  readonly state: S | undefined;
  /**
   * Where the connection stands, as last told to `onStatus` (so after
   * `close()` it reads `closed` once that is reported, as waiting actions
   * reject).
   */
  readonly status: FlowStatus;
  /** The last measured round trip in milliseconds. */
  readonly latency: number | undefined;
  /** The seq of the confirmed state. */
  readonly seq: Int | undefined;
  /** Everyone connected to the resource. */
  readonly presence: PresenceInfo[];
  /** An action's state, while the client keeps it. */
  op(opId: OpId): OpState | undefined;
}

/**
 * Where a resource joined on a {@link FlowSocket} stands: `joining` until
 * the server's `Joined` (again after every reconnect), `leaving` after
 * `close()`, `left` when the server refused or ended it (with its code,
 * e.g. `channel_limit` from a server without channels or at its limit,
 * `already_joined`) or answered the leave.
 */
export type ResourceStatus =
  | { kind: "joining" }
  | { kind: "joined" }
  | { kind: "leaving" }
  | { kind: "left"; code?: string; message?: string };

/**
 * Options of {@link FlowSocket.join}: a client's options for one resource.
 * The token, token provider and config are the socket's, so they are not
 * here; a resource has no `onSnapshot`.
 */
export interface ResourceOptions<S = unknown, D = unknown, E = unknown>
  extends Omit<FlowOptions<S, D, E>, "token" | "tokenProvider" | "config" | "onSnapshot" | "onStatus" | "onPresence"> {
  /** The resource's status changed. */
  onStatus?: (status: ResourceStatus) => void;
  /** The shared connection's status changed (told once at the start too). */
  onConnectionStatus?: (status: FlowStatus) => void;
  /** Everyone on the resource now. */
  onPresence?: (members: PresenceInfo[]) => void;
}

/**
 * One WebSocket carrying further resources besides the one its URL names,
 * each joined with {@link FlowSocket.join}. It is not a second connection:
 * the resources end with it.
 */
export class FlowSocket {
  /**
   * Connects as `FlowClient.connect(url, options)` does (the options are
   * for the resource the URL names), to join further resources on it.
   */
  constructor(url: string, options?: FlowOptions);
  /**
   * Joins `resource` with its own options and `applyDelta`; returns at
   * once. A join the connection refuses (a server without channels, its
   * limit, a resource already held, a closed socket) gives a resource whose
   * status is `left`, told to `onStatus` before `join` returns. Throws a
   * {@link FlowError} `closed` when the socket never started, a `TypeError`
   * for a malformed option.
   */
  join<S = unknown, D = unknown, A = unknown, E = unknown>(
    resource: string,
    options?: ResourceOptions<S, D, E>,
  ): FlowResource<S, D, A, E>;
  /** Where the connection stands. */
  readonly status: FlowStatus;
  /** The resource the URL names (`undefined` when the socket never started). */
  readonly urlResource: string | undefined;
  /**
   * Closes the connection for good, with every resource on it: their
   * waiting actions reject with `closed`, and every `applyDelta` is let go of.
   */
  close(): void;
  /**
   * Releases the WebAssembly memory of the socket object. The connection
   * stays open while its client or a resource joined on it lives; call
   * `close()` to end it.
   */
  free(): void;
}

/**
 * A resource joined on a {@link FlowSocket}: a {@link FlowClient}'s surface
 * for that resource, with its own `applyDelta` and status. The latency and
 * the presence report (`setPresence`) are the connection's, so they are on
 * the client, not here.
 */
export class FlowResource<S = unknown, D = unknown, A = unknown, E = unknown> {
  private constructor();
  /**
   * Sends an action on this resource; see {@link FlowClient.sendAction}.
   * While the resource is being (re)joined it waits. Rejects with a
   * {@link FlowError} `closed` once the resource was left or the socket
   * closed.
   */
  sendAction(action: A, options?: { optimistic?: D }): Promise<ActionOk>;
  /** Receives this resource's notifications in these domains. */
  subscribe(domains: string[]): void;
  /** Stops this resource's notifications in these domains. */
  unsubscribe(domains: string[]): void;
  /** Sends a WebRTC signal to another user of this resource (only while joined). */
  sendSignal(targetUserId: string, signal: SignalPayload): void;
  /** Asks the server to bring this resource up to date. */
  resync(): void;
  /**
   * Leaves the resource: status `leaving`, then `left`; waiting actions
   * reject with `closed`; `applyDelta` is let go of now. The socket stays.
   */
  close(): void;
  /** Releases the WebAssembly memory of the handle (it also leaves the resource). */
  free(): void;
  /** The state to show; `undefined` without `applyDelta` or before the first snapshot. */
  readonly state: S | undefined;
  /** Where the resource stands. */
  readonly status: ResourceStatus;
  /** Where the shared connection stands. */
  readonly connectionStatus: FlowStatus;
  /** The seq of the resource's confirmed state. */
  readonly seq: Int | undefined;
  /** Everyone on the resource. */
  readonly presence: PresenceInfo[];
  /** An action's state, while the resource keeps it. */
  op(opId: OpId): OpState | undefined;
}

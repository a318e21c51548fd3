//! The refusal probe: how the browser driver learns the HTTP status of an
//! upgrade the page was not allowed to see.
//!
//! A browser reports a refused WebSocket upgrade (404, 403, 401, ...) as a
//! socket that closed without opening, exactly like an unreachable server.
//! After such a close the driver asks the same URL with a plain `GET`
//! (`http`/`https` for `ws`/`wss`); a ui-flow server answers it with the
//! upgrade's own checks, or `426 Upgrade Required` when they pass (see
//! `spec/PROTOCOL.md`, "A refused upgrade"). The status goes to
//! [`Client::handle_refused`](super::Client::handle_refused), which stops
//! for good on a 4xx other than 408, 426 and 429.
//!
//! The probe is a CORS-mode `fetch` that sends credentials (cookies) only
//! to the page's own origin, skips the cache and does not follow
//! redirects. Across origins its status is readable only when the answer
//! carries `Access-Control-Allow-Origin` (ui-flow-server's answers do); any
//! status the page cannot read, a network error, a redirect or a page
//! without `window` (a worker) counts as no status, and the client retries
//! as it did before. It is not a health check: it runs only after a socket
//! failed to open, at most once per dial.

use super::cut;

/// Splits `scheme://rest` at the first `:`, which must start `://`.
///
/// Not `split_once("://")`: a string pattern links the two-way substring
/// searcher (about 2 KB of wasm) for what one character finds; for every
/// URL a WebSocket can open the two agree.
pub(crate) fn split_scheme(url: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = cut::split_first(url, b':')?;
    Some((scheme, rest.strip_prefix("//")?))
}

/// The URL to probe for a WebSocket URL: `ws` becomes `http`, `wss`
/// becomes `https`; the rest (path, query, resume point) stays. `None` for
/// any other scheme.
#[cfg_attr(
    not(all(feature = "browser", target_arch = "wasm32")),
    allow(dead_code)
)]
pub(crate) fn probe_url(ws_url: &str) -> Option<String> {
    let (scheme, rest) = split_scheme(ws_url)?;
    let scheme = if scheme.eq_ignore_ascii_case("ws") {
        "http"
    } else if scheme.eq_ignore_ascii_case("wss") {
        "https"
    } else {
        return None;
    };
    // The fragment never reaches a server.
    let rest = cut::split_first(rest, b'#').map_or(rest, |(r, _)| r);
    Some(format!("{scheme}://{rest}"))
}

/// Asks `ws_url`'s endpoint with a plain `GET`; the status the page may
/// read, if any.
#[cfg(all(feature = "browser", target_arch = "wasm32"))]
pub(crate) async fn status(ws_url: &str) -> Option<u16> {
    use wasm_bindgen_futures::JsFuture;
    use wasm_bindgen_futures::wasm_bindgen::JsCast;
    use web_sys::{RequestCache, RequestCredentials, RequestInit, RequestMode, RequestRedirect};

    let url = probe_url(ws_url)?;
    let init = RequestInit::new();
    init.set_method("GET");
    init.set_mode(RequestMode::Cors);
    init.set_credentials(RequestCredentials::SameOrigin);
    init.set_cache(RequestCache::NoStore);
    init.set_redirect(RequestRedirect::Manual);
    let answer = web_sys::window()?.fetch_with_str_and_init(&url, &init);
    let response: web_sys::Response = JsFuture::from(answer).await.ok()?.dyn_into().ok()?;
    // An opaque redirect reads as status 0.
    (response.status() != 0).then(|| response.status())
}

#[cfg(test)]
mod tests {
    use super::{probe_url, split_scheme};

    #[test]
    fn the_scheme_ends_at_the_first_colon_which_must_start_a_double_slash() {
        assert_eq!(split_scheme("ws://h:1/p"), Some(("ws", "h:1/p")));
        assert_eq!(split_scheme("wss://"), Some(("wss", "")));
        assert_eq!(split_scheme("ws:/h"), None);
        assert_eq!(split_scheme("ws//h"), None);
        assert_eq!(split_scheme("a:b://h"), None);
    }

    #[test]
    fn a_websocket_url_becomes_its_http_twin() {
        assert_eq!(
            probe_url("ws://127.0.0.1:9000/realtime/b?token=t&last_seq=3").as_deref(),
            Some("http://127.0.0.1:9000/realtime/b?token=t&last_seq=3")
        );
        assert_eq!(
            probe_url("WSS://host/realtime/b#frag").as_deref(),
            Some("https://host/realtime/b")
        );
        assert_eq!(probe_url("http://host/realtime/b"), None);
        assert_eq!(probe_url("not a url"), None);
    }
}

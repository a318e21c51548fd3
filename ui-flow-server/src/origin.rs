//! Which browser pages may connect: [`OriginPolicy`].
//!
//! Kept apart from the rest of the configuration because checking an
//! origin parses URIs with the HTTP stack's types, which the sans-IO hub
//! (which holds a [`ServerConfig`](crate::ServerConfig)) must not import.

/// Which browser origins may open a connection.
///
/// A browser sends `Origin` with every WebSocket upgrade, and a page on any
/// site may open a WebSocket to any server with the user's cookies attached
/// (cross-site WebSocket hijacking). The default, [`SameHost`](Self::SameHost),
/// accepts a browser only when its page came from the host it connects to.
/// Requests without an `Origin` come from non-browser clients, which could
/// send any `Origin` they like; every policy accepts them. A refused origin
/// gets HTTP 403 before the upgrade and a `warn` log line.
///
/// ```
/// use ui_flow_server::OriginPolicy;
///
/// let same = OriginPolicy::default();
/// assert!(same.allows(Some("https://app.example"), Some("app.example")));
/// assert!(!same.allows(Some("https://evil.example"), Some("app.example")));
/// assert!(same.allows(None, Some("app.example"))); // not a browser
///
/// let list = OriginPolicy::AllowList(vec!["https://app.example".into()]);
/// assert!(list.allows(Some("https://app.example"), Some("api.example")));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum OriginPolicy {
    /// The page's origin must name the host (and port) the request was
    /// sent to, as the `Host` header says (the default). Behind a proxy
    /// that rewrites `Host`, use an allow-list.
    #[default]
    SameHost,
    /// The same host, or one of these exact origins, such as
    /// `https://app.example.com` (scheme, host and any non-default port).
    AllowList(Vec<String>),
    /// Any origin: **development only** (pages on other ports or sites
    /// during local work). Any site the user visits could connect as them.
    Any,
}

impl OriginPolicy {
    /// Whether a request with this `Origin` header, sent to this `Host`,
    /// may connect.
    pub fn allows(&self, origin: Option<&str>, host: Option<&str>) -> bool {
        let Some(origin) = origin else {
            return true;
        };
        match self {
            OriginPolicy::Any => true,
            OriginPolicy::SameHost => same_host(origin, host),
            OriginPolicy::AllowList(list) => {
                list.iter().any(|o| o.eq_ignore_ascii_case(origin)) || same_host(origin, host)
            }
        }
    }
}

/// Whether `origin` (`scheme://host[:port]`) names `host` (`host[:port]`),
/// comparing host names without case and filling in the scheme's default
/// port on either side.
fn same_host(origin: &str, host: Option<&str>) -> bool {
    use axum::http::Uri;
    use axum::http::uri::Authority;
    let (Ok(origin), Some(Ok(host))) = (origin.parse::<Uri>(), host.map(str::parse::<Authority>))
    else {
        return false;
    };
    let (Some(scheme), Some(authority)) = (origin.scheme_str(), origin.authority()) else {
        return false;
    };
    let default_port = match scheme {
        "http" | "ws" => 80,
        "https" | "wss" => 443,
        _ => return false,
    };
    authority.host().eq_ignore_ascii_case(host.host())
        && authority.port_u16().unwrap_or(default_port) == host.port_u16().unwrap_or(default_port)
}

//! Who is connecting: [`Authenticator`] turns a token into an [`Identity`].
//!
//! A client presents its token in one of two places, checked in this order:
//!
//! 1. the `Sec-WebSocket-Protocol` header: the client offers the subprotocol
//!    [`SUBPROTOCOL`] and, beside it, [`TOKEN_SUBPROTOCOL_PREFIX`]` + token`
//!    (a browser: `new WebSocket(url, ["ui-flow", "ui-flow.token." + jwt])`).
//!    The server answers with `ui-flow` only, so the token is not echoed and
//!    stays out of URL logs. The token must use only characters allowed in a
//!    header token (a JWT or base64url is fine);
//! 2. the `token` query parameter (`/realtime/room-1?token=...`).
//!
//! Authentication runs on every connection, reconnects included. Tokens are
//! never logged by this crate.

use std::collections::HashMap;
use std::fmt;

use async_trait::async_trait;
use axum::http::{Extensions, HeaderMap, header};

/// The subprotocol a ui-flow server selects when the client offers it.
pub const SUBPROTOCOL: &str = "ui-flow";

/// Prefix of the subprotocol entry that carries the token.
pub const TOKEN_SUBPROTOCOL_PREFIX: &str = "ui-flow.token.";

pub use crate::identity::Identity;

/// What an [`Authenticator`] gets to look at: the token, the resource, and
/// the upgrade request's headers (cookies included) and extensions (what
/// the application's middleware put there, such as a logged-in user).
///
/// Its `Debug` output never shows the token.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub struct AuthRequest<'a> {
    /// The token, if the client sent one (subprotocol first, then query).
    pub token: Option<&'a str>,
    /// The resource the client wants to join.
    pub resource_id: &'a str,
    /// The `Origin` header, if any (already checked by the
    /// [`OriginPolicy`](crate::OriginPolicy)).
    pub origin: Option<&'a str>,
    /// The upgrade request's headers.
    pub headers: &'a HeaderMap,
    /// The upgrade request's extensions, as the application's middleware
    /// left them.
    pub extensions: &'a Extensions,
}

impl<'a> AuthRequest<'a> {
    /// A request for `resource_id` with no token, origin, headers or
    /// extensions; mostly for testing an [`Authenticator`].
    ///
    /// ```
    /// use ui_flow_server::AuthRequest;
    ///
    /// let request = AuthRequest::new("room-1").with_token("alice");
    /// assert_eq!(request.token, Some("alice"));
    /// assert_eq!(request.cookie("session"), None);
    /// ```
    pub fn new(resource_id: &'a str) -> Self {
        static NO_HEADERS: std::sync::OnceLock<HeaderMap> = std::sync::OnceLock::new();
        static NO_EXTENSIONS: std::sync::OnceLock<Extensions> = std::sync::OnceLock::new();
        AuthRequest {
            token: None,
            resource_id,
            origin: None,
            headers: NO_HEADERS.get_or_init(HeaderMap::new),
            extensions: NO_EXTENSIONS.get_or_init(Extensions::new),
        }
    }

    /// Sets the token.
    pub fn with_token(mut self, token: &'a str) -> Self {
        self.token = Some(token);
        self
    }

    /// Sets the headers.
    pub fn with_headers(mut self, headers: &'a HeaderMap) -> Self {
        self.headers = headers;
        self
    }

    /// Sets the extensions.
    pub fn with_extensions(mut self, extensions: &'a Extensions) -> Self {
        self.extensions = extensions;
        self
    }

    /// The value of the cookie `name` in the request's `Cookie` headers, if
    /// present. Values are returned as sent (not percent-decoded).
    pub fn cookie(&self, name: &str) -> Option<&'a str> {
        self.headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.split_once('='))
            .find(|(n, _)| n.trim() == name)
            .map(|(_, value)| value.trim().trim_matches('"'))
    }
}

impl fmt::Debug for AuthRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthRequest")
            .field("token", &self.token.map(|_| "<redacted>"))
            .field("resource_id", &self.resource_id)
            .field("origin", &self.origin)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Why authentication refused a connection. The client receives
/// `Error { code: "unauthorized", fatal: true }` and close code 4001 either
/// way; the variant is for the server's logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No token was presented.
    #[error("no token was presented")]
    Missing,
    /// The token is not valid (signature, format, claims).
    #[error("invalid token: {0}")]
    Invalid(String),
    /// The token has expired.
    #[error("token expired")]
    Expired,
    /// The user may not access this resource.
    #[error("not allowed to access this resource")]
    Forbidden,
}

/// Says who is connecting. Called once per connection attempt (reconnects
/// included), after the upgrade and within the handshake timeout; an `Err`
/// reaches the client as `Error unauthorized` and close 4001.
///
/// It sees the token and the upgrade request's headers, cookies and
/// extensions, so it can trust the application's own session cookie or what
/// its auth middleware put in the extensions:
///
/// ```
/// use ui_flow_server::{AuthError, AuthRequest, Authenticator, Identity};
///
/// /// What the app's middleware inserts for a logged-in request.
/// #[derive(Clone)]
/// struct User(String);
///
/// struct SessionOrToken;
///
/// #[async_trait::async_trait]
/// impl Authenticator for SessionOrToken {
///     async fn authenticate(&self, request: AuthRequest<'_>) -> Result<Identity, AuthError> {
///         if let Some(User(name)) = request.extensions.get::<User>() {
///             return Ok(Identity::new(name.clone()));
///         }
///         match (request.cookie("sid"), request.token) {
///             (Some(_sid), _) => Err(AuthError::Invalid("look the session up here".into())),
///             (None, Some("service-key")) => Ok(Identity::new("service")),
///             (None, Some(_)) => Err(AuthError::Invalid("unknown token".into())),
///             (None, None) => Err(AuthError::Missing),
///         }
///     }
/// }
///
/// # tokio_test_block(async {
/// let request = AuthRequest::new("room-1").with_token("service-key");
/// assert_eq!(SessionOrToken.authenticate(request).await, Ok(Identity::new("service")));
/// # });
/// # fn tokio_test_block(f: impl std::future::Future<Output = ()>) {
/// #     tokio::runtime::Builder::new_current_thread().build().expect("rt").block_on(f)
/// # }
/// ```
#[async_trait]
pub trait Authenticator: Send + Sync + 'static {
    /// Checks the request and says who it is.
    async fn authenticate(&self, request: AuthRequest<'_>) -> Result<Identity, AuthError>;

    /// May `identity`, connected for another resource, join `resource` on
    /// a channel of the same connection (the spec's "Channels")? Called
    /// once per `Join`; `Ok` gives the identity the member has in
    /// `resource`, which must be the same user (`user_id`), and `Err`
    /// refuses the join with `Left { code: "forbidden" }` while the
    /// connection stays open.
    ///
    /// The default is secure: it runs [`authenticate`](Self::authenticate)
    /// again for `resource` with the connection's token and origin, and
    /// requires the same user. Headers, cookies and extensions are not
    /// kept after the upgrade (they would cost every connection their
    /// memory), so an authenticator that trusts a cookie or its
    /// middleware's extensions sees none here and refuses: it must
    /// override this method. A connection whose identity the application
    /// decided itself (`FlowUpgrade::serve_as`) has
    /// no token to check: the default refuses its every join.
    async fn authorize_join(
        &self,
        identity: &Identity,
        resource: &str,
        request: JoinRequest<'_>,
    ) -> Result<Identity, AuthError> {
        if request.decided {
            return Err(AuthError::Forbidden);
        }
        let mut again = AuthRequest::new(resource);
        again.token = request.token;
        again.origin = request.origin;
        let joined = self.authenticate(again).await?;
        if joined.user_id != identity.user_id {
            return Err(AuthError::Forbidden);
        }
        Ok(joined)
    }
}

/// What a connection kept of its upgrade request, for
/// [`Authenticator::authorize_join`].
#[derive(Clone, Copy)]
#[non_exhaustive]
pub struct JoinRequest<'a> {
    /// The token the connection presented, if any.
    pub token: Option<&'a str>,
    /// The upgrade request's `Origin`, if any.
    pub origin: Option<&'a str>,
    /// The application decided the connection's identity itself: there is
    /// no request to check again.
    pub decided: bool,
}

impl<'a> JoinRequest<'a> {
    /// A join request with the connection's token (for tests of an
    /// authenticator's `authorize_join`).
    pub fn new(token: Option<&'a str>) -> Self {
        JoinRequest {
            token,
            origin: None,
            decided: false,
        }
    }
}

impl fmt::Debug for JoinRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinRequest")
            .field("token", &self.token.map(|_| "<redacted>"))
            .field("origin", &self.origin)
            .field("decided", &self.decided)
            .finish()
    }
}

/// A fixed table of tokens, for tests, demos and service accounts.
#[derive(Default)]
pub struct TokenTable {
    tokens: HashMap<String, Identity>,
}

impl TokenTable {
    /// An empty table (every token refused).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a token.
    pub fn with(mut self, token: impl Into<String>, identity: Identity) -> Self {
        self.tokens.insert(token.into(), identity);
        self
    }
}

impl fmt::Debug for TokenTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenTable({} tokens)", self.tokens.len())
    }
}

#[async_trait]
impl Authenticator for TokenTable {
    async fn authenticate(&self, request: AuthRequest<'_>) -> Result<Identity, AuthError> {
        let token = request.token.ok_or(AuthError::Missing)?;
        self.tokens
            .get(token)
            .cloned()
            .ok_or_else(|| AuthError::Invalid("unknown token".into()))
    }
}

/// **Insecure, for development only**: the token *is* the user id.
///
/// Anyone can claim to be anyone. Useful for local demos and tests where
/// several users are needed without a token issuer. A missing or empty token
/// is refused.
#[derive(Debug, Default, Clone, Copy)]
pub struct UnverifiedUserToken;

#[async_trait]
impl Authenticator for UnverifiedUserToken {
    async fn authenticate(&self, request: AuthRequest<'_>) -> Result<Identity, AuthError> {
        match request.token {
            Some(token) if !token.is_empty() && token.len() <= 128 => Ok(Identity::new(token)),
            Some(_) => Err(AuthError::Invalid("user id must be 1 to 128 bytes".into())),
            None => Err(AuthError::Missing),
        }
    }
}

/// Finds the token in a `Sec-WebSocket-Protocol` header value list.
pub(crate) fn token_from_protocols<'a>(values: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    values
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .find_map(|p| p.strip_prefix(TOKEN_SUBPROTOCOL_PREFIX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_found_among_offered_subprotocols() {
        let headers = ["ui-flow, ui-flow.token.abc.def-ghi"];
        assert_eq!(
            token_from_protocols(headers.iter().copied()),
            Some("abc.def-ghi")
        );
        let split = ["ui-flow", "ui-flow.token.xyz"];
        assert_eq!(token_from_protocols(split.iter().copied()), Some("xyz"));
        assert_eq!(token_from_protocols(["ui-flow"].iter().copied()), None);
    }

    #[test]
    fn debug_output_never_shows_the_token() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            "ui-flow, ui-flow.token.s3cret".parse().expect("header"),
        );
        let req = AuthRequest::new("r")
            .with_token("s3cret")
            .with_headers(&headers);
        assert!(!format!("{req:?}").contains("s3cret"));
    }

    #[test]
    fn cookies_are_found_by_name() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, "theme=dark; sid=abc123".parse().expect("h"));
        headers.append(header::COOKIE, "other=\"q\"".parse().expect("h"));
        let req = AuthRequest::new("r").with_headers(&headers);
        assert_eq!(req.cookie("sid"), Some("abc123"));
        assert_eq!(req.cookie("other"), Some("q"));
        assert_eq!(req.cookie("id"), None);
    }
}

//! [`shutdown_signal`]: what a server binary waits for before a graceful
//! shutdown, so that Ctrl-C and a process manager's SIGTERM both end in one.

/// Completes when the process receives Ctrl-C (SIGINT) or, on Unix, SIGTERM
/// (what systemd, Kubernetes and most process managers send before
/// SIGKILL). It shuts nothing down itself: follow it with
/// [`FlowServer::shutdown`](crate::FlowServer::shutdown), which tells every
/// client to reconnect elsewhere.
///
/// ```no_run
/// # async fn run(server: ui_flow_server::FlowServer<ui_flow_server::counter::Counter>,
/// #              listener: tokio::net::TcpListener) -> std::io::Result<()> {
/// let stop = {
///     let server = server.clone();
///     async move {
///         ui_flow_server::shutdown_signal().await;
///         server.shutdown().await;
///     }
/// };
/// server.serve_until(listener, server.router(), stop).await
/// # }
/// ```
pub async fn shutdown_signal() {
    let terminate = async {
        #[cfg(unix)]
        if let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            term.recv().await;
            return;
        }
        // No SIGTERM here (or it could not be installed): Ctrl-C alone.
        std::future::pending::<()>().await;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}

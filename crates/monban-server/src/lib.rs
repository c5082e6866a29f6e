//! Monban's server: the JSON REST API (with a generated OpenAPI 3.1 document), operator login
//! and sessions, the Server-Sent Events stream of access events, and the web console.
//!
//! This is the only crate that knows HTTP and JSON. It turns requests into calls on
//! `monban-store`, checks the operator's role on every route, and answers errors as RFC 9457
//! problem documents that name the offending field.

pub mod api;
pub mod audit;
pub mod auth;
pub mod config;
pub mod error;
pub mod gateway;
pub mod password;
pub mod state;
mod web;

use std::net::SocketAddr;

pub use config::ServerConfig;
pub use error::ApiError;
pub use state::AppState;

/// Errors that stop the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The listening address is taken or not allowed.
    #[error("{addr} で待ち受けできません: {source}。別のポートを --bind または MONBAN_BIND で指定してください / cannot listen on {addr}: {source}; choose another address with --bind or MONBAN_BIND")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// The server failed while running.
    #[error("サーバーが停止しました: {0} / the server stopped: {0}")]
    Serve(std::io::Error),
}

/// A bound listener, so callers can learn the actual port before serving.
pub struct Bound {
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
}

impl Bound {
    /// Binds the configured address.
    pub async fn bind(addr: SocketAddr) -> Result<Self, ServerError> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ServerError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| ServerError::Bind { addr, source })?;
        Ok(Self { listener, addr })
    }

    /// The address actually bound (with the real port if 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves the API and console until `shutdown` completes.
    pub async fn serve(
        self,
        state: AppState,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let app = api::router(state);
        axum::serve(
            self.listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(ServerError::Serve)
    }
}

//! The client end of the controller link: TLS to the gateway with the server certificate
//! pinned by its SHA-256 fingerprint (from the enrolment code), and length-prefixed JSON frames.

use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::agent::AgentError;

/// The TLS server name the gateway's certificate carries.
pub const SERVER_NAME: &str = "monban-gateway";

#[derive(Debug)]
struct Pinned {
    sha256: String,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let got = hex::encode(Sha256::digest(end_entity.as_ref()));
        if got.eq_ignore_ascii_case(&self.sha256) {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "サーバー証明書が登録時と違います / server certificate {got} does not match the enrolled fingerprint"
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn err(e: impl std::fmt::Display) -> AgentError {
    AgentError::Other(e.to_string())
}

/// Reader and writer halves of an open link.
pub type Link = (
    ReadHalf<TlsStream<TcpStream>>,
    WriteHalf<TlsStream<TcpStream>>,
);

/// Connects to `gateway` and checks its certificate against `cert_sha256`.
pub async fn connect(gateway: &str, cert_sha256: &str) -> Result<Link, AgentError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(err)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Pinned {
            sha256: cert_sha256.to_string(),
            provider,
        }))
        .with_no_client_auth();
    let tcp = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(gateway))
        .await
        .map_err(|_| err(format!("{gateway}: connect timed out")))?
        .map_err(|e| err(format!("{gateway}: {e}")))?;
    let _ = tcp.set_nodelay(true);
    let name = ServerName::try_from(SERVER_NAME).map_err(err)?;
    let tls = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp),
    )
    .await
    .map_err(|_| err("TLS handshake timed out"))?
    .map_err(err)?;
    Ok(tokio::io::split(tls))
}

/// Sends one message.
pub async fn send<W: AsyncWrite + Unpin, T: Serialize>(
    w: &mut W,
    msg: &T,
) -> Result<(), AgentError> {
    let frame = monban_proto::encode(msg).map_err(err)?;
    w.write_all(&frame).await.map_err(err)?;
    w.flush().await.map_err(err)
}

/// Receives one message of at most `max` bytes.
pub async fn recv<T: DeserializeOwned, R: AsyncRead + Unpin>(
    r: &mut R,
    max: usize,
) -> Result<T, AgentError> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len).await.map_err(err)?;
    let n = monban_proto::frame_len(len);
    if n > max {
        return Err(err(format!("frame of {n} bytes exceeds {max}")));
    }
    let mut buf = vec![0u8; n];
    r.read_exact(&mut buf).await.map_err(err)?;
    serde_json::from_slice(&buf).map_err(err)
}

/// Receives one raw frame of at most `max` bytes into a new file at `path`, after `header`.
/// Memory stays at one small buffer whatever the frame's size. The file is written with plain
/// blocking writes (to the page cache; the install syncs it), so that if this future is
/// dropped part-way nothing is still writing the file afterwards.
pub async fn recv_raw_to_file<R: AsyncRead + Unpin>(
    r: &mut R,
    max: usize,
    header: &[u8],
    path: &std::path::Path,
) -> Result<(), AgentError> {
    use std::io::Write;
    let mut len = [0u8; 4];
    r.read_exact(&mut len).await.map_err(err)?;
    let n = monban_proto::frame_len(len);
    if n > max {
        return Err(err(format!("frame of {n} bytes exceeds {max}")));
    }
    let file_err = |e: std::io::Error| err(format!("{}: {e}", path.display()));
    let mut f = std::fs::File::create(path).map_err(file_err)?;
    f.write_all(header).map_err(file_err)?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut left = n;
    while left > 0 {
        let want = left.min(buf.len());
        let got = r
            .read(buf.get_mut(..want).unwrap_or_default())
            .await
            .map_err(err)?;
        if got == 0 {
            return Err(err(format!(
                "link closed after {} of {n} snapshot bytes",
                n - left
            )));
        }
        f.write_all(buf.get(..got).unwrap_or_default())
            .map_err(file_err)?;
        left -= got;
    }
    Ok(())
}

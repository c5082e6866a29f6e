//! The gateway's TLS identity: a self-signed certificate made once in the data directory.
//! Controllers pin its SHA-256 fingerprint at enrolment instead of trusting any CA.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};

use super::GatewayError;

/// The name in the certificate.
pub const SERVER_NAME: &str = "monban-gateway";

fn io(path: &Path) -> impl Fn(std::io::Error) -> GatewayError + '_ {
    move |e| {
        GatewayError::Tls(format!(
            "{}: {e}。データディレクトリに書き込めるか確認してください / check that the data directory is writable",
            path.display()
        ))
    }
}

/// Loads the certificate and key from `dir`, creating them the first time. Returns the TLS
/// server configuration and the certificate's SHA-256 fingerprint (hex).
pub fn load_or_create(dir: &Path) -> Result<(Arc<rustls::ServerConfig>, String), GatewayError> {
    let cert_path = dir.join("gateway-cert.der");
    let key_path = dir.join("gateway-key.der");
    if !cert_path.exists() || !key_path.exists() {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let key = rcgen::KeyPair::generate().map_err(|e| GatewayError::Tls(e.to_string()))?;
        let params = rcgen::CertificateParams::new(vec![SERVER_NAME.to_string()])
            .map_err(|e| GatewayError::Tls(e.to_string()))?;
        let cert = params
            .self_signed(&key)
            .map_err(|e| GatewayError::Tls(e.to_string()))?;
        std::fs::write(&key_path, key.serialize_der()).map_err(io(&key_path))?;
        std::fs::write(&cert_path, cert.der().as_ref()).map_err(io(&cert_path))?;
    }
    let cert = std::fs::read(&cert_path).map_err(io(&cert_path))?;
    let key = std::fs::read(&key_path).map_err(io(&key_path))?;
    let sha = hex::encode(Sha256::digest(&cert));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| GatewayError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(cert)],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)),
        )
        .map_err(|e| GatewayError::Tls(e.to_string()))?;
    Ok((Arc::new(config), sha))
}

/// The fingerprint of the certificate in `dir` (creating it if needed).
pub fn fingerprint(dir: &Path) -> Result<String, GatewayError> {
    load_or_create(dir).map(|(_, sha)| sha)
}

//! A TLS client for tests that can reach every firmware row: OpenSSL at
//! security level 0, TLS 1.0 – 1.3, every suite the library has (Debian's
//! OpenSSL 3 refuses TLS 1.0/1.1 and SHA-1 otherwise). It verifies nothing
//! unless the caller asks; tests that check certificates do so themselves.

#![allow(dead_code)]

use openssl::pkey::PKey;
use openssl::ssl::{SslConnector, SslConnectorBuilder, SslMethod, SslVerifyMode, SslVersion};
use openssl::x509::X509;

/// A connector builder offering everything, verifying nothing.
pub fn connector() -> SslConnectorBuilder {
    let mut b = SslConnector::builder(SslMethod::tls_client()).expect("an OpenSSL client");
    b.set_security_level(0);
    b.set_min_proto_version(Some(SslVersion::TLS1)).unwrap();
    b.set_cipher_list("ALL:@SECLEVEL=0").unwrap();
    b.set_verify(SslVerifyMode::NONE);
    b
}

/// Presents this chain (leaf first) and PKCS#8 key as the client certificate.
pub fn with_client_certificate(b: &mut SslConnectorBuilder, chain: &[Vec<u8>], key_pkcs8: &[u8]) {
    let mut certs = chain.iter();
    if let Some(leaf) = certs.next() {
        b.set_certificate(&X509::from_der(leaf).unwrap()).unwrap();
    }
    for der in certs {
        b.add_extra_chain_cert(X509::from_der(der).unwrap())
            .unwrap();
    }
    b.set_private_key(&PKey::private_key_from_pkcs8(key_pkcs8).unwrap())
        .unwrap();
}

/// Offers only TLS-PSK with this identity and key (PID/PPS setup).
pub fn with_psk(b: &mut SslConnectorBuilder, identity: &str, key: &[u8]) {
    b.set_cipher_list("PSK:@SECLEVEL=0").unwrap();
    let identity = identity.as_bytes().to_vec();
    let key = key.to_vec();
    b.set_psk_client_callback(move |_, _hint, id_out, psk_out| {
        // NUL-terminated identity.
        id_out[..identity.len()].copy_from_slice(&identity);
        id_out[identity.len()] = 0;
        psk_out[..key.len()].copy_from_slice(&key);
        Ok(key.len())
    });
}

/// A TLS connection over `tcp` with no name checks.
pub fn connect(
    connector: &SslConnector,
    tcp: std::net::TcpStream,
) -> std::io::Result<openssl::ssl::SslStream<std::net::TcpStream>> {
    connector
        .configure()
        .map(|c| c.verify_hostname(false).use_server_name_indication(false))
        .map_err(std::io::Error::other)?
        .connect("device", tcp)
        .map_err(|e| std::io::Error::other(handshake_error(e)))
}

/// The handshake error with OpenSSL's reasons (the alert the device sent).
pub fn handshake_error<S: std::fmt::Debug>(e: openssl::ssl::HandshakeError<S>) -> String {
    match e {
        openssl::ssl::HandshakeError::Failure(mid) => format!(
            "{:?} (certificate verification: {})",
            mid.error(),
            mid.ssl().verify_result()
        ),
        other => other.to_string(),
    }
}

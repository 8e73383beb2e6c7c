//! A provisioning server for tests, in Rust: an enterprise PKI that issues
//! provisioning certificates (good ones, and ones that break each rule
//! firmware checks), and a WS-Man client over mutual TLS that configures a
//! device in setup mode the way a ConfigMgr out of band service point or
//! MeshCentral does, then manages it with what it configured.

#![allow(dead_code)]

use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    PKCS_RSA_SHA256, RsaKeySize,
};

use super::legacy_tls;
use super::{Client, Response, challenge_param, class_uri, envelope, envelope_get, read_response};

pub use amtemu_model::device::chain::SETUP_OU;

/// A certificate chain and its leaf's key.
#[derive(Clone)]
pub struct Credential {
    /// Leaf first, root last.
    pub chain: Vec<Vec<u8>>,
    /// PKCS#8 DER.
    pub key: Vec<u8>,
}

/// How a provisioning leaf is made; [`Leaf::good`] passes every rule. The
/// library's own chain tests issue with the same spec.
pub use amtemu_model::device::chain::LeafSpec as Leaf;

/// An enterprise root CA.
pub struct Pki {
    pub root_der: Vec<u8>,
    issuer: Issuer<'static, KeyPair>,
}

impl Pki {
    pub fn new(name: &str, bits: RsaKeySize) -> Pki {
        let key = KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, bits).unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let root_der = params.self_signed(&key).unwrap().der().to_vec();
        Pki {
            root_der,
            issuer: Issuer::new(params, key),
        }
    }

    /// Writes the root (DER) where `--provisioning-root` can read it.
    pub fn write_root(&self, dir: &std::path::Path, name: &str) -> String {
        std::fs::create_dir_all(dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, &self.root_der).unwrap();
        path.to_string_lossy().into_owned()
    }

    /// A provisioning certificate with the full chain.
    pub fn provisioning(&self, spec: Leaf) -> Credential {
        self.sign(spec.params())
    }

    /// A TLS server certificate for a device, issued by this CA.
    pub fn server(&self, fqdn: &str) -> Credential {
        let mut params = CertificateParams::new(vec![fqdn.to_string()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, fqdn);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(params)
    }

    fn sign(&self, params: CertificateParams) -> Credential {
        let key = KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_2048).unwrap();
        let leaf = params.signed_by(&key, &self.issuer).unwrap().der().to_vec();
        Credential {
            chain: vec![leaf, self.root_der.clone()],
            key: key.serialize_der(),
        }
    }
}

/// SHA-256 of a DER certificate, as root hash tables hold it.
pub fn sha256(der: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der)
        .as_ref()
        .to_vec()
}

/// Signs ConfigurationNonce ‖ McNonce as AdminSetup wants it: RSA PKCS#1
/// v1.5 with SHA-256 by the provisioning certificate's key.
pub fn sign_nonces(key_pkcs8: &[u8], configuration_nonce: &[u8], mc_nonce: &[u8]) -> Vec<u8> {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
    let pair = RsaKeyPair::from_pkcs8(key_pkcs8).unwrap();
    let mut signature = vec![0; pair.public_modulus_len()];
    let message = [configuration_nonce, mc_nonce].concat();
    pair.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        &message,
        &mut signature,
    )
    .unwrap();
    signature
}

type Stream = openssl::ssl::SslStream<TcpStream>;

/// A WS-Man client over TLS (OpenSSL, so that it reaches every firmware
/// row), presenting a client certificate or a PSK identity when given one,
/// with Digest on top; it records the certificate the device showed.
pub struct TlsClient {
    /// The Digest state, request framing and message ids of the plain
    /// client; only the connection differs.
    pub digest: Client,
    conn: Option<BufReader<Stream>>,
    connector: openssl::ssl::SslConnector,
    seen: Arc<Mutex<Option<Vec<u8>>>>,
    negotiated: Mutex<Option<(String, String)>>,
}

impl TlsClient {
    pub fn new(
        addr: SocketAddr,
        user: &str,
        password: &str,
        client: Option<&Credential>,
    ) -> TlsClient {
        let mut builder = legacy_tls::connector();
        if let Some(c) = client {
            legacy_tls::with_client_certificate(&mut builder, &c.chain, &c.key);
        }
        Self::with_connector(addr, user, password, builder)
    }

    /// A client of PID/PPS setup: TLS-PSK with the PID as identity and the
    /// PPS as key (dashes removed).
    pub fn psk(addr: SocketAddr, user: &str, password: &str, pid: &str, pps: &str) -> TlsClient {
        let mut builder = legacy_tls::connector();
        legacy_tls::with_psk(
            &mut builder,
            &pid.replace('-', ""),
            pps.replace('-', "").as_bytes(),
        );
        Self::with_connector(addr, user, password, builder)
    }

    fn with_connector(
        addr: SocketAddr,
        user: &str,
        password: &str,
        builder: openssl::ssl::SslConnectorBuilder,
    ) -> TlsClient {
        TlsClient {
            digest: Client::new(addr, user, password),
            conn: None,
            connector: builder.build(),
            seen: Arc::new(Mutex::new(None)),
            negotiated: Mutex::new(None),
        }
    }

    /// The leaf certificate the device presented last.
    pub fn server_certificate(&self) -> Option<Vec<u8>> {
        self.seen.lock().unwrap().clone()
    }

    /// The protocol version and suite (IANA) of the last handshake.
    pub fn negotiated(&self) -> Option<(String, String)> {
        self.negotiated.lock().unwrap().clone()
    }

    fn connect(&self) -> std::io::Result<BufReader<Stream>> {
        let tcp = TcpStream::connect(self.digest.addr)?;
        tcp.set_read_timeout(Some(Duration::from_secs(15)))?;
        let stream = legacy_tls::connect(&self.connector, tcp)?;
        let ssl = stream.ssl();
        *self.negotiated.lock().unwrap() = ssl.current_cipher().map(|c| {
            (
                ssl.version_str().to_string(),
                c.standard_name().unwrap_or(c.name()).to_string(),
            )
        });
        *self.seen.lock().unwrap() = stream
            .ssl()
            .peer_certificate()
            .and_then(|c| c.to_der().ok());
        Ok(BufReader::new(stream))
    }

    fn exchange(&mut self, bytes: &[u8]) -> std::io::Result<Response> {
        if self.conn.is_none() {
            self.conn = Some(self.connect()?);
        }
        let conn = self.conn.as_mut().expect("connected");
        let result = conn
            .get_mut()
            .write_all(bytes)
            .and_then(|_| conn.get_mut().flush())
            .and_then(|_| read_response(conn));
        match &result {
            Ok(r)
                if r.header("connection")
                    .is_some_and(|c| c.eq_ignore_ascii_case("close")) =>
            {
                self.conn = None
            }
            Ok(_) => {}
            Err(_) => self.conn = None,
        }
        result
    }

    /// Posts a SOAP body with Digest (a 401 round trip first when needed).
    /// An error is a connection or handshake failure: a refused
    /// provisioning certificate shows here as the alert the device sent.
    pub fn post(&mut self, body: &str) -> std::io::Result<Response> {
        for _ in 0..3 {
            let digest = &mut self.digest;
            let auth = digest
                .nonce
                .is_some()
                .then(|| digest.authorization("POST", "/wsman"));
            let bytes = digest.request_bytes(body, auth.as_deref());
            let r = self.exchange(&bytes)?;
            if r.status != 401 {
                return Ok(r);
            }
            let www = r.header("www-authenticate").unwrap_or_default().to_string();
            let digest = &mut self.digest;
            digest.realm = challenge_param(&www, "realm");
            digest.nonce = challenge_param(&www, "nonce");
            digest.nc = 0;
        }
        Err(std::io::Error::other("digest authentication refused"))
    }

    pub fn get(&mut self, class: &str) -> std::io::Result<Response> {
        let body = envelope_get(class, &self.digest.next_message_id());
        self.post(&body)
    }

    pub fn invoke(&mut self, class: &str, method: &str, args: &str) -> std::io::Result<Response> {
        let uri = class_uri(class);
        let body = envelope(
            &format!("{uri}/{method}"),
            class,
            &self.digest.next_message_id(),
            "",
            &format!(r#"<h:{method}_INPUT xmlns:h="{uri}">{args}</h:{method}_INPUT>"#),
        );
        self.post(&body)
    }

    pub fn send(
        &mut self,
        action: &str,
        class: &str,
        header: &str,
        body: &str,
    ) -> std::io::Result<Response> {
        let id = self.digest.next_message_id();
        let body = envelope(action, class, &id, header, body);
        self.post(&body)
    }
}

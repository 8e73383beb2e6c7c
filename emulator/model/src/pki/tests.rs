use std::sync::LazyLock;

use super::*;

/// One CA and one device key shared by the tests (RSA generation is slow
/// in debug builds).
static CA: LazyLock<(Vec<u8>, Vec<u8>)> =
    LazyLock::new(|| self_signed_ca("amtemu test CA").unwrap());
static KEY: LazyLock<GeneratedKey> = LazyLock::new(|| generate_rsa_key(2048).unwrap());

#[test]
fn generated_keys_report_pkcs1_public_keys() {
    let key = &*KEY;
    assert_eq!(key.bits, 2048);
    // PKCS#1 RSAPublicKey for 2048 bits: SEQUENCE of 270 bytes, as in
    // the AMT DERKey capture (base64 "MIIBCgKCAQEA").
    assert_eq!(&key.public_der[..4], &[0x30, 0x82, 0x01, 0x0a]);
    assert_eq!(public_key_of(&key.pkcs8).unwrap(), key.public_der);
    assert!(matches!(
        generate_rsa_key(1024),
        Err(PkiError::UnsupportedKeySize(1024))
    ));
}

#[test]
fn pkcs1_and_pkcs8_keys_import_to_the_same_key() {
    let key = &*KEY;
    let imported = import_rsa_key(&key.pkcs8).unwrap();
    assert_eq!(imported, *key);
    // The PKCS#1 form is the OCTET STRING inside the PKCS#8 wrapper.
    use x509_parser::asn1_rs::Any;
    let (_, info) = Any::from_der(&key.pkcs8).unwrap();
    let (rest, _version) = Any::from_der(info.data).unwrap();
    let (rest, _algorithm) = Any::from_der(rest).unwrap();
    let (_, pkcs1) = Any::from_der(rest).unwrap();
    let pkcs1 = pkcs1.data;
    let from_pkcs1 = import_rsa_key(pkcs1).unwrap();
    assert_eq!(from_pkcs1.public_der, key.public_der);
    assert!(import_rsa_key(b"not a key").is_err());
}

#[test]
fn issued_certificates_parse_and_match_their_key() {
    let (ca_cert, ca_key) = &*CA;
    let ca = parse_certificate(ca_cert).unwrap();
    assert!(ca.is_ca && ca.self_issued && ca.is_rsa);
    assert_eq!(ca.subject, "CN=amtemu test CA");
    assert_eq!(ca.key_bits, 2048);
    let leaf = issue_certificate(
        ca_cert,
        ca_key,
        "amt-0001.vpro.test",
        &["amt-0001.vpro.test".into(), "192.0.2.7".into()],
        &KEY.pkcs8,
        Validity::Years(10),
    )
    .unwrap();
    let info = parse_certificate(&leaf).unwrap();
    assert_eq!(info.subject, "CN=amt-0001.vpro.test");
    assert_eq!(info.issuer, "CN=amtemu test CA");
    assert_eq!(info.common_name.as_deref(), Some("amt-0001.vpro.test"));
    assert!(!info.is_ca && !info.self_issued);
    assert!(info.not_before < info.not_after);
    assert!(key_matches_certificate(&KEY.public_der, &leaf));
    assert!(!key_matches_certificate(&KEY.public_der, ca_cert));
    assert!(parse_certificate(b"garbage").is_err());
    // It chains to the CA.
    let (_, leaf) = X509Certificate::from_der(&leaf).unwrap();
    let (_, ca) = X509Certificate::from_der(ca_cert).unwrap();
    leaf.verify_signature(Some(ca.public_key())).unwrap();
}

/// The MPS root from the real AMT_PublicKeyCertificate capture
/// (shared/fixtures/wsman/dmt-go-wsman-messages/amt_publickey_certificate_pull.xml).
const MPS_ROOT: &str = concat!(
    "MIIEOzCCAqOgAwIBAgIDAZMjMA0GCSqGSIb3DQEBDAUAMD0xFzAVBgNVBAMTDk1QU1Jvb3QtMGFmMWQ1MRAwDgYD",
    "VQQKEwd1bmtub3duMRAwDgYDVQQGEwd1bmtub3duMCAXDTIyMDkyNDEwNDUwOFoYDzIwNTMwOTI0MTA0NTA4WjA9",
    "MRcwFQYDVQQDEw5NUFNSb290LTBhZjFkNTEQMA4GA1UEChMHdW5rbm93bjEQMA4GA1UEBhMHdW5rbm93bjCCAaIw",
    "DQYJKoZIhvcNAQEBBQADggGPADCCAYoCggGBALz/oJNyWXlClSlteAieC8Uyd4A+tbn8b45k6LKiImhDmdz/xFo9",
    "xe0C9GNf7b42KVpg5WoH/sPhoClR9Tv5i1LnilT1SUir42fcm2NEV9dRcLsPd/RAQfz8u0D4zb3blnxE8isqzriN",
    "pG7kac35UidSr5ym8TZ3IwXx6JJuncGgfB0DFZADC/+dA74n3coykvWBYqLr6RI5pkAxvulkRlCsatJTJrvMUYJ5",
    "1GI28jV56mIAc89sLrHqiSKCZBH9AcUrnZ/cB6ST/IikXpxy5wXBIvWT3VKVq75T/uIoCBEp5TLEn1EOYGqBBOCS",
    "QgmtmX7eVaB0s1+ppPW9w9a2zS45cHAtQ7tYvkkPv2dRhSzZdlk6HRXDP5wsF0aiflZCgbrjkq0SFC4e3Lo7XQX3",
    "FTNb0SOTZVTydupoMKkgJQTNlcosdu1ZzaIBl3eSkKkJZz2rUTssZC5tn9vcDd5vy3BzcGh5pvkgfAgN1sydqG7K",
    "e1qCkNEzm11B/BsevatjjwIDAQABo0IwQDAMBgNVHRMEBTADAQH/MBEGCWCGSAGG+EIBAQQEAwIABzAdBgNVHQ4E",
    "FgQUCvHVQqerCid99eLApuLky9x6H5owDQYJKoZIhvcNAQEMBQADggGBAIzOyGV0hzsmH2biJlzwTZaHMxqS7boT",
    "FMkHw+KvzsI201tHqVmCoiQ8EHErBGLSoDOTDRgOUGOCA5XU5ie9OWupAGqKBSwIyAhmJMOzrzC4Gwpu8K1msoFJ",
    "H30kx/V9purpbS3BRj0xfYXLa6IczbTg3E5IfTnZRJ9YuUtKQfI0P9c5U9CoKtddKn4+lRvOjFDoYfQGCJ7go3xj",
    "NCcGCVCjfkUhAVdbQ21DCRr6/YCZDWmjzZpL0p7UKF8roTiNuL/Z7gIXxch5HOmEWHY9uQ6K2MntuxAu0aK/mSD2",
    "kwmt/ECongdEGfUvhULLoPRQlQ2LnzcUQEgMECGQR5Yfy9jT0E8zdWDpc2tgVioNu6rEYKgp/GhG+sv7jv58pW82",
    "FRAV9xXtftW9+XDugC8tBJ6JHn0Q2v0QAflD2CEQVhWAY8bAqrbfTGUsaLfGL6kxV/qqssoMgLR8WhQ96T5le/4X",
    "GhQpbCHWIlctD6MwbrsunIAeQKp1Sc3DosY7DLq1MQ==",
);

#[test]
fn amt_names_put_the_country_first() {
    // The MPS root from the real AMT_PublicKeyCertificate capture: its
    // DER subject is CN, O, C.
    let der = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, MPS_ROOT).unwrap();
    let info = parse_certificate(&der).unwrap();
    assert_eq!(info.subject, "C=unknown,O=unknown,CN=MPSRoot-0af1d5");
    assert_eq!(info.issuer, info.subject);
    assert_eq!(info.key_bits, 3072);
    assert!(info.is_ca);
}

#[test]
fn requests_are_signed_by_the_device_key_and_keep_the_template_subject() {
    // A console's null-signed template: subject and SANs, any key.
    let mut template = CertificateParams::new(vec!["amt.example.com".to_string()]).unwrap();
    template.distinguished_name = DistinguishedName::new();
    template
        .distinguished_name
        .push(DnType::OrganizationName, "Example");
    template
        .distinguished_name
        .push(DnType::CommonName, "amt.example.com");
    let throwaway = KeyPair::generate().unwrap();
    let template = template.serialize_request(&throwaway).unwrap();

    let csr = certificate_request(&KEY.pkcs8, None, Some(template.der())).unwrap();
    let (_, parsed) = X509CertificationRequest::from_der(&csr).unwrap();
    parsed.verify_signature().unwrap();
    let info = &parsed.certification_request_info;
    assert_eq!(amt_name(&info.subject), "O=Example,CN=amt.example.com");
    assert_eq!(
        info.subject_pki.subject_public_key.data.as_ref(),
        KEY.public_der.as_slice()
    );
    let sans: Vec<_> = parsed
        .requested_extensions()
        .unwrap()
        .filter_map(|e| match e {
            ParsedExtension::SubjectAlternativeName(s) => Some(s.general_names.len()),
            _ => None,
        })
        .collect();
    assert_eq!(sans, [1]);

    // A CA accepts it and the certificate carries the device key.
    let (ca_cert, ca_key) = &*CA;
    let cert = sign_request(ca_cert, ca_key, &csr).unwrap();
    assert!(key_matches_certificate(&KEY.public_der, &cert));
    assert_eq!(
        parse_certificate(&cert).unwrap().subject,
        "O=Example,CN=amt.example.com"
    );

    // Without a template the subject is the common name given.
    let plain = certificate_request(&KEY.pkcs8, Some("device"), None).unwrap();
    let (_, parsed) = X509CertificationRequest::from_der(&plain).unwrap();
    assert_eq!(
        amt_name(&parsed.certification_request_info.subject),
        "CN=device"
    );
    assert!(certificate_request(&KEY.pkcs8, None, Some(b"junk")).is_err());
}

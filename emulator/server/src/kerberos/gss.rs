//! The GSS-API framing around a Kerberos AP-REQ as HTTP `Negotiate` and
//! redirection clients send it (RFC 4121 section 4.1, RFC 4178): either a
//! SPNEGO NegTokenInit whose mechToken is the Kerberos token (curl,
//! browsers, Windows), or the Kerberos token alone (pyspnego's `kerberos`
//! protocol, which pywinrm uses). Only the few DER elements of the framing
//! are read here, with bounds checked at every step; the Kerberos messages
//! inside are left to picky-krb.

/// DER of OID 1.3.6.1.5.5.2 (SPNEGO), tag and length included.
const SPNEGO_OID: &[u8] = &[0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02];
/// OID 1.2.840.113554.1.2.2 (Kerberos 5).
const KRB5_OID: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02,
];
/// OID 1.2.840.48018.1.2.2 (Microsoft's Kerberos 5, as Windows offers it).
const MS_KRB5_OID: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x82, 0xf7, 0x12, 0x01, 0x02, 0x02,
];
/// RFC 4121 token identifiers.
const AP_REQ_TOKEN: [u8; 2] = [0x01, 0x00];
const AP_REP_TOKEN: [u8; 2] = [0x02, 0x00];

/// How the client framed its token: the answer is framed the same way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Framing {
    /// SPNEGO, with the mechanism OID (DER) the client listed first.
    Spnego { mech: Vec<u8> },
    /// The bare Kerberos GSS token.
    Krb5,
}

/// Why a token is not one this acceptor takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    /// Well formed, but another mechanism (NTLM, or SPNEGO without a
    /// Kerberos token).
    #[error("not a Kerberos token")]
    NotKerberos,
    #[error("malformed GSS-API token")]
    Malformed,
}

/// The AP-REQ inside an initial context token, and how it was framed.
pub fn unwrap_initial(token: &[u8]) -> Result<(Framing, &[u8]), FramingError> {
    if token.starts_with(b"NTLMSSP\0") {
        return Err(FramingError::NotKerberos);
    }
    let (inner, rest) = tlv(token, 0x60)?;
    if !rest.is_empty() {
        return Err(FramingError::Malformed);
    }
    if let Some(after) = inner.strip_prefix(SPNEGO_OID) {
        let (mech, mech_token) = neg_token_init(after)?;
        let (framing, ap_req) = unwrap_initial(mech_token)?;
        return match framing {
            Framing::Krb5 => Ok((Framing::Spnego { mech }, ap_req)),
            // SPNEGO inside SPNEGO is no Kerberos token.
            Framing::Spnego { .. } => Err(FramingError::Malformed),
        };
    }
    let after = inner
        .strip_prefix(KRB5_OID)
        .or_else(|| inner.strip_prefix(MS_KRB5_OID))
        .ok_or(FramingError::NotKerberos)?;
    let ap_req = after
        .strip_prefix(&AP_REQ_TOKEN)
        .ok_or(FramingError::NotKerberos)?;
    Ok((Framing::Krb5, ap_req))
}

/// The reply token carrying an AP-REP, framed as the client framed its
/// request: SPNEGO's NegTokenResp (accept-completed, the client's first
/// mechanism) or the bare Kerberos token.
pub fn wrap_reply(framing: &Framing, ap_rep: &[u8]) -> Vec<u8> {
    let krb5 = encode(0x60, &[KRB5_OID, &AP_REP_TOKEN, ap_rep].concat());
    match framing {
        Framing::Krb5 => krb5,
        Framing::Spnego { mech } => {
            let neg_state = encode(0xa0, &[0x0a, 0x01, 0x00]);
            let supported = encode(0xa1, mech);
            let response = encode(0xa2, &encode(0x04, &krb5));
            let seq = encode(0x30, &[neg_state, supported, response].concat());
            encode(0xa1, &seq)
        }
    }
}

/// A NegTokenInit (`[0] SEQUENCE { mechTypes [0], reqFlags [1],
/// mechToken [2], mechListMIC [3] }`): the first mechanism listed (which
/// must be Kerberos) and the mechToken.
fn neg_token_init(der: &[u8]) -> Result<(Vec<u8>, &[u8]), FramingError> {
    let (outer, rest) = tlv(der, 0xa0)?;
    if !rest.is_empty() {
        return Err(FramingError::Malformed);
    }
    let (mut fields, rest) = tlv(outer, 0x30)?;
    if !rest.is_empty() {
        return Err(FramingError::Malformed);
    }
    let mut first_mech = None;
    let mut mech_token = None;
    while !fields.is_empty() {
        let tag = fields[0];
        let (value, rest) = tlv(fields, tag)?;
        fields = rest;
        match tag {
            0xa0 => {
                let (list, rest) = tlv(value, 0x30)?;
                if !rest.is_empty() {
                    return Err(FramingError::Malformed);
                }
                let (_, after) = tlv(list, 0x06)?;
                first_mech = Some(&list[..list.len() - after.len()]);
            }
            0xa2 => {
                let (token, rest) = tlv(value, 0x04)?;
                if !rest.is_empty() {
                    return Err(FramingError::Malformed);
                }
                mech_token = Some(token);
            }
            0xa1 | 0xa3 => {}
            _ => return Err(FramingError::Malformed),
        }
    }
    let mech = first_mech.ok_or(FramingError::Malformed)?;
    // NTLM first, or no optimistic token: nothing Kerberos to accept in
    // this one round trip.
    if mech != KRB5_OID && mech != MS_KRB5_OID {
        return Err(FramingError::NotKerberos);
    }
    let token = mech_token.ok_or(FramingError::NotKerberos)?;
    Ok((mech.to_vec(), token))
}

/// One DER element with the tag expected: its value and what follows it.
fn tlv(der: &[u8], tag: u8) -> Result<(&[u8], &[u8]), FramingError> {
    let (&first, rest) = der.split_first().ok_or(FramingError::Malformed)?;
    if first != tag {
        return Err(FramingError::Malformed);
    }
    let (&len0, rest) = rest.split_first().ok_or(FramingError::Malformed)?;
    let (len, rest) = if len0 < 0x80 {
        (usize::from(len0), rest)
    } else {
        let n = usize::from(len0 & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return Err(FramingError::Malformed);
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |a, b| (a << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return Err(FramingError::Malformed);
    }
    Ok(rest.split_at(len))
}

/// One DER element.
fn encode(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u32).to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (4 - skip) as u8);
        out.extend(&bytes[skip..]);
    }
    out.extend(value);
    out
}

/// The bare Kerberos GSS token around an AP-REQ (what a client sends; the
/// tests build requests with it).
#[cfg(test)]
pub fn wrap_ap_req(ap_req: &[u8], spnego: bool) -> Vec<u8> {
    let krb5 = encode(0x60, &[KRB5_OID, &AP_REQ_TOKEN, ap_req].concat());
    if !spnego {
        return krb5;
    }
    let mechs = encode(0xa0, &encode(0x30, &[KRB5_OID, MS_KRB5_OID].concat()));
    let token = encode(0xa2, &encode(0x04, &krb5));
    let init = encode(0xa0, &encode(0x30, &[mechs, token].concat()));
    encode(0x60, &[SPNEGO_OID, &init].concat())
}

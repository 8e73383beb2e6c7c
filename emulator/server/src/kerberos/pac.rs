//! The Windows PAC a KDC puts in the ticket (MS-PAC): its buffers, the
//! server signature the device checks with its own key, and the SIDs of
//! the logon information (KERB_VALIDATION_INFO, NDR-encoded): the user's
//! and its groups'. Every length and offset read from the ticket is
//! checked against the bytes there are.

use super::keys::{Key, signature_len};

/// PAC_INFO_BUFFER types (MS-PAC 2.4).
const LOGON_INFO: u32 = 1;
const SERVER_CHECKSUM: u32 = 6;
const KDC_CHECKSUM: u32 = 7;
/// KERB_NON_KERB_CKSUM_SALT: the key usage of PAC signatures.
const PAC_SIGNATURE_USAGE: i32 = 17;
/// More buffers than any KDC writes.
const MAX_BUFFERS: usize = 64;
/// Sub-authorities a SID may have.
const MAX_SUB_AUTHORITIES: u8 = 15;

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PacError {
    #[error("malformed PAC")]
    Malformed,
    #[error("PAC without logon information")]
    NoLogonInfo,
    #[error("PAC without a server signature")]
    NoServerSignature,
    #[error("PAC server signature of another type than the ticket's key")]
    SignatureType,
    #[error("PAC server signature does not verify")]
    BadSignature,
}

/// The SIDs of a PAC whose server signature verified with the key the
/// ticket was encrypted with: the user's first, then its groups'.
pub fn verified_sids(pac: &[u8], key: &Key) -> Result<Vec<Vec<u8>>, PacError> {
    let buffers = buffers(pac)?;
    let find = |kind| buffers.iter().find(|b| b.kind == kind);
    let server = find(SERVER_CHECKSUM).ok_or(PacError::NoServerSignature)?;
    if signature_of(&pac[server.range()])?.0 != key.signature_type() {
        return Err(PacError::SignatureType);
    }
    // The server signature covers the PAC with both signatures zeroed.
    let mut zeroed = pac.to_vec();
    for b in buffers
        .iter()
        .filter(|b| matches!(b.kind, SERVER_CHECKSUM | KDC_CHECKSUM))
    {
        let range = b.range();
        let (_, sig) = signature_of(&pac[range.clone()])?;
        zeroed[range.start + 4..range.start + 4 + sig.len()].fill(0);
    }
    let expected = key
        .checksum(PAC_SIGNATURE_USAGE, &zeroed)
        .ok_or(PacError::BadSignature)?;
    let (_, sent) = signature_of(&pac[server.range()])?;
    if expected.len() != sent.len() || !constant_time_eq(&expected, sent) {
        return Err(PacError::BadSignature);
    }
    let logon = find(LOGON_INFO).ok_or(PacError::NoLogonInfo)?;
    logon_info_sids(&pac[logon.range()])
}

/// A PAC_SIGNATURE_DATA: its type and signature (of the type's length;
/// an RODC identifier may follow).
fn signature_of(buffer: &[u8]) -> Result<(i32, &[u8]), PacError> {
    let (head, rest) = buffer.split_at_checked(4).ok_or(PacError::Malformed)?;
    let sig_type = i32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    let len = signature_len(sig_type).ok_or(PacError::SignatureType)?;
    let sig = rest.get(..len).ok_or(PacError::Malformed)?;
    Ok((sig_type, sig))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[derive(Clone, Copy, Debug)]
struct Buffer {
    kind: u32,
    offset: usize,
    size: usize,
}

impl Buffer {
    fn range(&self) -> std::ops::Range<usize> {
        self.offset..self.offset + self.size
    }
}

/// PACTYPE: a count, version 0, then the buffers, each inside the PAC.
fn buffers(pac: &[u8]) -> Result<Vec<Buffer>, PacError> {
    let mut r = Reader::new(pac);
    let count = r.u32()? as usize;
    if r.u32()? != 0 || count > MAX_BUFFERS {
        return Err(PacError::Malformed);
    }
    (0..count)
        .map(|_| {
            let kind = r.u32()?;
            let size = r.u32()? as usize;
            let offset = usize::try_from(r.u64()?).map_err(|_| PacError::Malformed)?;
            let end = offset.checked_add(size).ok_or(PacError::Malformed)?;
            if end > pac.len() {
                return Err(PacError::Malformed);
            }
            Ok(Buffer { kind, offset, size })
        })
        .collect()
}

/// The SIDs of a KERB_VALIDATION_INFO (MS-PAC 2.5) in its NDR type
/// serialization (MS-RPCE 2.2.6): the user (LogonDomainId + UserId), the
/// primary and other groups (LogonDomainId + RID), the extra SIDs and the
/// resource groups. The fixed part comes first; what its pointers refer to
/// follows in the order of the fields.
pub fn logon_info_sids(ndr: &[u8]) -> Result<Vec<Vec<u8>>, PacError> {
    let mut r = Reader::new(ndr);
    // Common header (version 1, little-endian) and private header.
    let common = r.take(8)?;
    if common[0] != 1 || common[1] != 0x10 {
        return Err(PacError::Malformed);
    }
    r.take(8)?;
    if r.u32()? == 0 {
        return Err(PacError::Malformed);
    }
    // Six FILETIMEs, then six RPC_UNICODE_STRINGs (length, max, pointer).
    r.take(48)?;
    let mut strings = [0u32; 8];
    for s in strings.iter_mut().take(6) {
        r.take(4)?;
        *s = r.u32()?;
    }
    r.take(4)?; // LogonCount, BadPasswordCount
    let user_id = r.u32()?;
    let primary_group = r.u32()?;
    let _group_count = r.u32()?;
    let group_ids = r.u32()?;
    r.take(4 + 16)?; // UserFlags, UserSessionKey
    for s in strings.iter_mut().skip(6) {
        r.take(4)?;
        *s = r.u32()?;
    }
    let domain_id = r.u32()?;
    // Reserved1[2], UserAccountControl, SubAuthStatus, two FILETIMEs,
    // FailedILogonCount, Reserved3.
    r.take(8 + 4 + 4 + 16 + 4 + 4)?;
    let _sid_count = r.u32()?;
    let extra_sids = r.u32()?;
    let resource_domain = r.u32()?;
    let _resource_count = r.u32()?;
    let resource_ids = r.u32()?;

    // Deferred data, in field order.
    for s in &strings[..6] {
        if *s != 0 {
            r.unicode_string()?;
        }
    }
    let groups = if group_ids != 0 {
        r.rids()?
    } else {
        Vec::new()
    };
    for s in &strings[6..] {
        if *s != 0 {
            r.unicode_string()?;
        }
    }
    if domain_id == 0 {
        return Err(PacError::Malformed);
    }
    let domain = r.sid()?;
    let mut extra = Vec::new();
    if extra_sids != 0 {
        let count = r.count(8)?;
        let pointers: Vec<u32> = (0..count)
            .map(|_| {
                let p = r.u32()?;
                r.u32()?; // attributes
                Ok(p)
            })
            .collect::<Result<_, PacError>>()?;
        for p in pointers {
            if p != 0 {
                extra.push(r.sid()?);
            }
        }
    }
    let mut resources = Vec::new();
    if resource_domain != 0 {
        let resource_sid = r.sid()?;
        if resource_ids != 0 {
            for rid in r.rids()? {
                resources.push(with_rid(&resource_sid, rid)?);
            }
        }
    }

    let mut sids = vec![
        with_rid(&domain, user_id)?,
        with_rid(&domain, primary_group)?,
    ];
    for rid in groups {
        sids.push(with_rid(&domain, rid)?);
    }
    sids.extend(extra);
    sids.extend(resources);
    let mut seen = Vec::with_capacity(sids.len());
    for sid in sids {
        if !seen.contains(&sid) {
            seen.push(sid);
        }
    }
    Ok(seen)
}

/// A domain SID with one more sub-authority.
fn with_rid(domain: &[u8], rid: u32) -> Result<Vec<u8>, PacError> {
    if domain[1] >= MAX_SUB_AUTHORITIES {
        return Err(PacError::Malformed);
    }
    let mut sid = domain.to_vec();
    sid[1] += 1;
    sid.extend(rid.to_le_bytes());
    Ok(sid)
}

/// A bounds-checked little-endian reader with NDR's 4-byte alignment.
struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8]) -> Self {
        Reader { data, at: 0 }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], PacError> {
        let end = self.at.checked_add(n).ok_or(PacError::Malformed)?;
        let bytes = self.data.get(self.at..end).ok_or(PacError::Malformed)?;
        self.at = end;
        Ok(bytes)
    }

    fn u32(&mut self) -> Result<u32, PacError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, PacError> {
        Ok(u64::from(self.u32()?) | (u64::from(self.u32()?) << 32))
    }

    fn align4(&mut self) -> Result<(), PacError> {
        let pad = (4 - self.at % 4) % 4;
        self.take(pad).map(|_| ())
    }

    /// A conformant array's count, checked against the bytes left for
    /// `item` bytes each.
    fn count(&mut self, item: usize) -> Result<usize, PacError> {
        let n = self.u32()? as usize;
        if n.saturating_mul(item) > self.data.len() - self.at {
            return Err(PacError::Malformed);
        }
        Ok(n)
    }

    /// A conformant varying array of UTF-16 units (skipped).
    fn unicode_string(&mut self) -> Result<(), PacError> {
        let max = self.u32()?;
        let offset = self.u32()?;
        let actual = self.u32()?;
        if offset != 0 || actual > max {
            return Err(PacError::Malformed);
        }
        self.take(actual as usize * 2)?;
        self.align4()
    }

    /// An array of GROUP_MEMBERSHIP: the RIDs.
    fn rids(&mut self) -> Result<Vec<u32>, PacError> {
        let n = self.count(8)?;
        (0..n)
            .map(|_| {
                let rid = self.u32()?;
                self.u32()?; // attributes
                Ok(rid)
            })
            .collect()
    }

    /// An RPC_SID: the conformant count, then the SID in its binary form.
    fn sid(&mut self) -> Result<Vec<u8>, PacError> {
        let count = self.u32()?;
        let head = self.take(8)?;
        if head[0] != 1 || u32::from(head[1]) != count || head[1] > MAX_SUB_AUTHORITIES {
            return Err(PacError::Malformed);
        }
        let subs = self.take(4 * usize::from(head[1]))?;
        Ok([head, subs].concat())
    }
}

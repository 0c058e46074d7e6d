//! A minimal, synchronous netlink client shared by rtnetlink (links,
//! addresses, routes) and nftables.
//!
//! Requests are built with [`Msg`]; [`Socket::exec`] sends any number of them
//! in one datagram (the kernel processes them in order) and reads one ack per
//! message, so a whole setup step costs one round trip. [`Socket::dump`]
//! collects the replies of a dump request.

use std::io;
use std::os::fd::OwnedFd;

use rustix::net::{
    bind, netlink, recv, send, socket_with, AddressFamily, RecvFlags, SendFlags, SocketFlags,
    SocketType,
};

pub(crate) const F_REQUEST: u16 = 0x1;
pub(crate) const F_ACK: u16 = 0x4;
pub(crate) const F_DUMP: u16 = 0x300;
pub(crate) const F_EXCL: u16 = 0x200;
pub(crate) const F_CREATE: u16 = 0x400;
pub(crate) const F_APPEND: u16 = 0x800;

const MSG_ERROR: u16 = 2;
const MSG_DONE: u16 = 3;
const NLA_F_NESTED: u16 = 0x8000;
const HDR: usize = 16;

/// One netlink message under construction: header, family header, attributes.
#[derive(Debug, Clone)]
pub(crate) struct Msg {
    buf: Vec<u8>,
    nests: Vec<usize>,
    nested_flag: u16,
}

fn align(n: usize) -> usize {
    (n + 3) & !3
}

impl Msg {
    /// A request of type `ty`; `F_REQUEST` is always set. `nested_flag`
    /// marks nests with `NLA_F_NESTED` (nftables wants it, rtnetlink is fine
    /// either way).
    pub(crate) fn new(ty: u16, flags: u16, family_header: &[u8], nested_flag: bool) -> Msg {
        let mut buf = vec![0u8; HDR];
        buf[4..6].copy_from_slice(&ty.to_ne_bytes());
        buf[6..8].copy_from_slice(&(flags | F_REQUEST).to_ne_bytes());
        buf.extend_from_slice(family_header);
        buf.resize(align(buf.len()), 0);
        Msg {
            buf,
            nests: Vec::new(),
            nested_flag: if nested_flag { NLA_F_NESTED } else { 0 },
        }
    }

    /// The message's type.
    pub(crate) fn ty(&self) -> u16 {
        u16::from_ne_bytes([self.buf[4], self.buf[5]])
    }

    /// The message's flags.
    pub(crate) fn flags(&self) -> u16 {
        u16::from_ne_bytes([self.buf[6], self.buf[7]])
    }

    /// Appends attribute `ty` with payload `data`.
    pub(crate) fn attr(&mut self, ty: u16, data: &[u8]) -> &mut Msg {
        let len = 4 + data.len();
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.buf.resize(align(self.buf.len()), 0);
        self
    }

    /// Appends raw bytes (a family header inside a nest), padded to 4 bytes.
    pub(crate) fn attr_raw(&mut self, bytes: &[u8]) -> &mut Msg {
        self.buf.extend_from_slice(bytes);
        self.buf.resize(align(self.buf.len()), 0);
        self
    }

    /// A NUL-terminated string attribute.
    pub(crate) fn str(&mut self, ty: u16, s: &str) -> &mut Msg {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        self.attr(ty, &v)
    }

    /// A native-endian u32 attribute (rtnetlink).
    pub(crate) fn u32(&mut self, ty: u16, v: u32) -> &mut Msg {
        self.attr(ty, &v.to_ne_bytes())
    }

    /// A big-endian u32 attribute (nftables integers).
    pub(crate) fn be32(&mut self, ty: u16, v: u32) -> &mut Msg {
        self.attr(ty, &v.to_be_bytes())
    }

    /// Opens a nested attribute; close it with [`Msg::end`].
    pub(crate) fn nest(&mut self, ty: u16) -> &mut Msg {
        self.nests.push(self.buf.len());
        self.buf.extend_from_slice(&[0, 0]);
        self.buf
            .extend_from_slice(&(ty | self.nested_flag).to_ne_bytes());
        self
    }

    /// Closes the innermost open nest.
    pub(crate) fn end(&mut self) -> &mut Msg {
        if let Some(start) = self.nests.pop() {
            let len = (self.buf.len() - start) as u16;
            self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        }
        self
    }

    fn finish_into(&self, seq: u32, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&self.buf);
        let len = self.buf.len() as u32;
        out[start..start + 4].copy_from_slice(&len.to_ne_bytes());
        out[start + 8..start + 12].copy_from_slice(&seq.to_ne_bytes());
    }
}

/// Iterates over the attributes in `buf` as `(type without flags, payload)`.
pub(crate) fn attrs(mut buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if buf.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([buf[0], buf[1]]) as usize;
        let ty = u16::from_ne_bytes([buf[2], buf[3]]) & 0x3fff;
        if len < 4 || len > buf.len() {
            return None;
        }
        let data = &buf[4..len];
        buf = &buf[align(len).min(buf.len())..];
        Some((ty, data))
    })
}

/// A NUL-terminated string payload, without the NUL.
pub(crate) fn attr_str(data: &[u8]) -> String {
    let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    String::from_utf8_lossy(&data[..end]).into_owned()
}

/// A native-endian u32 payload (0 when too short).
pub(crate) fn attr_u32(data: &[u8]) -> u32 {
    data.get(..4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_ne_bytes)
        .unwrap_or(0)
}

/// A netlink socket of one protocol, in the network namespace of the thread
/// that opened it.
pub(crate) struct Socket {
    fd: OwnedFd,
    seq: u32,
    buf: Vec<u8>,
}

impl Socket {
    /// Opens a netlink socket for `protocol` (`None` is NETLINK_ROUTE, 0).
    pub(crate) fn open(protocol: Option<rustix::net::Protocol>) -> io::Result<Socket> {
        let fd = socket_with(
            AddressFamily::NETLINK,
            SocketType::RAW,
            SocketFlags::CLOEXEC,
            protocol,
        )?;
        bind(&fd, &netlink::SocketAddrNetlink::new(0, 0))?;
        Ok(Socket {
            fd,
            seq: 1,
            buf: vec![0u8; 64 * 1024],
        })
    }

    /// An rtnetlink socket.
    pub(crate) fn route() -> io::Result<Socket> {
        Socket::open(None)
    }

    /// An nfnetlink socket.
    pub(crate) fn netfilter() -> io::Result<Socket> {
        Socket::open(Some(netlink::NETFILTER))
    }

    /// Sends `msgs` in one datagram and waits for the ack of each message
    /// that asked for one (`F_ACK`). Returns, per message, `Ok` or the errno
    /// the kernel answered with (messages without `F_ACK` report `Ok`).
    pub(crate) fn exec(&mut self, msgs: &[Msg]) -> io::Result<Vec<Result<(), rustix::io::Errno>>> {
        let first = self.seq;
        let mut out = Vec::new();
        for m in msgs {
            m.finish_into(self.seq, &mut out);
            self.seq = self.seq.wrapping_add(1);
        }
        send(&self.fd, &out, SendFlags::empty())?;
        let mut results: Vec<Option<Result<(), rustix::io::Errno>>> = msgs
            .iter()
            .map(|m| (m.flags() & F_ACK == 0).then_some(Ok(())))
            .collect();
        while results.iter().any(Option::is_none) {
            let n = self.recv()?;
            for (ty, seq, payload) in messages(&self.buf[..n]) {
                if ty != MSG_ERROR {
                    continue;
                }
                let idx = seq.wrapping_sub(first) as usize;
                let Some(slot) = results.get_mut(idx) else {
                    continue;
                };
                let code = payload
                    .get(..4)
                    .and_then(|b| b.try_into().ok())
                    .map(i32::from_ne_bytes)
                    .unwrap_or(0);
                *slot = Some(if code == 0 {
                    Ok(())
                } else {
                    Err(rustix::io::Errno::from_raw_os_error(-code))
                });
                // An error for a batch's begin message answers for the batch.
                if code != 0 && idx == 0 && msgs[0].ty() == crate::nft::BATCH_BEGIN {
                    for r in results.iter_mut().filter(|r| r.is_none()) {
                        *r = Some(Err(rustix::io::Errno::from_raw_os_error(-code)));
                    }
                }
            }
        }
        Ok(results.into_iter().map(|r| r.unwrap_or(Ok(()))).collect())
    }

    /// Like [`Socket::exec`], but the first error (with the index of its
    /// message) fails the call.
    pub(crate) fn exec_all(&mut self, msgs: &[Msg]) -> Result<(), (usize, io::Error)> {
        let results = self.exec(msgs).map_err(|e| (0, e))?;
        match results.into_iter().enumerate().find(|(_, r)| r.is_err()) {
            Some((i, Err(e))) => Err((i, e.into())),
            _ => Ok(()),
        }
    }

    /// Sends a dump request and returns the payload (after the netlink
    /// header) of every reply.
    pub(crate) fn dump(&mut self, msg: &Msg) -> io::Result<Vec<Vec<u8>>> {
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        let mut out = Vec::new();
        msg.finish_into(seq, &mut out);
        send(&self.fd, &out, SendFlags::empty())?;
        let mut replies = Vec::new();
        loop {
            let n = self.recv()?;
            for (ty, rseq, payload) in messages(&self.buf[..n]) {
                if rseq != seq {
                    continue;
                }
                match ty {
                    MSG_DONE => return Ok(replies),
                    MSG_ERROR => {
                        let code = attr_u32(payload) as i32;
                        if code == 0 {
                            return Ok(replies);
                        }
                        return Err(rustix::io::Errno::from_raw_os_error(-code).into());
                    }
                    _ => replies.push(payload.to_vec()),
                }
            }
        }
    }

    fn recv(&mut self) -> io::Result<usize> {
        loop {
            match recv(&self.fd, &mut self.buf, RecvFlags::empty()) {
                Ok((n, _)) => return Ok(n),
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Splits a datagram into `(type, seq, payload)` messages.
fn messages(mut buf: &[u8]) -> impl Iterator<Item = (u16, u32, &[u8])> {
    std::iter::from_fn(move || {
        if buf.len() < HDR {
            return None;
        }
        let len = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        if len < HDR || len > buf.len() {
            return None;
        }
        let ty = u16::from_ne_bytes([buf[4], buf[5]]);
        let seq = u32::from_ne_bytes([buf[8], buf[9], buf[10], buf[11]]);
        let payload = &buf[HDR..len];
        buf = &buf[align(len).min(buf.len())..];
        Some((ty, seq, payload))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_padded_and_nests_sized() {
        let mut m = Msg::new(16, F_ACK, &[0u8; 16], true);
        m.str(3, "eth0").nest(18).str(1, "veth").end();
        let mut out = Vec::new();
        m.finish_into(7, &mut out);
        assert_eq!(
            u32::from_ne_bytes(out[0..4].try_into().expect("must succeed")) as usize,
            out.len()
        );
        assert_eq!(
            u32::from_ne_bytes(out[8..12].try_into().expect("must succeed")),
            7
        );
        let body = &out[HDR + 16..];
        let got: Vec<(u16, Vec<u8>)> = attrs(body).map(|(t, d)| (t, d.to_vec())).collect();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], (3, b"eth0\0".to_vec()));
        assert_eq!(got[1].0, 18);
        let inner: Vec<(u16, String)> = attrs(&got[1].1).map(|(t, d)| (t, attr_str(d))).collect();
        assert_eq!(inner, vec![(1, "veth".to_string())]);
        // The nest carries NLA_F_NESTED on the wire.
        let raw_ty = u16::from_ne_bytes([body[14], body[15]]);
        assert_eq!(raw_ty, 18 | NLA_F_NESTED);
    }

    #[test]
    fn truncated_attributes_stop_iteration() {
        let buf = [8u8, 0, 1, 0, 1, 2];
        assert_eq!(attrs(&buf).count(), 0);
    }
}

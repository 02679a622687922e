//! An AF_PACKET socket with a TPACKET_V3 memory-mapped receive ring.
//!
//! The kernel fills fixed-size blocks of the ring with packets and hands a block to user
//! space when it is full or when its retire timeout expires; user space reads every packet
//! of the block in place and gives the block back. No system call per packet, no copy
//! except the kernel's one copy into the ring.

use super::bpf::Insn;
use std::io;
use std::sync::atomic::{fence, AtomicU32, Ordering};

// Linux ABI constants (linux/if_packet.h, asm-generic/socket.h).
const SOL_PACKET: libc::c_int = 263;
const PACKET_RX_RING: libc::c_int = 5;
const PACKET_STATISTICS: libc::c_int = 6;
const PACKET_VERSION: libc::c_int = 10;
const TPACKET_V3: libc::c_int = 2;
const SO_ATTACH_FILTER: libc::c_int = 26;
const ETH_P_ALL: u16 = 0x0003;
const TP_STATUS_KERNEL: u32 = 0;
const TP_STATUS_USER: u32 = 1;
const TP_STATUS_VLAN_VALID: u32 = 0x10;
const TP_STATUS_VLAN_TPID_VALID: u32 = 0x40;
/// Offset of `struct sockaddr_ll` after a `tpacket3_hdr` (TPACKET_ALIGN(48)).
const SLL_OFFSET: usize = 48;

/// Socket type: with or without the link-layer header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SockKind {
    /// SOCK_RAW: packets start with the link header.
    Raw,
    /// SOCK_DGRAM: packets start with the network header.
    Dgram,
}

/// Ring geometry.
#[derive(Debug, Clone, Copy)]
pub struct RingConfig {
    pub block_size: usize,
    pub block_count: usize,
    /// Milliseconds after which a partly filled block is handed to user space.
    pub retire_ms: u32,
}

/// A failed system call: which one, and the OS error.
#[derive(Debug)]
pub struct SysError {
    pub call: &'static str,
    pub err: io::Error,
}

fn sys(call: &'static str) -> SysError {
    SysError { call, err: io::Error::last_os_error() }
}

/// One packet as the ring holds it.
#[derive(Debug)]
pub struct RingPacket<'a> {
    pub ts_ns: i64,
    /// Bytes from the link header (SOCK_RAW) or the network header (SOCK_DGRAM).
    pub data: &'a [u8],
    pub orig_len: u32,
    /// `sll_pkttype` (PACKET_HOST, PACKET_OUTGOING...).
    pub pkttype: u8,
    pub ifindex: i32,
    /// `sll_hatype` (ARPHRD_*).
    pub hatype: u16,
    /// EtherType, host order.
    pub protocol: u16,
    /// Link-layer source address (`sll_addr`, `sll_halen` bytes of it are meaningful).
    pub addr: [u8; 8],
    pub halen: u8,
    /// The VLAN tag the kernel stripped (TCI, TPID), if any.
    pub vlan: Option<(u16, u16)>,
}

pub struct Ring {
    fd: libc::c_int,
    map: *mut u8,
    map_len: usize,
    cfg: RingConfig,
    next: usize,
}

// SAFETY: the ring is owned by one `Ring` value; nothing else maps or closes it.
unsafe impl Send for Ring {}

fn setsockopt<T>(fd: libc::c_int, level: libc::c_int, name: libc::c_int, v: &T) -> libc::c_int {
    // SAFETY: `v` points to a live value of the size passed.
    unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            v as *const T as *const libc::c_void,
            std::mem::size_of::<T>() as u32,
        )
    }
}

impl Ring {
    /// Opens the socket: created with protocol 0 (it receives nothing yet), filter
    /// attached, ring mapped, and only then bound to `ifindex` (0: every interface) for
    /// every protocol, so no packet reaches it unfiltered.
    pub fn open(kind: SockKind, ifindex: i32, filter: &[Insn], cfg: RingConfig) -> Result<Ring, SysError> {
        let ty = match kind {
            SockKind::Raw => libc::SOCK_RAW,
            SockKind::Dgram => libc::SOCK_DGRAM,
        };
        // SAFETY: plain system call.
        let fd = unsafe { libc::socket(libc::AF_PACKET, ty | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(sys("socket"));
        }
        let mut ring = Ring { fd, map: std::ptr::null_mut(), map_len: 0, cfg, next: 0 };
        let prog: Vec<libc::sock_filter> =
            filter.iter().map(|i| libc::sock_filter { code: i.code, jt: i.jt, jf: i.jf, k: i.k }).collect();
        let fprog =
            libc::sock_fprog { len: prog.len() as u16, filter: prog.as_ptr() as *mut libc::sock_filter };
        if setsockopt(fd, libc::SOL_SOCKET, SO_ATTACH_FILTER, &fprog) != 0 {
            return Err(sys("setsockopt(SO_ATTACH_FILTER)"));
        }
        if setsockopt(fd, SOL_PACKET, PACKET_VERSION, &TPACKET_V3) != 0 {
            return Err(sys("setsockopt(PACKET_VERSION)"));
        }
        // struct tpacket_req3.
        let frame_size: u32 = 2048;
        let req: [u32; 7] = [
            cfg.block_size as u32,
            cfg.block_count as u32,
            frame_size,
            (cfg.block_size / frame_size as usize * cfg.block_count) as u32,
            cfg.retire_ms,
            0, // tp_sizeof_priv
            0, // tp_feature_req_word
        ];
        if setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req) != 0 {
            return Err(sys("setsockopt(PACKET_RX_RING)"));
        }
        let len = cfg.block_size * cfg.block_count;
        // SAFETY: maps the ring the kernel just allocated for this socket.
        let map = unsafe {
            libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, fd, 0)
        };
        if map == libc::MAP_FAILED {
            return Err(sys("mmap"));
        }
        ring.map = map as *mut u8;
        ring.map_len = len;
        // SAFETY: zeroed sockaddr_ll is valid; the fields are set below.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = ETH_P_ALL.to_be();
        sll.sll_ifindex = ifindex;
        // SAFETY: `sll` is a valid sockaddr_ll of the length passed.
        let rc = unsafe {
            libc::bind(
                fd,
                &sll as *const libc::sockaddr_ll as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if rc != 0 {
            return Err(sys("bind"));
        }
        Ok(ring)
    }

    fn block(&self, i: usize) -> *mut u8 {
        // SAFETY: i < block_count, so the offset stays inside the mapping.
        unsafe { self.map.add(i * self.cfg.block_size) }
    }

    fn status(&self, block: *mut u8) -> &AtomicU32 {
        // SAFETY: block_status is the aligned u32 at offset 8 of the block descriptor,
        // shared with the kernel.
        unsafe { &*(block.add(8) as *const AtomicU32) }
    }

    /// Waits up to `timeout_ms` for a block, then calls `f` for each of its packets and
    /// gives the block back. Returns the number of packets delivered (0 on timeout or
    /// interruption by a signal).
    pub fn next_block(
        &mut self,
        timeout_ms: i32,
        f: &mut dyn FnMut(&RingPacket<'_>),
    ) -> Result<usize, SysError> {
        let block = self.block(self.next);
        if self.status(block).load(Ordering::Acquire) & TP_STATUS_USER == 0 {
            let mut pfd = libc::pollfd { fd: self.fd, events: libc::POLLIN | libc::POLLERR, revents: 0 };
            // SAFETY: one valid pollfd.
            let rc = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
            if rc < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    return Ok(0);
                }
                return Err(SysError { call: "poll", err: e });
            }
            if self.status(block).load(Ordering::Acquire) & TP_STATUS_USER == 0 {
                return Ok(0);
            }
        }
        fence(Ordering::Acquire);
        let rd32 = |p: *const u8, off: usize| -> u32 {
            // SAFETY: offsets within a header the kernel wrote inside the mapping.
            unsafe { std::ptr::read_unaligned(p.add(off) as *const u32) }
        };
        let rd16 = |p: *const u8, off: usize| -> u16 {
            // SAFETY: as above.
            unsafe { std::ptr::read_unaligned(p.add(off) as *const u16) }
        };
        let num = rd32(block, 12) as usize;
        let mut off = rd32(block, 16) as usize;
        let bs = self.cfg.block_size;
        for _ in 0..num {
            if off + SLL_OFFSET + 20 > bs {
                break;
            }
            // SAFETY: off < block_size, checked above.
            let h = unsafe { block.add(off) };
            let next = rd32(h, 0) as usize;
            let sec = rd32(h, 4) as i64;
            let nsec = rd32(h, 8) as i64;
            let snaplen = rd32(h, 12) as usize;
            let len = rd32(h, 16);
            let status = rd32(h, 20);
            let mac = rd16(h, 24) as usize;
            let net = rd16(h, 26) as usize;
            let tci = rd32(h, 32) as u16;
            let tpid = rd16(h, 36);
            let sll = unsafe { h.add(SLL_OFFSET) };
            let protocol = u16::from_be(rd16(sll, 2));
            let ifindex = rd32(sll, 4) as i32;
            let hatype = rd16(sll, 8);
            // SAFETY: sll_pkttype, sll_halen and sll_addr lie within the sockaddr_ll.
            let (pkttype, halen, addr) = unsafe {
                let mut a = [0u8; 8];
                std::ptr::copy_nonoverlapping(sll.add(12), a.as_mut_ptr(), 8);
                (*sll.add(10), *sll.add(11), a)
            };
            let start = mac.min(net);
            if off + start + snaplen <= bs {
                // SAFETY: the packet bytes lie inside this block (checked above).
                let data = unsafe { std::slice::from_raw_parts(h.add(start), snaplen) };
                let vlan = (status & TP_STATUS_VLAN_VALID != 0)
                    .then_some((tci, if status & TP_STATUS_VLAN_TPID_VALID != 0 { tpid } else { 0x8100 }));
                f(&RingPacket {
                    ts_ns: sec * 1_000_000_000 + nsec,
                    data,
                    orig_len: len,
                    pkttype,
                    ifindex,
                    hatype,
                    protocol,
                    addr,
                    halen,
                    vlan,
                });
            }
            if next == 0 {
                break;
            }
            off += next;
        }
        fence(Ordering::Release);
        self.status(block).store(TP_STATUS_KERNEL, Ordering::Release);
        self.next = (self.next + 1) % self.cfg.block_count;
        Ok(num)
    }

    /// Packets the kernel dropped since the last call (PACKET_STATISTICS resets its
    /// counters when read), and packets it passed the filter.
    pub fn stats(&self) -> Result<(u64, u64), SysError> {
        let mut st = [0u32; 3]; // struct tpacket_stats_v3
        let mut len = std::mem::size_of_val(&st) as libc::socklen_t;
        // SAFETY: `st` has room for `len` bytes.
        let rc = unsafe {
            libc::getsockopt(
                self.fd,
                SOL_PACKET,
                PACKET_STATISTICS,
                st.as_mut_ptr() as *mut libc::c_void,
                &mut len,
            )
        };
        if rc != 0 {
            return Err(sys("getsockopt(PACKET_STATISTICS)"));
        }
        Ok((st[1] as u64, st[0] as u64))
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: unmaps and closes what `open` created; nothing borrows them any more.
        unsafe {
            if !self.map.is_null() {
                libc::munmap(self.map as *mut libc::c_void, self.map_len);
            }
            libc::close(self.fd);
        }
    }
}

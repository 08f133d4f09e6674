//! Where peer connections listen: the addresses they bind, the UDP port range they take ports
//! from, and the public address a 1:1 NAT maps them to.

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::sync::atomic::{AtomicU32, Ordering};

/// How the media plane meets the network.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MediaConfig {
    /// Addresses each peer connection binds (`CONSILIUM_MEDIA_ADDRS`); empty means loopback plus
    /// this host's primary IPv4 address. A wildcard is not allowed: `webrtc` skips loopback then.
    pub addrs: Vec<IpAddr>,
    /// Inclusive UDP port range (`CONSILIUM_MEDIA_PORTS`, e.g. `40000-40999`); unset means
    /// ephemeral ports.
    pub ports: Option<(u16, u16)>,
    /// The address clients reach us at when we sit behind a 1:1 NAT (`CONSILIUM_MEDIA_PUBLIC_IP`):
    /// host candidates on the primary bound address are announced with it instead.
    pub public_ip: Option<IpAddr>,
}

/// Attempts to find a free port in the range before giving up on one peer connection.
const PORT_ATTEMPTS: usize = 32;

#[derive(Debug)]
pub(crate) struct Net {
    pub addrs: Vec<IpAddr>,
    ports: Option<(u16, u16)>,
    public_ip: Option<IpAddr>,
    next: AtomicU32,
}

/// This host's primary IPv4 address: the one a default route would use. Connecting a UDP socket
/// sends nothing; it only picks the route.
fn primary_ipv4() -> Option<IpAddr> {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    socket.connect((Ipv4Addr::new(192, 0, 2, 1), 9)).ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

impl Net {
    pub fn new(config: MediaConfig) -> Net {
        let addrs = if config.addrs.is_empty() {
            let mut addrs = vec![IpAddr::V4(Ipv4Addr::LOCALHOST)];
            addrs.extend(primary_ipv4());
            addrs
        } else {
            config.addrs
        };
        Net { addrs, ports: config.ports, public_ip: config.public_ip, next: AtomicU32::new(0) }
    }

    /// Ports to try for the next peer connection, in order.
    pub fn ports(&self) -> Vec<u16> {
        match self.ports {
            None => vec![0],
            Some((low, high)) => {
                let span = u32::from(high - low) + 1;
                let start = self.next.fetch_add(1, Ordering::Relaxed);
                let attempts = u32::try_from(PORT_ATTEMPTS).unwrap_or(u32::MAX).min(span);
                // `(start + i) % span` is below `span`, so `low` plus it stays within the range.
                (0..attempts).map(|i| low + u16::try_from((start + i) % span).unwrap_or(0)).collect()
            }
        }
    }

    /// Rewrites our SDP for clients behind the 1:1 NAT: host candidates on a bound private
    /// address are announced on the public one.
    pub fn announce(&self, sdp: String) -> String {
        let Some(public) = self.public_ip else { return sdp };
        let private: Vec<String> =
            self.addrs.iter().filter(|ip| !ip.is_loopback()).map(|ip| format!(" {ip} ")).collect();
        let mut out = String::with_capacity(sdp.len());
        for line in sdp.split_inclusive('\n') {
            match private.iter().find(|p| line.starts_with("a=candidate:") && line.contains(p.as_str())) {
                Some(p) => out.push_str(&line.replacen(p.as_str(), &format!(" {public} "), 1)),
                None => out.push_str(line),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(ports: Option<(u16, u16)>, public: Option<&str>) -> Net {
        Net::new(MediaConfig {
            addrs: vec!["127.0.0.1".parse().unwrap(), "10.0.0.5".parse().unwrap()],
            ports,
            public_ip: public.map(|p| p.parse().unwrap()),
        })
    }

    #[test]
    fn ports_cycle_through_the_range() {
        let n = net(Some((40000, 40002)), None);
        assert_eq!(n.ports(), vec![40000, 40001, 40002]);
        assert_eq!(n.ports(), vec![40001, 40002, 40000]);
        assert_eq!(net(None, None).ports(), vec![0]);
    }

    #[test]
    fn host_candidates_are_announced_on_the_public_address() {
        let sdp = "v=0\r\na=candidate:1 1 udp 2130706431 10.0.0.5 40000 typ host\r\n\
                   a=candidate:2 1 udp 2130706431 127.0.0.1 40000 typ host\r\nc=IN IP4 10.0.0.5\r\n";
        let out = net(None, Some("203.0.113.7")).announce(sdp.to_string());
        assert!(out.contains("a=candidate:1 1 udp 2130706431 203.0.113.7 40000 typ host\r\n"));
        assert!(out.contains("127.0.0.1 40000"), "loopback stays");
        assert!(out.contains("c=IN IP4 10.0.0.5"), "only candidate lines change");
        assert_eq!(net(None, None).announce(sdp.to_string()), sdp);
    }
}

//! [`ClientIp`]: the client's IP address as the identity.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::extract::connect_info::MockConnectInfo;
use compact_str::{CompactString, ToCompactString, format_compact};
use http::header::{FORWARDED, HeaderName};
use ipnet::Ipv6Net;

use super::cidr::{self, Cidr};
use super::forwarded::{self, Hop};
use super::{AuthError, Identity, RequestHead};

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");

/// Identifies a request by its client's IP address, in the `"default"` group.
///
/// # The peer address
///
/// The client is the TCP peer, from axum's [`ConnectInfo<SocketAddr>`](ConnectInfo) (or a
/// [`MockConnectInfo<SocketAddr>`](MockConnectInfo) in tests), on any network: loopback and
/// private addresses are clients like any other. `ConnectInfo` is only there when the
/// router is served with
/// [`into_make_service_with_connect_info::<SocketAddr>()`](axum::Router::into_make_service_with_connect_info);
/// without it, every request fails with [`AuthError::Misconfigured`]. A tower or hyper
/// server without axum's `serve` inserts `ConnectInfo(peer_addr)` into the request's
/// extensions itself.
///
/// ```no_run
/// use std::net::SocketAddr;
///
/// use axum::{Router, routing::get};
/// use ratelimit::auth::ClientIp;
///
/// # async fn run() -> std::io::Result<()> {
/// let auth = ClientIp::new();
/// # let _ = auth;
/// let app: Router = Router::new().route("/", get(|| async { "hello" }));
/// // … app.layer(<the rate limit layer, built with `auth`>) …
/// let listener = tokio::net::TcpListener::bind("0.0.0.0:3000").await?;
/// axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await
/// # }
/// ```
///
/// # Behind proxies
///
/// Behind a reverse proxy the peer is the proxy. Proxy headers are honoured **only** on
/// requests whose peer is a trusted proxy ([`trust_proxies`](Self::trust_proxies),
/// [`trust_private_networks`](Self::trust_private_networks)); from any other peer they
/// are ignored, since a client can send whatever it likes. From a trusted peer, the
/// client is found by walking the header's addresses from the right (the hop nearest to
/// this server) and taking the first that is not itself a trusted proxy; the addresses to
/// the left of it were written by the client and are never looked at. If every address
/// is a trusted proxy, the client is the leftmost one (a host inside the trusted network).
///
/// A hop that is not an address (malformed, `unknown`, an obfuscated `_name`, a
/// `Forwarded` element without `for=`, bytes that are not UTF-8) stops the walk: the
/// client is then the nearest trusted hop already walked (the peer itself if it is the
/// rightmost). Bad headers never fail the request and never let the walk reach the
/// client-written part of the list.
///
/// Which header is read is configured with [`proxy_headers`](Self::proxy_headers): by
/// default only `X-Forwarded-For`, which nginx (`$proxy_add_x_forwarded_for`), HAProxy,
/// Envoy, Traefik, Caddy and the cloud load balancers append to. **Honour only headers
/// that your proxy sets or strips**: a header the proxy passes through untouched is
/// entirely the client's. When several are listed, the first of them present on the
/// request is used and the others are ignored, even when the chosen one yields no
/// address (never falling back to another header, which an attacker could pick).
///
/// ```
/// use ratelimit::auth::{ClientIp, ProxyHeader};
///
/// // Behind a load balancer in 10.0.0.0/8 that appends to `X-Forwarded-For`:
/// let auth = ClientIp::new().trust_proxies(["10.0.0.0/8".parse()?]);
///
/// // Behind nginx on the same host, setting `X-Real-IP $remote_addr`:
/// let auth = ClientIp::new()
///     .trust_proxies(["127.0.0.1".parse()?, "::1".parse()?])
///     .proxy_headers([ProxyHeader::XRealIp]);
///
/// // The original `asgi-ratelimit`: `X-Real-IP` from any private (non-global) peer.
/// // Spoofable by any client on such a network: prefer the exact proxies.
/// let auth = ClientIp::new()
///     .trust_private_networks()
///     .proxy_headers([ProxyHeader::XRealIp]);
/// # let _ = auth;
/// # Ok::<(), ratelimit::auth::CidrParseError>(())
/// ```
///
/// # The key
///
/// The user id is the client's address as text (`203.0.113.9`, `2001:db8::1`); an
/// IPv4-mapped IPv6 address (`::ffff:203.0.113.9`, as a dual-stack listener reports IPv4
/// clients) is its IPv4 address. Since one IPv6 subscriber usually holds a whole /64 (and
/// rotates addresses in it), [`ipv6_prefix`](Self::ipv6_prefix) keys IPv6 clients by
/// their network instead (`2001:db8:1:2::/64`).
#[derive(Clone, Debug)]
pub struct ClientIp {
    trusted: Vec<Cidr>,
    headers: Vec<ProxyHeader>,
    ipv6_prefix: Option<u8>,
}

/// A header in which proxies pass on the client's address; see [`ClientIp`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProxyHeader {
    /// `Forwarded` (RFC 7239): the `for=` parameter of each element, IPv6 addresses
    /// quoted and bracketed (`for="[2001:db8::17]:4711"`), ports allowed.
    Forwarded,
    /// `X-Forwarded-For`: a comma-separated list of addresses, each proxy appending its
    /// peer; ports (`1.2.3.4:80`, `[2001:db8::1]:80`) are allowed.
    XForwardedFor,
    /// `X-Real-IP`: the address the proxy saw (parsed like `X-Forwarded-For`).
    XRealIp,
}

impl ProxyHeader {
    /// The header's name.
    #[must_use]
    pub fn name(self) -> HeaderName {
        match self {
            Self::Forwarded => FORWARDED,
            Self::XForwardedFor => X_FORWARDED_FOR,
            Self::XRealIp => X_REAL_IP,
        }
    }
}

impl ClientIp {
    /// The prefix length [`ipv6_prefix`](Self::ipv6_prefix) is usually given: a /64, the
    /// smallest network an IPv6 subscriber is assigned (RFC 4291 §2.5.1). Sites often hold
    /// a /56 or /48.
    pub const DEFAULT_IPV6_PREFIX: u8 = 64;

    /// The peer address; no proxy trusted; each IPv6 address its own key.
    #[must_use]
    pub fn new() -> Self {
        Self {
            trusted: Vec::new(),
            headers: vec![ProxyHeader::XForwardedFor],
            ipv6_prefix: None,
        }
    }

    /// Trusts the proxies in `networks` (added to those already trusted): their proxy
    /// headers are honoured, and they are skipped when walking the headers.
    ///
    /// A single host is a bare address (`"10.0.0.1".parse()`, or [`Cidr::host`]).
    #[must_use]
    pub fn trust_proxies(mut self, networks: impl IntoIterator<Item = Cidr>) -> Self {
        self.trusted.extend(networks);
        self
    }

    /// Trusts every network that is not global, as the original `asgi-ratelimit` did:
    /// private (10/8, 172.16/12, 192.168/16, fc00::/7), loopback, link-local, shared
    /// address space (100.64/10), documentation, benchmarking and reserved ranges (the
    /// negation of Python's `ipaddress.is_global`).
    ///
    /// Any client on such a network can then set its own address by sending the header:
    /// trust the exact proxies instead when you can.
    #[must_use]
    pub fn trust_private_networks(mut self) -> Self {
        self.trusted.extend(cidr::private_networks());
        self
    }

    /// The headers honoured from a trusted proxy, in order of precedence: the first of
    /// them present on a request is the one used (default: only
    /// [`ProxyHeader::XForwardedFor`]). An empty list ignores every header.
    #[must_use]
    pub fn proxy_headers(mut self, headers: impl IntoIterator<Item = ProxyHeader>) -> Self {
        self.headers = headers.into_iter().collect();
        self
    }

    /// Keys IPv6 clients by the network of their first `len` bits (a `len` above 128 is
    /// 128, one address). [`DEFAULT_IPV6_PREFIX`](Self::DEFAULT_IPV6_PREFIX), 64, is the
    /// usual choice. IPv4 clients (IPv4-mapped ones included) are keyed by their address.
    #[must_use]
    pub fn ipv6_prefix(mut self, len: u8) -> Self {
        self.ipv6_prefix = Some(len.min(128));
        self
    }

    /// The client's address (canonical: IPv4-mapped IPv6 is IPv4), before any IPv6
    /// prefix is applied, from the head of a request (a `&Parts`, a `&Request<B>`, or a
    /// [`RequestHead`]).
    ///
    /// # Errors
    ///
    /// [`AuthError::Misconfigured`] when the request has no `ConnectInfo<SocketAddr>`.
    pub fn client_addr<'a>(&self, head: impl Into<RequestHead<'a>>) -> Result<IpAddr, AuthError> {
        self.addr_of(head.into())
    }

    /// [`client_addr`](Self::client_addr), compiled once.
    fn addr_of(&self, head: RequestHead<'_>) -> Result<IpAddr, AuthError> {
        let peer = peer_addr(head)
            .ok_or(AuthError::Misconfigured(NO_CONNECT_INFO.into()))?
            .ip()
            .to_canonical();
        if !self.is_trusted(peer) {
            return Ok(peer);
        }
        let Some(header) = self
            .headers
            .iter()
            .copied()
            .find(|header| head.headers.contains_key(header.name()))
        else {
            return Ok(peer);
        };
        let lines = head.headers.get_all(header.name());
        Ok(match header {
            ProxyHeader::Forwarded => {
                self.walk(peer, forwarded::forwarded(lines.iter()).into_iter().rev())
            }
            ProxyHeader::XForwardedFor | ProxyHeader::XRealIp => {
                let hops: Vec<Hop> = forwarded::address_list(lines.iter()).collect();
                self.walk(peer, hops.into_iter().rev())
            }
        })
    }

    /// The key of `addr`: the address, or its IPv6 network when so configured.
    #[must_use]
    pub fn key(&self, addr: IpAddr) -> String {
        self.compact_key(addr).into_string()
    }

    /// [`key`](Self::key), inline when short (every IPv4 address).
    fn compact_key(&self, addr: IpAddr) -> CompactString {
        match (addr.to_canonical(), self.ipv6_prefix) {
            // `len` is below 128, so `new_assert` holds.
            (IpAddr::V6(v6), Some(len)) if len < 128 => {
                format_compact!("{}", Ipv6Net::new_assert(v6, len).trunc())
            }
            (addr, _) => addr.to_compact_string(),
        }
    }

    /// Walks `hops` from the right, starting at the trusted `peer`.
    fn walk(&self, peer: IpAddr, hops: impl Iterator<Item = Hop>) -> IpAddr {
        let mut client = peer;
        for hop in hops {
            match hop {
                Hop::Addr(addr) => {
                    client = addr.to_canonical();
                    if !self.is_trusted(client) {
                        return client;
                    }
                }
                Hop::Unusable => return client,
            }
        }
        client
    }

    fn is_trusted(&self, addr: IpAddr) -> bool {
        self.trusted.iter().any(|network| network.contains(addr))
    }

    pub(super) fn identify(&self, head: RequestHead<'_>) -> Result<Identity, AuthError> {
        let addr = self.addr_of(head)?;
        Ok(Identity::of(self.compact_key(addr)))
    }
}

impl Default for ClientIp {
    fn default() -> Self {
        Self::new()
    }
}

const NO_CONNECT_INFO: &str = "the request has no peer address (`ConnectInfo<SocketAddr>`): \
     serve the router with `app.into_make_service_with_connect_info::<SocketAddr>()`, \
     add `MockConnectInfo(addr)` as a layer in tests, or insert `ConnectInfo(peer_addr)` into \
     the request's extensions when serving without axum";

fn peer_addr(head: RequestHead<'_>) -> Option<SocketAddr> {
    head.extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| *addr)
        .or_else(|| {
            head.extensions
                .get::<MockConnectInfo<SocketAddr>>()
                .map(|MockConnectInfo(addr)| *addr)
        })
}

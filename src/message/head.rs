//! The protocol-neutral message: a request or response head plus its fields.

use super::fields::{Escaped, Fields};
use core::fmt;

/// A request method. The common ones need no allocation; methods are case-sensitive
/// (RFC 9110 §9.1), so `get` is `Other`. Build with `from_bytes` so that equal methods compare
/// equal (`Other(b"GET")` would not equal `Get`).
#[derive(Clone, PartialEq, Eq)]
pub enum Method {
    /// GET.
    Get,
    /// HEAD: the response carries no content.
    Head,
    /// POST.
    Post,
    /// PUT.
    Put,
    /// DELETE.
    Delete,
    /// CONNECT: a tunnel, or with :protocol an extended CONNECT (RFC 8441).
    Connect,
    /// OPTIONS: the only method that may use the `*` path.
    Options,
    /// TRACE.
    Trace,
    /// PATCH.
    Patch,
    /// Any other method, as received (case kept).
    Other(Vec<u8>),
}

impl Method {
    /// The method for these bytes; the common ones map to their own variant.
    pub fn from_bytes(s: &[u8]) -> Method {
        match s {
            b"GET" => Method::Get,
            b"HEAD" => Method::Head,
            b"POST" => Method::Post,
            b"PUT" => Method::Put,
            b"DELETE" => Method::Delete,
            b"CONNECT" => Method::Connect,
            b"OPTIONS" => Method::Options,
            b"TRACE" => Method::Trace,
            b"PATCH" => Method::Patch,
            other => Method::Other(other.to_vec()),
        }
    }

    /// The method as sent on the wire.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Method::Get => b"GET",
            Method::Head => b"HEAD",
            Method::Post => b"POST",
            Method::Put => b"PUT",
            Method::Delete => b"DELETE",
            Method::Connect => b"CONNECT",
            Method::Options => b"OPTIONS",
            Method::Trace => b"TRACE",
            Method::Patch => b"PATCH",
            Method::Other(v) => v,
        }
    }
}

impl fmt::Debug for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Escaped(self.as_bytes()).fmt(f)
    }
}

/// A URI scheme. Schemes are case-insensitive (RFC 3986 §3.1), so "HTTP" is `Http`.
#[derive(Clone, PartialEq, Eq)]
pub enum Scheme {
    /// `http`.
    Http,
    /// `https`.
    Https,
    /// Any other scheme, as received.
    Other(Vec<u8>),
}

impl Scheme {
    /// The scheme for these bytes, matched case-insensitively.
    pub fn from_bytes(s: &[u8]) -> Scheme {
        if s.eq_ignore_ascii_case(b"http") {
            Scheme::Http
        } else if s.eq_ignore_ascii_case(b"https") {
            Scheme::Https
        } else {
            Scheme::Other(s.to_vec())
        }
    }

    /// The scheme as sent on the wire; http and https in lowercase.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Scheme::Http => b"http",
            Scheme::Https => b"https",
            Scheme::Other(v) => v,
        }
    }

    /// http and https require an authority and an absolute path (RFC 9113 §8.3.1).
    pub fn is_http(&self) -> bool {
        matches!(self, Scheme::Http | Scheme::Https)
    }
}

impl fmt::Debug for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Escaped(self.as_bytes()).fmt(f)
    }
}

/// What distinguishes a request from a response; everything else is in `Fields`.
#[derive(Clone, PartialEq, Eq)]
pub enum Head {
    /// A request head: the request pseudo-headers (§8.3.1).
    Request {
        /// :method.
        method: Method,
        /// :scheme; absent for plain CONNECT.
        scheme: Option<Scheme>,
        /// :authority, if sent (a host field may stand in for it).
        authority: Option<Vec<u8>>,
        /// :path; absent for plain CONNECT.
        path: Option<Vec<u8>>,
        /// RFC 8441 extended CONNECT.
        protocol: Option<Vec<u8>>,
    },
    /// A response head (§8.3.2), informational (1xx) or final.
    Response {
        /// :status, 100..=599 and never 101.
        status: u16,
    },
}

impl fmt::Debug for Head {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Head::Request {
                method,
                scheme,
                authority,
                path,
                protocol,
            } => f
                .debug_struct("Request")
                .field("method", method)
                .field("scheme", scheme)
                .field("authority", &authority.as_deref().map(Escaped))
                .field("path", &path.as_deref().map(Escaped))
                .field("protocol", &protocol.as_deref().map(Escaped))
                .finish(),
            Head::Response { status } => {
                f.debug_struct("Response").field("status", status).finish()
            }
        }
    }
}

/// Receives (name, value, sensitive) for each field of a header list.
pub type FieldSink<'a> = dyn FnMut(&[u8], &[u8], bool) + 'a;

/// An HTTP message head, independent of the HTTP version: a request or response head and
/// its fields, with the content-length read from them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The request or response pseudo-headers.
    pub head: Head,
    /// The regular fields, in arrival order.
    pub fields: Fields,
    /// The parsed content-length, when the message carried one. It mirrors the field in
    /// `fields`; setting one does not add or change the other.
    pub content_length: Option<u64>,
}

fn non_empty(s: &[u8]) -> Option<Vec<u8>> {
    (!s.is_empty()).then(|| s.to_vec())
}

impl Message {
    /// A request without fields. An empty `scheme`, `authority` or `path` means absent, so
    /// `request(b"CONNECT", b"", b"host:443", b"")` is a CONNECT.
    pub fn request(method: &[u8], scheme: &[u8], authority: &[u8], path: &[u8]) -> Message {
        Message {
            head: Head::Request {
                method: Method::from_bytes(method),
                scheme: (!scheme.is_empty()).then(|| Scheme::from_bytes(scheme)),
                authority: non_empty(authority),
                path: non_empty(path),
                protocol: None,
            },
            fields: Fields::new(),
            content_length: None,
        }
    }

    /// A response head with this status and no fields.
    pub fn response(status: u16) -> Message {
        Message {
            head: Head::Response { status },
            fields: Fields::new(),
            content_length: None,
        }
    }

    /// Whether this is a request head (else a response head).
    pub fn is_request(&self) -> bool {
        matches!(self.head, Head::Request { .. })
    }

    /// A 1xx response: more heads follow on the same stream.
    pub fn is_informational(&self) -> bool {
        matches!(self.head, Head::Response { status } if (100..200).contains(&status))
    }

    /// :method of a request; None for a response.
    pub fn method(&self) -> Option<&[u8]> {
        match &self.head {
            Head::Request { method, .. } => Some(method.as_bytes()),
            Head::Response { .. } => None,
        }
    }

    /// True for CONNECT, extended (with :protocol) or not.
    pub fn is_connect(&self) -> bool {
        matches!(
            self.head,
            Head::Request {
                method: Method::Connect,
                ..
            }
        )
    }

    /// :status of a response; None for a request.
    pub fn status(&self) -> Option<u16> {
        match self.head {
            Head::Response { status } => Some(status),
            Head::Request { .. } => None,
        }
    }

    /// :scheme of a request, if any; None for a response.
    pub fn scheme(&self) -> Option<&[u8]> {
        match &self.head {
            Head::Request { scheme, .. } => scheme.as_ref().map(Scheme::as_bytes),
            Head::Response { .. } => None,
        }
    }

    /// :path of a request, if any; None for a response.
    pub fn path(&self) -> Option<&[u8]> {
        match &self.head {
            Head::Request { path, .. } => path.as_deref(),
            Head::Response { .. } => None,
        }
    }

    /// :protocol of an extended CONNECT (RFC 8441); None otherwise.
    pub fn protocol(&self) -> Option<&[u8]> {
        match &self.head {
            Head::Request { protocol, .. } => protocol.as_deref(),
            Head::Response { .. } => None,
        }
    }

    /// :authority, or else the host field (the builder has checked they agree when both exist).
    pub fn authority(&self) -> Option<&[u8]> {
        match &self.head {
            Head::Request {
                authority: Some(a), ..
            } => Some(a),
            Head::Request { .. } => self.fields.get(b"host"),
            Head::Response { .. } => None,
        }
    }

    /// The HTTP/2 header list: pseudo-headers first (RFC 9113 §8.3), then the fields in order.
    pub fn for_each_h2_field(&self, f: &mut FieldSink<'_>) {
        let mut status = [0u8; 3];
        for (name, value, sensitive) in self.h2_fields(&mut status) {
            f(name, value, sensitive);
        }
    }

    /// The same list as an iterator, for an encoder that takes one; `status` holds the
    /// `:status` digits while it is borrowed.
    pub fn h2_fields<'a>(
        &'a self,
        status: &'a mut [u8; 3],
    ) -> impl Iterator<Item = (&'a [u8], &'a [u8], bool)> + 'a {
        type Field<'b> = Option<(&'b [u8], &'b [u8], bool)>;
        let pseudo: [Field<'a>; 5] = match &self.head {
            Head::Request {
                method,
                scheme,
                authority,
                path,
                protocol,
            } => [
                Some((b":method", method.as_bytes(), false)),
                scheme
                    .as_ref()
                    .map(|s| (&b":scheme"[..], s.as_bytes(), false)),
                authority.as_deref().map(|a| (&b":authority"[..], a, false)),
                path.as_deref().map(|p| (&b":path"[..], p, false)),
                protocol.as_deref().map(|p| (&b":protocol"[..], p, false)),
            ],
            Head::Response { status: code } => {
                // Statuses are 100..=599 when built from input; clamp so any u16 stays 3 digits.
                let s = (*code).min(999);
                *status = [
                    b'0' + (s / 100) as u8,
                    b'0' + (s / 10 % 10) as u8,
                    b'0' + (s % 10) as u8,
                ];
                let digits: &'a [u8; 3] = status;
                [Some((b":status", digits, false)), None, None, None, None]
            }
        };
        pseudo.into_iter().flatten().chain(self.fields.iter())
    }

    /// The HPACK size (name + value + 32 per entry) of `for_each_h2_field`'s list, to check
    /// against the peer's SETTINGS_MAX_HEADER_LIST_SIZE before encoding.
    pub fn h2_header_list_size(&self) -> usize {
        let mut size = 0usize;
        let mut pseudo = |n: &[u8], v: &[u8]| {
            size = size
                .saturating_add(n.len())
                .saturating_add(v.len())
                .saturating_add(32);
        };
        match &self.head {
            Head::Request {
                method,
                scheme,
                authority,
                path,
                protocol,
            } => {
                pseudo(b":method", method.as_bytes());
                if let Some(s) = scheme {
                    pseudo(b":scheme", s.as_bytes());
                }
                if let Some(a) = authority {
                    pseudo(b":authority", a);
                }
                if let Some(p) = path {
                    pseudo(b":path", p);
                }
                if let Some(p) = protocol {
                    pseudo(b":protocol", p);
                }
            }
            Head::Response { .. } => pseudo(b":status", b"200"),
        }
        size.saturating_add(self.fields.byte_size())
    }
}

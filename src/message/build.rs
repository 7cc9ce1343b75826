//! Turns a decoded header list into a `Message`, validating each field as it arrives.

use super::fields::Fields;
use super::head::{Head, Message, Method, Scheme};
use super::validate::{
    check_pseudo_name, check_regular_name, check_value, is_authority_chars, is_connection_specific,
    is_path_chars, is_protocol, is_scheme, is_token, parse_content_length, parse_status,
    MessageError,
};

/// Which header block is being parsed: the head of a request, the head of a response
/// (1xx included), or trailers of either.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockKind {
    /// A request head: request pseudo-headers required.
    Request,
    /// A response head, 1xx or final: :status required.
    Response,
    /// Trailers: no pseudo-headers at all.
    Trailers,
}

/// What a validated header block turned out to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Block {
    /// A valid request head.
    Request(Message),
    /// A valid response head.
    Response(Message),
    /// Valid trailers.
    Trailers(Fields),
}

/// Default bound on fields per block; keeps floods of tiny fields from costing unbounded work.
pub const DEFAULT_MAX_FIELDS: usize = 256;

/// Validates fields one at a time as the HPACK decoder yields them; no second pass.
/// After the first error every further `push` is a no-op, and `finish` reports that error.
pub struct MessageBuilder {
    kind: BlockKind,
    max_fields: usize,
    count: usize,
    error: Option<MessageError>,
    regular_seen: bool,
    method: Option<Method>,
    scheme: Option<Scheme>,
    authority: Option<Vec<u8>>,
    path: Option<Vec<u8>>,
    protocol: Option<Vec<u8>>,
    status: Option<u16>,
    content_length: Option<u64>,
    fields: Fields,
    /// An HTTP/1.0 request may come without any authority (no Host): it then goes on
    /// without `:authority` (RFC 9113 §8.3.1).
    authority_optional: bool,
}

/// Stores a pseudo-header value once; a second one is malformed.
fn set_once<T>(slot: &mut Option<T>, value: T) -> Result<(), MessageError> {
    if slot.is_some() {
        return Err(MessageError::DuplicatePseudo);
    }
    *slot = Some(value);
    Ok(())
}

impl MessageBuilder {
    /// A builder for a block of this kind, with the default field limit.
    pub fn new(kind: BlockKind) -> Self {
        Self::with_max_fields(kind, DEFAULT_MAX_FIELDS)
    }

    /// `max_fields` counts every field, pseudo-headers included.
    pub fn with_max_fields(kind: BlockKind, max_fields: usize) -> Self {
        MessageBuilder {
            kind,
            max_fields,
            count: 0,
            error: None,
            regular_seen: false,
            method: None,
            scheme: None,
            authority: None,
            path: None,
            protocol: None,
            status: None,
            content_length: None,
            authority_optional: false,
            // Decoded heads are typically 0.5-2 KB in 10-25 fields: one allocation each
            // instead of a dozen doublings.
            fields: match kind {
                BlockKind::Trailers => Fields::new(),
                _ => Fields::with_capacity(16, 1024),
            },
        }
    }

    /// Lets a request without `:authority` or `host` through (an HTTP/1.0 request without
    /// Host has no authority to convey).
    pub fn allow_missing_authority(&mut self) {
        self.authority_optional = true;
    }

    /// Which block this builder validates.
    pub fn kind(&self) -> BlockKind {
        self.kind
    }

    /// The first error seen so far; lets a decoder stop early.
    pub fn error(&self) -> Option<MessageError> {
        self.error
    }

    /// Validates and adds one decoded field; `sensitive` marks a never-indexed one.
    pub fn push(&mut self, name: &[u8], value: &[u8], sensitive: bool) {
        self.push_field(name, value, sensitive, false);
    }

    /// Like `push`, for a decoder that remembers what passed: `known_clean` says this exact
    /// field passed the byte-level checks before (an HPACK table entry whose insertion was
    /// accepted), so only the checks that depend on its place in the block run again.
    /// Returns whether the field is known clean now, which the decoder may store with a
    /// table entry made from it. Skipped checks are the same whatever the block kind.
    pub fn push_field(
        &mut self,
        name: &[u8],
        value: &[u8],
        sensitive: bool,
        known_clean: bool,
    ) -> bool {
        if self.error.is_some() {
            return false;
        }
        match self.push_inner(name, value, sensitive, known_clean) {
            Ok(clean) => clean,
            Err(e) => {
                self.error = Some(e);
                false
            }
        }
    }

    /// Ok(clean) when the field was accepted.
    fn push_inner(
        &mut self,
        name: &[u8],
        value: &[u8],
        sensitive: bool,
        skip: bool,
    ) -> Result<bool, MessageError> {
        self.count = self.count.saturating_add(1);
        if self.count > self.max_fields {
            return Err(MessageError::TooManyFields);
        }
        if name.first() == Some(&b':') {
            self.push_pseudo(name, value, skip).map(|()| true)
        } else {
            self.push_regular(name, value, sensitive, skip)
        }
    }

    fn push_pseudo(&mut self, name: &[u8], value: &[u8], skip: bool) -> Result<(), MessageError> {
        if !skip {
            check_pseudo_name(name)?;
            check_value(value)?;
        }
        if self.kind == BlockKind::Trailers {
            return Err(MessageError::PseudoInTrailers);
        }
        if self.regular_seen {
            return Err(MessageError::PseudoAfterRegular);
        }
        let is_request = self.kind == BlockKind::Request;
        match name {
            b":status" if is_request => Err(MessageError::ResponsePseudoInRequest),
            b":status" => set_once(&mut self.status, parse_status(value)?),
            b":method" | b":scheme" | b":authority" | b":path" | b":protocol" if !is_request => {
                Err(MessageError::RequestPseudoInResponse)
            }
            b":method" => {
                if !skip && !is_token(value) {
                    return Err(MessageError::InvalidMethod);
                }
                set_once(&mut self.method, Method::from_bytes(value))
            }
            b":scheme" => {
                if !skip && !is_scheme(value) {
                    return Err(MessageError::InvalidScheme);
                }
                set_once(&mut self.scheme, Scheme::from_bytes(value))
            }
            b":authority" => {
                if !skip && !is_authority_chars(value) {
                    return Err(MessageError::InvalidAuthority);
                }
                set_once(&mut self.authority, value.to_vec())
            }
            b":path" => {
                if !skip && !is_path_chars(value) {
                    return Err(MessageError::InvalidPath);
                }
                set_once(&mut self.path, value.to_vec())
            }
            b":protocol" => {
                if !skip && !is_protocol(value) {
                    return Err(MessageError::InvalidProtocol);
                }
                set_once(&mut self.protocol, value.to_vec())
            }
            _ => Err(MessageError::UnknownPseudo),
        }
    }

    /// Ok(clean): `host` outside a request skips its authority check, so it is not clean.
    fn push_regular(
        &mut self,
        name: &[u8],
        value: &[u8],
        sensitive: bool,
        skip: bool,
    ) -> Result<bool, MessageError> {
        if !skip {
            check_regular_name(name)?;
            check_value(value)?;
        }
        self.regular_seen = true;
        if is_connection_specific(name) {
            return Err(MessageError::ConnectionSpecificField);
        }
        let mut clean = true;
        match name {
            b"te" if !value.eq_ignore_ascii_case(b"trailers") => {
                return Err(MessageError::InvalidTe);
            }
            b"content-length" if self.kind != BlockKind::Trailers => {
                let n = parse_content_length(value)?;
                match self.content_length {
                    Some(prev) if prev != n => return Err(MessageError::ContentLengthMismatch),
                    _ => self.content_length = Some(n),
                }
            }
            b"host" if self.kind == BlockKind::Request => {
                if !skip && !is_authority_chars(value) {
                    return Err(MessageError::InvalidAuthority);
                }
                // Pseudo-headers all precede this field, so :authority is final by now.
                let other = self
                    .authority
                    .as_deref()
                    .or_else(|| self.fields.get(b"host"));
                if other.is_some_and(|o| !o.eq_ignore_ascii_case(value)) {
                    return Err(MessageError::HostMismatch);
                }
            }
            b"host" => clean = skip,
            _ => {}
        }
        self.fields.push(name, value, sensitive);
        Ok(clean)
    }

    /// The validated block, or the first error seen (missing pseudo-headers are found here).
    pub fn finish(self) -> Result<Block, MessageError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        match self.kind {
            BlockKind::Trailers => Ok(Block::Trailers(self.fields)),
            BlockKind::Response => {
                let status = self.status.ok_or(MessageError::MissingStatus)?;
                Ok(Block::Response(Message {
                    head: Head::Response { status },
                    fields: self.fields,
                    content_length: self.content_length,
                }))
            }
            BlockKind::Request => self.finish_request().map(Block::Request),
        }
    }

    fn finish_request(self) -> Result<Message, MessageError> {
        let method = self.method.ok_or(MessageError::MissingMethod)?;
        let is_connect = method == Method::Connect;
        if self.protocol.is_some() && !is_connect {
            return Err(MessageError::ProtocolWithoutConnect);
        }
        if is_connect && self.protocol.is_none() {
            // RFC 9113 §8.5: the target is host:port, nothing else.
            if self.scheme.is_some() || self.path.is_some() {
                return Err(MessageError::ConnectWithSchemeOrPath);
            }
            match self.authority.as_deref() {
                None => return Err(MessageError::MissingAuthority),
                Some(a) if a.is_empty() || a.contains(&b'@') => {
                    return Err(MessageError::InvalidAuthority)
                }
                Some(_) => {}
            }
        } else {
            let scheme = self.scheme.as_ref().ok_or(MessageError::MissingScheme)?;
            let path = self.path.as_deref().ok_or(MessageError::MissingPath)?;
            if path.is_empty() {
                return Err(MessageError::EmptyPath);
            }
            if path == b"*" {
                if method != Method::Options {
                    return Err(MessageError::InvalidPath);
                }
            } else if scheme.is_http() && path.first() != Some(&b'/') {
                return Err(MessageError::InvalidPath);
            }
            if scheme.is_http() {
                // RFC 9113 §8.3.1: no userinfo; RFC 9110 §4.2.1: no empty host.
                match self.authority.as_deref() {
                    Some(a) if a.is_empty() || a.contains(&b'@') => {
                        return Err(MessageError::InvalidAuthority)
                    }
                    Some(_) => {}
                    None => match self.fields.get(b"host") {
                        None if self.authority_optional => {}
                        None => return Err(MessageError::MissingAuthority),
                        Some(h) if h.is_empty() || h.contains(&b'@') => {
                            return Err(MessageError::InvalidAuthority)
                        }
                        Some(_) => {}
                    },
                }
            }
        }
        Ok(Message {
            head: Head::Request {
                method,
                scheme: self.scheme,
                authority: self.authority,
                path: self.path,
                protocol: self.protocol,
            },
            fields: self.fields,
            content_length: self.content_length,
        })
    }
}

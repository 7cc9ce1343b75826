//! Polarity: which end of HTTP/2 a connection context plays.

/// The frontend faces the client and plays the server role (receives the preface, accepts
/// odd client-initiated streams, sends responses). The backend faces the upstream and plays the
/// client role (sends the preface, opens odd streams, receives responses).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// Faces the client: server role.
    Frontend,
    /// Faces the upstream: client role.
    Backend,
}

impl Side {
    /// "frontend" or "backend", for logs.
    pub fn name(self) -> &'static str {
        match self {
            Side::Frontend => "frontend",
            Side::Backend => "backend",
        }
    }
}

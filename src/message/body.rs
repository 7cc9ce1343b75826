//! content-length versus the bytes actually carried (RFC 9113 §8.1.1).

use super::head::Message;
use super::validate::MessageError;

/// Counts body bytes of one direction of one stream against what the head announced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyLength {
    expected: Option<u64>,
    received: u64,
    no_body: bool,
}

impl BodyLength {
    /// `no_body_expected`: the message cannot carry content whatever its content-length says
    /// (a response to HEAD, 1xx, 204, 304); then any non-empty DATA is an error and the
    /// content-length is not enforced.
    pub fn new(content_length: Option<u64>, no_body_expected: bool) -> Self {
        BodyLength {
            expected: content_length,
            received: 0,
            no_body: no_body_expected,
        }
    }

    /// For a request. A CONNECT stream carries tunnel bytes, not content, so nothing is counted.
    pub fn for_request(request: &Message) -> Self {
        if request.is_connect() {
            Self::new(None, false)
        } else {
            Self::new(request.content_length, false)
        }
    }

    /// For a final response to a request with `request_method`. RFC 9110 §6.4.1: HEAD, 1xx,
    /// 204 and 304 have no content; §9.3.6: a 2xx to CONNECT starts a tunnel and its
    /// content-length is ignored.
    pub fn for_response(request_method: &[u8], response: &Message) -> Self {
        let status = response.status().unwrap_or(0);
        if request_method == b"HEAD"
            || (100..200).contains(&status)
            || status == 204
            || status == 304
        {
            Self::new(None, true)
        } else if request_method == b"CONNECT" && (200..300).contains(&status) {
            Self::new(None, false)
        } else {
            Self::new(response.content_length, false)
        }
    }

    /// A DATA frame's payload of `n` bytes (padding excluded). Empty DATA is always fine: it
    /// carries no content, only perhaps END_STREAM.
    pub fn on_data(&mut self, n: usize) -> Result<(), MessageError> {
        if n == 0 {
            return Ok(());
        }
        if self.no_body {
            return Err(MessageError::UnexpectedBody);
        }
        let n = u64::try_from(n).unwrap_or(u64::MAX);
        self.received = self.received.saturating_add(n);
        match self.expected {
            Some(cl) if self.received > cl => Err(MessageError::BodyTooLong),
            _ => Ok(()),
        }
    }

    /// END_STREAM arrived: the count must match exactly.
    pub fn on_end(&self) -> Result<(), MessageError> {
        match self.expected {
            Some(cl) if !self.no_body && self.received < cl => Err(MessageError::BodyTooShort),
            Some(cl) if !self.no_body && self.received > cl => Err(MessageError::BodyTooLong),
            _ => Ok(()),
        }
    }

    /// Body bytes counted so far (padding excluded).
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Bytes still owed under content-length, if one applies.
    pub fn remaining(&self) -> Option<u64> {
        match self.expected {
            Some(cl) if !self.no_body => Some(cl.saturating_sub(self.received)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_length() {
        let mut b = BodyLength::new(Some(10), false);
        assert_eq!(b.remaining(), Some(10));
        assert_eq!(b.on_end(), Err(MessageError::BodyTooShort));
        b.on_data(4).unwrap();
        b.on_data(0).unwrap();
        b.on_data(6).unwrap();
        assert_eq!(b.remaining(), Some(0));
        assert_eq!(b.received(), 10);
        assert_eq!(b.on_end(), Ok(()));
    }

    #[test]
    fn over_length() {
        let mut b = BodyLength::new(Some(10), false);
        b.on_data(10).unwrap();
        assert_eq!(b.on_data(1), Err(MessageError::BodyTooLong));
        assert_eq!(b.on_end(), Err(MessageError::BodyTooLong));
        let mut b = BodyLength::new(Some(0), false);
        assert_eq!(b.on_data(1), Err(MessageError::BodyTooLong));
    }

    #[test]
    fn under_length() {
        let mut b = BodyLength::new(Some(10), false);
        b.on_data(9).unwrap();
        assert_eq!(b.on_end(), Err(MessageError::BodyTooShort));
        assert_eq!(b.remaining(), Some(1));
    }

    #[test]
    fn zero_length_exact() {
        let mut b = BodyLength::new(Some(0), false);
        b.on_data(0).unwrap();
        assert_eq!(b.on_end(), Ok(()));
    }

    #[test]
    fn no_content_length_takes_anything() {
        let mut b = BodyLength::new(None, false);
        b.on_data(usize::MAX).unwrap();
        b.on_data(usize::MAX).unwrap();
        assert_eq!(b.received(), u64::MAX);
        assert_eq!(b.remaining(), None);
        assert_eq!(b.on_end(), Ok(()));
    }

    #[test]
    fn huge_content_length_saturates() {
        let mut b = BodyLength::new(Some(u64::MAX), false);
        b.on_data(usize::MAX).unwrap();
        b.on_data(usize::MAX).unwrap();
        assert_eq!(b.on_end(), Ok(()));
    }

    #[test]
    fn head_response_with_content_length_has_no_data() {
        let mut resp = Message::response(200);
        resp.content_length = Some(1234);
        let mut b = BodyLength::for_response(b"HEAD", &resp);
        assert_eq!(b.on_end(), Ok(()));
        assert_eq!(b.on_data(0), Ok(()));
        assert_eq!(b.on_data(1), Err(MessageError::UnexpectedBody));
        assert_eq!(b.remaining(), None);
        let b = BodyLength::new(Some(1234), true);
        assert_eq!(b.on_end(), Ok(()));
    }

    #[test]
    fn no_content_statuses() {
        for status in [204, 304, 100, 103] {
            let mut b = BodyLength::for_response(b"GET", &Message::response(status));
            assert_eq!(b.on_data(1), Err(MessageError::UnexpectedBody), "{status}");
            assert_eq!(b.on_end(), Ok(()));
        }
        let mut b = BodyLength::new(None, true);
        assert_eq!(b.on_data(1), Err(MessageError::UnexpectedBody));
    }

    #[test]
    fn ordinary_response_uses_content_length() {
        let mut resp = Message::response(200);
        resp.content_length = Some(3);
        let mut b = BodyLength::for_response(b"GET", &resp);
        assert_eq!(b.on_data(4), Err(MessageError::BodyTooLong));
    }

    #[test]
    fn connect_tunnels_ignore_content_length() {
        let mut resp = Message::response(200);
        resp.content_length = Some(0);
        let mut b = BodyLength::for_response(b"CONNECT", &resp);
        b.on_data(100).unwrap();
        assert_eq!(b.on_end(), Ok(()));
        // A refused CONNECT is an ordinary response.
        let mut resp = Message::response(403);
        resp.content_length = Some(0);
        let mut b = BodyLength::for_response(b"CONNECT", &resp);
        assert_eq!(b.on_data(1), Err(MessageError::BodyTooLong));

        let mut req = Message::request(b"CONNECT", b"", b"example.com:443", b"");
        req.content_length = Some(0);
        let mut b = BodyLength::for_request(&req);
        b.on_data(5).unwrap();
        let mut req = Message::request(b"POST", b"https", b"example.com", b"/");
        req.content_length = Some(2);
        let mut b = BodyLength::for_request(&req);
        assert_eq!(b.on_data(3), Err(MessageError::BodyTooLong));
    }
}

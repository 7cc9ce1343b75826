//! Builder rules, one test per rule, plus round trips and a random no-panic sweep.

use super::*;
use crate::testkit::Rng;
use MessageError::*;

type List<'a> = &'a [(&'a [u8], &'a [u8])];

fn build(kind: BlockKind, list: List) -> Result<Block, MessageError> {
    let mut b = MessageBuilder::new(kind);
    for (n, v) in list {
        b.push(n, v, false);
    }
    b.finish()
}

fn req(list: List) -> Result<Message, MessageError> {
    match build(BlockKind::Request, list)? {
        Block::Request(m) => Ok(m),
        other => panic!("not a request: {other:?}"),
    }
}

fn resp(list: List) -> Result<Message, MessageError> {
    match build(BlockKind::Response, list)? {
        Block::Response(m) => Ok(m),
        other => panic!("not a response: {other:?}"),
    }
}

fn trailers(list: List) -> Result<Fields, MessageError> {
    match build(BlockKind::Trailers, list)? {
        Block::Trailers(f) => Ok(f),
        other => panic!("not trailers: {other:?}"),
    }
}

const GET: [(&[u8], &[u8]); 4] = [
    (b":method", b"GET"),
    (b":scheme", b"https"),
    (b":authority", b"example.com"),
    (b":path", b"/"),
];

/// A valid GET followed by `extra` regular fields.
fn get_with(extra: List) -> Result<Message, MessageError> {
    let list: Vec<_> = GET.iter().chain(extra.iter()).copied().collect();
    req(&list)
}

fn resp_with(extra: List) -> Result<Message, MessageError> {
    let list: Vec<_> = [(&b":status"[..], &b"200"[..])]
        .iter()
        .chain(extra.iter())
        .copied()
        .collect();
    resp(&list)
}

/// All three block kinds give `expected` for these regular fields.
fn all_kinds(extra: List, expected: Result<(), MessageError>) {
    assert_eq!(get_with(extra).map(|_| ()), expected, "request {extra:?}");
    assert_eq!(resp_with(extra).map(|_| ()), expected, "response {extra:?}");
    assert_eq!(trailers(extra).map(|_| ()), expected, "trailers {extra:?}");
}

fn round_trip(m: &Message) -> Message {
    let kind = if m.is_request() {
        BlockKind::Request
    } else {
        BlockKind::Response
    };
    let mut b = MessageBuilder::new(kind);
    m.for_each_h2_field(&mut |n, v, s| b.push(n, v, s));
    match b.finish() {
        Ok(Block::Request(m)) | Ok(Block::Response(m)) => m,
        other => panic!("round trip failed: {other:?}"),
    }
}

#[test]
fn valid_request() {
    let m = get_with(&[(b"accept", b"*/*"), (b"user-agent", b"t/1.0")]).unwrap();
    assert_eq!(m.method(), Some(&b"GET"[..]));
    assert_eq!(m.scheme(), Some(&b"https"[..]));
    assert_eq!(m.authority(), Some(&b"example.com"[..]));
    assert_eq!(m.path(), Some(&b"/"[..]));
    assert_eq!(m.protocol(), None);
    assert_eq!(m.status(), None);
    assert_eq!(m.content_length, None);
    assert_eq!(m.fields.len(), 2);
    assert!(!m.is_informational());
    assert!(!m.is_connect());
}

#[test]
fn valid_response_and_informational() {
    let m = resp_with(&[(b"server", b"x")]).unwrap();
    assert_eq!(m.status(), Some(200));
    assert_eq!(m.method(), None);
    assert_eq!(m.authority(), None);
    assert!(!m.is_informational());
    let m = resp(&[(b":status", b"103"), (b"link", b"</a>; rel=preload")]).unwrap();
    assert!(m.is_informational());
}

#[test]
fn valid_trailers() {
    let f = trailers(&[(b"grpc-status", b"0"), (b"grpc-message", b"")]).unwrap();
    assert_eq!(f.get(b"grpc-status"), Some(&b"0"[..]));
    assert_eq!(trailers(&[]), Ok(Fields::new()));
}

#[test]
fn name_empty() {
    all_kinds(&[(b"", b"v")], Err(EmptyName));
}

#[test]
fn name_uppercase() {
    all_kinds(&[(b"Accept", b"v")], Err(UppercaseName));
    all_kinds(&[(b"x-A", b"v")], Err(UppercaseName));
    assert_eq!(req(&[(b":Method", b"GET")]).err(), Some(UppercaseName));
}

#[test]
fn name_invalid_chars() {
    for bad in [
        &b"a b"[..],
        b"a\0",
        b"a\x7f",
        b"a\xff",
        b"\x01",
        b"a:b",
        b"a(b",
        b"a/b",
        b"a=b",
        b"a\"",
        b"a{",
        b"a\t",
    ] {
        all_kinds(&[(bad, b"v")], Err(InvalidNameChar));
    }
    all_kinds(&[(b"x-a_b.c~!#$%&'*+^`|09", b"v")], Ok(()));
    assert_eq!(req(&[(b":meth od", b"GET")]).err(), Some(InvalidNameChar));
}

#[test]
fn value_forbidden_bytes() {
    for bad in [&b"a\0b"[..], b"a\rb", b"a\nb", b"\0", b"\r\n"] {
        all_kinds(&[(b"x", bad)], Err(InvalidValueChar));
    }
    let mut list = GET.to_vec();
    list[3] = (b":path", b"/a\nb");
    assert_eq!(req(&list).err(), Some(InvalidValueChar));
    // Other controls and obs-text are not malformed at this layer.
    all_kinds(
        &[
            (b"x", b"a\x01\x7f\x80\xffb"),
            (b"y", b"a \t b"),
            (b"z", b""),
        ],
        Ok(()),
    );
}

#[test]
fn value_leading_trailing_whitespace() {
    for bad in [&b" a"[..], b"a ", b"\ta", b"a\t", b" ", b"\t"] {
        all_kinds(&[(b"x", bad)], Err(ValueWhitespace));
    }
    let mut list = GET.to_vec();
    list[0] = (b":method", b"GET ");
    assert_eq!(req(&list).err(), Some(ValueWhitespace));
}

#[test]
fn unknown_pseudo() {
    for bad in [&b":foo"[..], b":", b"::method", b":statu"] {
        let mut list = GET.to_vec();
        list.push((bad, b"x"));
        list.rotate_right(1);
        assert_eq!(req(&list).err(), Some(UnknownPseudo), "{bad:?}");
        assert_eq!(
            resp(&[(bad, b"x"), (b":status", b"200")]).err(),
            Some(UnknownPseudo)
        );
    }
}

#[test]
fn duplicate_pseudo() {
    for (i, field) in GET.iter().enumerate() {
        let mut list = GET.to_vec();
        list.insert(i, *field);
        assert_eq!(req(&list).err(), Some(DuplicatePseudo), "{field:?}");
    }
    assert_eq!(
        resp(&[(b":status", b"200"), (b":status", b"200")]).err(),
        Some(DuplicatePseudo)
    );
    let ext = [
        (&b":method"[..], &b"CONNECT"[..]),
        (b":protocol", b"websocket"),
        (b":protocol", b"websocket"),
        (b":scheme", b"https"),
        (b":authority", b"a"),
        (b":path", b"/"),
    ];
    assert_eq!(req(&ext).err(), Some(DuplicatePseudo));
}

#[test]
fn pseudo_after_regular() {
    let list = [
        (&b":method"[..], &b"GET"[..]),
        (b":scheme", b"https"),
        (b":authority", b"a"),
        (b"accept", b"*/*"),
        (b":path", b"/"),
    ];
    assert_eq!(req(&list).err(), Some(PseudoAfterRegular));
    assert_eq!(
        resp(&[(b"server", b"x"), (b":status", b"200")]).err(),
        Some(PseudoAfterRegular)
    );
}

#[test]
fn pseudo_of_the_other_kind() {
    for (n, v) in GET
        .iter()
        .copied()
        .chain([(&b":protocol"[..], &b"websocket"[..])])
    {
        assert_eq!(
            resp(&[(b":status", b"200"), (n, v)]).err(),
            Some(RequestPseudoInResponse)
        );
    }
    let mut list = GET.to_vec();
    list.push((b":status", b"200"));
    assert_eq!(req(&list).err(), Some(ResponsePseudoInRequest));
}

#[test]
fn pseudo_in_trailers() {
    for (n, v) in GET.iter().copied().chain([(&b":status"[..], &b"200"[..])]) {
        assert_eq!(trailers(&[(n, v)]).err(), Some(PseudoInTrailers));
    }
}

#[test]
fn missing_method() {
    assert_eq!(req(&GET[1..]).err(), Some(MissingMethod));
    assert_eq!(req(&[]).err(), Some(MissingMethod));
}

#[test]
fn invalid_method() {
    for bad in [&b""[..], b"G ET", b"GET/", b"G\x80"] {
        let mut list = GET.to_vec();
        list[0] = (b":method", bad);
        assert_eq!(req(&list).err(), Some(InvalidMethod), "{bad:?}");
    }
    let mut list = GET.to_vec();
    list[0] = (b":method", b"PROPFIND");
    assert_eq!(req(&list).unwrap().method(), Some(&b"PROPFIND"[..]));
    list[0] = (b":method", b"get");
    let m = req(&list).unwrap();
    assert_eq!(m.method(), Some(&b"get"[..]));
    assert!(matches!(
        m.head,
        Head::Request {
            method: Method::Other(_),
            ..
        }
    ));
}

#[test]
fn missing_and_invalid_scheme() {
    let list = [GET[0], GET[2], GET[3]];
    assert_eq!(req(&list).err(), Some(MissingScheme));
    for bad in [&b""[..], b"1http", b"ht tp", b"http:", b"h_t"] {
        let mut list = GET.to_vec();
        list[1] = (b":scheme", bad);
        assert_eq!(req(&list).err(), Some(InvalidScheme), "{bad:?}");
    }
    let mut list = GET.to_vec();
    list[1] = (b":scheme", b"HTTPS");
    assert_eq!(req(&list).unwrap().scheme(), Some(&b"https"[..]));
    list[1] = (b":scheme", b"coap+tcp");
    assert_eq!(req(&list).unwrap().scheme(), Some(&b"coap+tcp"[..]));
}

#[test]
fn missing_and_empty_path() {
    assert_eq!(req(&GET[..3]).err(), Some(MissingPath));
    let mut list = GET.to_vec();
    list[3] = (b":path", b"");
    assert_eq!(req(&list).err(), Some(EmptyPath));
}

#[test]
fn asterisk_path_only_with_options() {
    let mut list = GET.to_vec();
    list[3] = (b":path", b"*");
    assert_eq!(req(&list).err(), Some(InvalidPath));
    list[0] = (b":method", b"OPTIONS");
    assert_eq!(req(&list).unwrap().path(), Some(&b"*"[..]));
}

#[test]
fn http_path_must_be_absolute() {
    let mut list = GET.to_vec();
    list[3] = (b":path", b"index.html");
    assert_eq!(req(&list).err(), Some(InvalidPath));
    list[3] = (b":path", b"/a?b=c&d");
    assert!(req(&list).is_ok());
    // Only http(s) dictate the path shape.
    list[1] = (b":scheme", b"urn");
    list[3] = (b":path", b"isbn:123");
    assert!(req(&list).is_ok());
}

#[test]
fn path_control_bytes() {
    for bad in [&b"/a b"[..], b"/a\x01", b"/\x7f", b"/a\tb"] {
        let mut list = GET.to_vec();
        list[3] = (b":path", bad);
        assert_eq!(req(&list).err(), Some(InvalidPath), "{bad:?}");
    }
    let mut list = GET.to_vec();
    list[3] = (b":path", b"/caf\xc3\xa9");
    assert!(req(&list).is_ok());
}

#[test]
fn connect_rules() {
    let ok = [
        (&b":method"[..], &b"CONNECT"[..]),
        (b":authority", b"example.com:443"),
    ];
    let m = req(&ok).unwrap();
    assert!(m.is_connect());
    assert_eq!(m.authority(), Some(&b"example.com:443"[..]));
    assert_eq!(
        m,
        Message::request(b"CONNECT", b"", b"example.com:443", b"")
    );

    assert_eq!(req(&ok[..1]).err(), Some(MissingAuthority));
    assert_eq!(
        req(&[ok[0], (b":authority", b"")]).err(),
        Some(InvalidAuthority)
    );
    assert_eq!(
        req(&[ok[0], (b":authority", b"u@h:443")]).err(),
        Some(InvalidAuthority)
    );
    // host cannot stand in for :authority on CONNECT.
    assert_eq!(
        req(&[ok[0], (b"host", b"example.com:443")]).err(),
        Some(MissingAuthority)
    );
    for extra in [(&b":scheme"[..], &b"https"[..]), (b":path", b"/")] {
        assert_eq!(
            req(&[ok[0], ok[1], extra]).err(),
            Some(ConnectWithSchemeOrPath)
        );
    }
}

#[test]
fn extended_connect_rules() {
    let ws = [
        (&b":method"[..], &b"CONNECT"[..]),
        (b":protocol", b"websocket"),
        (b":scheme", b"https"),
        (b":authority", b"example.com"),
        (b":path", b"/chat"),
        (b"sec-websocket-version", b"13"),
    ];
    let m = req(&ws).unwrap();
    assert_eq!(m.protocol(), Some(&b"websocket"[..]));
    assert!(m.is_connect());
    assert_eq!(round_trip(&m), m);

    let no_scheme: Vec<_> = ws.iter().copied().filter(|f| f.0 != b":scheme").collect();
    assert_eq!(req(&no_scheme).err(), Some(MissingScheme));
    let no_path: Vec<_> = ws.iter().copied().filter(|f| f.0 != b":path").collect();
    assert_eq!(req(&no_path).err(), Some(MissingPath));

    let mut list = GET.to_vec();
    list.push((b":protocol", b"websocket"));
    assert_eq!(req(&list).err(), Some(ProtocolWithoutConnect));

    for bad in [&b""[..], b"web socket", b"a,b"] {
        let mut list = ws.to_vec();
        list[1] = (b":protocol", bad);
        assert_eq!(req(&list).err(), Some(InvalidProtocol), "{bad:?}");
    }
    let mut list = ws.to_vec();
    list[1] = (b":protocol", b"connect-udp/1");
    assert!(req(&list).is_ok());
}

#[test]
fn status_rules() {
    assert_eq!(resp(&[]).err(), Some(MissingStatus));
    assert_eq!(resp(&[(b"server", b"x")]).err(), Some(MissingStatus));
    assert_eq!(
        resp(&[(b":status", b"101")]).err(),
        Some(SwitchingProtocols)
    );
    for bad in [&b"20"[..], b"2000", b"abc", b"099", b"600", b""] {
        assert_eq!(
            resp(&[(b":status", bad)]).err(),
            Some(InvalidStatus),
            "{bad:?}"
        );
    }
    for good in [100u16, 199, 200, 204, 404, 599] {
        let s = good.to_string();
        assert_eq!(
            resp(&[(b":status", s.as_bytes())]).unwrap().status(),
            Some(good)
        );
    }
}

#[test]
fn connection_specific_fields() {
    for name in [
        &b"connection"[..],
        b"proxy-connection",
        b"keep-alive",
        b"transfer-encoding",
        b"upgrade",
    ] {
        all_kinds(&[(name, b"x")], Err(ConnectionSpecificField));
    }
}

#[test]
fn te_only_trailers() {
    all_kinds(&[(b"te", b"trailers")], Ok(()));
    all_kinds(&[(b"te", b"Trailers")], Ok(()));
    for bad in [&b"gzip"[..], b"trailers, gzip", b"", b"trailers;q=1"] {
        all_kinds(&[(b"te", bad)], Err(InvalidTe));
    }
}

#[test]
fn content_length_rules() {
    let m = get_with(&[(b"content-length", b"42")]).unwrap();
    assert_eq!(m.content_length, Some(42));
    assert_eq!(m.fields.get(b"content-length"), Some(&b"42"[..]));
    let m = resp_with(&[(b"content-length", b"0")]).unwrap();
    assert_eq!(m.content_length, Some(0));

    let m = get_with(&[(b"content-length", b"7"), (b"content-length", b"07, 7")]).unwrap();
    assert_eq!(m.content_length, Some(7));
    assert_eq!(
        get_with(&[(b"content-length", b"7"), (b"content-length", b"8")]).err(),
        Some(ContentLengthMismatch)
    );
    assert_eq!(
        resp_with(&[(b"content-length", b"7, 8")]).err(),
        Some(ContentLengthMismatch)
    );
    for bad in [&b"-1"[..], b"1e3", b"", b"99999999999999999999", b"0x1"] {
        assert_eq!(
            get_with(&[(b"content-length", bad)]).err(),
            Some(InvalidContentLength),
            "{bad:?}"
        );
        assert_eq!(
            resp_with(&[(b"content-length", bad)]).err(),
            Some(InvalidContentLength)
        );
    }
    // Trailers cannot change framing; the field is left alone there.
    assert!(trailers(&[(b"content-length", b"x")]).is_ok());
}

#[test]
fn cookie_crumbs_stay_separate() {
    let m = get_with(&[
        (b"cookie", b"a=1"),
        (b"accept", b"*/*"),
        (b"cookie", b"b=2"),
    ])
    .unwrap();
    assert_eq!(m.fields.get_all(b"cookie").count(), 2);
    assert_eq!(m.fields.joined_cookie().as_deref(), Some(&b"a=1; b=2"[..]));
    assert_eq!(round_trip(&m), m);
}

#[test]
fn authority_and_host() {
    let m = get_with(&[(b"host", b"EXAMPLE.com")]).unwrap();
    assert_eq!(m.authority(), Some(&b"example.com"[..]));
    assert_eq!(
        get_with(&[(b"host", b"other.com")]).err(),
        Some(HostMismatch)
    );

    // Host alone stands in for :authority and stays a field.
    let host_only = [
        (&b":method"[..], &b"GET"[..]),
        (b":scheme", b"http"),
        (b":path", b"/"),
        (b"host", b"example.com:8080"),
    ];
    let m = req(&host_only).unwrap();
    assert_eq!(m.authority(), Some(&b"example.com:8080"[..]));
    assert_eq!(m.fields.get(b"host"), Some(&b"example.com:8080"[..]));
    assert_eq!(round_trip(&m), m);

    let mut two = host_only.to_vec();
    two.push((b"host", b"example.com:8080"));
    assert!(req(&two).is_ok());
    two.push((b"host", b"evil.com"));
    assert_eq!(req(&two).err(), Some(HostMismatch));

    // http(s) needs some authority, non-empty and without userinfo.
    assert_eq!(req(&host_only[..3]).err(), Some(MissingAuthority));
    let mut list = GET.to_vec();
    list[2] = (b":authority", b"");
    assert_eq!(req(&list).err(), Some(InvalidAuthority));
    list[2] = (b":authority", b"user:pw@example.com");
    assert_eq!(req(&list).err(), Some(InvalidAuthority));
    let mut empty_host = host_only.to_vec();
    empty_host[3] = (b"host", b"");
    assert_eq!(req(&empty_host).err(), Some(InvalidAuthority));
    for bad in [&b"a b"[..], b"a/b", b"a?b", b"a#b", b"a\x80", b"a\"b"] {
        let mut list = GET.to_vec();
        list[2] = (b":authority", bad);
        assert_eq!(req(&list).err(), Some(InvalidAuthority), "{bad:?}");
        assert_eq!(get_with(&[(b"host", bad)]).err(), Some(InvalidAuthority));
    }
    list[2] = (b":authority", b"[::1]:443");
    assert!(req(&list).is_ok());
    // Other schemes may have no authority at all.
    let urn = [
        (&b":method"[..], &b"GET"[..]),
        (b":scheme", b"urn"),
        (b":path", b"x"),
    ];
    assert!(req(&urn).is_ok());
    // host in a response is just a field.
    assert!(resp_with(&[(b"host", b"a b")]).is_ok());
}

#[test]
fn too_many_fields() {
    let mut b = MessageBuilder::new(BlockKind::Trailers);
    for _ in 0..DEFAULT_MAX_FIELDS {
        b.push(b"x", b"", false);
    }
    assert_eq!(b.error(), None);
    assert_eq!(b.finish().map(|_| ()), Ok(()));

    let mut b = MessageBuilder::new(BlockKind::Trailers);
    for _ in 0..=DEFAULT_MAX_FIELDS {
        b.push(b"x", b"", false);
    }
    assert_eq!(b.finish().err(), Some(TooManyFields));

    // Pseudo-headers count, and empty-name floods stop at the limit.
    let mut b = MessageBuilder::with_max_fields(BlockKind::Request, 4);
    for (n, v) in GET {
        b.push(n, v, false);
    }
    assert_eq!(b.error(), None);
    b.push(b"accept", b"*/*", false);
    assert_eq!(b.error(), Some(TooManyFields));
    for _ in 0..10_000 {
        b.push(b"", b"", false);
    }
    assert_eq!(b.finish().err(), Some(TooManyFields));
}

#[test]
fn first_error_wins() {
    let mut b = MessageBuilder::new(BlockKind::Request);
    b.push(b"Bad", b"v", false);
    b.push(b":method", b"GET", false);
    b.push(b"connection", b"close", false);
    assert_eq!(b.error(), Some(UppercaseName));
    assert_eq!(b.kind(), BlockKind::Request);
    assert_eq!(b.finish().err(), Some(UppercaseName));
}

#[test]
fn sensitive_flag_kept() {
    let mut b = MessageBuilder::new(BlockKind::Request);
    for (n, v) in GET {
        b.push(n, v, false);
    }
    b.push(b"authorization", b"Bearer x", true);
    b.push(b"accept", b"*/*", false);
    let Ok(Block::Request(m)) = b.finish() else {
        panic!("rejected");
    };
    let flags: Vec<bool> = m.fields.iter().map(|f| f.2).collect();
    assert_eq!(flags, [true, false]);
    assert!(!format!("{m:?}").contains("Bearer"));
}

#[test]
fn h2_field_order() {
    let mut m = Message::request(b"POST", b"https", b"example.com", b"/upload");
    m.fields.push(b"content-type", b"text/plain", false);
    let mut out = Vec::new();
    m.for_each_h2_field(&mut |n, v, s| out.push((n.to_vec(), v.to_vec(), s)));
    let names: Vec<&[u8]> = out.iter().map(|f| &f.0[..]).collect();
    assert_eq!(
        names,
        [
            &b":method"[..],
            b":scheme",
            b":authority",
            b":path",
            b"content-type"
        ]
    );
    let size: usize = out.iter().map(|f| f.0.len() + f.1.len() + 32).sum();
    assert_eq!(m.h2_header_list_size(), size);

    let mut out = Vec::new();
    Message::response(404).for_each_h2_field(&mut |n, v, _| out.push((n.to_vec(), v.to_vec())));
    assert_eq!(out, [(b":status".to_vec(), b"404".to_vec())]);
    assert_eq!(Message::response(404).h2_header_list_size(), 7 + 3 + 32);
}

#[test]
fn constructors() {
    let m = Message::request(b"GET", b"http", b"a", b"/");
    assert_eq!(m.method(), Some(&b"GET"[..]));
    assert_eq!(m.scheme(), Some(&b"http"[..]));
    assert_eq!(m.authority(), Some(&b"a"[..]));
    assert_eq!(m.path(), Some(&b"/"[..]));
    assert_eq!(
        Message::request(b"OPTIONS", b"https", b"", b"*").authority(),
        None
    );
    let r = Message::response(100);
    assert!(r.is_informational());
    assert!(!Message::response(200).is_informational());
    assert!(!m.is_informational());
}

#[test]
fn round_trips() {
    let mut post = Message::request(b"POST", b"https", b"example.com", b"/a?b");
    post.fields.push(b"content-length", b"5", false);
    post.fields.push(b"cookie", b"a=1", true);
    post.fields.push(b"te", b"trailers", false);
    post.content_length = Some(5);
    let mut ok = Message::response(200);
    ok.fields.push(b"content-length", b"0", false);
    ok.fields.push(b"set-cookie", b"x=y; Path=/", true);
    ok.content_length = Some(0);
    for m in [
        post,
        ok,
        Message::request(b"GET", b"http", b"h:80", b"/"),
        Message::request(b"OPTIONS", b"https", b"h", b"*"),
        Message::request(b"CONNECT", b"", b"h:443", b""),
        Message::request(b"PURGE", b"https", b"h", b"/x"),
        Message::response(100),
        Message::response(599),
    ] {
        assert_eq!(round_trip(&m), m);
    }
}

/// Random bytes (up to `max`) biased towards the characters the rules care about.
fn biased_bytes(rng: &mut Rng, max: usize) -> Vec<u8> {
    const SPECIAL: &[u8] = b"\0\r\n \t:/@*,;=Aaz09\x7f\x80\xff-";
    let len = rng.below(max + 1);
    (0..len)
        .map(|_| {
            if rng.below(2) == 0 {
                SPECIAL[rng.below(SPECIAL.len())]
            } else {
                rng.next_u64() as u8
            }
        })
        .collect()
}

#[test]
fn random_fields_never_panic() {
    const NAMES: &[&[u8]] = &[
        b":method",
        b":scheme",
        b":authority",
        b":path",
        b":protocol",
        b":status",
        b":",
        b"",
        b"host",
        b"content-length",
        b"te",
        b"cookie",
        b"connection",
        b"accept",
    ];
    const VALUES: &[&[u8]] = &[
        b"GET",
        b"CONNECT",
        b"OPTIONS",
        b"https",
        b"http",
        b"example.com",
        b"EXAMPLE.COM",
        b"/",
        b"*",
        b"websocket",
        b"200",
        b"101",
        b"204",
        b"trailers",
        b"0",
        b"5",
        b"5, 5",
        b"18446744073709551616",
        b"",
    ];
    let mut rng = Rng::from_state(0x9e37_79b9_7f4a_7c15);
    let mut accepted = [0usize; 3];
    for _ in 0..50_000 {
        let kind = match rng.below(3) {
            0 => BlockKind::Request,
            1 => BlockKind::Response,
            _ => BlockKind::Trailers,
        };
        let mut b = MessageBuilder::with_max_fields(kind, 1 + rng.below(16));
        // Half the blocks start well-formed so that the later rules get exercised too.
        if rng.below(2) == 0 {
            let prefix: &[(&[u8], &[u8])] = match kind {
                BlockKind::Request => match rng.below(3) {
                    0 => &GET,
                    1 => &[(b":method", b"CONNECT"), (b":authority", b"h:443")],
                    _ => &[
                        (b":method", b"CONNECT"),
                        (b":protocol", b"websocket"),
                        (b":scheme", b"https"),
                        (b":path", b"/"),
                    ],
                },
                BlockKind::Response => &[(b":status", b"200")],
                BlockKind::Trailers => &[],
            };
            for (n, v) in prefix {
                b.push(n, v, false);
            }
        }
        for _ in 0..rng.below(6) {
            let name = if rng.below(4) == 0 {
                biased_bytes(&mut rng, 8)
            } else {
                rng.pick(NAMES).to_vec()
            };
            let value = if rng.below(4) == 0 {
                biased_bytes(&mut rng, 12)
            } else {
                rng.pick(VALUES).to_vec()
            };
            b.push(&name, &value, rng.below(2) == 0);
        }
        match b.finish() {
            Ok(Block::Request(m)) | Ok(Block::Response(m)) => {
                accepted[usize::from(!m.is_request())] += 1;
                // Whatever is accepted must survive being re-encoded and re-parsed.
                assert_eq!(round_trip(&m), m);
                let mut body = BodyLength::for_request(&m);
                let _ = body.on_data(rng.below(10));
                let _ = body.on_end();
            }
            Ok(Block::Trailers(_)) => accepted[2] += 1,
            Err(e) => assert!(!e.reason().is_empty()),
        }
    }
    assert!(
        accepted.iter().all(|&n| n > 100),
        "sweep too narrow: {accepted:?} accepted"
    );
}

//! Kong's path normalisation (`kong/tools/uri.lua`): what the router matches
//! request paths against, and what a format 1.1/2.1 file's plain route paths
//! become when they are migrated. One implementation for platform and node.

/// Characters whose percent-escapes stay encoded (RFC 3986 reserved, plus `%`).
fn is_reserved(b: u8) -> bool {
    b"!*'();:@&=+$,/?%#[]".contains(&b)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Normalises a request path as Kong does before routing: decodes percent-escapes
/// of unreserved characters (reserved ones stay encoded, upper-cased), removes dot
/// segments and merges repeated slashes. Returns the input unchanged when there is
/// nothing to do (the common case), without allocating.
pub fn normalize(path: &str) -> std::borrow::Cow<'_, str> {
    let b = path.as_bytes();
    let needs = b.contains(&b'%') || path.contains("//") || path.contains("/.");
    if !needs || path == "/" {
        return std::borrow::Cow::Borrowed(path);
    }
    // 1. percent-decoding of unreserved characters
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            let c = h * 16 + l;
            if is_reserved(c) {
                out.push(b'%');
                out.push(b[i + 1].to_ascii_uppercase());
                out.push(b[i + 2].to_ascii_uppercase());
            } else {
                out.push(c);
            }
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    // 2. merge slashes
    let mut merged: Vec<u8> = Vec::with_capacity(out.len());
    for &c in &out {
        if c == b'/' && merged.last() == Some(&b'/') {
            continue;
        }
        merged.push(c);
    }
    // 3. remove dot segments (RFC 3986 5.2.4)
    let s = String::from_utf8_lossy(&merged).into_owned();
    std::borrow::Cow::Owned(remove_dot_segments(&s))
}

fn remove_dot_segments(input: &str) -> String {
    let mut inp = input;
    let mut out = String::with_capacity(input.len());
    while !inp.is_empty() {
        if let Some(r) = inp.strip_prefix("../") {
            inp = r;
        } else if let Some(r) = inp.strip_prefix("./") {
            inp = r;
        } else if inp.starts_with("/./") {
            inp = &inp[2..];
        } else if inp == "/." {
            inp = "/";
        } else if inp.starts_with("/../") || inp == "/.." {
            inp = if inp == "/.." { "/" } else { &inp[3..] };
            match out.rfind('/') {
                Some(i) => out.truncate(i),
                None => out.clear(),
            }
        } else if inp == "." || inp == ".." {
            inp = "";
        } else {
            let start = usize::from(inp.starts_with('/'));
            let end = inp[start..]
                .find('/')
                .map(|i| i + start)
                .unwrap_or(inp.len());
            out.push_str(&inp[..end]);
            inp = &inp[end..];
        }
    }
    if out.is_empty() { "/".to_string() } else { out }
}

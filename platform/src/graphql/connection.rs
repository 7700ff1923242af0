//! Lists as connections, one shape everywhere: `edges { cursor node }`, `nodes`,
//! `pageInfo { hasNextPage hasPreviousPage startCursor endCursor }` and
//! `totalCount`, paged with `first/after` or `last/before`. A cursor is the
//! item's sort key (opaque, base64), not its position, so it stays valid while
//! other items are added or removed.

use async_graphql::SimpleObject;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};

use crate::error::{Error, Field};

/// Items a page holds unless asked otherwise, and at most.
pub const DEFAULT_PAGE: usize = 100;
pub const MAX_PAGE: usize = 1000;

#[derive(SimpleObject, Clone, Debug, Default, PartialEq)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub has_previous_page: bool,
    pub start_cursor: Option<String>,
    pub end_cursor: Option<String>,
}

/// A page request: `first` items after `after`, or `last` items before
/// `before` (both bounds may be given).
#[derive(Clone, Debug, Default)]
pub struct Paging {
    pub first: Option<i32>,
    pub after: Option<String>,
    pub last: Option<i32>,
    pub before: Option<String>,
}

impl Paging {
    pub fn new(
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Paging {
        Paging {
            first,
            after,
            last,
            before,
        }
    }

    /// How many items at most: `first` or `last`, checked (0 to 1000).
    pub fn size(&self) -> Result<(usize, bool), Error> {
        let check = |n: i32, arg: &str| {
            if n < 0 || n as usize > MAX_PAGE {
                Err(Error::invalid(
                    Field::Arg(arg.into()),
                    format!("0 to {MAX_PAGE}"),
                ))
            } else {
                Ok(n as usize)
            }
        };
        match (self.first, self.last) {
            (Some(_), Some(_)) => Err(Error::invalid(
                Field::Arg("last".into()),
                "give first or last, not both",
            )),
            (Some(n), None) => Ok((check(n, "first")?, false)),
            (None, Some(n)) => Ok((check(n, "last")?, true)),
            (None, None) => Ok((DEFAULT_PAGE, false)),
        }
    }

    pub fn after_key<K: CursorKey>(&self) -> Result<Option<K>, Error> {
        decode(self.after.as_deref(), "after")
    }

    pub fn before_key<K: CursorKey>(&self) -> Result<Option<K>, Error> {
        decode(self.before.as_deref(), "before")
    }
}

fn decode<K: CursorKey>(c: Option<&str>, arg: &str) -> Result<Option<K>, Error> {
    let Some(c) = c else { return Ok(None) };
    URL_SAFE_NO_PAD
        .decode(c)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| K::decode(&s))
        .map(Some)
        .ok_or_else(|| Error::invalid(Field::Arg(arg.into()), "not a cursor of this list"))
}

/// A sort key that makes a cursor.
pub trait CursorKey: Ord + Sized {
    fn encode(&self) -> String;
    fn decode(s: &str) -> Option<Self>;

    fn cursor(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.encode())
    }
}

impl CursorKey for i64 {
    fn encode(&self) -> String {
        self.to_string()
    }
    fn decode(s: &str) -> Option<i64> {
        s.parse().ok()
    }
}

impl CursorKey for String {
    fn encode(&self) -> String {
        self.clone()
    }
    fn decode(s: &str) -> Option<String> {
        Some(s.to_string())
    }
}

/// (time, id): items made at the same time keep a stable order.
impl CursorKey for (i64, String) {
    fn encode(&self) -> String {
        format!("{}/{}", self.0, self.1)
    }
    fn decode(s: &str) -> Option<(i64, String)> {
        let (t, id) = s.split_once('/')?;
        Some((t.parse().ok()?, id.to_string()))
    }
}

/// One page: the items with their cursors, where it sits, and how many items
/// the whole list has.
pub struct Page<T> {
    pub items: Vec<(String, T)>,
    pub info: PageInfo,
    pub total: usize,
}

impl<T> Page<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        let mut f = f;
        Page {
            items: self.items.into_iter().map(|(c, t)| (c, f(t))).collect(),
            info: self.info,
            total: self.total,
        }
    }
}

/// A page of `sorted` (ascending by `key`, keys unique).
pub fn page<T, K: CursorKey>(
    sorted: Vec<T>,
    key: impl Fn(&T) -> K,
    p: &Paging,
) -> Result<Page<T>, Error> {
    let (size, from_end) = p.size()?;
    let after = p.after_key::<K>()?;
    let before = p.before_key::<K>()?;
    let total = sorted.len();
    let mut lo = match &after {
        Some(a) => sorted.partition_point(|t| key(t) <= *a),
        None => 0,
    };
    let mut hi = match &before {
        Some(b) => sorted.partition_point(|t| key(t) < *b),
        None => total,
    };
    hi = hi.max(lo);
    if from_end {
        lo = lo.max(hi.saturating_sub(size));
    } else {
        hi = hi.min(lo + size);
    }
    let info = PageInfo {
        has_next_page: hi < total,
        has_previous_page: lo > 0,
        start_cursor: None,
        end_cursor: None,
    };
    let items: Vec<(String, T)> = sorted
        .into_iter()
        .skip(lo)
        .take(hi - lo)
        .map(|t| (key(&t).cursor(), t))
        .collect();
    Ok(Page {
        info: PageInfo {
            start_cursor: items.first().map(|(c, _)| c.clone()),
            end_cursor: items.last().map(|(c, _)| c.clone()),
            ..info
        },
        items,
        total,
    })
}

/// A timestamp in Unix milliseconds as a `DateTime`.
pub fn datetime(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// The connection and edge types of one node type.
macro_rules! connection {
    ($conn:ident, $edge:ident, $node:ty) => {
        #[derive(async_graphql::SimpleObject)]
        pub struct $edge {
            pub cursor: String,
            pub node: $node,
        }

        #[derive(async_graphql::SimpleObject)]
        pub struct $conn {
            pub edges: Vec<$edge>,
            pub nodes: Vec<$node>,
            pub page_info: $crate::graphql::connection::PageInfo,
            pub total_count: usize,
        }

        impl From<$crate::graphql::connection::Page<$node>> for $conn {
            fn from(p: $crate::graphql::connection::Page<$node>) -> $conn {
                let nodes = p.items.iter().map(|(_, n)| n.clone()).collect();
                $conn {
                    edges: p
                        .items
                        .into_iter()
                        .map(|(cursor, node)| $edge { cursor, node })
                        .collect(),
                    nodes,
                    page_info: p.info,
                    total_count: p.total,
                }
            }
        }
    };
}
pub(crate) use connection;

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(p: &Page<i64>) -> Vec<i64> {
        p.items.iter().map(|(_, t)| *t).collect()
    }

    #[test]
    fn pages_forward_and_back_by_key_not_position() {
        let list: Vec<i64> = (1..=10).collect();
        let first = page(
            list.clone(),
            |t| *t,
            &Paging::new(Some(4), None, None, None),
        )
        .expect("page");
        assert_eq!(ids(&first), vec![1, 2, 3, 4]);
        assert!(first.info.has_next_page && !first.info.has_previous_page);
        // an item added before the cursor does not shift the next page
        let mut grown = list.clone();
        grown.insert(0, 0);
        let next = page(
            grown,
            |t| *t,
            &Paging::new(Some(4), first.info.end_cursor.clone(), None, None),
        )
        .expect("page");
        assert_eq!(ids(&next), vec![5, 6, 7, 8]);
        assert!(next.info.has_previous_page);
        let back = page(
            list.clone(),
            |t| *t,
            &Paging::new(None, None, Some(3), next.info.start_cursor.clone()),
        )
        .expect("page");
        assert_eq!(ids(&back), vec![2, 3, 4]);
        assert!(back.info.has_previous_page && back.info.has_next_page);
        let last = page(
            list.clone(),
            |t| *t,
            &Paging::new(None, None, Some(2), None),
        )
        .expect("page");
        assert_eq!(ids(&last), vec![9, 10]);
        assert!(!last.info.has_next_page);
        assert!(
            page(
                list.clone(),
                |t| *t,
                &Paging::new(Some(1001), None, None, None)
            )
            .is_err()
        );
        assert!(
            page(
                list,
                |t| *t,
                &Paging::new(Some(1), Some("garbage!".into()), None, None)
            )
            .is_err()
        );
    }
}

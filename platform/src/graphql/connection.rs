//! Lists as connections: a page of items, where the next page starts, and how
//! many there are in all. Every list is paged.

use async_graphql::{Result, SimpleObject};

use super::error::gql;
use crate::error::{Error, Field};

/// Items a page holds unless asked otherwise, and at most.
pub const DEFAULT_PAGE: usize = 100;
pub const MAX_PAGE: usize = 1000;

#[derive(SimpleObject)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub end_cursor: Option<String>,
}

/// Cursor pagination over an ordered list: the cursor is the position after which
/// the page starts.
pub fn page<T: Clone>(
    items: &[T],
    first: Option<i32>,
    after: Option<String>,
) -> Result<(Vec<T>, PageInfo, usize)> {
    let first = match first {
        None => DEFAULT_PAGE,
        Some(n) if n < 0 => {
            return Err(gql(Error::invalid(
                Field::Arg("first".into()),
                "must be >= 0",
            )));
        }
        Some(n) => (n as usize).min(MAX_PAGE),
    };
    let start = match after {
        None => 0,
        Some(c) => c.parse::<usize>().map_err(|_| {
            gql(Error::invalid(
                Field::Arg("after".into()),
                "not a cursor from this list",
            ))
        })?,
    };
    let end = (start + first).min(items.len());
    let nodes = items
        .get(start.min(items.len())..end)
        .unwrap_or(&[])
        .to_vec();
    Ok((
        nodes,
        PageInfo {
            has_next_page: end < items.len(),
            end_cursor: (end > start).then(|| end.to_string()),
        },
        items.len(),
    ))
}

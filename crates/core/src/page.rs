use serde::{Deserialize, Serialize};

use crate::CoreError;

/// A request for one page of a cursor-paginated list.
///
/// `cursor` is the opaque `next_cursor` of the previous page (None for the first page).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageRequest {
    /// Where to continue; opaque to clients.
    pub cursor: Option<String>,
    /// The largest number of items wanted.
    pub limit: u32,
}

impl PageRequest {
    /// The default page size.
    pub const DEFAULT_LIMIT: u32 = 50;
    /// The largest page size any list accepts.
    pub const MAX_LIMIT: u32 = 500;

    /// The first page with the default size.
    pub fn first() -> Self {
        Self {
            cursor: None,
            limit: Self::DEFAULT_LIMIT,
        }
    }

    /// Checks that `limit` is within 1..=[`Self::MAX_LIMIT`].
    pub fn validate(&self) -> Result<(), CoreError> {
        if (1..=Self::MAX_LIMIT).contains(&self.limit) {
            Ok(())
        } else {
            Err(CoreError::InvalidPageLimit {
                limit: self.limit,
                max: Self::MAX_LIMIT,
            })
        }
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        Self::first()
    }
}

/// One page of results; `next_cursor` is None on the last page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The items of this page, in list order.
    pub items: Vec<T>,
    /// The cursor for the next page, or None when there is none.
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits() {
        for (limit, ok) in [(0, false), (1, true), (50, true), (500, true), (501, false)] {
            let req = PageRequest {
                cursor: None,
                limit,
            };
            assert_eq!(req.validate().is_ok(), ok, "{limit}");
        }
        assert_eq!(PageRequest::default().limit, PageRequest::DEFAULT_LIMIT);
    }
}

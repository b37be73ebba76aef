//! The query of every list endpoint: a cursor and a page size, checked against the one
//! [`PageRequest`] rule (1..=500, default 50).

use serde::Deserialize;
use tillit_core::PageRequest;
use utoipa::IntoParams;

use crate::error::ApiError;

/// Query of list endpoints whose cursor is an id (32 lower-case hex digits).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// `next_cursor` of the previous page.
    #[param(pattern = "^[0-9a-f]{32}$")]
    pub cursor: Option<String>,
    /// Page size, 1-500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// Query of list endpoints whose cursor is a sequence number (the audit log).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SeqListParams {
    /// `next_cursor` of the previous page: the next sequence number.
    #[param(pattern = "^[1-9][0-9]{0,18}$")]
    pub cursor: Option<String>,
    /// Page size, 1-500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

impl SeqListParams {
    /// The page asked for, and the sequence number to start from.
    pub fn page_request(&self) -> Result<(PageRequest, u64), ApiError> {
        let page = ListParams {
            cursor: None,
            limit: self.limit,
        }
        .page_request()?;
        let from = match &self.cursor {
            None => 1,
            Some(c) => c.parse::<u64>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                ApiError::field("cursor", "pass next_cursor of the previous page unchanged")
            })?,
        };
        Ok((page, from))
    }
}

impl ListParams {
    pub fn page_request(&self) -> Result<PageRequest, ApiError> {
        let request = PageRequest {
            cursor: self.cursor.clone(),
            limit: self.limit.unwrap_or(PageRequest::DEFAULT_LIMIT),
        };
        request
            .validate()
            .map_err(|e| ApiError::field("limit", e.to_string()))?;
        Ok(request)
    }
}

//! The query of every list endpoint: a cursor and a page size, checked against the one
//! [`PageRequest`] rule (1..=500, default 50).

use serde::Deserialize;
use tillit_core::PageRequest;
use utoipa::IntoParams;

use crate::error::ApiError;

/// Query of list endpoints.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1-500 (default 50).
    pub limit: Option<u32>,
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

//! Shared by the credential test binaries (`mod support;`): the workspace test kit.
// Each test binary uses its own subset.
#![allow(unused_imports)]

pub use tillit_testkit::{json_files, read_json, testdata};

//! tillit-core

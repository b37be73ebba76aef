//! tillit-store

//! tillit-crypto

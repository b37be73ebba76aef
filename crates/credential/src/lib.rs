//! tillit-credential

//! tillit-audit

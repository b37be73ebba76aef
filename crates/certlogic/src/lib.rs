//! tillit-certlogic

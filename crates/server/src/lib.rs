//! tillit-server

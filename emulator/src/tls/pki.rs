//! Certificate and key operations (being written).

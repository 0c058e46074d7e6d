//! The OCI runtime core.

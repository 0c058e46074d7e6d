//! berth's registry layer: the OCI distribution API client (resolve, pull,
//! push, auth). It writes only through the image store's ingest interface.

pub mod auth;
pub mod client;
mod error;
pub mod pull;
pub mod push;
pub mod reference;

pub use client::{Client, ClientOptions};
pub use error::RegistryError;
pub use reference::Reference;

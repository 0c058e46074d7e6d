//! berth's build layer: the Dockerfile parser (a pure function from text
//! to typed instructions, [`parser`] and [`instructions`]), the word
//! expansion BuildKit applies to them ([`shell`]), `.dockerignore`
//! matching ([`ignore`]), and the builder that runs the steps and commits
//! their layers into the image store.
//!
//! Dependency direction: build → engine (spec with Docker's defaults,
//! user resolution) → runtime; build → image (store, layers). The CLI
//! calls build; engine never depends on build.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod copy;
pub mod ignore;
pub mod instructions;
pub mod layer;
pub mod parser;
pub mod shell;

pub use instructions::{parse, Dockerfile, Instruction, ParseError};

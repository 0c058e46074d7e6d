//! berth's build layer: the Dockerfile parser (a pure function from text
//! to typed instructions, [`parser`] and [`instructions`]), the word
//! expansion BuildKit applies to them ([`shell`]), `.dockerignore`
//! matching ([`ignore`]), and the builder ([`builder`]) that runs the
//! steps and commits their layers into the image store.
//!
//! Dependency direction: build → engine (the OCI spec with Docker's
//! defaults, user resolution, /etc files) → runtime; build → image
//! (store, layers, metadata). The CLI calls build; engine never depends
//! on build.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod builder;
pub mod config;
pub mod copy;
pub mod ignore;
pub mod instructions;
pub mod layer;
pub mod parser;
pub mod run;
mod schedule;
pub mod shell;
mod steps;

pub use builder::{build, BuildOptions, Built, Images};
pub use instructions::{parse, Dockerfile, Instruction, ParseError};

/// Errors of a build.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// A step failed; `line` and `instruction` say which.
    #[error("Dockerfile:{line}: {instruction}: {message}")]
    At {
        line: usize,
        instruction: String,
        message: String,
    },
    #[error("{0}")]
    Step(String),
    #[error(transparent)]
    Store(#[from] berth_image::StoreError),
}

impl BuildError {
    /// Names the instruction the error happened in (once).
    pub fn at(self, line: usize, instruction: &str) -> BuildError {
        match self {
            BuildError::Step(message) => BuildError::At {
                line,
                instruction: instruction.chars().take(200).collect(),
                message,
            },
            e => e,
        }
    }
}

macro_rules! step_error {
    ($($t:ty),*) => {$(
        impl From<$t> for BuildError {
            fn from(e: $t) -> BuildError {
                BuildError::Step(e.to_string())
            }
        }
    )*};
}

step_error!(
    copy::CopyError,
    layer::LayerError,
    berth_image::content::ContentError,
    berth_image::layers::LayerError,
    berth_image::meta::MetaError
);

//! Errors of reading a seccomp profile file.

/// A seccomp profile file that cannot be used.
///
/// Every variant names the field of the file it is about
/// (`syscalls[3].includes.minKernel`); the caller adds which file it was.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The file is larger than any real profile.
    #[error("seccomp profile: {len} bytes is too large (at most {max} bytes are read)")]
    TooLarge { len: usize, max: usize },

    /// The file is not JSON, or a field has the wrong type or an unknown value.
    #[error("seccomp profile: {field}{reason}")]
    Json {
        /// The path of the field, with `": "` after it; empty for the whole document.
        field: String,
        reason: String,
    },

    /// A field has a value the profile format does not allow.
    #[error("seccomp profile: {field}: {reason}")]
    Invalid { field: String, reason: String },

    /// A rule depends on the kernel version, which could not be read.
    #[error(
        "seccomp profile: {field}: the host's kernel version is needed but its release {release:?} \
         does not start with <version>.<major>"
    )]
    UnknownKernel { field: String, release: String },
}

impl ProfileError {
    pub(super) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

//! Which containers use which image: `rmi` and `image prune` must not take
//! an image's layers from under a container's overlay.

use crate::record::Status;
use crate::Engine;
use crate::Result;

/// One container and the image it was made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUser {
    pub container: String,
    /// The manifest digest the image store knows the image by.
    pub manifest: String,
    /// The image id (config digest).
    pub image_id: String,
    pub running: bool,
}

impl Engine {
    /// Every container with the image it uses, running or not.
    pub fn image_users(&self) -> Result<Vec<ImageUser>> {
        Ok(self
            .list()?
            .into_iter()
            .map(|c| ImageUser {
                running: matches!(
                    c.state.status,
                    Status::Running | Status::Paused | Status::Restarting
                ),
                container: c.record.id,
                manifest: c.record.manifest,
                image_id: c.record.image_id,
            })
            .collect())
    }
}

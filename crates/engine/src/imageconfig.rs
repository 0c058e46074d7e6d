//! The part of an image's config (`config` in the OCI image config) that
//! decides how a container runs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfig {
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub env: Option<Vec<String>>,
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default)]
    pub cmd: Option<Vec<String>>,
    #[serde(default)]
    pub working_dir: Option<String>,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub stop_signal: Option<String>,
    #[serde(default)]
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default)]
    pub volumes: Option<BTreeMap<String, serde_json::Value>>,
}

impl RunConfig {
    /// Reads the run config out of an image config's `config` value; a
    /// field of the wrong type is an error naming it.
    pub fn from_value(v: Option<&serde_json::Value>) -> Result<RunConfig, serde_json::Error> {
        match v {
            None | Some(serde_json::Value::Null) => Ok(RunConfig::default()),
            Some(v) => serde_json::from_value(v.clone()),
        }
    }
}

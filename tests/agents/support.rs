//! What the agent tests share with the other test targets.

#[allow(dead_code)]
#[path = "../shared/aiomas.rs"]
pub mod aiomas;

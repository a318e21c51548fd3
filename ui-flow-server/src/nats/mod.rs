mod mesh;
pub use mesh::{MeshConfig, MeshError, NatsMesh};

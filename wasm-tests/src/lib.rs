pub mod host;
pub mod upstream;

pub mod host;
pub mod socket;
pub mod upstream;

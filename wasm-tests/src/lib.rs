pub mod upstream;

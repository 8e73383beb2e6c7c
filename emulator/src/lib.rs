//! The `amtemu` command line: turns flags into the library's builders
//! (`amtemu_server`), and nothing else.

pub mod cli;

//! (being written)

use super::Class;

pub static CLASSES: &[Class] = &[];

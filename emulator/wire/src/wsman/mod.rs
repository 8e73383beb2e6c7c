//! WS-Management as AMT speaks it: the request envelope parser, the reply
//! writer, faults, values and the namespace table.

pub mod cim_time;
pub mod client;
pub mod fault;
pub mod names;
pub mod request;
pub mod value;
pub mod writer;

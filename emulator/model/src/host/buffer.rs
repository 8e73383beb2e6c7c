//! The host's serial output, kept in a bounded ring so what the host prints
//! while no console is attached is there for the next session.
//!
//! Positions are absolute byte counts since the host was created, so a
//! reader's cursor stays meaningful after old bytes are dropped.

use std::collections::VecDeque;

/// How much output a device keeps for consoles that attach later.
pub const DEFAULT_CAPACITY: usize = 64 * 1024;

#[derive(Debug)]
pub struct OutputBuffer {
    /// Nothing is allocated until the host first prints.
    bytes: VecDeque<u8>,
    /// Absolute position of `bytes[0]`.
    start: u64,
    capacity: usize,
}

impl OutputBuffer {
    pub fn new(capacity: usize) -> OutputBuffer {
        OutputBuffer {
            bytes: VecDeque::new(),
            start: 0,
            capacity: capacity.max(1),
        }
    }

    /// The oldest position still held.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// The position the next byte will get.
    pub fn end(&self) -> u64 {
        self.start + self.bytes.len() as u64
    }

    pub fn is_allocated(&self) -> bool {
        self.bytes.capacity() > 0
    }

    pub fn push(&mut self, data: &[u8]) {
        // Only the newest `capacity` bytes of a long write can survive.
        let cut = data.len().saturating_sub(self.capacity);
        if cut > 0 {
            self.start += (self.bytes.len() + cut) as u64;
            self.bytes.clear();
        }
        let data = &data[cut..];
        let overflow = (self.bytes.len() + data.len()).saturating_sub(self.capacity);
        if overflow > 0 {
            self.bytes.drain(..overflow.min(self.bytes.len()));
            self.start += overflow as u64;
        }
        self.bytes.extend(data);
    }

    /// Everything from `cursor` on; a cursor pointing at dropped bytes skips
    /// to the oldest one held, one past the end is clamped to the end.
    pub fn read(&self, cursor: &mut u64) -> Vec<u8> {
        let from = (*cursor).clamp(self.start, self.end());
        let skip = (from - self.start) as usize;
        *cursor = self.end();
        self.bytes.range(skip..).copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_buffer_allocates_nothing() {
        let b = OutputBuffer::new(DEFAULT_CAPACITY);
        assert!(!b.is_allocated());
        assert_eq!((b.start(), b.end()), (0, 0));
    }

    #[test]
    fn the_oldest_bytes_are_dropped_and_cursors_skip_ahead() {
        let mut b = OutputBuffer::new(8);
        let mut late = 0;
        b.push(b"abcdef");
        let mut early = 0;
        assert_eq!(b.read(&mut early), b"abcdef");
        b.push(b"ghijk");
        assert_eq!(b.start(), 3);
        assert_eq!(b.read(&mut early), b"ghijk");
        assert_eq!(b.read(&mut late), b"defghijk");
        assert_eq!(late, 11);
        b.push(b"0123456789");
        assert_eq!(b.start(), 13);
        assert_eq!(b.read(&mut late), b"23456789");
        let mut beyond = 1000;
        assert!(b.read(&mut beyond).is_empty());
        assert_eq!(beyond, 21);
    }
}

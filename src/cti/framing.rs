//! CTI framing: the 8-byte header, the framer, resynchronisation.

//! The pipeline from capture to CTI frames.

//! Output renderers.

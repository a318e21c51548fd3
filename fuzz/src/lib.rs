//! What the ui-flow fuzz targets share: the typed payloads they decode into,
//! the properties every decoded frame must have ([`check`]), and a builder of
//! whole messages from fuzzer bytes ([`build`]).
//!
//! The properties, for any input bytes:
//! - decoding never panics, with typed payloads or with `rmpv::Value`;
//! - a frame that decodes with typed payloads also decodes with dynamic ones,
//!   to the same tag (a `Value` accepts any payload);
//! - a frame that decodes within tight limits decodes the same way within the
//!   default ones;
//! - a decoded message encodes, the result decodes to an equal message, and
//!   encoding that message again gives the same bytes.

pub mod build;
pub mod check;
pub mod payload;

//! Source decoders: detect which source a record came from and map it into a `Row`.

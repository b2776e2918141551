//! The engine layer: the bollard client, the compose CLI driver and the event stream.

//! (engine-layer issue)

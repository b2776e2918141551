//! Native processes supervised by devtui (Gaian run from the current executable).

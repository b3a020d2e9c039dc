//! TCP, TLS and Unix domain socket backends (work in progress: see issue 3).

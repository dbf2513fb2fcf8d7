// Package benchkit is what curlsock's benchmark programs (bench,
// bench/engine, bench/transport) share: nginx with a config of their own,
// child processes tied to the benchmark's life, a raw HTTP/1.1 GET that is
// neither client under test, readers of /proc/self and getrusage, the
// cleanups that also run on a signal, and the report's helpers. Nothing in
// the library uses it.
package benchkit

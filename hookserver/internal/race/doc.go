// Package race reports whether the binary is built with the race detector,
// for tests whose allocation counts it changes: under it, sync.Pool drops
// items at random and the instrumentation allocates.
package race

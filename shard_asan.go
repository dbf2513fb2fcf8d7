//go:build linux && asan

package curl

// Under AddressSanitizer (go build -asan), a shard's goroutine keeps its OS
// thread: a runtime.Goexit in a callback abandons libcurl's C frames without
// returning from them, their stack redzones stay poisoned, and the next C
// call that reused that thread's stack would be reported as an overflow.
// Locked, the thread ends with the goroutine.
const lockShardThread = true

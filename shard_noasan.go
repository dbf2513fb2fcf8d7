//go:build linux && !asan

package curl

// See shard_asan.go.
const lockShardThread = false

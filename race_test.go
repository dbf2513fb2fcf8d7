//go:build linux && race

package curl

// raceEnabled: the tests run under the race detector (-race).
const raceEnabled = true

//go:build race

package arduino

// raceEnabled tells tests that the race detector slows this build down.
const raceEnabled = true

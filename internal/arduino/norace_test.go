//go:build !race

package arduino

const raceEnabled = false

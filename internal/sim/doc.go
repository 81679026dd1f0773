// Package sim runs a fleet of virtual devices in one process against a
// running Ferry server, over real HTTP, for demos, load tests and the
// acceptance of staged rollouts.
//
// Each device is a goroutine that speaks the native protocol (through the
// client package) or, for a configurable share, the plain protocol the way
// a modem sketch does: the version check-in, the image in 512-byte Range
// pieces, the CRC32 check, status reports and the check-in after the
// "reboot". Another share speaks the ESP cores' httpUpdate: one HTTP/1.0
// request with the board's headers, 304 or the whole image with its MD5,
// and the next request from the new image; those devices report nothing,
// so a failed install and a roll-back both show as the board coming back
// on its old image. With Config.MQTT, a share of the native devices keep a
// broker session instead of polling (see package devlink), and answer
// commands; with Config.DDIShare, a share of the others speak hawkBit DDI
// as SWUpdate's suricatta does, and acknowledge cancels.
// Devices can be given a link speed, downloads can be cut midway
// and resumed, and a share of devices fail the install, roll back or go
// silent after downloading.
//
// Which devices misbehave is decided by a hash of the seed and the device
// id alone, so the same devices fail on every run with the same seed, and
// a device keeps its behaviour whatever the fleet size. A misbehaving
// device misbehaves on every offer it gets, which exercises the server's
// cool-down.
//
// The Sim counts what it did with atomic counters and returns a Report.
// When no request failed, its counts of offers and outcomes equal what the
// server records; a lost status report can make them differ, as it would
// for a real device.
package sim

// Package agent is a device-side update client for Ferry's native
// protocol, run by "ferry agent". It stands in for a real device in demos
// and end-to-end tests and shows the order of steps a device should keep.
//
// The agent owns a state directory:
//
//	state.json     the running version, the SHA-256 of the installed image
//	               and its security counter; seeded from Config.Version by
//	               the first check-in that succeeds, rewritten by every
//	               install
//	firmware.bin   the installed image
//	download.part  an image being downloaded; kept across restarts
//	download.json  what download.part is: update id, version, size, SHA-256,
//	               URL and the ETag to resume it with
//	device.json    the device token got by enrolling with the product's
//	               enrollment key (mode 0600); delete it to enroll again
//
// One cycle checks in, and when the server offers an update, downloads it
// (resuming a kept part with Range and If-Range), verifies size and
// SHA-256 (and, with Config.TrustKeys, the signed manifest: see
// ErrRefused), installs it by renaming the part over firmware.bin, records
// the new version, and checks in again so the server can mark the update
// succeeded. Status reports go out along the way; a lost report is only
// logged, because the next check-in repairs the server's record.
package agent

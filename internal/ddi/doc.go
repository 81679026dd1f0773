// Package ddi adapts Eclipse hawkBit's Direct Device Integration API to
// the update core, so that SWUpdate's suricatta, rauc-hawkbit-updater and
// Zephyr's hawkbit subsystem update from Ferry unchanged.
//
// A tenant is a Ferry product (by its exact name), a controller ID a device,
// a distribution one release: one chunk (part "bApp", name the product,
// version the release's) whose one artifact is the release image. An
// action is a Ferry update; its ID is the update's, written as a JSON
// string. A poll is a core check-in, a feedback a core report, so
// rollouts, pins, channels, signatures, counters, poll steering and the
// history apply as they do to every protocol. DDI check-ins never say what
// the device runs: a device's closed/success feedback is the proof that it
// runs the release (core.ProtocolDDI). See docs/ddi.md.
package ddi

// Package core is Ferry's update core: the products, releases, channels,
// devices and updates of a fleet, the rules that decide what a device is
// offered, and the state machine that turns device reports and check-ins
// into a truthful per-device history.
//
// Every device protocol (plain, native JSON, and later hawkBit DDI, MQTT,
// ESP httpUpdate) is a thin adapter that calls Service; none decides on its
// own. Core declares the Store and Blobs interfaces it needs and imports no
// adapter, no net/http and no SQL driver.
package core

package core

// ProtocolDDI names Eclipse hawkBit's Direct Device Integration API, which
// SWUpdate, RAUC and Zephyr clients speak (internal/ddi), in histories and
// in check-ins and reports.
const ProtocolDDI = "ddi"

// traits are what the update rules must know about a device protocol.
// Protocols not listed have none: their check-ins carry the running
// version, and their devices are not told of cancels beyond "nothing to do".
type traits struct {
	// reportsProve: the protocol's check-ins never say what the device
	// runs, so a device's own report of success is the only proof there
	// will be that it runs the update's release, and is taken as such.
	reportsProve bool
	// acksCancels: a device given an update is told when the server
	// cancels it, and acknowledges; until it does, the cancel is what it
	// is told instead of any new offer.
	acksCancels bool
}

// traitsOf returns the traits of a protocol named in a check-in or report.
func traitsOf(protocol string) traits {
	if protocol == ProtocolDDI {
		return traits{reportsProve: true, acksCancels: true}
	}
	return traits{}
}
